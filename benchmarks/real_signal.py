"""What in the real scenes carries over from two of them to the third: the data, and a model's outputs.

    python benchmarks/real_signal.py                      # the data alone (seconds)
    python benchmarks/real_signal.py --runs WORKDIR/ngf8_ndf8_b4_s100 --variant resize_l1 [--write]

``benchmarks/real_quality.py`` scores recipes leave-one-scene-out on the real SEN1-2 scenes
(default ``../shared/data/real/sen1-2-scenes/v_2``, one scene per terrain folder). This script
says how much any recipe could gain there, from the data alone:

- **SAR ↔ optical within a patch**: the Pearson correlation, per patch, of the SAR image with
  the optical luma (Rec. 601), after a box filter of 1, 9 and 33 pixels (speckle averages out);
  mean ± std over each scene's patches. A relation a model can carry from two scenes to a third
  has the same sign in all of them.
- **Flat predictors per fold** (PSNR / MAE as ``sarcolor evaluate`` computes them, per image
  in [0, 1], then averaged): the training scenes' mean colour (the mean-colour baseline), and two
  oracles that look at the test targets: the held-out scene's own mean colour and each test
  image's own mean colour. The second oracle bounds what a prediction of colour alone can reach.

With ``--runs`` (a ``real_quality.py`` budget folder) and ``--variant``, the outputs that
variant wrote for each fold's test scene are split into their per-image mean colour and their
spatial structure (each output minus its mean): the score of the mean colour alone, and the
correlation of the structure with the target's (the same split of the target). ``--write`` puts
the tables in docs/quality.md between this script's markers.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from machine import write_section
from sarcolor.data.sources import discover_pairs
from sarcolor.evaluation.metrics import mae, psnr

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real" / "sen1-2-scenes" / "v_2"
DOC = ROOT / "docs" / "quality.md"
BEGIN, END = "<!-- real_signal.py: begin -->", "<!-- real_signal.py: end -->"
BOXES = (1, 9, 33)
LUMA = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)

Scene = dict[str, torch.Tensor]  # "sar" (N, 1, H, W), "rgb" (N, 3, H, W), in [0, 1]


def load_scenes(root: Path) -> tuple[dict[str, Scene], dict[str, list[str]]]:
    """Per terrain folder: its pairs' SAR and optical images, and the SAR file names (in order)."""
    by_terrain: dict[str, list] = {}
    for pair in discover_pairs(root).pairs:
        by_terrain.setdefault(pair.terrain or "-", []).append(pair)
    scenes, names = {}, {}
    for terrain, pairs in sorted(by_terrain.items()):
        sar = [np.asarray(Image.open(p.s1).convert("L"), np.float32) for p in pairs]
        rgb = [np.asarray(Image.open(p.s2).convert("RGB"), np.float32) for p in pairs]
        scenes[terrain] = {
            "sar": torch.from_numpy(np.stack(sar))[:, None] / 255,
            "rgb": torch.from_numpy(np.stack(rgb)).permute(0, 3, 1, 2) / 255,
        }
        names[terrain] = [p.s1.name for p in pairs]
    return scenes, names


def correlation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) pair → (N,) Pearson correlation over each image's pixels and channels."""
    da = a - a.mean(dim=(1, 2, 3), keepdim=True)
    db = b - b.mean(dim=(1, 2, 3), keepdim=True)
    return (da * db).mean(dim=(1, 2, 3)) / (da.std(dim=(1, 2, 3)) * db.std(dim=(1, 2, 3)) + 1e-9)


def sar_luma_correlation(scene: Scene, box: int) -> tuple[float, float]:
    """Mean ± std over the patches of corr(SAR, luma) after a ``box``×``box`` mean filter."""
    sar, luma = scene["sar"], (scene["rgb"] * LUMA).sum(dim=1, keepdim=True)
    if box > 1:
        sar, luma = F.avg_pool2d(sar, box, stride=1), F.avg_pool2d(luma, box, stride=1)
    c = correlation(sar, luma)
    return float(c.mean()), float(c.std())


def score(pred: torch.Tensor, target: torch.Tensor) -> tuple[float, float]:
    """Mean per-image PSNR and MAE of (N, 3, H, W) predictions (broadcast allowed)."""
    pred = pred.expand_as(target)
    return float(psnr(pred, target).mean()), float(mae(pred, target).mean())


def flat_rows(scenes: dict[str, Scene]) -> list[tuple[str, dict[str, tuple[float, float]]]]:
    """Per held-out scene: PSNR/MAE of the training mean colour and of the two oracles."""
    rows = []
    for held_out, test in scenes.items():
        train = torch.cat([s["rgb"] for t, s in scenes.items() if t != held_out])
        target = test["rgb"]
        rows.append(
            (
                held_out,
                {
                    "training mean colour": score(train.mean(dim=(0, 2, 3)).view(1, 3, 1, 1), target),
                    "oracle: the scene's mean colour": score(
                        target.mean(dim=(0, 2, 3)).view(1, 3, 1, 1), target
                    ),
                    "oracle: each image's mean colour": score(target.mean(dim=(2, 3), keepdim=True), target),
                },
            )
        )
    return rows


