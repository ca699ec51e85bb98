"""Quality on real SAR: leave-one-scene-out over the real colour scenes, and the demo's synthetic split.

    python benchmarks/real_quality.py                  # CPU budget, the two recipes, 2 seeds
    python benchmarks/real_quality.py --pretrain       # … each generator pretrained on the NUAA grey pairs
    python benchmarks/real_quality.py --gpu            # the larger GPU budget, 3 seeds
    python benchmarks/real_quality.py --variant pix2pix --variant "fm=pix2pix,train.lambda_fm=10"
    python benchmarks/real_quality.py --final --test-data DIR --json scores.json   # the recommended recipe

Real data (default: ``../shared/data/real/sen1-2-scenes/v_2`` and ``…/sen1-2-original``, five
whole SEN1-2 scenes in two layouts; ``--data`` repeated names others): the scenes are gathered
into one folder of links, one folder per scene (:mod:`colour_scenes`), and every scene in turn
is the test split (``holdout_terrain``) while the others train: leave-one-scene-out. For each fold
and seed a model is trained with :func:`sarcolor.training.trainer.train` and scored with
:func:`sarcolor.evaluation.evaluate.evaluate` beside the three baselines fitted on that fold's
training scenes; the outputs' periodic-pattern score (:mod:`sarcolor.evaluation.periodic`) is
compared with the targets'. ``--synthetic`` also trains on the demo's synthetic data
(:func:`sarcolor.demo.demo_config`'s split) at the same budget.

``--pretrain``: each variant's generator is first trained with ``--target grey`` on the 1,800 NUAA
grey pairs (``--nuaa``, ``--pretrain-steps``; once per variant and seed, shared by the folds),
then every fold's colour run starts from it (``--init-from``: the grey output layer repeated over
R, G, B). ``--pretrained CKPT`` starts every run from that checkpoint instead.

``--colour-stage``: no colour training; each fold fits the colour stage of the pretrained grey
generator on its training scenes (:mod:`sarcolor.training.colour_stage`, ``sarcolor fit-colour``):
the two-stage model, the recommended recipe.

``--final --test-data DIR --json FILE``: the recommended recipe (:data:`FINAL_VARIANT`: its NUAA
grey pretraining, then the colour stage; or ``--variant``/``--pretrain`` given) fitted on all real
colour pairs of ``../shared/data`` (the five scenes and the two loose pairs of ``sen1-2/v_2``; none held out)
and scored on DIR (Kaggle layout) beside the mean-colour and level-LUT baselines fitted on those
training scenes, written in ``sarcolor evaluate``'s JSON shape. A scene of DIR that is also
trained on is reported as such.

Budgets (``--steps``, ``--pretrain-steps``, ``--ngf``, ``--batch-size`` override them): ``cpu``
is fp32, ngf/ndf 16, batch 8, 2,000 NUAA steps + 500 colour steps: 20,000 training images, about
30 minutes at the 11 img/s measured for fp32 ngf 16 (resize decoder) on a quiet 2-core CPU, plus
about a minute of fitting and scoring — within the issue's 40 minutes for ``--final``, pretraining
included (the two-stage ``--final``: 25–28 min end to end on a 2-core AVX2-only EPYC, 2,000 NUAA
steps and seconds of fitting; 34 min for the pretraining alone under load). A variant without
pretraining trains its 500 colour steps only (give ``--steps 2500`` to spend the same budget on
colour). ``gpu``: ngf/ndf 64, batch 16, 10,000 + 4,000 steps, bf16 where
the GPU has it.

A variant is ``NAME`` (a recipe of :mod:`sarcolor.recipes`) or ``LABEL=RECIPE,section.field=value,…``.
Every run's result is kept as JSON under ``--workdir`` and reused when the same run is asked
again, so an interrupted benchmark continues where it stopped. ``--write`` puts the tables in
docs/quality.md between this script's markers (``--section`` names them), leaving the rest.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shlex
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from colour_scenes import NUAA_DATA, SCENE_ROOTS, fine_tune_config, scene_folder
from quality_tables import render_section, write_quality_section
from real_final import final, init_suffix, machine_name, start_from
from sarcolor.checkpoint import read_meta
from sarcolor.config import Config
from sarcolor.data.io import read_image
from sarcolor.data.sources import discover_pairs, source_of
from sarcolor.data.split import select_split
from sarcolor.demo import demo_config
from sarcolor.evaluation.evaluate import evaluate
from sarcolor.evaluation.periodic import PERIODS, grid_scores
from sarcolor.models import build_networks
from sarcolor.runtime import resolve_device, resolve_precision
from sarcolor.synthetic import make_synthetic_dataset
from sarcolor.training.colour_stage import colour_stage
from sarcolor.training.pix2pix import Pix2Pix
from sarcolor.training.recipes import apply_recipe, given_fields
from sarcolor.training.trainer import train
from variants import parse_variant

REPO = Path(__file__).resolve().parents[1]
# Budgets: widths, batch, colour steps, NUAA pretraining steps (with --pretrain), number format
# (lr decays linearly to 0 over the last half of each run, as in pix2pix). See the docstring.
BUDGETS = {
    "cpu": {
        "ngf": 16, "ndf": 16, "batch_size": 8, "steps": 500, "pretrain_steps": 2000,
        "precision": "fp32", "seeds": [0, 1],
    },
    "gpu": {
        "ngf": 64, "ndf": 64, "batch_size": 16, "steps": 4000, "pretrain_steps": 10000,
        "precision": "auto", "seeds": [0, 1, 2],
    },
}  # fmt: skip
LR_DECAY_FRACTION = 0.5
# The recommended recipe for real colour data, trained by --final: the NUAA grey pretraining (SAR
# levels standardised), then the colour stage fitted on the colour scenes (no colour training).
FINAL_VARIANT = (
    "recommended=pix2pix,model.upsample=resize,train.lambda_l1=10000,preprocess.sar_levels=standardise"
)
FINAL_PRETRAIN = True
FINAL_COLOUR_STAGE = True


def fold_config(recipe: str, values: dict, budget: dict, seed: int, device: str) -> Config:
    """The recipe's preset ← the budget ← the variant's own values."""
    base = {
        "model": {"ngf": budget["ngf"], "ndf": budget["ndf"]},
        "train": {
            "steps": budget["steps"],
            "batch_size": budget["batch_size"],
            "lr_decay_fraction": LR_DECAY_FRACTION,
            "seed": seed,
            "device": device,
            "precision": budget["precision"],
            "log_every": 25,
            "sample_every": budget["steps"],
            "checkpoint_every": budget["steps"],
            "keep_checkpoints": 1,
        },
    }
    for section, part in values.items():
        base.setdefault(section, {}).update(part)
    base["train"]["recipe"] = recipe
    return apply_recipe(Config.from_dict(base).validate(), given_fields(values)).validate()


def run_one(cfg: Config, run_dir: Path, device: str, init_from: Path | None = None) -> dict:
    """Train (the generator from ``init_from`` when given), evaluate on the test split, and
    measure the outputs' periodic patterns."""
    start = time.perf_counter()
    result = train(cfg, run_dir, init_from=init_from, progress=False, echo=lambda _: None)
    if result.interrupted:  # never store the scores of a half-trained model as the run's
        raise SystemExit(f"{run_dir}: interrupted at step {result.step}")
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return scored(result.checkpoint, run_dir, device, time.perf_counter() - start, records, init_from)


