"""The pix2pix objective (Isola et al., 2017, eq. 4) and its pix2pixHD-style variants, as dicts of
named losses.

The discriminator minimises its GAN loss on (real → "real", detached fake → "fake"), halved as
in the reference code so that D learns at half the rate of G; the generator minimises its GAN
loss on D(fake) + λ·L1 (+ λ_FM·feature matching, pix2pixHD). GAN losses (``kind``):

* ``bce`` — pix2pix: binary cross-entropy on logits (real → 1, fake → 0; G: fake → 1);
* ``lsgan`` — least squares (Mao et al. 2017, arXiv:1611.04076), pix2pixHD's: (D − 1)², D²;
  G: (D(fake) − 1)²;
* ``hinge`` — (Lim & Ye 2017; Miyato et al. 2018): relu(1 − D(real)) + relu(1 + D(fake));
  G: −D(fake).

With a multi-scale discriminator the logits are a list, one (B, 1, h_s, w_s) map per scale, and
each GAN loss is the mean over scales (so λ keeps its meaning whatever the number of scales).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F

GanLoss = Literal["bce", "lsgan", "hinge"]
GAN_LOSSES: tuple[str, ...] = ("bce", "lsgan", "hinge")
Logits = torch.Tensor | Sequence[torch.Tensor]


def _d_term(logits: torch.Tensor, real: bool, kind: str) -> torch.Tensor:
    logits = logits.float()  # bf16 logits under autocast: the squares and means in float32
    if kind == "bce":
        target = torch.ones_like(logits) if real else torch.zeros_like(logits)
        return F.binary_cross_entropy_with_logits(logits, target)
    if kind == "lsgan":
        return ((logits - 1) ** 2).mean() if real else (logits**2).mean()
    if kind == "hinge":
        return F.relu(1 - logits).mean() if real else F.relu(1 + logits).mean()
    raise ValueError(f"GAN loss must be one of {', '.join(GAN_LOSSES)}, got {kind!r}")


def _g_term(logits: torch.Tensor, kind: str) -> torch.Tensor:
    logits = logits.float()
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
    if kind == "lsgan":
        return ((logits - 1) ** 2).mean()
    if kind == "hinge":
        return -logits.mean()
    raise ValueError(f"GAN loss must be one of {', '.join(GAN_LOSSES)}, got {kind!r}")


def _over_scales(logits: Logits, term) -> torch.Tensor:
    if isinstance(logits, torch.Tensor):
        return term(logits)
    values = [term(x) for x in logits]
    return values[0] if len(values) == 1 else torch.stack(values).mean()


def discriminator_loss(
    real_logits: Logits, fake_logits: Logits, kind: GanLoss = "bce"
) -> dict[str, torch.Tensor]:
    """Args: logits (B, 1, h, w), or one map per scale, for real pairs and for detached fake pairs.

    Returns:
        ``D_real``, ``D_fake`` (each the mean over scales of the GAN loss on its maps) and
        ``D`` = (D_real + D_fake) / 2.
    """
    d_real = _over_scales(real_logits, lambda x: _d_term(x, True, kind))
    d_fake = _over_scales(fake_logits, lambda x: _d_term(x, False, kind))
    return {"D_real": d_real, "D_fake": d_fake, "D": 0.5 * (d_real + d_fake)}


def generator_loss(
    fake_logits: Logits,
    fake: torch.Tensor,
    target: torch.Tensor,
    lambda_l1: float = 100.0,
    kind: GanLoss = "bce",
) -> dict[str, torch.Tensor]:
    """Args: logits of D on the fake pair (a map or one per scale); (B, C, H, W) generated and
    target images.

    Returns:
        ``G_GAN`` (the GAN loss towards "real"), ``G_L1`` (mean absolute error) and
        ``G`` = G_GAN + λ·G_L1.
    """
    g_gan = _over_scales(fake_logits, lambda x: _g_term(x, kind))
    g_l1 = F.l1_loss(fake, target)
    return {"G_GAN": g_gan, "G_L1": g_l1, "G": g_gan + lambda_l1 * g_l1}


def feature_matching_loss(
    fake_features: Sequence[Sequence[torch.Tensor]], real_features: Sequence[Sequence[torch.Tensor]]
) -> torch.Tensor:
    """pix2pixHD's discriminator feature matching (Wang et al. 2018, eq. 4).

    Args:
        fake_features: per scale, D's intermediate activations on the fake pair.
        real_features: the same on the real pair (treated as constants: detached here).

    Returns:
        Σ over layers of the mean absolute difference, averaged over scales. (pix2pixHD weighs
        each layer by 4 / (n_layers + 1), which is 1 for the 70×70 PatchGAN's 3 layers, and each
        scale by 1 / scales.)
    """
    per_scale = []
    for fake_scale, real_scale in zip(fake_features, real_features, strict=True):
        pairs = zip(fake_scale, real_scale, strict=True)
        layers = [F.l1_loss(f.float(), r.detach().float()) for f, r in pairs]
        per_scale.append(torch.stack(layers).sum())
    return torch.stack(per_scale).mean()
