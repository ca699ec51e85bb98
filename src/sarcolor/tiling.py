"""Overlapping tiles and smooth blending, so images of any size keep their ground geometry.

An image larger than the tile is covered by tiles at a stride of ``tile - overlap``; the last
tile of each row/column is flush with the border. Each tile's output is weighted by a window
that is 1 in the middle and falls smoothly (raised cosine) to almost 0 over ``overlap``
pixels at its edges; the weighted sum divided by the summed weights has no visible seams.
Images smaller than a tile are mirror-padded to one tile and cropped back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TilePlan:
    """Where the tiles of one (padded) image go.

    Attributes:
        height, width: the original image size.
        padded_height, padded_width: the size after mirror padding (≥ tile).
        origins: (top, left) of every tile in the padded image.
        tile: tile side.
    """

    height: int
    width: int
    padded_height: int
    padded_width: int
    origins: tuple[tuple[int, int], ...]
    tile: int


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets covering ``[0, length)`` with ``tile``-long windows overlapping ≥ ``overlap``."""
    if length <= tile:
        return [0]
    stride = tile - overlap
    count = math.ceil((length - tile) / stride) + 1
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def plan_tiles(height: int, width: int, tile: int = 256, overlap: int = 64) -> TilePlan:
    """Plan the tiles of an ``height × width`` image."""
    if not 0 <= overlap < tile:
        raise ValueError(f"overlap must be in [0, {tile}), got {overlap}")
    ph, pw = max(height, tile), max(width, tile)
    origins = tuple(
        (top, left) for top in tile_starts(ph, tile, overlap) for left in tile_starts(pw, tile, overlap)
    )
    return TilePlan(height, width, ph, pw, origins, tile)


def pad_to_plan(image: np.ndarray, plan: TilePlan) -> np.ndarray:
    """Mirror-pad an (H, W, C) image to the plan's padded size (bottom/right)."""
    pad_h, pad_w = plan.padded_height - plan.height, plan.padded_width - plan.width
    if pad_h == 0 and pad_w == 0:
        return image
    return np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)), mode="symmetric")


def blend_window(tile: int, overlap: int, floor: float = 1e-3) -> np.ndarray:
    """(tile, tile) float32 weights: 1 inside, raised-cosine ramps of ``overlap`` pixels at the edges."""
    ramp = np.ones(tile, dtype=np.float64)
    if overlap > 0:
        i = np.arange(overlap)
        edge = 0.5 - 0.5 * np.cos(np.pi * (i + 0.5) / overlap)
        ramp[:overlap] = edge
        ramp[-overlap:] = edge[::-1]
    return np.maximum(np.outer(ramp, ramp), floor).astype(np.float32)


class Blender:
    """Accumulates weighted tile outputs of one image; :meth:`result` divides by the weights.

    An image of exactly one tile (the usual 256×256 patch) keeps its one weighted output as the
    sum: the same values as adding it to zeros, without allocating and adding them.
    """

    def __init__(self, plan: TilePlan, channels: int, window: np.ndarray) -> None:
        self.plan, self.window, self.channels = plan, window, channels
        self.total: np.ndarray | None = None  # (padded H, padded W, C), from the first add
        self.weight: np.ndarray | None = None  # (padded H, padded W, 1)

    def add(self, origin: tuple[int, int], output: np.ndarray) -> None:
        """Add one (tile, tile, C) output at ``origin``."""
        top, left = origin
        t, plan = self.plan.tile, self.plan
        weighted = output * self.window[..., None]
        if (
            self.total is None
            and len(plan.origins) == 1
            and (plan.padded_height, plan.padded_width) == (t, t)
        ):
            self.total, self.weight = weighted, self.window[..., None]
            return
        if self.total is None or self.weight is None:
            self.total = np.zeros((plan.padded_height, plan.padded_width, self.channels), np.float32)
            self.weight = np.zeros((plan.padded_height, plan.padded_width, 1), np.float32)
        self.total[top : top + t, left : left + t] += weighted
        self.weight[top : top + t, left : left + t] += self.window[..., None]

    def result(self) -> np.ndarray:
        """(H, W, C): the blended image cropped to the original size (divided in place: call once)."""
        if self.total is None or self.weight is None:
            raise ValueError("no tile was added")
        out = np.divide(self.total, np.maximum(self.weight, 1e-12), out=self.total)
        return out[: self.plan.height, : self.plan.width]
