"""Weight initialisation of pix2pix: N(0, 0.02) for convolutions, N(1, 0.02) for BatchNorm scales."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def init_weights(module: nn.Module, std: float = 0.02, generator: torch.Generator | None = None) -> None:
    """Initialise every conv / transposed conv / BatchNorm layer of ``module`` in place."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            m.weight.normal_(0.0, std, generator=generator)
            if m.bias is not None:
                m.bias.zero_()
        elif isinstance(m, nn.BatchNorm2d):
            m.weight.normal_(1.0, std, generator=generator)
            m.bias.zero_()


# 1-D taps of a stride-2 transposed convolution (kernel 4, padding 1) that upsample bilinearly:
# even outputs take 3/4 of their own input pixel and 1/4 of the previous one, odd outputs of the next.
BILINEAR_TAPS = (0.25, 0.75, 0.75, 0.25)


@torch.no_grad()
def init_upsampling_bilinear(
    module: nn.Module, std: float = 0.02, generator: torch.Generator | None = None
) -> None:
    """Initialise every 4×4 stride-2 ``ConvTranspose2d`` of ``module`` as bilinear upsampling of a
    random 1×1 convolution, in place: ``W[i, o] = a[i, o] · t ⊗ t`` with ``t`` = (¼, ¾, ¾, ¼).

    pix2pix draws each of the 16 taps from N(0, ``std``), so the four output pixels of a 2×2 cell
    are computed from different weights and the untrained generator prints a pattern with a
    period of 2 pixels at each decoder level: 2, 4, 8, … pixels in the output (on real SEN1-2
    tiles, +18 dB at the 8-pixel grid's frequencies; :mod:`sarcolor.evaluation.periodic`).
    Short trainings do not remove it. With this init the four pixels share one weight per
    channel pair and no pattern exists at step 0 (the "checkerboard" of Odena et al. 2016;
    the same idea as ICNR, Aitken et al. 2017). ``a`` ~ N(0, std·3.2), so that each output pixel's
    variance equals the N(0, std) init's (Σ of the four taps' squares is 0.39 instead of 4 std²).
    """
    taps = torch.tensor(BILINEAR_TAPS)
    kernel = torch.outer(taps, taps)
    # each output pixel sees a 2×2 subset of the taps; plain floats: this also runs on "meta" tensors
    parity = sum(a * a for a in BILINEAR_TAPS[:2]) ** 2
    scale = (4.0 / parity) ** 0.5
    for m in module.modules():
        if isinstance(m, nn.ConvTranspose2d) and m.kernel_size == (4, 4) and m.stride == (2, 2):
            a = torch.empty((*m.weight.shape[:2], 1, 1)).normal_(0.0, std * scale, generator=generator)
            m.weight.copy_(a.to(m.weight.dtype) * kernel.to(m.weight.dtype))
