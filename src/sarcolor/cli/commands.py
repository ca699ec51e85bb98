"""What each ``sarcolor`` sub-command does with its parsed options."""

from __future__ import annotations

import argparse
import glob
import json
from collections import Counter
from pathlib import Path

from sarcolor.config import Config
from sarcolor.data.discovery import IMAGE_SUFFIXES, discover_pairs
from sarcolor.data.io import atomic_write, check_image, ensure_writable
from sarcolor.data.split import SPLIT_UNITS, SPLITS, select_split, split_for
from sarcolor.errors import SarcolorError

# (flag dest, config section, field): flags that override the configuration when given.
_OVERRIDES: tuple[tuple[str, str, str], ...] = (
    ("data", "data", "root"),
    ("terrain", "data", "terrains"),
    ("val_fraction", "data", "val_fraction"),
    ("test_fraction", "data", "test_fraction"),
    ("split_seed", "data", "split_seed"),
    ("holdout_terrain", "data", "holdout_terrain"),
    ("holdout_season", "data", "holdout_season"),
    ("jitter", "data", "jitter"),
    ("workers", "data", "num_workers"),
    ("cache", "data", "cache"),
    ("input", "preprocess", "input"),
    ("target", "preprocess", "target"),
    ("band", "preprocess", "bands"),
    ("sar_scale", "preprocess", "sar_scale"),
    ("calibration", "preprocess", "calibration"),
    ("despeckle", "preprocess", "despeckle"),
    ("ngf", "model", "ngf"),
    ("ndf", "model", "ndf"),
    ("dropout", "model", "dropout"),
    ("steps", "train", "steps"),
    ("epochs", "train", "epochs"),
    ("batch_size", "train", "batch_size"),
    ("lr", "train", "lr"),
    ("lambda_l1", "train", "lambda_l1"),
    ("lr_decay", "train", "lr_decay_fraction"),
    ("seed", "train", "seed"),
    ("device", "train", "device"),
    ("log_every", "train", "log_every"),
    ("sample_every", "train", "sample_every"),
    ("checkpoint_every", "train", "checkpoint_every"),
    ("tensorboard", "train", "tensorboard"),
    ("on_bad_sample", "data", "on_bad_sample"),
    ("on_nonfinite", "train", "on_nonfinite"),
    ("precision", "train", "precision"),
    ("compile", "train", "compile"),
    ("sync_bn", "train", "sync_bn"),
)
_SPLIT_FLAGS = {"val_fraction", "test_fraction", "split_seed", "holdout_terrain", "holdout_season"}
# What may change when resuming: the budget and where/how the run executes, not the model.
_RESUMABLE = {
    "on_bad_sample",
    "on_nonfinite",
    "precision",
    "compile",
    "sync_bn",
    "data",
    "workers",
    "cache",
    "steps",
    "epochs",
    "device",
    "log_every",
    "sample_every",
    "checkpoint_every",
    "tensorboard",
}


