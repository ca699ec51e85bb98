"""Training-set statistics stored with a run; the baselines of :mod:`sarcolor.evaluation` use them.

* ``mean_rgb``: the mean sRGB colour of the training optical images (every pixel weighs the same);
* ``terrain_rgb``: the same per terrain folder;
* ``lut``: for each of 256 input levels (the generator's input, SAR grey or L*, quantised), the
  mean optical colour seen at that level in training — a per-pixel lookup-table regression
  (on the first band, e.g. VV, of a several-band input).

Only valid pixels count (GeoTIFF nodata is left out; image files are valid everywhere).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from tqdm.auto import tqdm

from sarcolor.config import PreprocessConfig
from sarcolor.data.dataset import load_sample
from sarcolor.data.discovery import Pair
from sarcolor.data.preprocess import encode_input, input_levels
from sarcolor.errors import SarcolorError

LEVELS = 256


def training_stats(
    pairs: Sequence[Pair], preprocess: PreprocessConfig, progress: bool | None = False
) -> tuple[dict, list[tuple[Pair, str]]]:
    """Compute ``mean_rgb``, ``terrain_rgb`` and ``lut`` (see the module docstring) over ``pairs``.

    Every image is decoded, so this pass doubles as the check of the training files: pairs
    that cannot be read are left out of the statistics and returned with the reason.
    Decoding runs in threads (PIL and torch release the GIL).

    Returns:
        ``(stats, bad)`` where ``bad`` lists ``(pair, error message)``.
    """
    bad: list[tuple[Pair, str]] = []

    def one(pair: Pair) -> tuple[str, np.ndarray, np.ndarray] | None:
        try:
            source, rgb, valid = load_sample(pair, preprocess)
        except SarcolorError as exc:
            bad.append((pair, str(exc)))
            return None
        levels = input_levels(encode_input(source[None], preprocess))[0, 0].flatten().numpy()
        colours = rgb.reshape(3, -1).double().numpy()
        if not valid.all():
            keep = valid.flatten().numpy()
            levels, colours = levels[keep], colours[:, keep]
        sums = np.stack([np.bincount(levels, weights=c, minlength=LEVELS) for c in colours], axis=1)
        return pair.terrain or "-", sums, np.bincount(levels, minlength=LEVELS)

    level_sums, level_counts = np.zeros((LEVELS, 3)), np.zeros(LEVELS)
    terrain_sums: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(3))
    terrain_counts: dict[str, float] = defaultdict(float)
    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 1) * 2)) as pool:
        results = pool.map(one, pairs)
        for item in tqdm(
            results,
            total=len(pairs),
            desc="checking files, training statistics",
            disable=None if progress is None else not progress,
            leave=False,
        ):
            if item is None:
                continue
            terrain, sums, counts = item
            level_sums += sums
            level_counts += counts
            terrain_sums[terrain] += sums.sum(axis=0)
            terrain_counts[terrain] += counts.sum()
    total = level_counts.sum()
    mean = level_sums.sum(axis=0) / total if total else np.full(3, 0.5)
    stats = {
        "mean_rgb": mean.tolist(),
        "terrain_rgb": {
            t: (terrain_sums[t] / terrain_counts[t]).tolist()
            for t in sorted(terrain_sums)
            if terrain_counts[t]
        },
        "lut": _fill_gaps(level_sums, level_counts, mean).tolist(),
        "train_pairs": len(pairs) - len(bad),
    }
    return stats, sorted(bad, key=lambda b: b[0].name)


def _fill_gaps(sums: np.ndarray, counts: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Per-level means; levels never seen take the colour of the nearest seen levels (interpolated)."""
    seen = counts > 0
    if not seen.any():
        return np.tile(mean, (LEVELS, 1))
    table = np.zeros((LEVELS, 3))
    table[seen] = sums[seen] / counts[seen, None]
    idx = np.arange(LEVELS)
    for c in range(3):
        table[:, c] = np.interp(idx, idx[seen], table[seen, c])
    return table


def lut_prediction(net_input: torch.Tensor, lut: Sequence[Sequence[float]]) -> torch.Tensor:
    """The lookup-table baseline: (B, 1, H, W) encoded input → (B, 3, H, W) sRGB in [0, 1]."""
    table = torch.as_tensor(lut, dtype=torch.float32, device=net_input.device)  # (256, 3)
    return table[input_levels(net_input)[:, 0]].permute(0, 3, 1, 2)
