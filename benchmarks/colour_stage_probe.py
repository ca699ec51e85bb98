"""Colour stages beyond the six numbers, probed on one grey generator's outputs (issue 21).

    python benchmarks/colour_stage_probe.py --checkpoint GREY.safetensors
    python benchmarks/colour_stage_probe.py --checkpoint GREY.safetensors --features y y+ybar y+sar --shrink

The two-stage model colours its grey stage's luma ``Y`` with six numbers fitted by least squares
(``R, G, B = offset + gain · Y``, :mod:`sarcolor.training.colour_stage`). This script asks whether
more of them would carry over to an unseen scene. It runs the grey generator once over the five
real colour scenes (``benchmarks/colour_scenes.py``: eval mode, the luma smoothing, exactly what
``fit-colour`` fits on) and then, leaving each scene out in turn, fits per channel by least
squares on the other four a linear map from features of each pixel:

- ``y``: the luma (the shipped colour stage);
- ``ybar``: the luma's 31-pixel local mean;
- ``sar`` / ``sbar``: the model's SAR input level (standardised where the model standardises),
  5- and 31-pixel local means;
- ``y2``: the luma squared;

and scores the held-out scene as ``evaluate`` does (8-bit output, per-image PSNR / SSIM / MAE over
valid pixels, their mean). ``--shrink`` also scales the ``y`` fit's gains towards the mean colour
by the factor (0…1.5) that leave-one-scene-out *within* the four training scenes picks.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from colour_scenes import SCENE_ROOTS, scene_pairs
from sarcolor.data.dataset import load_sample
from sarcolor.data.preprocess import encode_input
from sarcolor.evaluation.metrics import masked_pixel_metrics
from sarcolor.inference.colorizer import Colorizer
from sarcolor.training.colour_stage import neutral

FEATURES: tuple[str, ...] = ("y", "ybar", "sar", "sbar", "y2")
SHRINK_FACTORS = np.linspace(0.0, 1.5, 16)


@dataclass(frozen=True)
class Sample:
    """One colour pair as the colour stage sees it (all float64 tensors)."""

    scene: str
    luma: torch.Tensor  # (H, W) the grey stage's luma, smoothed as decoded
    level: torch.Tensor  # (H, W) the model's SAR input level in [0, 1]
    target: torch.Tensor  # (3, H, W) sRGB in [0, 1]
    valid: torch.Tensor  # (H, W) bool


def box(image: torch.Tensor, size: int) -> torch.Tensor:
    """(H, W) → its ``size``×``size`` local mean (reflected at the borders)."""
    padded = F.pad(image[None, None], (size // 2,) * 4, mode="reflect")
    return F.avg_pool2d(padded, size, stride=1)[0, 0]


def gather(checkpoint: Path, roots: list[Path], progress: bool = True) -> list[Sample]:
    """Every pair of the colour scenes under ``roots`` through the grey generator ``checkpoint``."""
    colorizer = neutral(Colorizer(checkpoint, device="cpu", form="eager"))
    pre = colorizer.config.preprocess
    folds = scene_pairs(roots)
    jobs = [(scene, pair) for scene, pairs in folds.items() for pair in pairs]
    samples = []
    for scene, pair in tqdm(jobs, desc="grey stage", disable=not progress):
        source, rgb, valid = load_sample(pair, pre)  # (C, H, W), (3, H, W), (H, W)
        luma = colorizer.colorize(source.permute(1, 2, 0).numpy())[..., 0]
        level = (encode_input(source[None], pre)[0, 0] + 1) / 2
        samples.append(
            Sample(scene, torch.from_numpy(luma).double(), level.double(), rgb.double(), valid.bool())
        )
    return samples


def design(sample: Sample, features: list[str]) -> torch.Tensor:
    """(H, W, 1 + len(features)): a constant, then each feature of each pixel."""
    make = {
        "y": lambda: sample.luma,
        "ybar": lambda: box(sample.luma, 31),
        "sar": lambda: box(sample.level, 5),
        "sbar": lambda: box(sample.level, 31),
        "y2": lambda: sample.luma**2,
    }
    return torch.stack([torch.ones_like(sample.luma), *(make[name]() for name in features)], -1)


def equations(samples: list[Sample], features: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """The normal equations ``(XᵀX, XᵀT)`` over the valid pixels of ``samples``."""
    size = 1 + len(features)
    xtx, xtt = torch.zeros(size, size, dtype=torch.float64), torch.zeros(size, 3, dtype=torch.float64)
    for sample in samples:
        x = design(sample, features)[sample.valid]  # (n, F)
        xtx += x.T @ x
        xtt += x.T @ sample.target[:, sample.valid].T
    return xtx, xtt


def solve(xtx: torch.Tensor, xtt: torch.Tensor, shrink: float = 1.0) -> torch.Tensor:
    """(F, 3) weights; ``shrink`` scales every non-constant weight, the constant keeping the mean."""
    weights = torch.linalg.lstsq(xtx, xtt).solution
    if shrink != 1.0:
        mean_x, mean_t = xtx[0] / xtx[0, 0], xtt[0] / xtx[0, 0]  # (F,), (3,)
        weights = weights.clone()
        weights[1:] *= shrink
        weights[0] = mean_t - mean_x[1:] @ weights[1:]
    return weights


def score(samples: list[Sample], weights: torch.Tensor, features: list[str]) -> dict[str, float]:
    """Mean per-image PSNR, SSIM and MAE of the colours ``weights`` give, written as 8 bits."""
    found: dict[str, list[float]] = {"psnr": [], "ssim": [], "mae": []}
    for sample in samples:
        rgb = (design(sample, features) @ weights).clamp(0, 1).permute(2, 0, 1)  # (3, H, W)
        rgb = torch.round(rgb * 255) / 255
        scores = masked_pixel_metrics(rgb[None], sample.target[None], sample.valid[None, None])
        for name in found:
            found[name].append(float(scores[name][0]))
    return {name: float(np.mean(values)) for name, values in found.items()}


def chosen_shrink(samples: list[Sample], scenes: list[str]) -> float:
    """The factor for the ``y`` fit's gains that leave-one-scene-out over ``scenes`` scores best."""
    by_scene = {scene: [s for s in samples if s.scene == scene] for scene in scenes}
    eqs = {scene: equations(group, ["y"]) for scene, group in by_scene.items()}
    best, best_psnr = 1.0, -np.inf
    for factor in SHRINK_FACTORS:
        psnrs = []
        for held in scenes:
            xtx = sum(eqs[s][0] for s in scenes if s != held)
            xtt = sum(eqs[s][1] for s in scenes if s != held)
            psnrs.append(score(by_scene[held], solve(xtx, xtt, float(factor)), ["y"])["psnr"])
        if np.mean(psnrs) > best_psnr:
            best, best_psnr = float(factor), float(np.mean(psnrs))
    return best


