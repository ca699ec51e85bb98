"""The typed records data travels in: a sample read from disk, an example, a training batch.

* :class:`Sample` — one pair as its data source reads it, before any scaling to the network.
* :class:`Example` — one pair as :class:`~sarcolor.data.dataset.PairDataset` serves it:
  cropped, augmented and encoded for the network.
* :class:`Batch` — ``B`` examples. Both the DataLoader over files (:meth:`Batch.collate`) and
  the decoded-pair cache (:class:`~sarcolor.data.cache.DeviceBatches`) produce it, so the
  trainer never asks which one it got.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch


class Sample(NamedTuple):
    """One pair read from disk, values in [0, 1].

    Attributes:
        source: (C, H, W) what feeds the generator: the SAR bands in the network's [0, 1]
            radiometric scale (:mod:`sarcolor.sar.radiometry`), or the optical image for L*.
        rgb: (3, H, W) the optical image as sRGB.
        valid: (H, W) bool, the pixels with data on both sides (nodata and padding are not).
    """

    source: torch.Tensor
    rgb: torch.Tensor
    valid: torch.Tensor


@dataclass
class Example:
    """One training or evaluation example, S × S.

    Attributes:
        input: (in_channels, S, S) the generator's input in [-1, 1].
        target: (out_channels, S, S) what it should output, in [-1, 1].
        rgb: (3, S, S) the optical image in [0, 1].
        mask: (1, S, S) float, 1 where the pixel is real and valid.
        name: the pair's name.
        terrain: its terrain, ``-`` when the layout has none.
        index: its position in the dataset.
        skipped: errors of unreadable pairs this one stands in for (``--on-bad-sample skip``).
    """

    input: torch.Tensor
    target: torch.Tensor
    rgb: torch.Tensor
    mask: torch.Tensor
    name: str
    terrain: str
    index: int
    skipped: str = ""


@dataclass
class Batch:
    """B examples, stacked.

    Attributes:
        input: (B, in_channels, S, S) in [-1, 1].
        target: (B, out_channels, S, S) in [-1, 1].
        rgb: (B, 3, S, S) in [0, 1].
        mask: (B, 1, S, S) float 0/1.
        name, terrain, skipped: B strings each.
        index: (B,) int64, on the CPU.
        all_valid: every mask value is 1 (then the plain, unmasked L1 applies).
    """

    input: torch.Tensor
    target: torch.Tensor
    rgb: torch.Tensor
    mask: torch.Tensor
    name: list[str]
    terrain: list[str]
    index: torch.Tensor
    skipped: list[str]
    all_valid: bool

    def __len__(self) -> int:
        return len(self.name)

    def pin_memory(self) -> Batch:
        """Page-locked copies of the tensors (the DataLoader calls this with ``pin_memory``)."""
        pinned = {k: getattr(self, k).pin_memory() for k in ("input", "target", "rgb", "mask")}
        return Batch(**{**self.__dict__, **pinned})

    @classmethod
    def collate(cls, examples: Sequence[Example]) -> Batch:
        """Stack examples (the DataLoader's ``collate_fn``)."""
        mask = torch.stack([e.mask for e in examples])
        return cls(
            input=torch.stack([e.input for e in examples]),
            target=torch.stack([e.target for e in examples]),
            rgb=torch.stack([e.rgb for e in examples]),
            mask=mask,
            name=[e.name for e in examples],
            terrain=[e.terrain for e in examples],
            index=torch.tensor([e.index for e in examples], dtype=torch.int64),
            skipped=[e.skipped for e in examples],
            all_valid=bool(mask.all()),
        )
