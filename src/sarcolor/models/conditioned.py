"""A U-Net generator conditioned on the terrain by FiLM at its 1×1 bottleneck.

The conditioned generators take the terrain the same way whatever the mechanism: as ``T``
one-hot planes appended to the SAR input (:func:`sarcolor.models.terrain_condition.with_terrain`), so
training, sampling and colorizing hand them one tensor. With ``--condition-at input`` the plain
:class:`~sarcolor.models.generator.UNetGenerator` simply has ``T`` more input channels. With
``--condition-at bottleneck`` this module reads the one-hot code off the planes and scales and
shifts the bottleneck features per terrain (FiLM: Perez et al., AAAI 2018), ``h·(1 + γ_t) + β_t``,
with γ and β zero at initialisation (it starts as the unconditioned network).
"""

from __future__ import annotations

import torch
from torch import nn

from sarcolor.models.generator import DOWN_WIDTHS, UNetGenerator, Upsample


class FiLMUNetGenerator(UNetGenerator):
    """(B, in_channels + terrains, H, W) in [-1, 1] → (B, out_channels, H, W) in (-1, 1).

    The last ``terrains`` input channels are one-hot planes (constant over each image).

    Example:
        >>> g = FiLMUNetGenerator(1, 3, ngf=8, terrains=4)
        >>> planes = torch.eye(4)[[0, 3]].view(2, 4, 1, 1).expand(-1, -1, 256, 256)
        >>> g(torch.cat([torch.zeros(2, 1, 256, 256), planes], dim=1)).shape
        torch.Size([2, 3, 256, 256])
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 3,
        ngf: int = 64,
        dropout: float = 0.5,
        upsample: Upsample = "transpose",
        *,
        terrains: int,
    ) -> None:
        super().__init__(in_channels, out_channels, ngf, dropout, upsample)
        self.sar_channels, self.terrains = in_channels, terrains
        width = DOWN_WIDTHS[-1] * ngf
        self.film = nn.Linear(terrains, 2 * width)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % 256 or x.shape[-2] % 256:
            raise ValueError(f"FiLMUNetGenerator needs H and W multiples of 256, got {tuple(x.shape)}")
        if x.shape[1] != self.sar_channels + self.terrains:
            raise ValueError(f"expected {self.sar_channels} + {self.terrains} channels, got {x.shape[1]}")
        code = x[:, self.sar_channels :, 0, 0]  # (B, T): the planes are constant
        gamma, beta = self.film(code).unsqueeze(-1).unsqueeze(-1).chunk(2, dim=1)
        x = x[:, : self.sar_channels]
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
        x = x * (1 + gamma) + beta
        for block, skip in zip(self.up, reversed(skips[:-1]), strict=True):
            x = torch.cat([block(x), skip], dim=1)
        return torch.tanh(self.last(x))