def data(args: argparse.Namespace) -> int:
    cfg = Config()
    _apply_overrides(cfg, args, allowed=_SPLIT_FLAGS | {"terrain"}, only=True)
    cfg.validate()
    found = discover_pairs(args.root).filter_terrains(cfg.data.terrains)
    val, test, seed = cfg.data.val_fraction, cfg.data.test_fraction, cfg.data.split_seed
    split = split_for(found.pairs, cfg.data)
    unreadable = [] if args.no_check else _unreadable(found.pairs, cfg)
    per_terrain = Counter(p.terrain or "-" for p in found.pairs)
    per_split = {name: len(select_split(found.pairs, split, name)) for name in SPLITS}
    report = {
        "root": str(found.root),
        "layout": found.layout,
        "total_pairs": len(found.pairs),
        "pairs_per_terrain": dict(sorted(per_terrain.items())),
        "pairs_per_split": per_split,
        "scenes_per_split": split,
        "split": {
            "val_fraction": val,
            "test_fraction": test,
            "seed": seed,
            "holdout_terrain": cfg.data.holdout_terrain,
            "holdout_season": cfg.data.holdout_season,
            "by": SPLIT_UNITS[found.kind],
        },
        "unpaired": [str(p) for p in found.unpaired],
        "unreadable": [{"file": str(f), "reason": r} for f, r in unreadable],
        "problems": found.problems,
    }
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(f"{found.root}: {len(found.pairs)} pairs ({found.layout} layout)")
        print(f"{'terrain':<14}{'pairs':>8}")
        for terrain, n in report["pairs_per_terrain"].items():
            print(f"{terrain:<14}{n:>8}")
        print(f"\n{'split':<14}{'pairs':>8}{'scenes':>8}  scene ids")
        for name in SPLITS:
            ids = split[name]
            shown = ", ".join(ids[:6]) + (f", … ({len(ids) - 6} more)" if len(ids) > 6 else "")
            print(f"{name:<14}{per_split[name]:>8}{len(ids):>8}  {shown}")
        for title, items in (("unpaired", report["unpaired"]), ("problems", found.problems)):
            if items:
                print(f"\n{len(items)} {title}:")
                print("\n".join(f"  {x}" for x in items[:20]) + ("\n  …" if len(items) > 20 else ""))
        if unreadable:
            print(f"\n{len(unreadable)} unreadable:")
            print("\n".join(f"  {f}: {r}" for f, r in unreadable[:20]))
    return 1 if unreadable else 0


def _unreadable(pairs, cfg: Config) -> list[tuple[Path, str]]:
    """Every file that does not decode; GeoTIFF pairs are read as training reads them."""
    from tqdm.auto import tqdm

    from sarcolor.data.dataset import load_sample

    bad = []
    for pair in (p for p in pairs if p.kind != "image"):
        try:
            load_sample(pair, cfg.preprocess)
        except SarcolorError as exc:
            bad.append((pair.s1, str(exc).removeprefix(f"{pair.s1}: ")))
    files = [f for p in pairs if p.kind == "image" for f in (p.s1, p.s2)]
    for f in tqdm(files, desc="checking images", unit="file", disable=None, leave=False):
        reason = check_image(f)
        if reason is not None:
            bad.append((f, reason))
    return bad


def build_config(args: argparse.Namespace) -> Config:
    """Defaults ← ``--config`` YAML ← flags."""
    cfg = Config.from_yaml(args.config) if args.config else Config()
    _apply_overrides(cfg, args, allowed=None)
    if args.no_flip:
        cfg.data.flip = False
    if args.no_rotate:
        cfg.data.rotate90 = False
    if cfg.train.steps is not None and args.epochs is not None:
        cfg.train.steps = None
    if cfg.train.epochs is not None and args.steps is not None:
        cfg.train.epochs = None
    return cfg.validate()


def _apply_overrides(
    cfg: Config, args: argparse.Namespace, allowed: set[str] | None, *, only: bool = False
) -> None:
    """Copy the given flags into ``cfg``. Flags outside ``allowed`` are an error (resuming), or
    with ``only`` are not this command's business and are skipped."""
    for dest, section, name in _OVERRIDES:
        value = getattr(args, dest, None)
        if value is None or (only and allowed is not None and dest not in allowed):
            continue
        if allowed is not None and dest not in allowed:
            raise SarcolorError(f"--{dest.replace('_', '-')} cannot change when resuming a run")
        setattr(getattr(cfg, section), name, value)


def train(args: argparse.Namespace) -> int:
    from sarcolor.checkpoint import read_meta, resolve_checkpoint
    from sarcolor.training.trainer import train as run_training

    if args.resume:
        if args.config or args.no_flip or args.no_rotate:
            raise SarcolorError("--config, --no-flip and --no-rotate cannot change when resuming a run")
        cfg = read_meta(resolve_checkpoint(args.out)).config
        _apply_overrides(cfg, args, allowed=_RESUMABLE)
        if args.steps is not None:
            cfg.train.epochs = None
        if args.epochs is not None:
            cfg.train.steps = None
        cfg.validate()
    else:
        cfg = build_config(args)
        if Path(args.out, "checkpoints").is_dir() and any(Path(args.out, "checkpoints").iterdir()):
            raise SarcolorError(
                f"{args.out}: run folder already has checkpoints; use --resume or another --out"
            )
    result = run_training(cfg, args.out, resume=args.resume, progress=False if args.no_progress else None)
    return 130 if result.interrupted else 0


