"""Differentiable augmentation of what the discriminator sees (DiffAugment).

Reference: Zhao, Liu, Lin, Zhu, Han, "Differentiable Augmentation for Data-Efficient GAN
Training", NeurIPS 2020 (arXiv:2006.10738). With little data a discriminator memorises the
real images and its gradients stop being useful to the generator; transforming every image D
sees — real and fake alike, in the D step and in the G step, differentiably so that G's
gradient passes through — keeps it from memorising without changing what G must produce.

Here D judges (input ⊕ output) pairs, so the spatial transforms move the whole pair together
and the colour transforms touch only the output channels. The parameters are drawn once per
sample per step (:func:`draw`) and applied identically to the real pair and the fake pair of
that sample (:func:`apply`): real and fake differ only in what G made, and the feature-matching
loss compares like with like. The draws come from their own generator seeded by (seed, step),
so a resumed or a distributed run draws exactly what an uninterrupted one-process run draws.

Transforms (the paper's, for images in [-1, 1]):

* ``translation``: shift by up to 1/8 of the size in each axis, zeros shifted in;
* ``cutout``: zero a square of half the size at a random place (centre inside the image);
* ``color``: brightness + U(-0.5, 0.5), saturation × U(0, 2), contrast × U(0.5, 1.5).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

# the policy's names are declared torch-free beside the option (config validation needs them)
from sarcolor.config.train import TRANSFORMS as TRANSFORMS
from sarcolor.config.train import parse_policy as parse_policy

TRANSLATION_RATIO = 1 / 8
CUTOUT_RATIO = 1 / 2


@dataclass(frozen=True)
class AugmentParams:
    """One step's random parameters, one row per sample of this process's batch slice.

    ``shift`` (B, 2) integer (dy, dx); ``cut`` (B, 2) integer top-left corner of the cutout
    square; ``color`` (B, 3) the brightness, saturation and contrast draws in [0, 1).
    """

    policy: tuple[str, ...]
    shift: torch.Tensor
    cut: torch.Tensor
    color: torch.Tensor


def draw(
    policy: Sequence[str],
    size: tuple[int, int],
    seed: int,
    global_batch: int,
    rows: slice = slice(None),
) -> AugmentParams:
    """Draw the parameters of the whole global batch from ``seed``; keep ``rows`` (this rank's).

    Every process draws the same global batch and keeps its contiguous slice, so the transform
    of a sample does not depend on the number of processes.
    """
    gen = torch.Generator().manual_seed(seed)
    h, w = size
    rh, rw = int(h * TRANSLATION_RATIO + 0.5), int(w * TRANSLATION_RATIO + 0.5)
    shift = torch.stack(
        [
            torch.randint(-rh, rh + 1, (global_batch,), generator=gen),
            torch.randint(-rw, rw + 1, (global_batch,), generator=gen),
        ],
        dim=1,
    )
    ch, cw = int(h * CUTOUT_RATIO + 0.5), int(w * CUTOUT_RATIO + 0.5)
    # the square's centre anywhere in the image; its top-left corner may lie outside
    cut = torch.stack(
        [
            torch.randint(0, h + (1 - ch % 2), (global_batch,), generator=gen) - ch // 2,
            torch.randint(0, w + (1 - cw % 2), (global_batch,), generator=gen) - cw // 2,
        ],
        dim=1,
    )
    color = torch.rand(global_batch, 3, generator=gen)
    return AugmentParams(tuple(policy), shift[rows], cut[rows], color[rows])


def apply(pair: torch.Tensor, params: AugmentParams, color_channels: int) -> torch.Tensor:
    """(B, C, H, W) pair (input ⊕ output) → the same shape, transformed; differentiable.

    Args:
        pair: the pair D would see; its last ``color_channels`` channels are the output.
        params: from :func:`draw`, one row per sample of ``pair``.
        color_channels: channels the colour transform applies to (the output's).
    """
    if not params.policy:
        return pair
    if pair.shape[0] != params.shift.shape[0]:
        raise ValueError(f"{params.shift.shape[0]} augmentation draws for a batch of {pair.shape[0]}")
    x = pair
    if "color" in params.policy:
        x = _color(x, params.color.to(x.device, x.dtype), color_channels)
    if "translation" in params.policy:
        x = _translate(x, params.shift)
    if "cutout" in params.policy:
        x = _cutout(x, params.cut)
    return x


def _color(x: torch.Tensor, draws: torch.Tensor, channels: int) -> torch.Tensor:
    cond, out = x[:, :-channels], x[:, -channels:]
    b = lambda i: draws[:, i].view(-1, 1, 1, 1)  # noqa: E731
    out = out + (b(0) - 0.5)
    mean = out.mean(dim=1, keepdim=True)
    out = (out - mean) * (b(1) * 2) + mean
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    out = (out - mean) * (b(2) + 0.5) + mean
    return torch.cat([cond, out], dim=1)


def _translate(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Each sample shifted by its own (dy, dx), zeros shifted in."""
    h, w = x.shape[-2:]
    ph, pw = int(shift[:, 0].abs().max()), int(shift[:, 1].abs().max())
    padded = F.pad(x, (pw, pw, ph, ph))
    rows = []
    for i, (dy, dx) in enumerate(shift.tolist()):
        rows.append(padded[i, :, ph - dy : ph - dy + h, pw - dx : pw - dx + w])
    return torch.stack(rows)


def _cutout(x: torch.Tensor, corner: torch.Tensor) -> torch.Tensor:
    """Each sample with a square of half the size zeroed at its own place."""
    b, _, h, w = x.shape
    ch, cw = int(h * CUTOUT_RATIO + 0.5), int(w * CUTOUT_RATIO + 0.5)
    ys = torch.arange(h).view(1, h, 1)
    xs = torch.arange(w).view(1, 1, w)
    top, left = corner[:, 0].view(b, 1, 1), corner[:, 1].view(b, 1, 1)
    inside = (ys >= top) & (ys < top + ch) & (xs >= left) & (xs < left + cw)
    return x * (~inside).unsqueeze(1).to(x.device, x.dtype)
