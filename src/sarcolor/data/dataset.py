"""A map-style dataset of pairs, and the sampler that makes training order reproducible.

Augmentation randomness comes from a per-sample seed handed out by :class:`EpochBatchSampler`,
not from worker-process RNGs: the same (seed, epoch, position) gives the same crop and flips
whatever the number of workers, and a resumed run sees exactly the batches it would have seen.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, Sampler

from sarcolor.config import PreprocessConfig
from sarcolor.data.discovery import Pair
from sarcolor.data.io import read_image
from sarcolor.data.preprocess import encode_input, encode_target, source_sensor, to_rgb
from sarcolor.errors import SarcolorError


@dataclass(frozen=True)
class Augment:
    """Pair-preserving augmentation: the same transform is applied to input and target."""

    flip: bool = True
    rotate90: bool = True
    jitter: bool = False  # pix2pix: resize to 286/256 of the crop size, then random-crop


def load_pair(pair: Pair, sensor: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Read one pair: the generator's source image (C, H, W) and the optical RGB (3, H, W), in [0, 1]."""
    s2 = read_image(pair.s2)
    source = read_image(pair.s1) if sensor == "s1" else s2
    if source.shape[:2] != s2.shape[:2]:
        raise SarcolorError(
            f"{pair.s1}: size {source.shape[1]}×{source.shape[0]} differs from its optical pair "
            f"{pair.s2.name} ({s2.shape[1]}×{s2.shape[0]})"
        )
    to_tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))  # noqa: E731
    return to_tensor(source), to_rgb(to_tensor(s2)[None])[0]


class PairDataset(Dataset):
    """Pairs → dicts of tensors for training or evaluation.

    Each item holds ``input`` (1, S, S) and ``target`` (out_channels, S, S) in [-1, 1] as
    encoded by :mod:`sarcolor.data.preprocess`, ``rgb`` (3, S, S), the optical image in [0, 1],
    and the pair's ``name``, ``terrain`` and ``index``. S is ``crop_size``: larger images are
    cropped (randomly when augmenting, centred otherwise); smaller ones are refused.

    Args:
        pairs: the pairs to serve.
        preprocess: how images are encoded.
        crop_size: side of the square served.
        augment: pair-preserving augmentation, or ``None`` for none.
        skip_bad: serve the next readable pair in place of one that fails to load, and report
            the failure in the item's ``skipped`` field (``--on-bad-sample skip``).

    Items are fetched with an ``int`` index or an ``(index, seed)`` tuple; the seed drives the
    augmentation (see :class:`EpochBatchSampler`).
    """

    def __init__(
        self,
        pairs: Sequence[Pair],
        preprocess: PreprocessConfig,
        crop_size: int = 256,
        augment: Augment | None = None,
        skip_bad: bool = False,
    ) -> None:
        self.pairs = list(pairs)
        self.skip_bad = skip_bad
        self.preprocess = preprocess
        self.crop_size = crop_size
        self.augment = augment
        self.sensor = source_sensor(preprocess)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, item: int | tuple[int, int]) -> dict[str, object]:
        index, seed = item if isinstance(item, tuple) else (item, index_seed(item))
        skipped = []
        for attempt in range(len(self.pairs)):
            try:
                return self._item((index + attempt) % len(self.pairs), seed, " | ".join(skipped))
            except SarcolorError as exc:
                if not self.skip_bad:
                    raise
                skipped.append(str(exc))
        raise SarcolorError(f"no readable pair left: {skipped[-1]}")

    def _item(self, index: int, seed: int, skipped: str) -> dict[str, object]:
        pair = self.pairs[index]
        source, rgb = load_pair(pair, self.sensor)
        gen = torch.Generator().manual_seed(seed)
        stack = torch.cat([source, rgb], dim=0)  # (C+3, H, W): one transform for both
        stack = self._crop(stack, gen, pair)
        if self.augment is not None:
            stack = _augment(stack, self.augment, gen)
        source, rgb = stack[:-3], stack[-3:]
        return {
            "input": encode_input(source[None], self.preprocess)[0],
            "target": encode_target(rgb[None], self.preprocess)[0],
            "rgb": rgb,
            "name": pair.name,
            "terrain": pair.terrain or "-",
            "index": index,
            "skipped": skipped,  # errors of bad pairs replaced by this one (``skip_bad``)
        }

    def _crop(self, stack: torch.Tensor, gen: torch.Generator, pair: Pair) -> torch.Tensor:
        size = self.crop_size
        h, w = stack.shape[-2:]
        if h < size or w < size:
            raise SarcolorError(f"{pair.s1}: {w}×{h} is smaller than the {size}×{size} training crop")
        if self.augment is not None and self.augment.jitter:
            big = size * 286 // 256
            stack = F.interpolate(stack[None], size=(big, big), mode="bilinear", align_corners=False)[0]
            h = w = big
        if self.augment is not None:
            top = int(torch.randint(0, h - size + 1, (1,), generator=gen))
            left = int(torch.randint(0, w - size + 1, (1,), generator=gen))
        else:
            top, left = (h - size) // 2, (w - size) // 2
        return stack[:, top : top + size, left : left + size]


def _augment(stack: torch.Tensor, augment: Augment, gen: torch.Generator) -> torch.Tensor:
    """Random flips and quarter turns of a (C, H, W) stack."""
    draws = torch.randint(0, 4, (3,), generator=gen).tolist()
    if augment.flip and draws[0] % 2:
        stack = stack.flip(-1)
    if augment.flip and draws[1] % 2:
        stack = stack.flip(-2)
    if augment.rotate90 and draws[2]:
        stack = torch.rot90(stack, draws[2], dims=(-2, -1))
    return stack.contiguous()


def index_seed(*parts: int) -> int:
    """A 63-bit seed mixed from integers (SplitMix64-style), stable across processes."""
    x = 0x9E3779B97F4A7C15
    for part in parts:
        x = (x ^ (part & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        x = (x ^ (x >> 31)) * 0x94D049BB133111EB & 0xFFFFFFFFFFFFFFFF
    return x >> 1


class EpochBatchSampler(Sampler[list[tuple[int, int]]]):
    """Endless batches of ``(index, augmentation seed)``, reshuffled every epoch.

    Epoch ``e`` uses the permutation seeded by ``(seed, e)``; the stream can start at any
    global step, so ``--resume`` continues with the very batch the interrupted run would have
    drawn next. Incomplete final batches are dropped when the dataset holds a full batch.
    """

    def __init__(self, size: int, batch_size: int, seed: int, start_step: int = 0) -> None:
        if size < 1:
            raise SarcolorError("no training pairs: the train split is empty")
        self.size, self.batch_size, self.seed, self.start_step = size, batch_size, seed, start_step
        self.batches_per_epoch = max(1, size // batch_size)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        epoch, offset = divmod(self.start_step, self.batches_per_epoch)
        while True:
            gen = torch.Generator().manual_seed(index_seed(self.seed, epoch))
            order = torch.randperm(self.size, generator=gen).tolist()
            if len(order) < self.batch_size:  # tiny datasets: repeat to fill one batch
                order = (order * self.batch_size)[: self.batch_size]
            for b in range(offset, self.batches_per_epoch):
                chunk = order[b * self.batch_size : (b + 1) * self.batch_size]
                yield [(i, index_seed(self.seed, epoch, b, j)) for j, i in enumerate(chunk)]
            epoch, offset = epoch + 1, 0

    def __len__(self) -> int:  # one epoch
        return self.batches_per_epoch