def probe(samples: list[Sample], stages: list[str], shrink: bool) -> dict[str, dict[str, dict[str, float]]]:
    """``{stage: {held-out scene: scores}}`` for each ``+``-joined feature list of ``stages``."""
    scenes = sorted({s.scene for s in samples})
    results: dict[str, dict[str, dict[str, float]]] = {}
    for stage in stages:
        features = stage.split("+")
        unknown = sorted(set(features) - set(FEATURES))
        if unknown:
            raise SystemExit(f"--features: unknown {', '.join(unknown)} (known: {', '.join(FEATURES)})")
        eqs = {scene: equations([s for s in samples if s.scene == scene], features) for scene in scenes}
        results[stage] = {}
        for held in scenes:
            xtx = sum(eqs[s][0] for s in scenes if s != held)
            xtt = sum(eqs[s][1] for s in scenes if s != held)
            test = [s for s in samples if s.scene == held]
            results[stage][held] = score(test, solve(xtx, xtt), features)
    if shrink:
        results["y, shrunk"] = {}
        for held in scenes:
            train = [s for s in samples if s.scene != held]
            factor = chosen_shrink(train, [s for s in scenes if s != held])
            xtx, xtt = equations(train, ["y"])
            test = [s for s in samples if s.scene == held]
            results["y, shrunk"][held] = score(test, solve(xtx, xtt, factor), ["y"]) | {"factor": factor}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", type=Path, required=True, help="a --target grey generator")
    parser.add_argument("--data", type=Path, nargs="+", help="colour scene folders (default: the five)")
    parser.add_argument(
        "--features", nargs="+", default=["y", "y+ybar", "y+sar", "y+sbar", "y+ybar+sbar", "y+y2"]
    )
    parser.add_argument("--shrink", action="store_true", help="also the shrunk y fit")
    args = parser.parse_args()
    samples = gather(args.checkpoint, args.data or list(SCENE_ROOTS))
    results = probe(samples, args.features, args.shrink)
    scenes = sorted({s.scene for s in samples})
    print(f"\n| colour stage | {' | '.join(scenes)} | mean PSNR / SSIM / MAE |")
    print(f"|---|{'---|' * len(scenes)}---|")
    for stage, folds in results.items():
        cells = [f"{folds[s]['psnr']:.2f} / {folds[s]['mae']:.4f}" for s in scenes]
        mean = {m: np.mean([folds[s][m] for s in scenes]) for m in ("psnr", "ssim", "mae")}
        print(
            f"| {stage} | {' | '.join(cells)} | {mean['psnr']:.2f} / {mean['ssim']:.3f} / {mean['mae']:.4f} |"
        )


if __name__ == "__main__":
    main()
