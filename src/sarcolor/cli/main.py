"""The ``sarcolor`` command line: data, train, colorize, export, speed, evaluate, fit-colour, report,
import, serve, models, train-terrain, demo.

The CLI only parses options and prints; the work is done by the library. Configuration flags
are derived from the option declarations on the dataclasses (:mod:`sarcolor.flags`);
what is written here are the commands' own arguments (inputs, outputs). A
:class:`~sarcolor.errors.SarcolorError` is printed as one line (``--debug`` shows the
traceback) and exits with status 2.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

from sarcolor import __version__
from sarcolor.cli import commands
from sarcolor.cli import terrain as terrain_commands
from sarcolor.config import SECTIONS, Config, DataConfig, PreprocessConfig, TrainConfig
from sarcolor.errors import SarcolorError, first_line, one_line, quote
from sarcolor.flags import add_options

SPLIT_CHOICES = ("train", "val", "test", "all")
METRIC_CHOICES = ("psnr", "ssim", "mae", "sam")


def build_parser() -> argparse.ArgumentParser:
    from sarcolor.app.options import ServeOptions
    from sarcolor.config.terrain import DATA_FIELDS, PREPROCESS_FIELDS, ClassifierOptions
    from sarcolor.inference.options import InferenceOptions, OutputOptions, SceneOptions
    from sarcolor.terrain.options import TerrainOptions

    parser = argparse.ArgumentParser(
        prog="sarcolor",
        description="Colorize Sentinel-1 SAR into Sentinel-2-like RGB with pix2pix.",
    )
    parser.add_argument("--version", action="version", version=f"sarcolor {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("data", help="discover pairs and show counts per terrain and split")
    p.add_argument("root", metavar="DIR", help="dataset root, its v_2 folder, a terrain folder, …")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    p.add_argument("--no-check", action="store_true", help="skip decoding every image (faster)")
    add_options(p, DataConfig, prefix="data.", names=["terrains"])
    add_options(p, DataConfig, prefix="data.", group="split")
    p.set_defaults(func=commands.data)

    p = sub.add_parser("train", help="train a pix2pix model")
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="run folder (created)")
    p.add_argument("--config", metavar="FILE.yaml", help="YAML configuration; flags override it")
    p.add_argument("--resume", action="store_true", help="continue from RUN_DIR's latest checkpoint")
    p.add_argument(
        "--init-from",
        metavar="CKPT",
        help="a new run whose generator starts from this checkpoint (e.g. an imported model) and "
        "keeps its architecture and SAR conventions; discriminator and optimizer start fresh",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    for section in SECTIONS:
        group = p.add_argument_group(f"{section} options (config section {section!r})")
        add_options(group, type(getattr(Config(), section)), prefix=f"{section}.")
    p.set_defaults(func=commands.train)

    p = sub.add_parser("colorize", help="colorize images and GeoTIFF scenes with a trained model")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders or globs")
    p.add_argument(
        "--checkpoint",
        required=True,
        metavar="CKPT",
        help="checkpoint file, run folder, model set or exported .onnx",
    )
    p.add_argument(
        "--out",
        required=True,
        metavar="OUT",
        help="output folder (or a .png/.tif file for one input)",
    )
    p.add_argument(
        "--manifest",
        metavar="FILE.json",
        help="write every input with its output or its error here (default under torchrun: "
        "OUT/sarcolor-manifest.json)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_options(p, TerrainOptions, prefix="terrain.", defaults=True)
    add_options(p, InferenceOptions, prefix="infer.", defaults=True)
    add_options(p, OutputOptions, prefix="output.", defaults=True)
    scene = p.add_argument_group("GeoTIFF scenes (.tif inputs are written as georeferenced .tif)")
    add_options(scene, SceneOptions, prefix="scene.", defaults=True)
    p.set_defaults(func=commands.colorize)

    from sarcolor.inference.onnx_export import ExportOptions

    p = sub.add_parser("export", help="write a checkpoint's generator as an ONNX model (sarcolor[onnx])")
    p.add_argument("--checkpoint", required=True, metavar="CKPT", help="checkpoint file or run folder")
    p.add_argument("--out", required=True, metavar="MODEL.onnx", help="the ONNX model to write")
    add_options(p, ExportOptions, prefix="export.", defaults=True)
    p.set_defaults(func=commands.export)

    p = sub.add_parser("speed", help="time the generator's forms on this CPU: what --form auto runs")
    p.add_argument("--checkpoint", required=True, metavar="CKPT", help="checkpoint file or run folder")
    p.add_argument("--remeasure", action="store_true", help="measure again instead of reading the cache")
    names = ["device", "precision", "batch_size"]
    add_options(p, InferenceOptions, prefix="infer.", names=names, defaults=True)
    p.set_defaults(func=commands.speed)

    p = sub.add_parser("evaluate", help="score a model (or any tool's images) beside three baselines")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "--checkpoint",
        action="append",
        metavar="CKPT",
        help="checkpoint file or run folder; repeat for several runs/seeds (then mean ± std); a terrain "
        "classifier (accuracy, confusion matrix) or a model set (as a whole, and its classifier)",
    )
    what.add_argument(
        "--predictions", metavar="DIR", help="score these images, matched to the targets by name"
    )
    p.add_argument("--data", metavar="DIR", help="dataset folder (default: the one the model was trained on)")
    p.add_argument("--split-from", metavar="RUN_DIR", help="with --predictions: use this run's split.json")
    p.add_argument(
        "--weights-dir", metavar="DIR", help="LPIPS/FID weights (torch hub layout); never downloaded"
    )
    p.add_argument("--split", default="test", choices=SPLIT_CHOICES, help="default test")
    p.add_argument(
        "--out",
        metavar="FILE.json",
        help="scores as JSON, beside FILE_examples.png (default: RUN_DIR/eval/SPLIT.json); never an input, "
        "and an existing file only if evaluate wrote it or with --overwrite",
    )
    p.add_argument("--save-predictions", metavar="DIR", help="also write every colorized image here")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_options(p, InferenceOptions, prefix="infer.", names=["device", "precision"], defaults=True)
    add_options(p, OutputOptions, prefix="output.", names=["overwrite"], defaults=True)
    add_options(p, DataConfig, prefix="data.", group="split")
    p.set_defaults(func=commands.evaluate)

    p = sub.add_parser(
        "fit-colour",
        help="turn a grey generator into a colour model: fit its colour stage on colour pairs (two-stage)",
    )
    p.add_argument("--checkpoint", required=True, metavar="CKPT", help="a --target grey (or tinted) model")
    p.add_argument(
        "--data", required=True, metavar="DIR", help="colour pairs (any layout `sarcolor data` reads)"
    )
    p.add_argument("--out", required=True, metavar="FILE.safetensors", help="the colour model written")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_options(p, InferenceOptions, prefix="infer.", names=["device"], defaults=True)
    add_options(p, DataConfig, prefix="data.", group="split")
    p.set_defaults(func=commands.fit_colour)

    p = sub.add_parser("report", help="one self-contained HTML report (+ Markdown) of one or more runs")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run folders (several: compared side by side)")
    p.add_argument(
        "--out",
        metavar="FILE.html",
        help="default: RUN_DIR/report.html of the first run; FILE.md and FILE_files/ go beside it; existing "
        "files are replaced only if report wrote them or with --overwrite",
    )
    p.add_argument("--split", default="test", choices=SPLIT_CHOICES, help="default test")
    p.add_argument(
        "--metric", default="psnr", choices=METRIC_CHOICES, help="ranks the gallery images (default psnr)"
    )
    p.add_argument("--data", metavar="DIR", help="dataset folder (default: each run's own)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_options(p, InferenceOptions, prefix="infer.", names=["device"], defaults=True)
    add_options(p, OutputOptions, prefix="output.", names=["overwrite"], defaults=True)
    p.set_defaults(func=commands.report)

    add_import_parser(sub, OutputOptions)

    p = sub.add_parser("serve", help="the web app and HTTP API on a local port (docs/app.md)")
    p.add_argument(
        "--models", nargs="+", required=True, metavar="PATH", help="run folders, checkpoints or model sets"
    )
    add_options(p, ServeOptions, prefix="serve.", defaults=True)
    add_options(p, TerrainOptions, prefix="terrain.", names=["terrain_classifier"], defaults=True)
    p.set_defaults(func=terrain_commands.serve)

    p = sub.add_parser("models", help="list the models (and terrain classifier) a path holds")
    p.add_argument("paths", nargs="+", metavar="PATH", help="run folders, checkpoints or model sets")
    p.set_defaults(func=terrain_commands.models)

    p = sub.add_parser("train-terrain", help="train the terrain classifier of the SAR input")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder, e.g. SET/terrain (created)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_options(p, DataConfig, prefix="data.", names=DATA_FIELDS)
    add_options(p, PreprocessConfig, prefix="preprocess.", names=PREPROCESS_FIELDS)
    add_options(p, ClassifierOptions, prefix="classifier.")
    p.set_defaults(func=terrain_commands.train_terrain)

    p = sub.add_parser("demo", help="synthetic data → train → evaluate → colorize → report")
    p.add_argument("--out", default="demo-out", metavar="DIR", help="output folder (default demo-out)")
    p.add_argument(
        "--steps", type=_positive, default=None, help="training steps (default: the demo's budget)"
    )
    p.add_argument("--ngf", type=_positive, default=None, help="generator width (default: the demo's)")
    p.add_argument("--seed", type=int, default=0, help="seed of the data and the run (default 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_options(p, TrainConfig, prefix="train.", names=["device"], defaults=True)
    p.set_defaults(func=commands.demo)
    return parser


def add_import_parser(sub: argparse._SubParsersAction, output_options: type) -> None:
    """``sarcolor import``: a generator trained elsewhere → a sarcolor checkpoint."""
    from typing import get_args

    from sarcolor.config import PreprocessConfig
    from sarcolor.import_options import ImportOptions, Source

    p = sub.add_parser("import", help="turn a pix2pix or SAR2Optical generator (.pth) into a checkpoint")
    p.add_argument("model", metavar="MODEL.pth", help="the generator's state dict, saved with torch.save")
    p.add_argument(
        "--from",
        dest="source",
        required=True,
        choices=get_args(Source),
        help="pix2pix: junyanz/pytorch-CycleGAN-and-pix2pix (*_net_G.pth); sar2optical: yuuIind/SAR2Optical "
        "(pix2pix_gen_*.pth)",
    )
    p.add_argument("--out", required=True, metavar="MODEL.safetensors", help="the checkpoint to write")
    add_options(p, ImportOptions, prefix="import.", defaults=True)
    add_options(p, PreprocessConfig, prefix="preprocess.", names=["bands", "db_ranges"])
    add_options(p, output_options, prefix="output.", names=["overwrite"], defaults=True)
    p.set_defaults(func=commands.import_model)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SarcolorError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"sarcolor {args.command}: error: {one_line(str(exc))}", file=sys.stderr)
        return 2
    except OSError as exc:  # unwritable or missing output locations, full disks, …
        if args.debug:
            traceback.print_exc()
        where = f"{quote(exc.filename)}: " if exc.filename else ""
        print(
            f"sarcolor {args.command}: error: {where}{one_line(exc.strerror or first_line(exc))}",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print(f"sarcolor {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, not bad input: still one line, the traceback on request
        if args.debug:
            traceback.print_exc()
        print(
            f"sarcolor {args.command}: internal error: {type(exc).__name__}: {one_line(first_line(exc))} "
            "(run with --debug for the traceback, and please report it)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
