"""Score a checkpoint on a split: per-image PSNR/SSIM/L1, per terrain and overall, beside the
constant mean-training-colour baseline."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from sarcolor.data.dataset import load_pair
from sarcolor.data.discovery import discover_pairs
from sarcolor.data.io import atomic_write, write_rgb_png
from sarcolor.data.preprocess import input_label, source_sensor
from sarcolor.data.split import SPLITS, select_split
from sarcolor.errors import SarcolorError
from sarcolor.evaluation.metrics import pixel_metrics
from sarcolor.figures import image_grid, save_image
from sarcolor.inference.colorizer import Colorizer, chunked

METRICS: tuple[str, ...] = ("psnr", "ssim", "l1")


@dataclass
class Evaluation:
    """Per-image scores and their averages. Baseline scores are prefixed ``baseline_``."""

    checkpoint: str
    split: str
    data_root: str
    images: list[dict] = field(default_factory=list)
    mean_rgb: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, dict[str, float]]:
        """``{"all": {...}, "<terrain>": {...}}`` of mean scores and image counts."""
        groups: dict[str, list[dict]] = defaultdict(list)
        for record in self.images:
            groups[record["terrain"]].append(record)
        out = {"all": _mean(self.images)}
        if len(groups) > 1 or "-" not in groups:
            out.update({t: _mean(rs) for t, rs in sorted(groups.items())})
        return out

    def to_dict(self) -> dict:
        return {
            "checkpoint": self.checkpoint,
            "split": self.split,
            "data": self.data_root,
            "conventions": "per-image metrics on sRGB in [0,1], data range 1, then averaged; "
            "SSIM Gaussian window 11, sigma 1.5; PSNR capped at 100 dB; "
            "baseline = constant mean training colour",
            "mean_training_rgb": self.mean_rgb,
            "summary": self.summary(),
            "images": self.images,
        }

    def table(self) -> str:
        """A plain-text table of the summary."""
        head = (
            f"{'terrain':<12}{'n':>6}{'PSNR':>9}{'SSIM':>8}{'L1':>8}  │ mean colour:"
            f"{'PSNR':>7}{'SSIM':>8}{'L1':>8}"
        )
        lines = [head, "─" * len(head)]
        for name, s in self.summary().items():
            lines.append(
                f"{name:<12}{s['n']:>6d}{s['psnr']:>9.2f}{s['ssim']:>8.4f}{s['l1']:>8.4f}  │ "
                f"{'':12}{s['baseline_psnr']:>7.2f}{s['baseline_ssim']:>8.4f}{s['baseline_l1']:>8.4f}"
            )
        return "\n".join(lines)


def evaluate(
    checkpoint: str | Path,
    data: str | Path | None = None,
    split: str = "test",
    *,
    device: str = "auto",
    batch_size: int = 8,
    examples_path: str | Path | None = None,
    predictions_dir: str | Path | None = None,
    progress: bool | None = None,
) -> Evaluation:
    """Evaluate a checkpoint on the pairs of ``split`` under ``data`` (default: its training data).

    The split is the one stored in the checkpoint (scene ids), so scenes seen in training are
    never scored as ``test``. ``examples_path`` receives a grid of the best and worst images;
    ``predictions_dir`` receives every colorized image as ``<s1 name>.png``.
    """
    if split not in (*SPLITS, "all"):
        raise SarcolorError(f"--split must be one of {', '.join(SPLITS)}, all; got {split!r}")
    colorizer = Colorizer(checkpoint, device, batch_size=batch_size)
    cfg, meta = colorizer.config, colorizer.meta
    root = Path(data) if data is not None else Path(cfg.data.root)
    found = discover_pairs(root).filter_terrains(cfg.data.terrains)
    if split != "all" and split not in meta.split:
        raise SarcolorError(f"{colorizer.path}: checkpoint stores no {split!r} split")
    pairs = select_split(found.pairs, meta.split, split)
    if not pairs:
        raise SarcolorError(
            f"{root}: no pairs of the {split!r} split (scenes {meta.split.get(split, [])}) found here"
        )
    mean_rgb = [float(v) for v in meta.stats.get("mean_rgb", [0.5, 0.5, 0.5])]
    result = Evaluation(str(colorizer.path), split, str(root), mean_rgb=mean_rgb)
    gallery: list[tuple[float, np.ndarray, np.ndarray, np.ndarray, str]] = []
    sensor = source_sensor(cfg.preprocess)
    bar = tqdm(
        total=len(pairs),
        desc=f"evaluate {split}",
        unit="img",
        disable=None if progress is None else not progress,
    )
    for chunk in chunked(pairs, 16):
        loaded = [load_pair(p, sensor) for p in chunk]
        sources = [s.permute(1, 2, 0).numpy() for s, _ in loaded]
        preds = colorizer.colorize_many(sources)
        for pair, (source, rgb), pred in zip(chunk, loaded, preds, strict=True):
            if predictions_dir is not None:
                write_rgb_png(Path(predictions_dir) / f"{pair.s1.stem}.png", pred)
            target = rgb[None]
            model = pixel_metrics(torch.from_numpy(pred).permute(2, 0, 1)[None], target)
            const = torch.tensor(mean_rgb, dtype=target.dtype).view(1, 3, 1, 1).expand_as(target)
            base = pixel_metrics(const, target)
            record = {"name": pair.name, "terrain": pair.terrain or "-", "scene": pair.scene}
            record.update({k: float(model[k][0]) for k in METRICS})
            record.update({f"baseline_{k}": float(base[k][0]) for k in METRICS})
            result.images.append(record)
            gallery.append(
                (
                    record["psnr"],
                    source.permute(1, 2, 0).numpy(),
                    pred,
                    rgb.permute(1, 2, 0).numpy(),
                    pair.name,
                )
            )
            gallery = _keep_extremes(gallery, 3)
        bar.update(len(chunk))
    bar.close()
    if examples_path is not None:
        write_examples(gallery, examples_path, input_label(cfg.preprocess))
    return result


def write_json(evaluation: Evaluation, path: str | Path) -> Path:
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(evaluation.to_dict(), indent=1)))
    return Path(path)


def write_examples(gallery: Sequence[tuple], path: str | Path, input_caption: str) -> Path:
    """A grid of the best and worst images by PSNR: input | colorized | optical."""
    ordered = sorted(gallery, key=lambda g: -g[0])
    rows = [[g[1], g[2], g[3]] for g in ordered]
    labels = [
        f"{'best' if i < len(ordered) / 2 else 'worst'}: {g[4]}  PSNR {g[0]:.2f} dB"
        for i, g in enumerate(ordered)
    ]
    return save_image(image_grid(rows, (input_caption, "colorized", "optical"), labels), path)


def _keep_extremes(gallery: list, k: int) -> list:
    if len(gallery) <= 2 * k:
        return gallery
    ordered = sorted(gallery, key=lambda g: g[0])
    return ordered[:k] + ordered[-k:]


def _mean(records: Sequence[dict]) -> dict:
    keys = [*METRICS, *(f"baseline_{k}" for k in METRICS)]
    out: dict = {k: float(np.mean([r[k] for r in records])) for k in keys}
    out["n"] = len(records)
    return out