def fit_one(init: Path, root: Path, fold: str, run_dir: Path, device: str) -> dict:
    """``--colour-stage``: the colour stage of the grey generator ``init`` fitted on every scene
    but ``fold`` (:mod:`sarcolor.training.colour_stage`; no colour training), scored as a run."""
    start = time.perf_counter()
    split = {"holdout_terrain": fold, "val_fraction": 0.0, "test_fraction": 0.0}
    out = run_dir / "checkpoints" / "colour_stage.safetensors"
    out.parent.mkdir(parents=True, exist_ok=True)
    checkpoint = colour_stage(init, root, out, split, device=device, echo=lambda _: None)
    return scored(checkpoint, run_dir, device, time.perf_counter() - start, [], init)


def scored(
    checkpoint: Path, run_dir: Path, device: str, seconds: float, records: list[dict], init_from: Path | None
) -> dict:
    """A run's record: ``checkpoint`` evaluated on its test split, its outputs' periodic patterns,
    and what its training logged (``records``)."""
    cfg = read_meta(checkpoint).config
    preds = run_dir / "test_predictions"
    ev = evaluate(
        checkpoint,
        split="test",
        device=device,
        examples_path=run_dir / "test_examples.png",
        predictions_dir=preds,
        overwrite=True,
        progress=False,
    )
    summary = ev.summary()["all"]
    speeds = [r["images_per_s"] for r in records if "images_per_s" in r][1:]  # the first holds warm-up
    g, d = build_networks(cfg)
    return {
        "n": summary["n"],
        "model": summary["model"],
        "baselines": summary["baselines"],
        "perceptual": ev.perceptual,
        "grid": periodic_scores(cfg, run_dir),
        "images_per_s": statistics.median(speeds) if speeds else float("nan"),
        "train_seconds": seconds,
        "g_params": sum(p.numel() for p in g.parameters()),
        "d_params": sum(p.numel() for p in d.parameters()),
        "precision": resolve_precision(cfg.train.precision, torch.device(resolve_device(device))),
        "last_losses": {k: v for k, v in (records or [{}])[-1].items() if k[:2] in ("D", "D_", "G_")},
        "init_from": str(init_from) if init_from is not None else None,
        "config": cfg.to_dict(),
    }


