"""Pair-preserving augmentation: one transform moves source, optical and mask together.

A :class:`View` holds the augmentation decisions for one sample (where its square is cut, how
it is turned), drawn by :func:`draw_view` from the sample's seed alone and applied by
:func:`apply_view`. The :class:`~sarcolor.data.dataset.PairDataset` on the CPU and
:class:`~sarcolor.data.cache.DeviceBatches` on the training device use these same functions,
so both serve the same crops and flips.

Images smaller than the crop (BigEarthNet's 120×120 patches, scene windows at a border) are
not resized: they are centred and mirror-padded (reflect; edge replication where an image is
narrower than the padding) to the crop size, and the mask marks the real pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from sarcolor.data.records import Sample


@dataclass(frozen=True)
class Augment:
    """Pair-preserving augmentation: the same transform is applied to input and target."""

    flip: bool = True
    rotate90: bool = True
    jitter: bool = False  # pix2pix: enlarge by 286/256, then random-crop


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
