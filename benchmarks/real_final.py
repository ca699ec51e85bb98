"""``benchmarks/real_quality.py --final``: the recommended colour recipe on all real colour data.

Trained on every real colour pair of ``../shared/data`` (:data:`colour_scenes.ALL_COLOUR_ROOTS`,
none held out; the NUAA grey pretraining first when the recipe uses it), scored on
``--test-data DIR`` beside the mean-colour and level-LUT baselines fitted on those training
scenes (the checkpoint's), written as ``--json FILE`` in ``sarcolor evaluate``'s shape. A scene of
DIR that was also trained on is printed as a warning and listed in the JSON.
"""

from __future__ import annotations

import argparse
import datetime
import json
import time
from pathlib import Path

import torch

from colour_scenes import ALL_COLOUR_ROOTS, fine_tune_config, pretrained_generator, scene_folder
from machine import cpu_name
from sarcolor.checkpoint import read_meta
from sarcolor.config import Config
from sarcolor.data.sources import discover_pairs
from sarcolor.evaluation.evaluate import evaluate, write_json
from sarcolor.runtime import resolve_device
from sarcolor.training.colour_stage import colour_stage
from sarcolor.training.trainer import train


def machine_name(device: str) -> str:
    if resolve_device(device).type == "cpu":
        return f"{cpu_name()}, {torch.get_num_threads()} threads"
    return torch.cuda.get_device_name()


def init_suffix(args: argparse.Namespace) -> str:
    """What a run's label gains when its generator starts from another (so that runs from
    scratch and from a pretrained generator never share a folder or a table row)."""
    fit = "+colour-stage" if getattr(args, "colour_stage", False) else ""
    if args.pretrained is not None:
        return f"+{args.pretrained.stem}{fit}"
    return (f"+nuaa{args.budget['pretrain_steps']}" if args.pretrain else "") + fit


def start_from(args: argparse.Namespace, cfg: Config, label: str, seed: int, work: Path) -> Path | None:
    """The checkpoint a run's generator starts from: ``--pretrained``, the variant's NUAA
    pretraining (``--pretrain``: once per variant and seed, in ``work``), or none."""
    if args.pretrained is not None:
        return args.pretrained
    if not args.pretrain:
        return None
    steps = args.budget["pretrain_steps"]
    return pretrained_generator(cfg, args.nuaa, steps, work / "pretrain" / f"{label}_s{steps}_seed{seed}")


def final(args: argparse.Namespace, command: str, label: str, cfg: Config) -> None:
    """``--final``: the variant ``label`` (its configuration ``cfg``, before the data) trained on
    every real colour pair (with its pretraining, ``args.pretrain``), scored on ``--test-data``
    into ``--json`` in ``sarcolor evaluate``'s shape, with a ``benchmark`` record."""
    if args.test_data is None or args.json is None:
        raise SystemExit("--final needs --test-data DIR and --json FILE")
    if not args.test_data.is_dir():
        raise SystemExit(f"{args.test_data}: test data not found")
    seed = cfg.train.seed
    work = args.workdir / args.tag / "final"
    root, scenes = scene_folder(args.data or list(ALL_COLOUR_ROOTS), work / "colour-scenes")
    cfg = cfg.replace(data={"root": str(root), "val_fraction": 0.0, "test_fraction": 0.0})
    start = time.perf_counter()
    init = start_from(args, cfg.validate(), label, seed, work)
    if init is not None:
        cfg = fine_tune_config(cfg, init)
    run_dir = work / (label + init_suffix(args)) / f"seed{seed}"
    found = sorted((run_dir / "checkpoints").glob("*.safetensors"))
    if args.colour_stage:  # the grey generator's colour stage fitted on every colour scene
        if init is None:
            raise SystemExit("--colour-stage needs the grey generator: --pretrain or --pretrained")
        out = run_dir / "checkpoints" / "colour_stage.safetensors"
        out.parent.mkdir(parents=True, exist_ok=True)
        print(
            f"fitting the colour stage on {len(scenes)} colour scenes ({', '.join(scenes)}) → {out}",
            flush=True,
        )
        checkpoint = colour_stage(
            init, root, out, {"val_fraction": 0.0, "test_fraction": 0.0}, device=args.device
        )
    elif found and read_meta(found[-1]).step >= cfg.train.steps:
        checkpoint = found[-1]
    else:
        print(
            f"training {label} on {len(scenes)} colour scenes ({', '.join(scenes)}) → {run_dir}", flush=True
        )
        resume = bool(found)
        result = train(cfg, run_dir, resume=resume, init_from=None if resume else init, progress=False)
        if result.interrupted:
            raise SystemExit(f"{run_dir}: interrupted at step {result.step}; run again to continue")
        checkpoint = result.checkpoint
    trained = time.perf_counter() - start
    trained_scenes = {p.split_group for p in discover_pairs(root).pairs}
    shared = sorted(trained_scenes & {p.split_group for p in discover_pairs(args.test_data).pairs})
    if shared:
        print(f"WARNING: {args.test_data} holds scenes the model trained on: {', '.join(shared)}", flush=True)
    ev = evaluate(
        checkpoint,
        args.test_data,
        "all",
        device=args.device,
        perceptual=False,
        examples_path=run_dir / "test_examples.png",
        progress=False,
    )
    total = time.perf_counter() - start
    write_json(ev, args.json)
    body = json.loads(args.json.read_text())
    body["benchmark"] = {
        "command": command,
        "machine": machine_name(args.device),
        "torch": torch.__version__,
        "date": datetime.date.today().isoformat(),
        "variant": label + init_suffix(args),
        "config": read_meta(checkpoint).config.to_dict(),
        "init_from": str(init) if init is not None else None,
        "budget": args.budget,
        "seed": seed,
        "training_scenes": sorted(trained_scenes),
        "test_scenes_also_trained": shared,
        "train_seconds": trained,
        "total_seconds": total,
    }
    args.json.write_text(json.dumps(body, indent=1, default=float))
    s = ev.summary()["all"]
    for name, scores in [("model", s["model"]), *s["baselines"].items()]:
        print(f"{name:<16} PSNR {scores['psnr']:6.2f}  SSIM {scores['ssim']:.4f}  MAE {scores['mae']:.4f}")
    print(f"n {s['n']}; {trained / 60:.1f} min training, {total / 60:.1f} min in all → {args.json}")