def periodic_scores(cfg: Config, run_dir: Path) -> dict:
    """The periodic-pattern scores of the saved test predictions and of their targets."""
    checkpoint = sorted((run_dir / "checkpoints").glob("*.safetensors"))[-1]  # a run keeps one
    pairs = select_split(discover_pairs(cfg.data.root).pairs, read_meta(checkpoint).split, "test")
    outputs = [
        read_image(run_dir / "test_predictions" / f"{source_of(p).prediction_stem(p)}.png") for p in pairs
    ]
    targets = [read_image(p.s2) for p in pairs]
    return {"model": grid_scores(outputs), "target": grid_scores(targets)}


def cached(path: Path, make) -> dict:
    """The result stored at ``path``, or ``make()``'s (then stored). Results from before a change
    of :data:`~sarcolor.evaluation.periodic.PERIODS` get their scores recomputed."""
    if path.is_file():
        record = json.loads(path.read_text())
        if sorted(map(int, record["grid"]["model"])) != sorted(PERIODS):
            record["grid"] = periodic_scores(Config.from_dict(record["config"]), path.parent)
            path.write_text(json.dumps(record, indent=1, default=float))
        return record
    record = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1, default=float))
    return record


def train_speeds(cfgs: dict[str, Config], device: str, rounds: int = 3, steps: int = 4) -> dict[str, float]:
    """Training images/s of each configuration's step on random batches, the variants measured
    in turns (``rounds`` times, ``steps`` steps each after one warm-up step), median of the rounds.

    The in-run figures are not compared: other work on the machine changes them from run to run.
    """
    dev = resolve_device(device)
    models, times = {}, {label: [] for label in cfgs}
    for label, cfg in cfgs.items():
        torch.manual_seed(0)
        models[label] = Pix2Pix(cfg, 100, dev)
    b, pre = next(iter(cfgs.values())).train.batch_size, next(iter(cfgs.values())).preprocess
    x = torch.rand(b, pre.in_channels, 256, 256, device=dev) * 2 - 1
    y = torch.rand(b, pre.out_channels, 256, 256, device=dev) * 2 - 1
    for model in models.values():
        model.train_step(x, y, 0)
    for _ in range(rounds):
        for label, model in models.items():
            if dev.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            for step in range(steps):
                model.train_step(x, y, step)
            if dev.type == "cuda":
                torch.cuda.synchronize()
            times[label].append(b * steps / (time.perf_counter() - start))
    return {label: statistics.median(v) for label, v in times.items()}


