"""A map-style dataset of pairs, and the sampler that makes training order reproducible.

Augmentation randomness comes from a per-sample seed handed out by :class:`EpochBatchSampler`,
not from worker-process RNGs: the same (seed, epoch, position) gives the same crop and flips
whatever the number of workers, and a resumed run sees exactly the batches it would have seen.

Images smaller than the crop are padded, never resized (:mod:`sarcolor.data.augment`), and the
example's ``mask`` marks the real pixels; nodata pixels of GeoTIFF pairs are 0 in the mask too.
The L1 loss and the evaluation count only mask = 1 pixels; the discriminator sees the whole
padded frame (real pairs mirrored at the border, fake pairs generated over all of it), as the
generator must produce it anyway.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Dataset, Sampler

from sarcolor.config import PreprocessConfig
from sarcolor.data.augment import Augment, apply_view, draw_view, sample_stack, split_stack
from sarcolor.data.pairs import Pair
from sarcolor.data.preprocess import encode_input, encode_target
from sarcolor.data.records import Batch, Example
from sarcolor.data.sources import load_sample
from sarcolor.errors import SarcolorError

WINDOW_SIDE = 256  # windowed layouts cut one network tile per pair; crops beyond it read more


class PairDataset(Dataset):
    """Pairs → :class:`~sarcolor.data.records.Example` records for training or evaluation.

    Each example holds ``input`` (in_channels, S, S) and ``target`` (out_channels, S, S) in
    [-1, 1] as encoded by :mod:`sarcolor.data.preprocess`, ``rgb`` (3, S, S), the optical image
    in [0, 1], and ``mask`` (1, S, S), 1 where the pixel is real and valid. S is ``crop_size``:
    larger images are cropped (randomly when augmenting, centred otherwise); smaller ones are
    padded. Windowed pairs (large scenes) are read with a margin of half a crop when
    augmenting, so the random crop also shifts the window (inside its split group).

    Args:
        pairs: the pairs to serve.
        preprocess: how images are encoded.
        crop_size: side of the square served.
        augment: pair-preserving augmentation, or ``None`` for none.
        skip_bad: serve the next readable pair in place of one that fails to load, and report
            the failure in the example's ``skipped`` field (``--on-bad-sample skip``).

    Items are fetched with an ``int`` index or an ``(index, seed)`` tuple; the seed drives the
    augmentation (see :class:`EpochBatchSampler`). :meth:`Batch.collate` stacks them.
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

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, item: int | tuple[int, int]) -> Example:
        index, seed = item if isinstance(item, tuple) else (item, index_seed(item))
        skipped: list[str] = []
        for attempt in range(len(self.pairs)):
            try:
                return self._item((index + attempt) % len(self.pairs), seed, " | ".join(skipped))
            except SarcolorError as exc:
                if not self.skip_bad:
                    raise
                skipped.append(str(exc))
        raise SarcolorError(f"no readable pair left: {skipped[-1]}")

    def _item(self, index: int, seed: int, skipped: str) -> Example:
        pair = self.pairs[index]
        stack = sample_stack(load_sample(pair, self.preprocess, self._margin(pair)))
        view = draw_view(seed, stack.shape[-2], stack.shape[-1], self.crop_size, self.augment)
        source, rgb, mask = split_stack(apply_view(stack, view)[None])
        return Example(
            input=encode_input(source, self.preprocess)[0],
            target=encode_target(rgb, self.preprocess)[0],
            rgb=rgb[0],
            mask=mask[0],
            name=pair.name,
            terrain=pair.terrain or "-",
            index=index,
            skipped=skipped,
        )

    def _margin(self, pair: Pair) -> int:
        """Extra pixels read around a window: room for the crop size and the random shift."""
        if pair.window is None:
            return 0
        grow = max(0, self.crop_size - WINDOW_SIDE) // 2
        return grow + (self.crop_size // 2 if self.augment is not None else 0)

    def batch(self, indexes: Sequence[int]) -> Batch:
        """The un-augmented examples ``indexes`` as one :class:`Batch`."""
        return Batch.collate([self[i] for i in indexes])


def loader_options(workers: int, device: torch.device) -> dict[str, object]:
    """``DataLoader`` keyword arguments for the uncached path: decoding in ``workers`` processes.

    * ``persistent_workers``: a loader iterated more than once (evaluation each epoch) keeps
      its processes instead of forking and importing anew; the training loader, one endless
      iterator over :class:`EpochBatchSampler`, is unaffected.
    * ``prefetch_factor`` 4 (torch's default is 2): PNG decode times vary by file, and a
      deeper queue per worker absorbs the slow ones before the training step waits.
    * ``pin_memory`` on CUDA only: page-locked batches copy to the GPU asynchronously; on a
      CPU run it would only cost a copy.
    """
    options: dict[str, object] = {"num_workers": workers, "pin_memory": device.type == "cuda"}
    if workers > 0:  # torch refuses both without worker processes
        options.update(persistent_workers=True, prefetch_factor=4)
    return options


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