def expand_inputs(inputs: list[str], skip: Path | None = None) -> list[Path]:
    """Files, folders (their images, recursively) and glob patterns → sorted image paths.

    Hidden files and folders, and anything inside ``skip`` (the output folder), are left out.
    """
    files: list[Path] = []
    skip = skip.resolve() if skip is not None else None
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files += sorted(
                p
                for p in path.rglob("*")
                if p.suffix.lower() in IMAGE_SUFFIXES
                and p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
                and (skip is None or skip not in p.resolve().parents)
            )
        elif path.is_file():
            files.append(path)
        elif any(ch in item for ch in "*?["):
            matches = sorted(Path(m) for m in glob.glob(item, recursive=True))
            if not matches:
                raise SarcolorError(f"{item}: no file matches this pattern")
            files += [m for m in matches if m.is_file()]
        else:
            raise SarcolorError(f"{item}: no such file or folder")
    if not files:
        raise SarcolorError(f"no images found in {', '.join(inputs)}")
    return files


def colorize(args: argparse.Namespace) -> int:
    from sarcolor.inference.colorizer import Colorizer
    from sarcolor.inference.files import colorize_files, plan_outputs
    from sarcolor.inference.scene import SceneOptions, colorize_scene, is_scene

    if not 0 <= args.overlap < 256:
        raise SarcolorError(f"--overlap must be in [0, 255], got {args.overlap}")
    out = Path(args.out)
    files = expand_inputs(args.inputs, skip=out)
    targets = plan_outputs(files, out, overwrite=args.overwrite)
    colorizer = Colorizer(
        args.checkpoint,
        args.device,
        train_mode=args.train_mode,
        overlap=args.overlap,
        batch_size=args.batch_size,
        despeckle=args.despeckle,
        precision=args.precision,
    )
    if colorizer.despeckle_note:
        print(f"warning: {colorizer.despeckle_note}")
    progress = False if args.no_progress else None
    pairs = list(zip(files, targets, strict=True))
    images = [(f, t) for f, t in pairs if not is_scene(f)]
    report = colorize_files(
        colorizer,
        [f for f, _ in images],
        [t for _, t in images],
        on_bad_sample=args.on_bad_sample,
        chunk=args.batch_size,
        progress=progress,
    )
    options = SceneOptions(
        bands=args.band,
        sar_scale=args.sar_scale or "auto",
        calibration=args.calibration,
        compress=args.compress,
        cog=args.cog,
        alpha=args.alpha,
    )
    for source, target in ((f, t) for f, t in pairs if is_scene(f)):
        try:
            scene = colorize_scene(colorizer, source, target, options, progress=progress)
        except SarcolorError as exc:
            if args.on_bad_sample != "skip":
                raise
            report.failed.append((source, str(exc).removeprefix(f"{source}: ")))
            continue
        report.written.append(target)
        print(
            f"{source.name} → {target}: {scene.width}×{scene.height}, {scene.tiles} tiles "
            f"({scene.skipped} all-nodata skipped), {scene.megapixels_per_second:.2f} Mpx/s"
        )
    print(f"colorized {len(report.written)} image(s) → {out}")
    if report.failed:
        print(f"{len(report.failed)} input(s) failed:")
        for path, reason in report.failed:
            print(f"  {path}: {reason}")
        return 1
    return 0


