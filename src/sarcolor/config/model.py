"""The ``model`` section: the generator and discriminator."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sarcolor.config.common import (
    Arch,
    Condition,
    ConditionAt,
    Upsample,
    UpsampleInit,
)
from sarcolor.config.foreign import ForeignLayout
from sarcolor.errors import SarcolorError
from sarcolor.options import check_fields, option


@dataclass(frozen=True)
class ModelConfig:
    """The generator and the widths: sarcolor's U-Net-256 + 70×70 PatchGAN, or a generator trained
    elsewhere (``arch`` and ``foreign``, a :class:`~sarcolor.config.foreign.ForeignLayout` mapping,
    written only by ``sarcolor import``, so they have no flag)."""

    arch: Arch = option(
        "sarcolor_unet",
        cli=False,
        help="the generator: sarcolor_unet (sarcolor's U-Net-256), or pix2pix_unet / sar2optical_unet "
        "(imported by `sarcolor import`: the canonical pix2pix and SAR2Optical graphs)",
    )
    foreign: dict[str, Any] = option(
        default_factory=dict,
        cli=False,
        help="an imported generator's layout (ForeignArch fields: channels, depth, norm, …)",
        default_text="none",
    )
    ngf: int = option(64, low=1, high=512, help="generator base width")
    ndf: int = option(64, low=1, high=512, help="discriminator base width")
    dropout: float = option(
        0.5,
        low=0.0,
        high=1.0,
        high_open=True,
        help="dropout of the generator's first three up blocks (0 as pix2pix's --no_dropout)",
    )
    condition: Condition = option(
        "none",
        help="terrain: one generator that takes the terrain as an input (one-hot), an alternative to "
        "one model per terrain; colorizing it needs the terrain, given or from a terrain classifier",
    )
    condition_at: ConditionAt = option(
        "input",
        help="where the terrain enters a conditioned generator: input, one-hot planes appended to its "
        "input; bottleneck, a FiLM scale and shift of the 1×1 bottleneck",
    )
    condition_terrains: list[str] = option(
        default_factory=list,
        flag="--condition-terrain",
        metavar="NAME",
        help="the terrains a conditioned generator knows, in one-hot order; repeat for several",
        default_text="the training data's terrains",
    )
    # issue 13: the founding values are the defaults, so checkpoints without these keys load as before
    upsample: Upsample = option(
        "transpose",
        help="the generator's decoder: transpose (pix2pix's 4×4 stride-2 transposed convolutions) or "
        "resize (nearest ×2 + 3×3 convolution: no checkerboard; 2.25× the decoder's multiply-adds)",
    )
    upsample_init: UpsampleInit = option(
        "normal",
        help="the transposed convolutions at step 0: normal (pix2pix, N(0, 0.02) per tap) or bilinear "
        "(bilinear upsampling of a random 1×1 convolution: no dot grid in the untrained generator)",
    )
    d_scales: int = option(
        1, low=1, high=3, help="discriminator scales: the PatchGAN on the pair and 2×/4× downsampled copies"
    )
    spectral_norm: bool = option(False, help="spectral normalisation of every discriminator convolution")

    def validate(self, source: str = "configuration") -> None:
        check_fields(self, source, "model.")
        if self.condition == "none" and self.condition_terrains:
            raise SarcolorError(f"{source}: --condition-terrain needs --condition terrain")
        if len(set(self.condition_terrains)) != len(self.condition_terrains):
            raise SarcolorError(f"{source}: model.condition_terrains repeats a terrain")
        if self.condition != "none" and self.imported:
            raise SarcolorError(f"{source}: an imported generator cannot be conditioned on the terrain")
        if not self.imported:
            if self.foreign:
                raise SarcolorError(f"{source}: model.foreign describes imported generators only")
            return
        try:
            name = (
                ForeignLayout.from_dict(self.foreign).name
                if isinstance(self.foreign, dict)
                else "non-mapping"
            )
        except SarcolorError as exc:
            raise SarcolorError(f"{source}: {exc}") from None
        if name != self.arch:
            raise SarcolorError(f"{source}: model.arch {self.arch} but model.foreign describes a {name}")

    @property
    def condition_channels(self) -> int:
        """Extra input channels of the generator (and discriminator): the one-hot terrain planes."""
        return len(self.condition_terrains) if self.condition == "terrain" else 0

    @property
    def imported(self) -> bool:
        """Whether the generator is one trained elsewhere (``sarcolor import``)."""
        return self.arch != "sarcolor_unet"
