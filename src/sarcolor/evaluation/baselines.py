"""The three baselines every model is scored beside, fitted on the training split only.

* ``mean_colour``: the mean sRGB colour of the training optical images (every pixel weighs
  the same);
* ``terrain_colour``: the same per terrain (the mean colour where a terrain is unknown);
* ``level_lut``: for each of 256 input levels (the generator's input, SAR grey or L*,
  quantised), the mean optical colour seen at that level in training — a per-pixel lookup
  table regression (on the first band, e.g. VV, of a several-band input).

For a grey model (``--target grey``) the baselines are scored on the luma of these colours:
luma is linear, so that is exactly the mean training grey and the lookup table of the mean grey
at each level, under the same names.

Only valid pixels count (GeoTIFF nodata is left out; image files are valid everywhere). A
model that does not beat them has learned less than a per-pixel regression.

Example:
    >>> b = Baselines(mean_rgb=[0.2, 0.3, 0.4], terrain_rgb={"urban": [0.5, 0.5, 0.5]},
    ...               lut=[[k / 255] * 3 for k in range(256)])
    >>> sorted(b.predict(torch.zeros(1, 1, 2, 2), "urban"))
    ['level_lut', 'mean_colour', 'terrain_colour']
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from sarcolor.config import PreprocessConfig
from sarcolor.data.pairs import Pair
from sarcolor.data.preprocess import encode_input, input_levels
from sarcolor.data.sources import load_sample
from sarcolor.errors import SarcolorError

LEVELS = 256
BASELINES: dict[str, str] = {
    "mean_colour": "constant mean training colour",
    "terrain_colour": "constant mean training colour of the image's terrain",
    "level_lut": "lookup table: input level → mean training colour at that level",
}


@dataclass(frozen=True)
class Baselines:
    """Fitted baseline parameters, stored in every checkpoint.

    Attributes:
        mean_rgb: the mean training colour (3 values in [0, 1]).
        terrain_rgb: the mean colour per terrain.
        lut: (256, 3) the mean colour at each input level.
    """

    mean_rgb: list[float]
    terrain_rgb: dict[str, list[float]] = field(default_factory=dict)
    lut: list[list[float]] = field(default_factory=list)

    def predict(self, net_input: torch.Tensor, terrain: str | None) -> dict[str, torch.Tensor]:
        """The three baseline images (1, 3, H, W) in [0, 1] for an encoded input (1, C, H, W)."""
        h, w = net_input.shape[-2:]
        terrain_rgb = self.terrain_rgb.get(terrain or "-", self.mean_rgb)

        def const(rgb: Sequence[float]) -> torch.Tensor:
            return torch.tensor(rgb, dtype=torch.float32).view(1, 3, 1, 1).expand(1, 3, h, w)

        return {
            "mean_colour": const(self.mean_rgb),
            "terrain_colour": const(terrain_rgb),
            "level_lut": lut_prediction(net_input, self.lut),
        }

    def to_json(self) -> dict[str, Any]:
        return {"mean_rgb": self.mean_rgb, "terrain_rgb": self.terrain_rgb, "lut": self.lut}

    @classmethod
    def from_json(cls, value: Any, source: str = "baselines") -> Baselines:
        """Read stored parameters (a checkpoint's ``baselines``, or an old checkpoint's ``stats``).

        Raises:
            SarcolorError: missing or malformed fields, naming ``source``.
        """
        try:
            mean = [float(v) for v in value["mean_rgb"]]
            terrains = {str(k): [float(x) for x in v] for k, v in value.get("terrain_rgb", {}).items()}
            lut = [[float(x) for x in row] for row in value["lut"]]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SarcolorError(
                f"{source}: damaged baseline parameters ({type(exc).__name__}: {exc})"
            ) from None
        if len(mean) != 3 or len(lut) != LEVELS or any(len(r) != 3 for r in [*lut, *terrains.values()]):
            raise SarcolorError(f"{source}: baseline parameters of the wrong shape")
        return cls(mean, terrains, lut)


@dataclass(frozen=True)
class Fit:
    """What fitting the baselines found: the parameters, and the training pairs that did not read."""

    baselines: Baselines
    bad: list[tuple[Pair, str]]
    pairs: int


def fit_baselines(pairs: Sequence[Pair], preprocess: PreprocessConfig, progress: bool | None = False) -> Fit:
    """Fit the baselines on ``pairs`` (see the module docstring).

    Every image is decoded, so this pass doubles as the check of the training files: pairs
    that cannot be read are left out and returned with the reason. Decoding runs in threads
    (PIL and torch release the GIL).
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
            desc="checking files, fitting the baselines",
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
    baselines = Baselines(
        mean_rgb=mean.tolist(),
        terrain_rgb={
            t: (terrain_sums[t] / terrain_counts[t]).tolist()
            for t in sorted(terrain_sums)
            if terrain_counts[t]
        },
        lut=_fill_gaps(level_sums, level_counts, mean).tolist(),
    )
    return Fit(baselines, sorted(bad, key=lambda b: b[0].name), len(pairs) - len(bad))


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
    """The lookup-table baseline: (B, C, H, W) encoded input → (B, 3, H, W) sRGB in [0, 1] (first band)."""
    table = torch.as_tensor(lut, dtype=torch.float32, device=net_input.device)  # (256, 3)
    return table[input_levels(net_input)[:, 0]].permute(0, 3, 1, 2)