def model_rows(
    scenes: dict[str, Scene], names: dict[str, list[str]], runs: Path, variant: str
) -> list[tuple]:
    """Per held-out scene and seed: the variant's outputs, their mean colour alone, their structure."""
    rows = []
    for held_out, test in scenes.items():
        for seed_dir in sorted((runs / variant / "real" / held_out).glob("seed*")):
            folder = seed_dir / "test_predictions"
            files = [folder / n for n in names[held_out]]
            if not all(f.exists() for f in files):
                continue
            pred = torch.stack(
                [
                    torch.from_numpy(np.asarray(Image.open(f).convert("RGB"), np.float32)).permute(2, 0, 1)
                    / 255
                    for f in files
                ]
            )
            target = test["rgb"]
            pred_mean = pred.mean(dim=(2, 3), keepdim=True)
            structure = correlation(pred - pred_mean, target - target.mean(dim=(2, 3), keepdim=True))
            energy = (pred - pred_mean).std(dim=(1, 2, 3)) / (
                target - target.mean(dim=(2, 3), keepdim=True)
            ).std(dim=(1, 2, 3))
            rows.append(
                (
                    held_out,
                    seed_dir.name,
                    score(pred, target),
                    score(pred_mean, target),
                    float(structure.mean()),
                    float(energy.mean()),
                )
            )
    return rows


def cell(psnr_mae: tuple[float, float]) -> str:
    return f"{psnr_mae[0]:.2f} / {psnr_mae[1]:.4f}"


def render(scenes, names, args) -> list[str]:
    lines = [
        f"Command: `python benchmarks/real_signal.py {shlex.join(sys.argv[1:])}`",
        "",
        "SAR ↔ optical luma within a patch (Pearson, mean ± std over the scene's patches):",
        "",
        "| scene | patches | " + " | ".join(f"box {b}" for b in BOXES) + " |",
        "|---|---:|" + "---:|" * len(BOXES),
    ]
    for terrain, scene in scenes.items():
        cells = [f"{m:+.2f} ± {s:.2f}" for m, s in (sar_luma_correlation(scene, b) for b in BOXES)]
        lines.append(f"| {terrain} | {len(scene['sar'])} | " + " | ".join(cells) + " |")
    flat = flat_rows(scenes)
    labels = list(flat[0][1])
    lines += ["", "Flat predictors, leave one scene out (PSNR dB / MAE):", ""]
    lines += ["| held out | " + " | ".join(labels) + " |", "|---|" + "---:|" * len(labels)]
    for held_out, cells in flat:
        lines.append(f"| {held_out} | " + " | ".join(cell(v) for v in cells.values()) + " |")
    means = [tuple(np.mean([cells[k] for _, cells in flat], axis=0)) for k in labels]
    lines.append("| **mean** | " + " | ".join(f"**{cell(v)}**" for v in means) + " |")
    if args.runs:
        rows = model_rows(scenes, names, args.runs, args.variant)
        if not rows:
            raise SystemExit(f"{args.runs / args.variant}: no test predictions of a real fold here")
        lines += [
            "",
            f"The outputs of `{args.variant}` ({args.runs.name}), split into each output's mean colour "
            "and its structure (output − its mean):",
            "",
            "| held out | seed | outputs PSNR / MAE | their mean colour alone "
            "| structure corr. with the target's | structure std ÷ target's |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for held_out, seed, full, flat_only, corr, energy in rows:
            lines.append(
                f"| {held_out} | {seed} | {cell(full)} | {cell(flat_only)} | {corr:+.3f} | {energy:.2f} |"
            )
        full_mean, flat_mean = (tuple(np.mean([r[k] for r in rows], axis=0)) for k in (2, 3))
        corr_mean, energy_mean = (float(np.mean([r[k] for r in rows])) for k in (4, 5))
        lines.append(
            f"| **mean** | | **{cell(full_mean)}** | **{cell(flat_mean)}** "
            f"| {corr_mean:+.3f} | {energy_mean:.2f} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=REAL, help="real scenes (Kaggle layout)")
    parser.add_argument("--runs", type=Path, help="a real_quality.py budget folder (WORKDIR/ngf…_s…)")
    parser.add_argument("--variant", default="resize_l1", help="the variant under --runs")
    parser.add_argument("--write", action="store_true", help="write the tables into docs/quality.md")
    args = parser.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"{args.data}: no real scenes here (they live in ../shared/data)")
    scenes, names = load_scenes(args.data)
    lines = render(scenes, names, args)
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section(
            DOC, BEGIN, END, "## What carries over between these scenes\n\n" + text, "# Quality on real SAR"
        )
        print(f"\nwrote the section to {DOC}")


if __name__ == "__main__":
    main()
