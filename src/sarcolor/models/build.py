"""The networks a configuration describes: one builder for training and inference alike."""

from __future__ import annotations

from torch import nn

from sarcolor.config import Config
from sarcolor.models.conditioned import FiLMUNetGenerator
from sarcolor.models.discriminator import PatchDiscriminator
from sarcolor.models.generator import UNetGenerator
from sarcolor.models.init import init_weights


def build_generator(cfg: Config) -> nn.Module:
    """The generator of ``cfg`` (untrained: load a checkpoint's weights, or :func:`build_networks`).

    ``model.arch`` ``sarcolor_unet`` is sarcolor's :class:`~sarcolor.models.generator.UNetGenerator`;
    an imported architecture (``model.foreign``) is its source's graph inside a
    :class:`~sarcolor.models.foreign.SarcolorAdapter`, called exactly like sarcolor's own:
    (B, in_channels, H, W) in [-1, 1] → (B, 3, H, W) in (-1, 1).

    Example:
        >>> from sarcolor.config import Config
        >>> g = build_generator(Config().replace(model={"ngf": 8}))
        >>> import torch
        >>> g(torch.zeros(1, 1, 256, 256)).shape
        torch.Size([1, 3, 256, 256])
    """
    pre, model = cfg.preprocess, cfg.model
    if model.imported:
        from sarcolor.models.foreign import ForeignArch

        return ForeignArch.from_dict(model.foreign).build_for_sarcolor()
    extra = model.condition_channels  # one-hot terrain planes of a conditioned generator
    if extra and model.condition_at == "bottleneck":
        return FiLMUNetGenerator(pre.in_channels, pre.out_channels, model.ngf, model.dropout, terrains=extra)
    return UNetGenerator(pre.in_channels + extra, pre.out_channels, model.ngf, model.dropout)


def build_discriminator(cfg: Config) -> PatchDiscriminator:
    """The discriminator of ``cfg``: it sees the input (with any terrain planes) and the (real or
    generated) output."""
    pre = cfg.preprocess
    return PatchDiscriminator(
        pre.in_channels + cfg.model.condition_channels + pre.out_channels, cfg.model.ndf
    )


def build_networks(cfg: Config) -> tuple[nn.Module, PatchDiscriminator]:
    """The generator and discriminator of a configuration, initialised N(0, 0.02)."""
    g, d = build_generator(cfg), build_discriminator(cfg)
    init_weights(g)
    init_weights(d)
    return g, d
