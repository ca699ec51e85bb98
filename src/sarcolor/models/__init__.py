"""Networks and losses of pix2pix (Isola et al., 2017, arXiv:1611.07004)."""

from sarcolor.models.build import build_discriminator, build_generator, build_networks
from sarcolor.models.discriminator import PatchDiscriminator
from sarcolor.models.fast import fold_batchnorm, inference_model
from sarcolor.models.generator import UNetGenerator
from sarcolor.models.init import init_weights
from sarcolor.models.losses import discriminator_loss, generator_loss

__all__ = [
    "PatchDiscriminator",
    "UNetGenerator",
    "build_discriminator",
    "build_generator",
    "build_networks",
    "discriminator_loss",
    "fold_batchnorm",
    "generator_loss",
    "inference_model",
    "init_weights",
]