def evaluate(args: argparse.Namespace) -> int:
    from sarcolor.checkpoint import resolve_checkpoint, run_dir_of
    from sarcolor.evaluation.evaluate import aggregate, aggregate_table, evaluate_predictions, write_json
    from sarcolor.evaluation.evaluate import evaluate as run_evaluation

    progress = False if args.no_progress else None
    if args.predictions:
        if args.data is None:
            raise SarcolorError("--predictions needs --data (the targets)")
        run_config = Path(args.split_from or "", "config.yaml")
        cfg = Config.from_yaml(run_config) if args.split_from and run_config.is_file() else Config()
        _apply_overrides(cfg, args, allowed=_SPLIT_FLAGS, only=True)
        cfg.validate()  # --split-from: that run's scenes, terrains and preprocessing (its baselines)
        scenes = _split_file(Path(args.split_from)) if args.split_from else None
        result = evaluate_predictions(
            args.predictions,
            args.data,
            args.split,
            cfg=cfg,
            scenes=scenes,
            weights_dir=args.weights_dir,
            progress=progress,
        )
        out = Path(args.out) if args.out else Path(args.predictions) / f"scores_{args.split}.json"
        results = [(result, out)]
    else:
        if any(getattr(args, f) is not None for f in _SPLIT_FLAGS):
            raise SarcolorError("split options apply to --predictions; a checkpoint carries its own split")
        several = len(args.checkpoint) > 1
        if several and args.save_predictions:
            raise SarcolorError("--save-predictions takes one --checkpoint")
        outs = []
        for ckpt in args.checkpoint:
            path = resolve_checkpoint(ckpt)
            name = f"{args.split}_{path.stem}.json" if several else f"{args.split}.json"
            outs.append(Path(args.out) if args.out and not several else run_dir_of(path) / "eval" / name)
        for out in [*outs, *([Path(args.out)] if args.out else [])]:
            ensure_writable(out.parent)  # before the work, not after it
        results = []
        for ckpt, out in zip(args.checkpoint, outs, strict=True):
            result = run_evaluation(
                ckpt,
                args.data,
                args.split,
                device=args.device,
                precision=args.precision,
                examples_path=out.with_name(out.stem + "_examples.png"),
                predictions_dir=args.save_predictions,
                overwrite=args.overwrite,
                weights_dir=args.weights_dir,
                progress=progress,
            )
            results.append((result, out))
    for result, out in results:
        print(result.table())
        write_json(result, out)
        print(f"scores → {out}\n")
    if len(results) > 1:
        print(aggregate_table([r for r, _ in results]))
        if args.out:
            summary = {
                "runs": [r.source for r, _ in results],
                "aggregate": aggregate([r for r, _ in results]),
            }
            atomic_write(args.out, lambda tmp: tmp.write_text(json.dumps(summary, indent=1)))
    return 0


def _split_file(run_dir: Path) -> dict[str, list[str]]:
    """The scene ids per split from a run folder's split.json (or the file itself)."""
    path = run_dir / "split.json" if run_dir.is_dir() else run_dir
    try:
        body = json.loads(path.read_text())
        return {name: body[name]["scenes"] for name in SPLITS}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SarcolorError(f"{path}: not a sarcolor split.json ({exc})") from None


def report(args: argparse.Namespace) -> int:
    from sarcolor.evaluation.report import build_run_report, write_report

    progress = False if args.no_progress else None
    reports = [
        build_run_report(
            run, split=args.split, metric=args.metric, data=args.data, device=args.device, progress=progress
        )
        for run in args.runs
    ]
    names = [r.name for r in reports]
    if len(set(names)) < len(names):
        for i, r in enumerate(reports):  # two runs with the same folder name: keep both apart
            r.name = f"{i + 1}-{r.name}"
    out = Path(args.out) if args.out else Path(args.runs[0]) / "report.html"
    html_path, md_path = write_report(reports, out, args.metric)
    for r in reports:
        print(r.evaluation.table() + "\n")
    print(f"report → {html_path} (open it in a browser) and {md_path}")
    return 0


def demo(args: argparse.Namespace) -> int:
    from sarcolor.demo import run_demo

    report = run_demo(
        args.out,
        steps=args.steps,
        ngf=args.ngf,
        seed=args.seed,
        device=args.device,
        progress=False if args.no_progress else None,
    )
    return 0 if report.beats_baseline else 1
