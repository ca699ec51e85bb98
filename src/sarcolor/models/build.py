"""The networks a configuration describes: one builder for training and inference alike."""

from __future__ import annotations

from torch import nn

from sarcolor.config import Config
from sarcolor.models.conditioned import FiLMUNetGenerator
from sarcolor.models.discriminator import PatchDiscriminator
from sarcolor.models.generator import UNetGenerator
from sarcolor.models.init import init_upsampling_bilinear, init_weights
from sarcolor.models.multiscale import MultiScaleDiscriminator, add_spectral_norm

Discriminator = PatchDiscriminator | MultiScaleDiscriminator


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
        return FiLMUNetGenerator(
            pre.in_channels, pre.out_channels, model.ngf, model.dropout, model.upsample, terrains=extra
        )
    return UNetGenerator(pre.in_channels + extra, pre.out_channels, model.ngf, model.dropout, model.upsample)


def _discriminator(cfg: Config) -> Discriminator:
    """The founding :class:`PatchDiscriminator` (its checkpoints keep their tensor names), unless
    it must judge several scales or return features for feature matching: then a
    :class:`MultiScaleDiscriminator`. It sees the input (with any terrain planes) and the (real
    or generated) output."""
    pre, model = cfg.preprocess, cfg.model
    channels = pre.in_channels + model.condition_channels + pre.out_channels
    if model.d_scales == 1 and cfg.train.lambda_fm == 0:
        return PatchDiscriminator(channels, model.ndf)
    return MultiScaleDiscriminator(channels, model.ndf, model.d_scales)


def build_discriminator(cfg: Config) -> Discriminator:
    """The discriminator of ``cfg`` (untrained): it sees the input and the (real or generated)
    output; spectrally normalised with ``model.spectral_norm`` (its tensors are then named
    ``….parametrizations.weight.original``)."""
    d = _discriminator(cfg)
    return add_spectral_norm(d) if cfg.model.spectral_norm else d


def build_networks(cfg: Config) -> tuple[nn.Module, Discriminator]:
    """The generator and discriminator of a configuration, initialised N(0, 0.02).

    ``model.upsample_init: bilinear`` re-draws the generator's transposed convolutions after the
    pix2pix init (:func:`~sarcolor.models.init.init_upsampling_bilinear`); spectral
    normalisation is added after the init, whose weights it then normalises.
    """
    g, d = build_generator(cfg), _discriminator(cfg)
    init_weights(g)
    init_weights(d)
    if cfg.model.upsample_init == "bilinear" and not cfg.model.imported:
        init_upsampling_bilinear(g)
    if cfg.model.spectral_norm:
        add_spectral_norm(d)
    return g, d
