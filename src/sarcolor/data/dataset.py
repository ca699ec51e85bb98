"""A map-style dataset of pairs, and the sampler that makes training order reproducible.

Augmentation randomness comes from a per-sample seed handed out by :class:`EpochBatchSampler`,
not from worker-process RNGs: the same (seed, epoch, position) gives the same crop and flips
whatever the number of workers, and a resumed run sees exactly the batches it would have seen.

Images smaller than the crop (BigEarthNet's 120×120 patches, scene windows at a border) are
not resized: they are centred and mirror-padded (reflect; edge replication where an image is
narrower than the padding) to the crop size, and the item's ``mask`` marks the real pixels.
Nodata pixels of GeoTIFF pairs are 0 in the mask too. The L1 loss and the evaluation count
only mask = 1 pixels; the discriminator sees the whole padded frame (real pairs mirrored at
the border, fake pairs generated over all of it), as the generator must produce it anyway.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, Sampler

from sarcolor.config import PreprocessConfig
from sarcolor.data.discovery import SCENE_WINDOW, Pair
from sarcolor.data.geopairs import load_geopair
from sarcolor.data.io import read_image
from sarcolor.data.preprocess import encode_input, encode_target, source_sensor, to_rgb
from sarcolor.errors import SarcolorError


@dataclass(frozen=True)
class Augment:
    """Pair-preserving augmentation: the same transform is applied to input and target."""

    flip: bool = True
    rotate90: bool = True
    jitter: bool = False  # pix2pix: enlarge by 286/256, then random-crop


class Sample(NamedTuple):
    """One pair read from disk: ``source`` (C, H, W), ``rgb`` (3, H, W) in [0, 1], ``valid`` (H, W) bool."""

    source: torch.Tensor
    rgb: torch.Tensor
    valid: torch.Tensor


def load_sample(pair: Pair, preprocess: PreprocessConfig, margin: int = 0) -> Sample:
    """Read one pair: the generator's source image, the optical RGB and the valid pixels.

    Image pairs (PNG, JPEG, 8/16-bit TIFF) are read as [0, 1] by
    :func:`sarcolor.data.io.read_image`, every pixel valid; GeoTIFF pairs go through
    :func:`sarcolor.data.geopairs.load_geopair` (``margin`` grows a scene window for the
    random crop).

    Args:
        pair: the pair.
        preprocess: the run's preprocessing (which sensor feeds the generator, SAR scaling).
        margin: see :func:`~sarcolor.data.geopairs.load_geopair`.
    """
    sensor = source_sensor(preprocess)
    if pair.kind != "image":
        return Sample(*load_geopair(pair, preprocess, sensor, margin))
    if sensor == "s1" and len(preprocess.bands) != 1:
        raise SarcolorError(
            f"{pair.s1}: image files hold one SAR band, the model takes {len(preprocess.bands)} "
            f"({', '.join(preprocess.bands)})"
        )
    s2 = read_image(pair.s2)
    source = read_image(pair.s1) if sensor == "s1" else s2
    if source.shape[:2] != s2.shape[:2]:
        raise SarcolorError(
            f"{pair.s1}: size {source.shape[1]}×{source.shape[0]} differs from its optical pair "
            f"{pair.s2.name} ({s2.shape[1]}×{s2.shape[0]})"
        )
    to_tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))  # noqa: E731
    valid = torch.ones(s2.shape[:2], dtype=torch.bool)
    return Sample(to_tensor(source), to_rgb(to_tensor(s2)[None])[0], valid)


def load_pair(pair: Pair, preprocess: PreprocessConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`load_sample` without the mask: ``(source (C, H, W), rgb (3, H, W))`` in [0, 1]."""
    sample = load_sample(pair, preprocess)
    return sample.source, sample.rgb


