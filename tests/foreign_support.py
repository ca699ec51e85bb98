"""The two foreign generators as their sources publish them, built independently of sarcolor.

junyanz/pytorch-CycleGAN-and-pix2pix ``models/networks.py`` (``UnetGenerator`` of nested
``UnetSkipConnectionBlock``) and yuuIind/SAR2Optical ``src/networks.py`` + ``src/layers.py``,
written in each source's own style (in-place activations, ``torch.cat([x, self.model(x)])``,
explicit concatenations), with helpers that feed them real SEN1-2 patches the way the sources'
scripts do. Shared by tests/models/test_foreign.py and the import tests.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from sarcolor.data.io import read_image

# --- the canonical pix2pix generator, as published (models/networks.py) --------------------


def ref_norm_layer(norm: str):
    if norm == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
    if norm == "instance":
        return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)
    return lambda channels: nn.Identity()


class RefSkipBlock(nn.Module):
    """X ── identity ───────────────────────────── X
    └─ LeakyReLU · conv · norm · |inner| · ReLU · convT · norm ─┘"""

    def __init__(
        self, outer, inner, input_nc=None, sub=None, outermost=False, innermost=False,
        norm_layer=nn.BatchNorm2d, use_dropout=False,
    ):  # fmt: skip
        super().__init__()
        self.outermost = outermost
        use_bias = isinstance(norm_layer, functools.partial) and norm_layer.func is nn.InstanceNorm2d
        input_nc = outer if input_nc is None else input_nc
        downconv = nn.Conv2d(input_nc, inner, kernel_size=4, stride=2, padding=1, bias=use_bias)
        downrelu, uprelu = nn.LeakyReLU(0.2, True), nn.ReLU(True)
        if outermost:
            upconv = nn.ConvTranspose2d(inner * 2, outer, kernel_size=4, stride=2, padding=1)
            model = [downconv, sub, uprelu, upconv, nn.Tanh()]
        elif innermost:
            upconv = nn.ConvTranspose2d(inner, outer, kernel_size=4, stride=2, padding=1, bias=use_bias)
            model = [downrelu, downconv, uprelu, upconv, norm_layer(outer)]
        else:
            upconv = nn.ConvTranspose2d(inner * 2, outer, kernel_size=4, stride=2, padding=1, bias=use_bias)
            model = [downrelu, downconv, norm_layer(inner), sub, uprelu, upconv, norm_layer(outer)]
            model += [nn.Dropout(0.5)] if use_dropout else []
        self.model = nn.Sequential(*model)

    def forward(self, x):
        return self.model(x) if self.outermost else torch.cat([x, self.model(x)], 1)


class RefUnetGenerator(nn.Module):
    def __init__(self, input_nc, output_nc, num_downs, ngf=64, norm="batch", use_dropout=False):
        super().__init__()
        nl = ref_norm_layer(norm)
        block = RefSkipBlock(ngf * 8, ngf * 8, norm_layer=nl, innermost=True)
        for _ in range(num_downs - 5):
            block = RefSkipBlock(ngf * 8, ngf * 8, sub=block, norm_layer=nl, use_dropout=use_dropout)
        block = RefSkipBlock(ngf * 4, ngf * 8, sub=block, norm_layer=nl)
        block = RefSkipBlock(ngf * 2, ngf * 4, sub=block, norm_layer=nl)
        block = RefSkipBlock(ngf, ngf * 2, sub=block, norm_layer=nl)
        self.model = RefSkipBlock(output_nc, ngf, input_nc=input_nc, sub=block, outermost=True, norm_layer=nl)

    def forward(self, x):
        return self.model(x)


# --- SAR2Optical's generator, as published (src/layers.py, src/networks.py) ----------------


class RefDown(nn.Module):
    def __init__(self, c_in, c_out, use_norm=True):
        super().__init__()
        block = [nn.Conv2d(c_in, c_out, kernel_size=4, stride=2, padding=1, bias=not use_norm)]
        block += [nn.BatchNorm2d(c_out)] if use_norm else []
        self.conv_block = nn.Sequential(*block, nn.LeakyReLU(negative_slope=0.2))

    def forward(self, x):
        return self.conv_block(x)


class RefUp(nn.Module):
    def __init__(self, c_in, c_out, use_dropout=False, use_upsampling=False):
        super().__init__()
        if use_upsampling:
            conv = nn.Conv2d(c_in, c_out, kernel_size=3, stride=1, padding=1, bias=False)
            first = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), conv)
        else:
            first = nn.ConvTranspose2d(c_in, c_out, kernel_size=4, stride=2, padding=1, bias=False)
        block = [first, nn.BatchNorm2d(c_out)] + ([nn.Dropout(0.5)] if use_dropout else [])
        self.conv_block = nn.Sequential(*block, nn.ReLU())

    def forward(self, x):
        return self.conv_block(x)


class RefEncoder(nn.Module):
    def __init__(self, c_in=3):
        super().__init__()
        self.enc1 = RefDown(c_in, 64, use_norm=False)
        self.enc2, self.enc3, self.enc4 = RefDown(64, 128), RefDown(128, 256), RefDown(256, 512)
        self.enc5, self.enc6, self.enc7, self.enc8 = (RefDown(512, 512) for _ in range(4))

    def forward(self, x):
        x1 = self.enc1(x)
        x2 = self.enc2(x1)
        x3 = self.enc3(x2)
        x4 = self.enc4(x3)
        x5 = self.enc5(x4)
        x6 = self.enc6(x5)
        x7 = self.enc7(x6)
        return [self.enc8(x7), x7, x6, x5, x4, x3, x2, x1]


class RefDecoder(nn.Module):
    def __init__(self, up=False):
        super().__init__()
        self.dec1 = RefUp(512, 512, use_dropout=True, use_upsampling=up)
        self.dec2 = RefUp(1024, 512, use_dropout=True, use_upsampling=up)
        self.dec3 = RefUp(1024, 512, use_dropout=True, use_upsampling=up)
        self.dec4 = RefUp(1024, 512, use_upsampling=up)
        self.dec5 = RefUp(1024, 256, use_upsampling=up)
        self.dec6 = RefUp(512, 128, use_upsampling=up)
        self.dec7 = RefUp(256, 64, use_upsampling=up)
        self.dec8 = RefUp(128, 64, use_upsampling=up)

    def forward(self, x):
        x9 = torch.cat([x[1], self.dec1(x[0])], 1)
        x10 = torch.cat([x[2], self.dec2(x9)], 1)
        x11 = torch.cat([x[3], self.dec3(x10)], 1)
        x12 = torch.cat([x[4], self.dec4(x11)], 1)
        x13 = torch.cat([x[5], self.dec5(x12)], 1)
        x14 = torch.cat([x[6], self.dec6(x13)], 1)
        x15 = torch.cat([x[7], self.dec7(x14)], 1)
        return self.dec8(x15)


class RefSar2OpticalGenerator(nn.Module):
    def __init__(self, c_in=3, c_out=3, use_upsampling=False):
        super().__init__()
        self.encoder = RefEncoder(c_in)
        self.decoder = RefDecoder(use_upsampling)
        self.head = nn.Sequential(
            nn.Conv2d(64, c_out, kernel_size=3, stride=1, padding=1, bias=True), nn.Tanh()
        )

    def forward(self, x):
        return self.head(self.decoder(self.encoder(x)))


# --- helpers ---------------------------------------------------------------------------------


@torch.no_grad()
def randomise(net: nn.Module, seed: int) -> nn.Module:
    """Random weights, BatchNorm affine parameters and running statistics; returns eval mode.

    The statistics are first measured on random input (so eval outputs are neither flat nor
    saturated), then perturbed, so that running and per-image statistics differ.
    """
    gen = torch.Generator().manual_seed(seed)
    for module in net.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            fan_in = module.weight[0].numel() if isinstance(module, nn.Conv2d) else module.weight.shape[0] * 4
            module.weight.copy_(torch.randn(module.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
            if module.bias is not None:
                module.bias.copy_(torch.randn(module.bias.shape, generator=gen) * 0.1)
        if isinstance(module, nn.BatchNorm2d):
            module.weight.copy_(torch.rand(module.weight.shape, generator=gen) + 0.5)
            module.bias.copy_(torch.randn(module.bias.shape, generator=gen) * 0.1)
            module.momentum = None  # cumulative average over the calibration pass
    net.train()
    net(torch.randn(2, first_conv(net).in_channels, 256, 256, generator=gen))
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = 0.1
            module.running_var.mul_(torch.rand(module.running_var.shape, generator=gen) * 0.5 + 0.75)
            module.running_mean.add_(torch.randn(module.running_mean.shape, generator=gen) * 0.05)
            module.num_batches_tracked.fill_(int(torch.randint(1, 10_000, (1,), generator=gen)))
    # the last layer's scale makes the tanh output span most of (-1, 1)
    last = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))][-1]
    last.weight.mul_(2.0)
    return net.eval()


def first_conv(net: nn.Module) -> nn.Conv2d:
    return next(m for m in net.modules() if isinstance(m, nn.Conv2d))


def sen12_patches(root: Path, channels: int) -> torch.Tensor:
    """Both real SAR patches, normalised as the sources' scripts do: ToTensor, Normalize(0.5, 0.5).

    Their datasets open the grey PNG as RGB (3 equal channels; with ``input_nc`` 1 the
    canonical code turns it back to grey, exactly).
    """
    files = sorted(root.glob("*/s1/*.png"))
    assert len(files) == 2
    tensors = [torch.from_numpy(read_image(f)).permute(2, 0, 1) for f in files]  # (1, 256, 256) = v / 255
    batch = torch.stack(tensors).expand(-1, channels, -1, -1)
    return (batch - 0.5) / 0.5


def sar_unit(root: Path) -> torch.Tensor:
    """The same patches in sarcolor's convention: (B, 1, H, W) in [0, 1]."""
    return torch.stack(
        [torch.from_numpy(read_image(f)).permute(2, 0, 1) for f in sorted(root.glob("*/s1/*.png"))]
    )


def source_uint8(out: torch.Tensor) -> np.ndarray:
    """Both sources' 8-bit mapping: (y + 1) / 2 · 255, truncated (tensor2im / inference.py)."""
    return ((out.clamp(-1, 1) + 1) / 2 * 255).permute(0, 2, 3, 1).numpy().astype(np.uint8)


class Payload:
    """A pickle that creates a folder when unpickled: what a crafted .pth could do."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))
