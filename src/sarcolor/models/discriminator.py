"""The pix2pix 70×70 PatchGAN discriminator.

Reference: Isola et al., CVPR 2017 (arXiv:1611.07004), appendix 6.1.2: C64-C128-C256-C512,
then a convolution to one channel. Each output logit judges one 70×70 patch of the pair.
"""

from __future__ import annotations

import torch
from torch import nn

RECEPTIVE_FIELD: int = 70


class PatchDiscriminator(nn.Module):
    """(B, in_channels, H, W) pair (input ⊕ output) → (B, 1, H/8 - 2, W/8 - 2) logits.

    For a 256×256 pair the output is a 30×30 map of logits, each cell seeing 70×70 pixels.

    Args:
        in_channels: channels of the conditioning input plus the (real or generated) output,
            e.g. 1 + 3 = 4 for SAR → RGB.
        ndf: base width; the layers have ndf, 2·ndf, 4·ndf (stride 2), 8·ndf (stride 1), 1.

    Example:
        >>> d = PatchDiscriminator(4, ndf=8)
        >>> d(torch.zeros(2, 4, 256, 256)).shape
        torch.Size([2, 1, 30, 30])
    """

    def __init__(self, in_channels: int = 4, ndf: int = 64) -> None:
        super().__init__()

        def conv(cin: int, cout: int, stride: int, norm: bool) -> list[nn.Module]:
            layers: list[nn.Module] = [nn.Conv2d(cin, cout, 4, stride, padding=1, bias=not norm)]
            if norm:
                layers.append(nn.BatchNorm2d(cout))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            return layers

        self.net = nn.Sequential(
            *conv(in_channels, ndf, 2, norm=False),
            *conv(ndf, ndf * 2, 2, norm=True),
            *conv(ndf * 2, ndf * 4, 2, norm=True),
            *conv(ndf * 4, ndf * 8, 1, norm=True),
            nn.Conv2d(ndf * 8, 1, 4, stride=1, padding=1),
        )

    def forward(self, pair: torch.Tensor) -> torch.Tensor:
        return self.net(pair)
