"""A multi-scale PatchGAN discriminator with intermediate features (pix2pixHD).

Reference: Wang et al., "High-Resolution Image Synthesis and Semantic Manipulation with
Conditional GANs", CVPR 2018 (arXiv:1711.11585), section 3.2: the same PatchGAN architecture
applied to the pair at full resolution and to copies downsampled by 2 and by 4 (3×3 average
pooling, stride 2). The coarser scales judge larger regions (a 70×70 patch at scale 3 covers
280×280 input pixels) for the same cost as a quarter or a sixteenth of the first.

Every scale is a :class:`~sarcolor.models.discriminator.PatchDiscriminator`; its intermediate
activations (after each LeakyReLU) are returned beside its logits, for the feature-matching
loss (:func:`sarcolor.models.losses.feature_matching_loss`). :func:`add_spectral_norm` divides
every convolution's weight by its largest singular value (Miyato et al. 2018, arXiv:1802.05957),
estimated by one power iteration per training forward pass.
"""

from __future__ import annotations

import typing
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from sarcolor.models.discriminator import PatchDiscriminator

MAX_SCALES: int = 3
M = TypeVar("M", bound=nn.Module)


def downsample(pair: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) → (B, C, ⌈H/2⌉, ⌈W/2⌉): pix2pixHD's 3×3 average pooling, stride 2, padding
    not counted."""
    return F.avg_pool2d(pair, 3, stride=2, padding=1, count_include_pad=False)


def patch_features(d: PatchDiscriminator, pair: torch.Tensor) -> list[torch.Tensor]:
    """The activations of ``d`` after each LeakyReLU, then its (B, 1, h, w) logits (last).

    For the 70×70 PatchGAN on a 256×256 pair: 4 feature maps (ndf·{1, 2, 4, 8} channels at
    128², 64², 32², 31²) and the 30×30 logits.
    """
    out: list[torch.Tensor] = []
    x = pair
    for layer in d.net:
        x = layer(x)
        if isinstance(layer, nn.LeakyReLU):
            out.append(x)
    out.append(x)
    return out


class MultiScaleDiscriminator(nn.Module):
    """(B, in_channels, H, W) pair → one list per scale of [features…, (B, 1, h_s, w_s) logits].

    Scale ``s`` (0-based) sees the pair downsampled ``s`` times by :func:`downsample`.

    Args:
        in_channels: channels of the conditioning input plus the output (e.g. 1 + 3 = 4).
        ndf: base width of every scale's PatchGAN.
        scales: how many scales, 1–3 (pix2pixHD uses 3; 1 is the single PatchGAN with features).

    Example:
        >>> d = MultiScaleDiscriminator(4, ndf=8, scales=3)
        >>> [out[-1].shape[-1] for out in d(torch.zeros(2, 4, 256, 256))]
        [30, 14, 6]
    """

    def __init__(self, in_channels: int = 4, ndf: int = 64, scales: int = 3) -> None:
        super().__init__()
        if not 1 <= scales <= MAX_SCALES:
            raise ValueError(f"scales must be in [1, {MAX_SCALES}], got {scales}")
        self.scales = nn.ModuleList(PatchDiscriminator(in_channels, ndf) for _ in range(scales))

    def forward(self, pair: torch.Tensor) -> list[list[torch.Tensor]]:
        outputs = []
        for i, d in enumerate(self.scales):
            if i > 0:
                pair = downsample(pair)
            outputs.append(patch_features(typing.cast(PatchDiscriminator, d), pair))
        return outputs


def logits_of(outputs: torch.Tensor | list[list[torch.Tensor]]) -> list[torch.Tensor]:
    """The logits of every scale: a plain PatchGAN's tensor is one scale."""
    if isinstance(outputs, torch.Tensor):
        return [outputs]
    return [scale[-1] for scale in outputs]


def features_of(outputs: list[list[torch.Tensor]]) -> list[list[torch.Tensor]]:
    """The intermediate features of every scale (the logits left out)."""
    return [scale[:-1] for scale in outputs]


def add_spectral_norm(module: M) -> M:
    """Spectral normalisation on every ``Conv2d`` of ``module``, in place; returns it.

    Call it after initialising the weights: a parametrised weight is recomputed from
    ``parametrizations.weight.original`` on every access, so it cannot be re-initialised in
    place. The power-iteration vectors are buffers, saved and restored with the state dict.
    """
    for conv in [m for m in module.modules() if isinstance(m, nn.Conv2d)]:
        _spectral_norm(conv)
    return module


def has_spectral_norm(module: nn.Module) -> bool:
    """Whether every ``Conv2d`` of ``module`` is spectrally normalised."""
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    return bool(convs) and all(parametrize.is_parametrized(c, "weight") for c in convs)
