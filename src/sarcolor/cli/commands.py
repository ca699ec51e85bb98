"""What each ``sarcolor`` sub-command does with its parsed options: call the library, print."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from sarcolor.config import SECTIONS, Config, DataConfig, with_overrides
from sarcolor.errors import SarcolorError, one_line, quote
from sarcolor.flags import build, given


def overrides(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The configuration flags given on the command line: ``{section: {field: value}}``."""
    out = {}
    for section in SECTIONS:
        values = given(args, type(getattr(Config(), section)), prefix=f"{section}.")
        if values:
            out[section] = values
    return out


def data(args: argparse.Namespace) -> int:
    from sarcolor.data.summary import summarize

    cfg = with_overrides(Config(), overrides(args)).validate("flags")
    report = summarize(args.root, cfg, check=not args.no_check)
    if args.json:
        print(json.dumps(report, indent=1))
        return 1 if report["unreadable"] else 0
    print(f"{report['root']}: {report['total_pairs']} pairs ({report['layout']} layout)")
    print(f"{'terrain':<14}{'pairs':>8}")
    for terrain, n in report["pairs_per_terrain"].items():
        print(f"{terrain:<14}{n:>8}")
    print(f"\n{'split':<14}{'pairs':>8}{'scenes':>8}  scene ids   (split by {report['split']['by']})")
    for name, ids in report["scenes_per_split"].items():
        shown = ", ".join(ids[:6]) + (f", … ({len(ids) - 6} more)" if len(ids) > 6 else "")
        print(f"{name:<14}{report['pairs_per_split'][name]:>8}{len(ids):>8}  {shown}")
    for title in ("unpaired", "problems"):
        items = report[title]
        if items:
            print(f"\n{len(items)} {title}:")
            print(
                "\n".join(f"  {one_line(str(x))}" for x in items[:20]) + ("\n  …" if len(items) > 20 else "")
            )
    if report["unreadable"]:
        print(f"\n{len(report['unreadable'])} unreadable:")
        print("\n".join(f"  {quote(u['file'])}: {one_line(u['reason'])}" for u in report["unreadable"][:20]))
    return 1 if report["unreadable"] else 0


def build_config(args: argparse.Namespace) -> Config:
    """Defaults ← ``--config`` YAML ← flags; then ``train.recipe``'s preset on what neither set."""
    from sarcolor.textfiles import read_yaml
    from sarcolor.training.recipes import apply_recipe, given_fields

    cfg = Config.from_yaml(args.config) if args.config else Config()
    flags = overrides(args)
    cfg = with_overrides(cfg, flags).validate(args.config or "flags")
    yaml_values = (read_yaml(args.config) or {}) if args.config else {}
    return apply_recipe(cfg, given_fields(yaml_values, flags)).validate(args.config or "flags")


def train(args: argparse.Namespace) -> int:
    init_from = getattr(args, "init_from", None)
    if args.resume:
        from sarcolor.checkpoint import read_meta, resolve_checkpoint
        from sarcolor.training.run import refuse_imported

        if args.config:
            raise SarcolorError("--config cannot change when resuming a run")
        if init_from:
            raise SarcolorError("--init-from starts a new run and --resume continues one: give one of them")
        ckpt = resolve_checkpoint(args.out)
        refuse_imported(ckpt)  # before the run folder is claimed: --out may name the file itself
        cfg = with_overrides(read_meta(ckpt).config, overrides(args), resuming=True).validate(str(ckpt))
    else:
        cfg = build_config(args)  # a folder with checkpoints is refused once it is held (training.runlock)
        from sarcolor.training.run import check_run_folder  # torch: after the flags are checked

        check_run_folder(args.out, args.config)  # before anything is written, not even the lock
        if init_from:
            from sarcolor.textfiles import read_yaml
            from sarcolor.training.init_from import init_config
            from sarcolor.training.recipes import given_fields

            yaml_values = (read_yaml(args.config) or {}) if args.config else {}
            cfg = init_config(cfg, init_from, given_fields(yaml_values, overrides(args)))
    from sarcolor.training.trainer import train as run_training  # torch: after the flags are checked

    progress = False if args.no_progress else None
    result = run_training(cfg, args.out, resume=args.resume, init_from=init_from, progress=progress)
    return 130 if result.interrupted else 0


