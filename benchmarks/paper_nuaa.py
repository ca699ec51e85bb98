"""The NUAA grey pairs against the paper's Table 4: train sarcolor on them, score it beside the table.

    python benchmarks/paper_nuaa.py --budget cpu                        # ≤ 40 min on 2 CPU cores
    python benchmarks/paper_nuaa.py --budget gpu                        # 360,000 images, one GPU
    python benchmarks/paper_nuaa.py --test-data DIR --json scores.json  # score on the authors' test files

Data: the "SEN1-2 Image Translation Dataset" of Zhang, Zhou & Lu, *Feature-Guided SAR-to-Optical
Image Translation*, IEEE Access 8, 2020 (sarcolor's ``nuaa`` layout: ``<class>/train_A/sar_<n>.jpg``
↔ ``<class>/train_B/op_<n>.jpg``, grey optical, 256²). Default ``--data``:
``../shared/data/real/sen1-2-nuaa`` (its 1,800 training pairs; the paper's test split is not there).

What runs: the recommended grey recipe (:data:`RECOMMENDED`; ``--variant`` names another, as
``real_quality.py`` does) with ``--target grey`` — pix2pix (U-Net-256, 70×70 PatchGAN, BCE) with
the resize decoder (no dot grid of transposed convolutions) and an L1-dominated loss (BCE +
10,000·L1: at this budget the adversarial term added texture that is not the target's and
lowered SSIM below a constant grey's; docs/quality.md), the learning rate decaying linearly to 0
over the second half. A seeded validation split (``--val-fraction`` of the pairs,
one file per split unit, as the paper splits) is carved from the training files, the baselines
(mean grey, mean grey per class, level lookup table) are fitted on the rest, and the model is
scored on the validation split — or on ``--test-data DIR`` (NUAA layout; its ``test_*`` pairs when
it also holds ``train_*`` ones, else every pair) — with :func:`sarcolor.evaluation.evaluate.evaluate`.

Scores: on grey 256² in [0, 1] (8-bit / 255), data range 1, per image then averaged. SSIM: Wang et
al. 2004, Gaussian window 11, σ 1.5, K1 0.01, K2 0.03, the map averaged over the valid region
(no padding) — scikit-image's ``structural_similarity(gaussian_weights=True,
use_sample_covariance=False, data_range=1)``. The paper does not state its SSIM window; the
common 7×7 uniform-window SSIM of scikit-image's defaults gives different values.

Budgets (``--steps``, ``--ngf``, ``--batch-size`` override them):

* ``cpu``: ngf/ndf 16, batch 8, 2,800 steps (22,400 training images), fp32 (no bf16), 2 threads.
  Sized for at most 40 minutes on a 2-core CPU, training and scoring included, from the fp32
  training rate measured on a quiet 2-core Xeon (AVX-512, bf16 not used): 11.3 img/s at ngf 16
  with the resize decoder (4.5 img/s at ngf 32, which would allow only ~9,000 images) — about
  33 min of training and under a minute of fitting and scoring. On a 2-core AMD EPYC Zen 5 the
  whole command took 18.7 min (fp32, channels_last chosen by measurement).
* ``gpu``: ngf/ndf 64 (the paper's pix2pix networks), batch 16, 22,500 steps = 360,000 training
  images (the paper's 200 epochs × 1,800 images at batch 1), bf16, the decoded uint8 cache on the
  GPU. About 5 minutes of training on one H100 (1,272 img/s measured there). Needs: Python ≥ 3.10
  and the sarcolor package with its dependencies (``pip install -e .``: torch, numpy, pillow,
  kornia, rasterio, safetensors, tqdm, pyyaml, matplotlib) — or, where the machine has only
  PyTorch, ``PYTHONPATH=src`` with ``pip install numpy pillow kornia rasterio safetensors tqdm
  pyyaml matplotlib``.

``--json FILE`` writes the scores in the shape of ``sarcolor evaluate``'s JSON
(``summary.all.model`` and ``summary.all.baselines.{mean_colour,level_lut}``, each with ``psnr``,
``ssim``, ``mae``; the mean grey is named ``mean_colour`` as ``evaluate`` names it), plus this
benchmark's ``benchmark`` record (command, machine, budget, seed, times, the paper's table).
"""

from __future__ import annotations

import argparse
import datetime
import json
import shlex
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from sarcolor.checkpoint import read_meta
from sarcolor.config import Config
from sarcolor.data.sources import discover_pairs
from sarcolor.evaluation.evaluate import evaluate, write_json
from sarcolor.evaluation.scores import CONVENTIONS, Evaluation
from sarcolor.runtime import cpu_model, resolve_device, resolve_precision
from sarcolor.training.recipes import apply_recipe, given_fields
from sarcolor.training.trainer import train
from variants import parse_variant