class PairDataset(Dataset):
    """Pairs → dicts of tensors for training or evaluation.

    Each item holds ``input`` (in_channels, S, S) and ``target`` (out_channels, S, S) in
    [-1, 1] as encoded by :mod:`sarcolor.data.preprocess`, ``rgb`` (3, S, S), the optical image
    in [0, 1], ``mask`` (1, S, S), 1 where the pixel is real and valid, 0 for padding and
    nodata, and the pair's ``name``, ``terrain`` and ``index``. S is ``crop_size``: larger
    images are cropped (randomly when augmenting, centred otherwise); smaller ones are
    padded (see the module docstring). Scene windows are read with a margin of half a crop
    when augmenting, so the random crop also shifts the window (inside its split block).

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
        stack = sample_stack(load_sample(pair, self.preprocess, self._margin(pair)))
        view = draw_view(seed, stack.shape[-2], stack.shape[-1], self.crop_size, self.augment)
        stack = apply_view(stack, view)
        source, rgb, mask = split_stack(stack[None])
        return {
            "input": encode_input(source, self.preprocess)[0],
            "target": encode_target(rgb, self.preprocess)[0],
            "rgb": rgb[0],
            "mask": mask[0],
            "name": pair.name,
            "terrain": pair.terrain or "-",
            "index": index,
            "skipped": skipped,  # errors of bad pairs replaced by this one (``skip_bad``)
        }

    def _margin(self, pair: Pair) -> int:
        """Extra pixels read around a scene window: room for the crop size and the random shift."""
        if pair.window is None:
            return 0
        grow = max(0, self.crop_size - SCENE_WINDOW) // 2
        return grow + (self.crop_size // 2 if self.augment is not None else 0)


def pad_to(stack: torch.Tensor, size: int) -> torch.Tensor:
    """Centre a (C+1, H, W) stack whose last channel is the mask in at least ``size × size``.

    Image channels are mirror-padded (reflect, without repeating the edge pixel; edge
    replication where the image is too narrow for that), the mask with 0.
    """
    h, w = stack.shape[-2:]
    ph, pw = max(0, size - h), max(0, size - w)
    if ph == 0 and pw == 0:
        return stack
    pads = (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2)  # left, right, top, bottom
    mode = "reflect" if max(pads[:2]) < w and max(pads[2:]) < h else "replicate"
    image = F.pad(stack[None, :-1], pads, mode=mode)[0]
    mask = F.pad(stack[-1:], pads, value=0.0)
    return torch.cat([image, mask])


@dataclass(frozen=True)
class View:
    """The augmentation decisions for one sample: where its square is cut, and how it is turned.

    Drawn by :func:`draw_view` from the sample's seed and applied by :func:`apply_view`, by the
    :class:`PairDataset` on the CPU and by :class:`sarcolor.data.cache.DeviceBatches` on the
    training device alike: one implementation, so both serve the same crops and flips.

    Attributes:
        crop_size: side S of the square served.
        resize: ``(h, w)`` the padded stack is enlarged to before cropping (jitter), or ``None``.
        top, left: the square's corner in the padded (and resized) stack.
        flip_x: mirror left–right.
        flip_y: mirror top–bottom.
        turns: quarter turns (``torch.rot90`` over the last two dimensions), 0–3.
    """

    crop_size: int
    resize: tuple[int, int] | None
    top: int
    left: int
    flip_x: bool = False
    flip_y: bool = False
    turns: int = 0


def draw_view(seed: int, height: int, width: int, crop_size: int, augment: Augment | None) -> View:
    """The :class:`View` of a ``height × width`` sample: random when augmenting, centred otherwise.

    The draws come from a generator seeded with ``seed`` alone, in a fixed order (top, left,
    then the flips and turns), so a sample's view depends on nothing but its seed and size.
    """
    h, w = max(height, crop_size), max(width, crop_size)  # after pad_to
    if augment is None:
        return View(crop_size, None, (h - crop_size) // 2, (w - crop_size) // 2)
    resize = None
    if augment.jitter:  # enlarge by 286/256, as pix2pix does
        h, w = h * 286 // 256, w * 286 // 256
        resize = (h, w)
    gen = torch.Generator().manual_seed(seed)
    top = int(torch.randint(0, h - crop_size + 1, (1,), generator=gen))
    left = int(torch.randint(0, w - crop_size + 1, (1,), generator=gen))
    draws = torch.randint(0, 4, (3,), generator=gen).tolist()
    return View(
        crop_size,
        resize,
        top,
        left,
        flip_x=augment.flip and draws[0] % 2 == 1,
        flip_y=augment.flip and draws[1] % 2 == 1,
        turns=draws[2] if augment.rotate90 else 0,
    )


def apply_view(stack: torch.Tensor, view: View) -> torch.Tensor:
    """Pad, resize, crop and turn a (C+1, H, W) stack whose last channel is the mask → (C+1, S, S).

    Works on any device; the mask channel is interpolated like the others (threshold it at
    0.5 afterwards, see :func:`split_stack`).
    """
    size = view.crop_size
    stack = pad_to(stack, size)
    if view.resize is not None:
        stack = F.interpolate(stack[None], size=view.resize, mode="bilinear", align_corners=False)[0]
    stack = stack[:, view.top : view.top + size, view.left : view.left + size]
    if view.flip_x:
        stack = stack.flip(-1)
    if view.flip_y:
        stack = stack.flip(-2)
    if view.turns:
        stack = torch.rot90(stack, view.turns, dims=(-2, -1))
    return stack.contiguous()


def sample_stack(sample: Sample) -> torch.Tensor:
    """A :class:`Sample` as one (C+3+1, H, W) float stack: source, optical RGB, valid mask.

    One stack, so a single transform moves source, optical and mask together.
    """
    return torch.cat([sample.source, sample.rgb, sample.valid[None].float()], dim=0)


def split_stack(stack: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(B, C+3+1, S, S) stacks → source (B, C, S, S), rgb (B, 3, S, S), mask (B, 1, S, S) of 0/1."""
    return stack[:, :-4], stack[:, -4:-1], (stack[:, -1:] > 0.5).float()


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
