"""The ``sarcolor`` command line: data, train, colorize, evaluate, report, demo.

The CLI only parses options and prints; the work is done by the library. A
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
from sarcolor.config import DEVICES, INPUT_MODES, TARGET_MODES, DataConfig, ModelConfig, TrainConfig
from sarcolor.data.split import SPLITS
from sarcolor.errors import SarcolorError, first_line
from sarcolor.evaluation.metrics import METRICS
from sarcolor.inference.scene import COMPRESSIONS
from sarcolor.sar.radiometry import SAR_SCALES
from sarcolor.sar.speckle import FILTERS


def build_parser() -> argparse.ArgumentParser:
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
    p.add_argument("--terrain", action="append", metavar="NAME", help="only this terrain (repeatable)")
    _split_options(p)
    p.set_defaults(func=commands.data)

    p = sub.add_parser("train", help="train a pix2pix model")
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="run folder (created)")
    p.add_argument("--data", metavar="DIR", help="dataset folder (any layout `sarcolor data` accepts)")
    p.add_argument("--config", metavar="FILE.yaml", help="YAML configuration; flags override it")
    p.add_argument("--resume", action="store_true", help="continue from RUN_DIR's latest checkpoint")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=_positive, help="optimisation steps")
    budget.add_argument("--epochs", type=_positive, help="epochs (default when neither is given: 10)")
    p.add_argument("--batch-size", type=_positive, help=f"pairs per step (default {TrainConfig.batch_size})")
    p.add_argument("--ngf", type=_positive, help=f"generator base width, 1–512 (default {ModelConfig.ngf})")
    p.add_argument(
        "--ndf", type=_positive, help=f"discriminator base width, 1–512 (default {ModelConfig.ndf})"
    )
    p.add_argument(
        "--dropout",
        type=float,
        help=f"dropout on the generator's first 3 up blocks, 0–<1 (default {ModelConfig.dropout})",
    )
    p.add_argument(
        "--input", choices=INPUT_MODES, help="generator input: SAR or the optical L* (default sar)"
    )
    p.add_argument("--target", choices=TARGET_MODES, help="what the generator predicts (default rgb)")
    _sar_options(p, training=True)
    p.add_argument(
        "--terrain", action="append", metavar="NAME", help="train on this terrain only (repeatable)"
    )
    p.add_argument("--device", choices=DEVICES, help="default auto: CUDA when available")
    p.add_argument(
        "--seed",
        type=int,
        help=f"seed of weights, order and augmentation (default {TrainConfig.seed})",
    )
    p.add_argument("--lr", type=float, help=f"Adam learning rate (default {TrainConfig.lr})")
    p.add_argument("--lambda-l1", type=float, help=f"weight of the L1 loss (default {TrainConfig.lambda_l1})")
    p.add_argument(
        "--lr-decay",
        type=float,
        metavar="FRACTION",
        help="decay the lr linearly to 0 over this last fraction of steps, 0–1 (default 0)",
    )
    p.add_argument(
        "--jitter",
        action="store_true",
        default=None,
        help="pix2pix resize-286 + random-crop-256 augmentation",
    )
    p.add_argument("--no-flip", action="store_true", help="no random flips")
    p.add_argument("--no-rotate", action="store_true", help="no random 90° rotations")
    p.add_argument("--workers", type=int, help="data-loading processes (default: half the CPUs, 1–4)")
    p.add_argument(
        "--cache",
        metavar="{auto,on,off,DIR}",
        help="decoded uint8 cache of 8-bit image pairs, memory-mapped, augmented on the device; "
        "auto (default): on CUDA only; DIR: keep it there (default DATA/.sarcolor-cache)",
    )
    p.add_argument(
        "--log-every",
        type=_positive,
        help=f"steps between log lines (default {TrainConfig.log_every})",
    )
    p.add_argument(
        "--sample-every",
        type=_positive,
        help=f"steps between sample grids (default {TrainConfig.sample_every})",
    )
    p.add_argument(
        "--checkpoint-every",
        type=_positive,
        help=f"steps between checkpoints (default {TrainConfig.checkpoint_every})",
    )
    p.add_argument(
        "--tensorboard",
        action="store_true",
        default=None,
        help="also log to TensorBoard (needs the package)",
    )
    p.add_argument(
        "--on-bad-sample",
        choices=("error", "skip"),
        help="error (default): check every file first and list the bad ones; skip: leave them out",
    )
    p.add_argument(
        "--precision",
        choices=("auto", "fp32", "bf16", "fp16"),
        help="number format of the forward pass; auto (default): bf16 on CUDA, fp32 on CPU",
    )
    p.add_argument(
        "--compile",
        choices=("auto", "on", "off"),
        help="torch.compile the networks; auto (default): on CUDA, off on CPU; eager if compiling fails",
    )
    p.add_argument(
        "--sync-bn",
        action="store_true",
        default=None,
        help="under torchrun: BatchNorm statistics over the global batch, not each process's slice",
    )
    p.add_argument(
        "--on-nonfinite",
        choices=("stop", "skip"),
        help="stop (default): stop on a NaN/Inf loss; skip: leave that update out (10 in a row stop)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _split_options(p)
    p.set_defaults(func=commands.train)

    p = sub.add_parser("colorize", help="colorize images with a trained model")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders or globs")
    p.add_argument("--checkpoint", required=True, metavar="CKPT", help="checkpoint file or run folder")
    p.add_argument("--out", required=True, metavar="OUT", help="output folder (or a .png file for one input)")
    p.add_argument("--device", default="auto", choices=DEVICES, help="default auto")
    p.add_argument("--overlap", type=int, default=64, help="tile overlap in pixels, 0–255 (default 64)")
    p.add_argument("--batch-size", type=_positive, default=8, help="tiles per forward pass (default 8)")
    _inference_precision(p)
    p.add_argument(
        "--train-mode", action="store_true", help="pix2pix's stochastic test-time mode (dropout on)"
    )
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs (refused otherwise)")
    p.add_argument(
        "--on-bad-sample",
        default="error",
        choices=("error", "skip"),
        help="skip: report unreadable inputs at the end and go on (exit status 1); default error",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _sar_options(p, training=False)
    scene = p.add_argument_group("GeoTIFF scenes (.tif inputs are written as georeferenced .tif)")
    scene.add_argument(
        "--compress", choices=COMPRESSIONS, default="deflate", help="GeoTIFF compression (default deflate)"
    )
    scene.add_argument("--cog", action="store_true", help="write a Cloud-Optimized GeoTIFF with overviews")
    scene.add_argument(
        "--alpha", action="store_true", help="an alpha band instead of an internal nodata mask"
    )
    p.set_defaults(func=commands.colorize)

    p = sub.add_parser("evaluate", help="score a model (or any tool's images) beside three baselines")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "--checkpoint",
        action="append",
        metavar="CKPT",
        help="checkpoint file or run folder; repeat for several runs/seeds (then mean ± std)",
    )
    what.add_argument(
        "--predictions", metavar="DIR", help="score these images, matched to the targets by name"
    )
    p.add_argument("--data", metavar="DIR", help="dataset folder (default: the one the model was trained on)")
    p.add_argument("--split-from", metavar="RUN_DIR", help="with --predictions: use this run's split.json")
    p.add_argument(
        "--weights-dir", metavar="DIR", help="LPIPS/FID weights (torch hub layout); never downloaded"
    )
    p.add_argument("--split", default="test", choices=(*SPLITS, "all"), help="default test")
    p.add_argument(
        "--out",
        metavar="FILE.json",
        help="scores as JSON, beside FILE_examples.png (default: RUN_DIR/eval/SPLIT.json)",
    )
    p.add_argument("--save-predictions", metavar="DIR", help="also write every colorized image here")
    p.add_argument("--overwrite", action="store_true", help="let --save-predictions replace existing files")
    p.add_argument("--device", default="auto", choices=DEVICES, help="default auto")
    _inference_precision(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _split_options(p)
    p.set_defaults(func=commands.evaluate)

    p = sub.add_parser("report", help="one self-contained HTML report (+ Markdown) of one or more runs")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run folders (several: compared side by side)")
    p.add_argument("--out", metavar="FILE.html", help="default: RUN_DIR/report.html of the first run")
    p.add_argument("--split", default="test", choices=(*SPLITS, "all"), help="default test")
    p.add_argument(
        "--metric", default="psnr", choices=METRICS, help="ranks the gallery images (default psnr)"
    )
    p.add_argument("--data", metavar="DIR", help="dataset folder (default: each run's own)")
    p.add_argument("--device", default="auto", choices=DEVICES, help="default auto")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=commands.report)

    p = sub.add_parser("demo", help="synthetic data → train → evaluate → colorize → report")
    p.add_argument("--out", default="demo-out", metavar="DIR", help="output folder (default demo-out)")
    p.add_argument(
        "--steps", type=_positive, default=None, help="training steps (default: the demo's budget)"
    )
    p.add_argument("--ngf", type=_positive, default=None, help="generator width (default: the demo's)")
    p.add_argument("--seed", type=int, default=0, help="seed of the data and the run (default 0)")
    p.add_argument("--device", default="auto", choices=DEVICES, help="default auto")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=commands.demo)
    return parser


def _inference_precision(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--precision",
        default="auto",
        choices=("auto", "fp32", "bf16", "fp16"),
        help="number format of the generator; auto (default): bf16 on CUDA and on CPUs with bf16 "
        "instructions (outputs within ~1 level of 255 of fp32), else fp32",
    )


def _sar_options(p: argparse.ArgumentParser, *, training: bool) -> None:
    """--band, --sar-scale, --calibration and --despeckle, for train (stored) and colorize (applied)."""
    stored = "stored in the checkpoint" if training else "default: the checkpoint's"
    p.add_argument(
        "--band",
        action="append",
        metavar="NAME|INDEX",
        help=(
            "SAR band(s) the model takes, repeat for VV+VH (default VV)"
            if training
            else "band of a multi-band GeoTIFF, by description (VV) or 1-based index; once per model band"
        ),
    )
    p.add_argument(
        "--sar-scale",
        choices=SAR_SCALES,
        help="what the SAR files hold; auto (default) decides from data type and values and says so",
    )
    p.add_argument(
        "--calibration", type=float, metavar="K", help=f"amplitude data: dB = 20·log10(DN / K) ({stored})"
    )
    p.add_argument(
        "--despeckle",
        metavar="NAME[:WINDOW]",
        help=f"speckle filter: {', '.join(FILTERS)}, e.g. lee:7 ({stored})",
    )


def _split_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--val-fraction",
        type=float,
        help=f"share of pairs in val scenes (default {DataConfig.val_fraction})",
    )
    p.add_argument(
        "--test-fraction",
        type=float,
        help=f"share of pairs in test scenes (default {DataConfig.test_fraction})",
    )
    p.add_argument(
        "--split-seed", type=int, help=f"seed of the scene split (default {DataConfig.split_seed})"
    )
    p.add_argument("--holdout-terrain", metavar="NAME", help="all scenes of this terrain are the test split")
    p.add_argument("--holdout-season", metavar="NAME", help="all scenes of this season are the test split")


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
        print(f"sarcolor {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # unwritable or missing output locations, full disks, …
        if args.debug:
            traceback.print_exc()
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"sarcolor {args.command}: error: {where}{exc.strerror or first_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sarcolor {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, not bad input: still one line, the traceback on request
        if args.debug:
            traceback.print_exc()
        print(
            f"sarcolor {args.command}: internal error: {type(exc).__name__}: {first_line(exc)} "
            "(run with --debug for the traceback, and please report it)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
