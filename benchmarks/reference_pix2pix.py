"""The reference for speed comparisons: plain float32 eager pix2pix, written independently of
sarcolor's modules (same architecture: U-Net-256, 70×70 PatchGAN, BCE + 100·L1, Adam 2e-4/0.5).

Kept deliberately simple — no mixed precision, no channels_last, no fused optimizer — as the
pix2pix reference code trains it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _down(cin: int, cout: int, norm: bool) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, 4, 2, 1, bias=False)]
    if norm:
        layers.append(nn.BatchNorm2d(cout))
    return nn.Sequential(*layers, nn.LeakyReLU(0.2))


def _up(cin: int, cout: int, dropout: bool) -> nn.Sequential:
    layers = [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout)]
    if dropout:
        layers.append(nn.Dropout(0.5))
    return nn.Sequential(*layers, nn.ReLU())


class RefGenerator(nn.Module):
    def __init__(self, cin: int = 1, cout: int = 3, ngf: int = 64) -> None:
        super().__init__()
        d = [ngf * m for m in (1, 2, 4, 8, 8, 8, 8, 8)]
        u = [ngf * m for m in (8, 8, 8, 8, 4, 2, 1)]
        pairs = list(zip([cin, *d[:-1]], d, strict=True))
        # no norm on the first and (as the reference code: a 1×1 map at batch 1) the innermost block
        self.downs = nn.ModuleList([_down(a, b, 0 < i < 7) for i, (a, b) in enumerate(pairs)])
        ins = [d[-1]] + [u[i] + d[-2 - i] for i in range(6)]
        self.ups = nn.ModuleList([_up(a, b, i < 3) for i, (a, b) in enumerate(zip(ins, u, strict=True))])
        self.last = nn.ConvTranspose2d(u[-1] + d[0], cout, 4, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for down in self.downs:
            x = down(x)
            skips.append(x)
        for up, skip in zip(self.ups, reversed(skips[:-1]), strict=True):
            x = torch.cat([up(x), skip], 1)
        return torch.tanh(self.last(x))


class RefDiscriminator(nn.Module):
    def __init__(self, cin: int = 4, ndf: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(cin, ndf, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2),
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4), nn.LeakyReLU(0.2),
            nn.Conv2d(ndf * 4, ndf * 8, 4, 1, 1, bias=False), nn.BatchNorm2d(ndf * 8), nn.LeakyReLU(0.2),
            nn.Conv2d(ndf * 8, 1, 4, 1, 1),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class RefPix2Pix:
    """One training step exactly as the reference code does it, in float32."""

    def __init__(self, device: torch.device, ngf: int = 64) -> None:
        self.G, self.D = RefGenerator(ngf=ngf).to(device), RefDiscriminator(ndf=ngf).to(device)
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=2e-4, betas=(0.5, 0.999))

    def train_step(self, a: torch.Tensor, b: torch.Tensor) -> None:
        fake = self.G(a)
        self.opt_D.zero_grad()
        pred_fake = self.D(torch.cat([a, fake.detach()], 1))
        pred_real = self.D(torch.cat([a, b], 1))
        loss_d = 0.5 * (
            F.binary_cross_entropy_with_logits(pred_fake, torch.zeros_like(pred_fake))
            + F.binary_cross_entropy_with_logits(pred_real, torch.ones_like(pred_real))
        )
        loss_d.backward()
        self.opt_D.step()
        for p in self.D.parameters():
            p.requires_grad_(False)
        self.opt_G.zero_grad()
        pred = self.D(torch.cat([a, fake], 1))
        loss_g = F.binary_cross_entropy_with_logits(pred, torch.ones_like(pred)) + 100 * F.l1_loss(fake, b)
        loss_g.backward()
        self.opt_G.step()
        for p in self.D.parameters():
            p.requires_grad_(True)

    @torch.no_grad()
    def infer(self, a: torch.Tensor) -> torch.Tensor:
        self.G.eval()
        return self.G(a)