def run_config(
    recipe: str, values: dict, budget: dict, dataset: str, root: Path, fold: str, seed: int, device: str
) -> Config:
    """A fold's configuration: the terrain ``fold`` held out (real), or the demo's split (synthetic)."""
    cfg = fold_config(recipe, values, budget, seed, device).replace(data={"root": str(root)})
    if dataset == "real":
        cfg = cfg.replace(data={"holdout_terrain": fold, "val_fraction": 0.0, "test_fraction": 0.0})
    else:
        split = demo_config(root, budget["steps"], budget["ngf"], seed, device).data
        keys = ("split_seed", "val_fraction", "test_fraction")
        cfg = cfg.replace(data={k: getattr(split, k) for k in keys})
    return cfg.validate()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", type=Path, action="append", help="a folder of real colour scenes, any layout; repeat"
    )
    parser.add_argument("--variant", action="append", help="NAME or LABEL=RECIPE,section.field=value,…")
    parser.add_argument(
        "--gpu", action="store_true", help="the GPU budget (ngf/ndf 64, batch 16, 4000 steps)"
    )
    parser.add_argument("--seeds", type=int, nargs="+", help="default: the budget's (--final: 0)")
    parser.add_argument("--steps", type=int, help="override the budget's (colour) steps")
    parser.add_argument("--ngf", type=int, help="override the budget's generator width (and ndf)")
    parser.add_argument("--batch-size", type=int, help="override the budget's batch size")
    parser.add_argument("--folds", nargs="+", help="only these held-out scenes (folder names)")
    parser.add_argument("--pretrain", action="store_true", help="pretrain each generator on NUAA (grey)")
    parser.add_argument("--pretrain-steps", type=int, help="override the budget's NUAA pretraining steps")
    parser.add_argument("--pretrained", type=Path, help="start every generator from this checkpoint")
    parser.add_argument(
        "--colour-stage",
        action="store_true",
        help="no colour training: fit the colour stage of the (pretrained) grey generator on each "
        "fold's training scenes (sarcolor fit-colour; the recommended recipe)",
    )
    parser.add_argument("--nuaa", type=Path, default=NUAA_DATA, help="NUAA grey pairs (default: %(default)s)")
    parser.add_argument(
        "--final", action="store_true", help="train the recommended recipe on all colour data"
    )
    parser.add_argument("--test-data", type=Path, help="--final: score on this folder (Kaggle layout)")
    parser.add_argument("--json", type=Path, help="--final: write the scores here (evaluate's JSON shape)")
    parser.add_argument("--synthetic", action="store_true", help="also the demo's synthetic split")
    parser.add_argument("--no-real", action="store_true", help="skip the real-scene folds")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--workdir", type=Path, default=Path("quality-runs"), help="runs and results")
    parser.add_argument("--no-speed", action="store_true", help="skip the training-speed measurement")
    parser.add_argument("--write", action="store_true", help="write the tables into docs/quality.md")
    parser.add_argument("--section", default="results", help="name of the docs/quality.md section")
    args = parser.parse_args()

    budget = dict(BUDGETS["gpu" if args.gpu else "cpu"])
    for key in ("steps", "batch_size", "pretrain_steps"):
        if getattr(args, key) is not None:
            budget[key] = getattr(args, key)
    if args.ngf is not None:
        budget["ngf"] = budget["ndf"] = args.ngf
    if resolve_device(args.device).type == "cpu":
        torch.set_num_threads(min(2, torch.get_num_threads()))  # the budget is a 2-core CPU's
    if args.pretrain and args.pretrained is not None:
        raise SystemExit("give --pretrain (train one on NUAA) or --pretrained CKPT, not both")
    if args.colour_stage and not (args.pretrain or args.pretrained is not None or args.final):
        raise SystemExit(
            "--colour-stage fits the colour stage of a grey generator: give --pretrain or --pretrained"
        )
    if args.pretrain and not args.nuaa.is_dir():
        raise SystemExit(f"{args.nuaa}: NUAA grey pairs not found (give --nuaa DIR)")
    args.budget = budget
    b = budget
    args.tag = f"ngf{b['ngf']}_ndf{b['ndf']}_b{b['batch_size']}_s{b['steps']}_{b['precision']}"
    command = "python benchmarks/real_quality.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    if args.final:
        label, recipe, values = parse_variant(args.variant[0] if args.variant else FINAL_VARIANT)
        if not args.variant and FINAL_PRETRAIN and args.pretrained is None:
            args.pretrain = True
        if not args.variant and FINAL_COLOUR_STAGE:
            args.colour_stage = True
        seed = (args.seeds or [0])[0]
        final(args, command.strip(), label, fold_config(recipe, values, budget, seed, args.device))
        return
    seeds = args.seeds or budget["seeds"]
    variants = [parse_variant(v) for v in (args.variant or ["pix2pix", "pix2pixhd"])]
    variants = [(label + init_suffix(args), recipe, values) for label, recipe, values in variants]
    work = args.workdir / args.tag
    results: list[dict] = []

    datasets: list[tuple[str, Path, list[str]]] = []
    if not args.no_real:
        root, folds = scene_folder(args.data or list(SCENE_ROOTS), work / "colour-scenes")
        unknown = set(args.folds or ()) - set(folds)
        if unknown:
            raise SystemExit(
                f"--folds {' '.join(sorted(unknown))}: no such scene (scenes: {', '.join(folds)})"
            )
        datasets.append((f"real{len(folds)}", root, [f for f in folds if not args.folds or f in args.folds]))
    if args.synthetic:
        synthetic = make_synthetic_dataset(work / "synthetic-data", scenes_per_terrain=4, patches_per_scene=9)
        datasets.append(("synthetic", synthetic, ["demo split"]))

    for label, recipe, values in variants:
        for folder, root, folds in datasets:
            dataset = "real" if folder.startswith("real") else folder
            for seed in seeds:
                cfg0 = run_config(recipe, values, budget, dataset, root, folds[0], seed, args.device)
                init = start_from(args, cfg0, label, seed, work)
                for fold in folds:
                    run_dir = work / label / folder / fold.replace(" ", "_") / f"seed{seed}"
                    cfg = run_config(recipe, values, budget, dataset, root, fold, seed, args.device)
                    if init is not None:
                        cfg = fine_tune_config(cfg, init)
                    t0 = time.perf_counter()
                    if args.colour_stage:
                        make = lambda: fit_one(init, root, fold, run_dir, args.device)  # noqa: B023, E731
                    else:
                        make = lambda: run_one(cfg, run_dir, args.device, init)  # noqa: B023, E731
                    record = cached(run_dir / "result.json", make)
                    record.update(variant=label, recipe=recipe, dataset=dataset, fold=fold, seed=seed)
                    results.append(record)
                    m, b = record["model"], record["baselines"]
                    grid = max(
                        record["grid"]["model"][p] - record["grid"]["target"][p]
                        for p in record["grid"]["model"]
                    )
                    print(
                        f"{label:<16} {dataset:<9} {fold:<11} seed {seed}: PSNR {m['psnr']:.2f} "
                        f"(mean colour {b['mean_colour']['psnr']:.2f}, LUT {b['level_lut']['psnr']:.2f}) "
                        f"MAE {m['mae']:.4f} ({b['mean_colour']['mae']:.4f}, {b['level_lut']['mae']:.4f}) "
                        f"SSIM {m['ssim']:.3f} SAM {m['sam']:.2f} grid +{grid:.2f} dB "
                        f"{record['images_per_s']:.1f} img/s [{time.perf_counter() - t0:.0f} s]",
                        flush=True,
                    )

    if not args.no_speed and results:
        first = {r["variant"]: r for r in results}
        speeds = train_speeds(
            {v: Config.from_dict(r["config"]).validate() for v, r in first.items()}, args.device
        )
        for r in results:
            r["train_images_per_s"] = speeds[r["variant"]]
    header = {
        "command": command.strip(),
        "machine": machine_name(args.device),
        "torch": torch.__version__,
        "date": datetime.date.today().isoformat(),
        "budget": budget,
        "seeds": seeds,
    }
    section = render_section(results, header)
    print("\n" + section)
    (work / "results.json").write_text(
        json.dumps({"header": header, "runs": results}, indent=1, default=float)
    )
    if args.write:
        write_quality_section(REPO / "docs" / "quality.md", args.section, section)


if __name__ == "__main__":
    main()