def colorize(args: argparse.Namespace) -> int:
    from sarcolor.cli.terrain import colorizer as terrain_colorizer
    from sarcolor.inference.options import InferenceOptions, OutputOptions, SceneOptions

    options = build(args, InferenceOptions, "infer.").validate("flags")
    scene = build(args, SceneOptions, "scene.").validate("flags")
    output = build(args, OutputOptions, "output.").validate("flags")
    from sarcolor.inference.archive import colorize_archive  # torch: after the flags are checked
    from sarcolor.outputs import interrupt_on_sigterm

    with interrupt_on_sigterm():  # a terminated colorize removes its temp files, as on Ctrl-C
        result = colorize_archive(
            args.inputs,
            args.out,
            args.checkpoint,
            options=options,
            scene=scene,
            output=output,
            manifest=args.manifest,
            progress=False if args.no_progress else None,
            load=lambda opts: terrain_colorizer(args, opts),  # a run, or a model set's model for --terrain
        )
    main = int(os.environ.get("RANK", "0")) == 0  # under torchrun, rank 0 alone prints
    if result.error:
        if main:
            raise SarcolorError(result.error)
        return 2
    if not main:
        return 1 if result.count("failed") else 0
    for note in result.notes:
        print(f"warning: {note}")
    for done in result.report.scenes:
        print(
            f"{done.source.name} → {done.path}: {done.width}×{done.height}, {done.tiles} tiles "
            f"({done.skipped} all-nodata skipped), {done.megapixels_per_second:.2f} Mpx/s"
        )
    if result.summary:
        print(result.summary)
    ranks = f" by {result.world_size} processes" if result.world_size > 1 else ""
    skipped = f", {result.count('skipped')} skipped (output exists)" if result.count("skipped") else ""
    print(f"colorized {result.count('written')} image(s){ranks} → {args.out}{skipped}")
    if result.manifest is not None:
        print(f"manifest → {result.manifest}")
    failed = [item for item in result.items if item["status"] == "failed"]
    if failed:
        print(f"{len(failed)} input(s) failed:")
        for item in failed:
            print(f"  {quote(item['input'])}: {one_line(item['error'])}")
        return 1
    return 0


def export(args: argparse.Namespace) -> int:
    from sarcolor.inference.onnx_export import ExportOptions, export_onnx

    options = build(args, ExportOptions, "export.").validate("flags")
    done = export_onnx(args.checkpoint, args.out, options)
    print(
        f"{done.source.name} → {done.path} ({done.megabytes:.1f} MB, opset {done.opset}); ONNX Runtime "
        f"matches PyTorch to {done.max_difference:.1e}"
    )
    return 0


def speed(args: argparse.Namespace) -> int:
    from sarcolor.inference.options import InferenceOptions

    options = build(args, InferenceOptions, "infer.").validate("flags")
    from sarcolor.inference.autotune import measure_checkpoint  # torch: after the flags are checked

    opts = options
    done = measure_checkpoint(args.checkpoint, opts.device, opts.precision, opts.batch_size, args.remeasure)
    print(done.describe())
    for line in done.table():
        print(line)
    print(f"key: {done.key}" if done.key else "forms are a CPU matter: CUDA runs its own form")
    return 0