REPO = Path(__file__).resolve().parents[1]
NUAA_DATA = REPO.parent / "shared" / "data" / "real" / "sen1-2-nuaa"
# Table 4 of Zhang et al. 2020, on their test split (grey, 256², 200 epochs at batch 1): SSIM, PSNR dB.
PAPER: tuple[tuple[str, float, float], ...] = (
    ("pix2pix", 0.33, 18.36),
    ("CycleGAN", 0.37, 18.24),
    ("pix2pixHD", 0.54, 20.42),
    ("Zhang et al. (multi-scale D, VGG, DCT)", 0.61, 21.57),
)
BUDGETS: dict[str, dict] = {
    "cpu": {"ngf": 16, "batch_size": 8, "steps": 2_800, "device": "cpu", "precision": "fp32"},
    "gpu": {"ngf": 64, "batch_size": 16, "steps": 22_500, "device": "cuda", "precision": "auto"},
}
LR_DECAY_FRACTION = 0.5
# The recommended grey recipe (see the module docstring; ``--variant`` names another).
RECOMMENDED = "recommended=pix2pix,model.upsample=resize,train.lambda_l1=10000"


def recipe_config(
    data: Path, budget: dict, seed: int, val_fraction: float, workdir: Path, variant: str = RECOMMENDED
) -> Config:
    """``variant`` (the recommended grey recipe by default) at ``budget`` (see the module docstring):
    the recipe's preset ← the budget ← the variant's own values."""
    steps = budget["steps"]
    _, recipe, values = parse_variant(variant)
    cfg = Config().replace(
        data={
            "root": str(data),
            "val_fraction": val_fraction,
            "test_fraction": 0.0,
            "split_seed": seed,
            # the decoded cache on CUDA (where it pays), kept in the work folder, never in the data
            "cache": str((workdir / "cache").resolve()) if budget["device"] == "cuda" else "off",
        },
        preprocess={"target": "grey"},
        model={"ngf": budget["ngf"], "ndf": budget["ngf"]},
        train={
            "recipe": recipe,
            "steps": steps,
            "batch_size": budget["batch_size"],
            "lr_decay_fraction": LR_DECAY_FRACTION,
            "seed": seed,
            "device": budget["device"],
            "precision": budget["precision"],
            "log_every": max(1, min(100, steps // 10)),
            "sample_every": steps,
            "checkpoint_every": steps,
            "keep_checkpoints": 1,
        },
    )
    cfg = cfg.replace(**values)
    return apply_recipe(cfg.validate(), given=given_fields(values)).validate()


def test_folder(test_data: Path, workdir: Path) -> Path:
    """``test_data`` itself, or — when it holds the authors' ``test_*`` files beside ``train_*`` ones —
    a folder of links to the test pairs alone."""
    found = discover_pairs(test_data)
    if found.layout != "nuaa":
        raise SystemExit(f"{test_data}: not in the NUAA layout (<class>/test_A, test_B or train_A, train_B)")
    test = [p for p in found.pairs if p.dataset_split == "test"]
    if not test or len(test) == len(found.pairs):
        return test_data
    out = workdir / "test-pairs"
    for pair in test:
        for path in (pair.s1, pair.s2):
            link = out / (pair.terrain or "-") / path.parent.name / path.name
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.exists():
                link.symlink_to(path.resolve())
    return out


def finished_checkpoint(run_dir: Path, steps: int) -> Path | None:
    """The run's last checkpoint when it reached ``steps``, else ``None``."""
    found = sorted((run_dir / "checkpoints").glob("*.safetensors"))
    return found[-1] if found and read_meta(found[-1]).step >= steps else None


def table(ev: Evaluation) -> str:
    """The paper's rows, then sarcolor's model and baselines, with the model's distance to each row."""
    s = ev.summary()["all"]
    model, baselines = s["model"], s["baselines"]
    lines = [f"{'':<52}{'SSIM':>7}{'PSNR dB':>9}   sarcolor − row", "─" * 88]
    for name, ssim, psnr in PAPER:
        lines.append(
            f"{'paper: ' + name:<52}{ssim:>7.2f}{psnr:>9.2f}   "
            f"{model['ssim'] - ssim:+.3f} SSIM, {model['psnr'] - psnr:+.2f} dB"
        )
    lines.append(
        f"{'sarcolor (this run)':<52}{model['ssim']:>7.3f}{model['psnr']:>9.2f}   MAE {model['mae']:.4f}"
    )
    names = {"mean_colour": "mean grey", "terrain_colour": "mean grey of the class", "level_lut": "level LUT"}
    for key, scores in baselines.items():
        label = f"baseline: {names.get(key, key)} ({key})"
        lines.append(
            f"{label:<52}{scores['ssim']:>7.3f}{scores['psnr']:>9.2f}   "
            f"model {model['ssim'] - scores['ssim']:+.3f} SSIM, {model['psnr'] - scores['psnr']:+.2f} dB"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", type=Path, default=NUAA_DATA, help="NUAA training pairs (default: %(default)s)"
    )
    parser.add_argument("--budget", choices=sorted(BUDGETS), default="cpu", help="default: %(default)s")
    parser.add_argument("--steps", type=int, help="override the budget's training steps")
    parser.add_argument("--ngf", type=int, help="override the budget's network width (ngf = ndf)")
    parser.add_argument("--batch-size", type=int, help="override the budget's batch size")
    parser.add_argument("--device", choices=["cpu", "cuda"], help="override the budget's device")
    parser.add_argument("--seed", type=int, default=0, help="training and split seed (default: %(default)s)")
    parser.add_argument(
        "--val-fraction", type=float, default=0.1, help="validation share of the pairs (default: %(default)s)"
    )
    parser.add_argument(
        "--variant",
        default=RECOMMENDED,
        help="the recipe: LABEL=RECIPE,section.field=value,… (default: %(default)s)",
    )
    parser.add_argument("--test-data", type=Path, help="score on this NUAA-layout folder instead of val")
    parser.add_argument("--json", type=Path, help="write the scores here (sarcolor evaluate's JSON shape)")
    parser.add_argument("--workdir", type=Path, default=Path("paper-nuaa-runs"), help="default: %(default)s")
    args = parser.parse_args()

    budget = dict(BUDGETS[args.budget])
    for key in ("steps", "ngf", "batch_size", "device"):
        if getattr(args, key) is not None:
            budget[key] = getattr(args, key)
    if budget["device"] == "cpu":
        torch.set_num_threads(min(2, torch.get_num_threads()))
    if not args.data.is_dir():
        raise SystemExit(f"{args.data}: NUAA data not found (give --data DIR)")
    label = parse_variant(args.variant)[0]
    shape = f"ngf{budget['ngf']}_b{budget['batch_size']}_s{budget['steps']}"
    tag = f"{label}_{args.budget}_{shape}_seed{args.seed}"
    work = args.workdir / tag
    cfg = recipe_config(args.data, budget, args.seed, args.val_fraction, work, args.variant)
    device = resolve_device(budget["device"])
    precision = resolve_precision(cfg.train.precision, device)
    images = budget["steps"] * budget["batch_size"]
    print(
        f"training {budget['steps']} steps × {budget['batch_size']} = {images:,} images, "
        f"ngf {budget['ngf']}, {precision} on {device} → {work}",
        flush=True,
    )

    start = time.perf_counter()
    run_dir = work / "run"
    checkpoint = finished_checkpoint(run_dir, budget["steps"])
    if checkpoint is None:  # a run stopped half-way continues; a finished one is scored again
        result = train(cfg, run_dir, resume=(run_dir / "checkpoints").is_dir(), progress=None, echo=print)
        if result.interrupted:
            raise SystemExit(f"{run_dir}: interrupted at step {result.step}; run again to continue")
        checkpoint = result.checkpoint
    else:
        print(f"{checkpoint}: trained already, scoring it")
    trained = time.perf_counter() - start
    if args.test_data is not None:
        data, split = test_folder(args.test_data, work), "all"
    else:
        data, split = None, "val"
    ev = evaluate(
        checkpoint,
        data,
        split,
        device=budget["device"],
        perceptual=False,
        examples_path=work / f"{split}_examples.png",
        progress=None,
    )
    total = time.perf_counter() - start
    machine = (
        f"{cpu_model()}, {torch.get_num_threads()} threads"
        if device.type == "cpu"
        else torch.cuda.get_device_name()
    )
    scored = f"--test-data {args.test_data}" if args.test_data else "the validation split"
    print(
        f"\nscored on {ev.summary()['all']['n']} images ({scored}); "
        f"{trained / 60:.1f} min training, {total / 60:.1f} min in all; "
        f"{machine}, torch {torch.__version__}\n"
    )
    print(table(ev))
    print(f"\nconventions: {CONVENTIONS}")
    if args.json is not None:
        write_json(ev, args.json)
        body = json.loads(args.json.read_text())
        body["benchmark"] = {
            "command": "python benchmarks/paper_nuaa.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
            "machine": machine,
            "torch": torch.__version__,
            "date": datetime.date.today().isoformat(),
            "budget": args.budget,
            "settings": budget,
            "seed": args.seed,
            "train_seconds": trained,
            "total_seconds": total,
            "paper_table_4": [{"method": m, "ssim": s, "psnr": p} for m, s, p in PAPER],
        }
        args.json.write_text(json.dumps(body, indent=1))
        print(f"scores → {args.json}")


if __name__ == "__main__":
    main()
