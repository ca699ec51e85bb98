"""The commands of the app and of terrain: ``serve``, ``models``, ``train-terrain``, and the
model-set side of ``colorize`` and ``evaluate`` (``--checkpoint SET``, ``--terrain``)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from sarcolor.errors import SarcolorError
from sarcolor.flags import build


def serve(args: argparse.Namespace) -> int:
    import logging

    from sarcolor.app.launch import serve as run_server

    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    return run_server(args)


def models(args: argparse.Namespace) -> int:
    from sarcolor.inference.modelset import describe_models

    print(describe_models(args.paths))
    return 0


def train_terrain(args: argparse.Namespace) -> int:
    from sarcolor.config.terrain import ClassifierOptions, TerrainConfig
    from sarcolor.flags import given
    from sarcolor.terrain.train import train_classifier

    base = TerrainConfig()
    sections = {
        "data": given(args, type(base.data), "data."),
        "preprocess": given(args, type(base.preprocess), "preprocess."),
        "classifier": given(args, ClassifierOptions, "classifier."),
    }
    cfg = base.replace(**{k: v for k, v in sections.items() if v}).validate("flags")
    result = train_classifier(cfg, args.out, progress=False if args.no_progress else None)
    print(f"done in {result.seconds / 60:.1f} min: {result.checkpoint}")
    if result.report is not None:
        r, majority = result.report, result.report["majority"]
        print(f"test accuracy {r['accuracy']:.1%} vs always-{majority['terrain']} {majority['accuracy']:.1%}")
    return 0


def is_set_or_classifier(path: str) -> bool:
    """Whether ``--checkpoint PATH`` names a terrain classifier or a model set (not one run)."""
    from sarcolor.checkpoint import list_checkpoints
    from sarcolor.models.terrain_classifier import classifier_file

    p = Path(path)
    if classifier_file(p) is not None:
        return True
    return p.is_dir() and not list_checkpoints(p) and not any(p.glob("*.safetensors"))


def colorizer(args: argparse.Namespace, options: Any):
    """The colorizer for ``colorize --checkpoint CKPT|RUN|SET [--terrain NAME|auto]``."""
    from sarcolor.inference.colorizer import Colorizer
    from sarcolor.inference.modelset import load_registry
    from sarcolor.terrain.options import TerrainOptions, load_terrain_classifier
    from sarcolor.terrain.routing import colorizer_for

    terrain = build(args, TerrainOptions, "terrain.")
    if (
        terrain.terrain is None
        and terrain.terrain_classifier is None
        and not is_set_or_classifier(args.checkpoint)
    ):
        plain = Colorizer(args.checkpoint, **vars(options))  # as without model sets
        if not plain.condition_terrains:
            return plain
    registry = load_registry([args.checkpoint], load_terrain_classifier(terrain.terrain_classifier))
    chosen = colorizer_for(registry, terrain.terrain, **vars(options))
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun, rank 0 alone prints
        print(f"terrain {terrain.terrain or 'auto'}: " + describe_choice(chosen))
    return chosen


def describe_choice(chosen) -> str:
    from sarcolor.terrain.routing import TerrainRouter

    if isinstance(chosen, TerrainRouter):
        names = ", ".join(f"{t} → {c.path.parent.parent.name}" for t, c in chosen.models.items())
        how = (
            "each tile by the terrain classifier" if chosen.terrain == "auto" else f"terrain {chosen.terrain}"
        )
        return f"{how}; {names}"
    return str(chosen.path)


def evaluate_terrain(args: argparse.Namespace, path: str) -> int:
    """``evaluate --checkpoint`` of a terrain classifier or a model set."""
    from sarcolor.models.terrain_classifier import Classifier, classifier_file
    from sarcolor.terrain.evaluate import (
        default_report_path,
        evaluate_classifier,
        format_report,
        write_report,
    )
    from sarcolor.terrain.set_eval import evaluate_set

    progress = False if args.no_progress else None
    if classifier_file(path) is not None:
        classifier = Classifier(path)
        report = evaluate_classifier(classifier, args.data, args.split, progress=progress)
        print(format_report(report))
        out = Path(args.out) if args.out else default_report_path(classifier, args.split)
        write_report(report, out)
        print(f"scores → {out}")
        return 0
    if args.save_predictions:
        raise SarcolorError("--save-predictions takes a run, not a model set")
    results = evaluate_set(
        path,
        args.data,
        args.split,
        device=getattr(args, "infer.device"),
        precision=getattr(args, "infer.precision"),
        out=Path(args.out) if args.out else None,
        progress=progress,
    )
    return 0 if results else 1
