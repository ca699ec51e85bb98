"""Training recipes: named presets of the model and training options (``train.recipe``).

A configuration is built as defaults ← a YAML file ← command-line flags, and then the recipe's
preset fills in every option of it the user did not give (:func:`apply_recipe`): a preset never
overrides what was typed. The name is stored as ``train.recipe`` and the options themselves are
stored too, so a checkpoint records what ran, whichever recipe it started from.

* ``pix2pix`` — the founding description exactly (Isola et al. 2017): U-Net-256 with transposed
  convolutions, one 70×70 PatchGAN, BCE + 100·L1, Adam 2e-4 / β₁ 0.5 for both networks. The
  defaults: its preset only names them.
* ``pix2pixhd`` — pix2pixHD's discriminator side (Wang et al. 2018: three scales, LSGAN,
  feature matching ×10), DiffAugment of what D sees, and the resize decoder, which removed the
  dot grid of the transposed convolutions on real SEN1-2 scenes. On two training scenes its
  discriminator side did not measure better than pix2pix's; the best small-data figures came
  from the resize decoder with an L1-dominated loss (``docs/quality.md``). See :data:`RECIPES`.

Example:
    >>> from sarcolor.config import Config
    >>> cfg = Config().replace(train={"recipe": "pix2pixhd", "gan_loss": "hinge"})
    >>> hd = apply_recipe(cfg, given={("train", "gan_loss")})
    >>> hd.model.d_scales, hd.train.gan_loss, hd.train.lambda_fm
    (3, 'hinge', 10.0)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sarcolor.config import Config

Preset = dict[str, dict[str, Any]]

# Every preset names the same fields, so that switching recipe switches all of them.
RECIPES: dict[str, Preset] = {
    "pix2pix": {
        "model": {"upsample": "transpose", "upsample_init": "normal", "d_scales": 1, "spectral_norm": False},
        "train": {"gan_loss": "bce", "lambda_fm": 0.0, "d_augment": "", "lr_d": None},
    },
    "pix2pixhd": {
        "model": {"upsample": "resize", "upsample_init": "normal", "d_scales": 3, "spectral_norm": False},
        "train": {"gan_loss": "lsgan", "lambda_fm": 10.0, "d_augment": "translation,cutout", "lr_d": None},
    },
}


def given_fields(*sources: Mapping[str, Any]) -> set[tuple[str, str]]:
    """The ``(section, field)`` pairs set in configuration mappings (a YAML file's, the flags')."""
    return {
        (section, name)
        for values in sources
        for section, part in values.items()
        if isinstance(part, Mapping)
        for name in part
    }


def apply_recipe(cfg: Config, given: Iterable[tuple[str, str]] = ()) -> Config:
    """``cfg`` with the preset of ``cfg.train.recipe`` put on every field not in ``given``.

    Raises:
        KeyError: never for a validated configuration (``train.recipe`` is one of :data:`RECIPES`).
    """
    explicit = set(given)
    changes = {
        section: {name: value for name, value in values.items() if (section, name) not in explicit}
        for section, values in RECIPES[cfg.train.recipe].items()
    }
    return cfg.replace(**{section: values for section, values in changes.items() if values})