def evaluate(args: argparse.Namespace) -> int:
    from sarcolor.checkpoint import resolve_checkpoint, run_dir_of
    from sarcolor.cli.terrain import evaluate_terrain, is_set_or_classifier
    from sarcolor.data.split import Split
    from sarcolor.evaluation.evaluate import (
        check_scores_out,
        evaluate_predictions,
        evaluation_inputs,
        examples_path,
        write_json,
    )
    from sarcolor.evaluation.evaluate import evaluate as run_evaluation
    from sarcolor.evaluation.scores import aggregate, aggregate_table
    from sarcolor.outputs import atomic_write, ensure_writable

    progress = False if args.no_progress else None
    split_flags = given(args, DataConfig, prefix="data.")
    overwrite = getattr(args, "output.overwrite")
    terrain = bool(args.checkpoint) and any(map(is_set_or_classifier, args.checkpoint))
    if args.out:  # before any work: never over an input, nor over a file evaluate did not write
        inputs = (
            [(c, "the checkpoint") for c in args.checkpoint if Path(c).is_file()]
            if terrain
            else evaluation_inputs(
                args.checkpoint or [], args.data, [args.split_from] if args.split_from else []
            )
        )
        check_scores_out(args.out, inputs, overwrite)
    if terrain:
        if len(args.checkpoint) > 1:
            raise SarcolorError("a terrain classifier or a model set is evaluated alone (one --checkpoint)")
        return evaluate_terrain(args, args.checkpoint[0])
    if args.predictions:
        if args.data is None:
            raise SarcolorError("--predictions needs --data (the targets)")
        run_config = Path(args.split_from or "", "config.yaml")
        cfg = Config.from_yaml(run_config) if args.split_from and run_config.is_file() else Config()
        # --split-from: that run's groups, terrains and preprocessing (its baselines)
        cfg = with_overrides(cfg, {"data": split_flags}).validate(
            str(run_config) if args.split_from else "flags"
        )
        scenes = Split.from_split_file(Path(args.split_from)) if args.split_from else None
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
                device=getattr(args, "infer.device"),
                precision=getattr(args, "infer.precision"),
                examples_path=examples_path(out),
                predictions_dir=args.save_predictions,
                overwrite=overwrite,
                weights_dir=args.weights_dir,
                split_options=split_flags,  # an imported model's split is recomputed with them
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


def report(args: argparse.Namespace) -> int:
    from sarcolor.evaluation.evaluate import evaluation_inputs
    from sarcolor.evaluation.report import build_run_report, check_report_out, write_report

    progress = False if args.no_progress else None
    out = Path(args.out) if args.out else Path(args.runs[0]) / "report.html"
    overwrite = getattr(args, "output.overwrite")
    check_report_out(out, evaluation_inputs([], args.data, args.runs), overwrite)  # before any work
    reports = [
        build_run_report(
            run,
            split=args.split,
            metric=args.metric,
            data=args.data,
            device=getattr(args, "infer.device"),
            progress=progress,
        )
        for run in args.runs
    ]
    names = [r.name for r in reports]
    if len(set(names)) < len(names):
        for i, r in enumerate(reports):  # two runs with the same folder name: keep both apart
            r.name = f"{i + 1}-{r.name}"
    html_path, md_path = write_report(reports, out, args.metric, overwrite=overwrite)
    for r in reports:
        print(r.evaluation.table() + "\n")
    print(f"report → {html_path} (open it in a browser) and {md_path}")
    return 0


def import_model(args: argparse.Namespace) -> int:
    from sarcolor.config import PreprocessConfig
    from sarcolor.importer import ImportOptions, import_generator

    result = import_generator(
        args.source,
        args.model,
        args.out,
        build(args, ImportOptions, "import."),
        preprocess=given(args, PreprocessConfig, "preprocess."),
        overwrite=getattr(args, "output.overwrite"),
    )
    print("\n".join(result.lines()))
    print(f"colorize with: sarcolor colorize INPUT --checkpoint {result.path} --out OUT")
    return 0


def demo(args: argparse.Namespace) -> int:
    from sarcolor.demo import run_demo

    result = run_demo(
        args.out,
        steps=args.steps,
        ngf=args.ngf,
        seed=args.seed,
        device=getattr(args, "train.device"),
        progress=False if args.no_progress else None,
    )
    return 0 if result.beats_baseline else 1


def fit_colour(args: argparse.Namespace) -> int:
    """``sarcolor fit-colour``: a grey generator and a colour stage fitted on colour pairs."""
    from sarcolor.training.colour_stage import colour_stage

    out = Path(args.out)
    if out.suffix != ".safetensors":
        raise SarcolorError(f"{out}: --out must be a .safetensors file")
    if out.exists() and out.resolve() == Path(args.checkpoint).resolve():
        raise SarcolorError(f"{out}: --out must not be the --checkpoint it reads")
    written = colour_stage(
        args.checkpoint,
        args.data,
        out,
        given(args, DataConfig, prefix="data."),
        device=getattr(args, "infer.device", None) or "auto",
        progress=False if args.no_progress else None,
    )
    print(f"wrote {written}")
    return 0
