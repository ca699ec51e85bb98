"""The pix2pix U-Net-256 generator.

Reference: Isola, Zhu, Zhou, Efros, "Image-to-Image Translation with Conditional Adversarial
Networks", CVPR 2017 (arXiv:1611.07004), appendix 6.1.1 ("U-Net decoder"), laid out as in the
founding description: 8 down blocks and 7 up blocks joined by skip connections.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

DOWN_WIDTHS: tuple[int, ...] = (1, 2, 4, 8, 8, 8, 8, 8)  # × ngf → 64,128,256,512,512,512,512,512
UP_WIDTHS: tuple[int, ...] = (8, 8, 8, 8, 4, 2, 1)  # × ngf → 512,512,512,512,256,128,64
UP_DROPOUT: int = 3  # dropout 0.5 on the first three up blocks
Upsample = Literal["transpose", "resize"]


class BottleneckBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm for the 1×1 bottleneck that survives a batch of one.

    At 256×256 the eighth down block outputs 1×1 maps; with batch size 1 in training mode each
    channel holds a single value, which batch statistics would normalise to exactly zero (the
    reference TensorFlow code silently does this) and PyTorch refuses. In that one case the
    running statistics are used instead, and left unchanged.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and x.shape[0] * x.shape[2] * x.shape[3] == 1:
            return F.batch_norm(
                x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
            )
        return super().forward(x)


def down_block(cin: int, cout: int, *, norm: bool, innermost: bool = False) -> nn.Sequential:
    """Conv 4×4 stride 2 → BatchNorm → LeakyReLU(0.2): (B, cin, H, W) → (B, cout, H/2, W/2)."""
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 4, stride=2, padding=1, bias=False)]
    if norm:
        layers.append(BottleneckBatchNorm2d(cout) if innermost else nn.BatchNorm2d(cout))
    layers.append(nn.LeakyReLU(0.2, inplace=True))
    return nn.Sequential(*layers)


def upsampling(cin: int, cout: int, upsample: Upsample, bias: bool) -> list[nn.Module]:
    """(B, cin, H, W) → (B, cout, 2H, 2W): a 4×4 stride-2 transposed convolution (pix2pix), or
    ``resize``: nearest-neighbour ×2 then a 3×3 convolution (Odena et al. 2016, "Deconvolution
    and Checkerboard Artifacts"), which weighs every output pixel alike and so cannot print a
    2-pixel checkerboard; 9/16 of the weights, 2.25× the multiply-adds of the layer."""
    if upsample == "resize":
        return [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cout, 3, padding=1, bias=bias)]
    return [nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1, bias=bias)]


def up_block(cin: int, cout: int, *, dropout: float, upsample: Upsample = "transpose") -> nn.Sequential:
    """Upsampling ×2 → BatchNorm → [Dropout] → ReLU: (B, cin, H, W) → (B, cout, 2H, 2W)."""
    layers: list[nn.Module] = [*upsampling(cin, cout, upsample, bias=False), nn.BatchNorm2d(cout)]
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class UNetGenerator(nn.Module):
    """U-Net-256: (B, in_channels, H, W) in [-1, 1] → (B, out_channels, H, W) in (-1, 1).

    H and W must be multiples of 256 (eight halvings). With ``in_channels=1``,
    ``out_channels=3`` and ``ngf=64`` the network has 54,412,931 parameters
    (the TensorFlow pix2pix tutorial reports 54,414,979 for its 3-channel input: 2,048 more
    weights in the first convolution).

    Args:
        in_channels: input channels (1 for SAR VV or L*).
        out_channels: output channels (3 for RGB or L*a*b*, 2 for a*b*).
        ngf: base width; the blocks use multiples of it (see ``DOWN_WIDTHS``/``UP_WIDTHS``).
        dropout: dropout probability of the first three up blocks (0.5 in pix2pix; 0 for none).
        upsample: ``transpose`` (pix2pix) or ``resize`` (see :func:`upsampling`) in every up block
            and the last layer.

    Example:
        >>> g = UNetGenerator(1, 3, ngf=8)
        >>> g(torch.zeros(2, 1, 256, 256)).shape
        torch.Size([2, 3, 256, 256])
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 3,
        ngf: int = 64,
        dropout: float = 0.5,
        upsample: Upsample = "transpose",
    ) -> None:
        super().__init__()
        widths = [m * ngf for m in DOWN_WIDTHS]
        self.down = nn.ModuleList()
        cin = in_channels
        for i, cout in enumerate(widths):
            self.down.append(down_block(cin, cout, norm=i > 0, innermost=i == len(widths) - 1))
            cin = cout
        self.up = nn.ModuleList()
        skips = widths[-2::-1]  # the skip joined after each up block: d7, d6, ..., d1
        for i, (mult, skip) in enumerate(zip(UP_WIDTHS, skips, strict=True)):
            cout = mult * ngf
            self.up.append(up_block(cin, cout, dropout=dropout if i < UP_DROPOUT else 0.0, upsample=upsample))
            cin = cout + skip
        last = upsampling(cin, out_channels, upsample, bias=True)
        self.last = last[0] if len(last) == 1 else nn.Sequential(*last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % 256 or x.shape[-2] % 256:
            raise ValueError(f"UNetGenerator needs H and W multiples of 256, got {tuple(x.shape)}")
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
        for block, skip in zip(self.up, reversed(skips[:-1]), strict=True):
            x = torch.cat([block(x), skip], dim=1)
        return torch.tanh(self.last(x))
