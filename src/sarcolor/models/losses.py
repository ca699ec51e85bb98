"""The pix2pix objective (Isola et al., 2017, eq. 4), returned as dicts of named losses.

The discriminator minimises BCE on (real → 1, detached fake → 0), halved as in the reference
code so that D learns at half the rate of G; the generator minimises BCE(D(fake) → 1) + λ·L1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> dict[str, torch.Tensor]:
    """Args: (B, 1, h, w) logits for real pairs and for detached fake pairs.

    Returns:
        ``D_real``, ``D_fake`` (each a BCE-with-logits mean) and ``D`` = (D_real + D_fake) / 2.
    """
    d_real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    d_fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return {"D_real": d_real, "D_fake": d_fake, "D": 0.5 * (d_real + d_fake)}


def generator_loss(
    fake_logits: torch.Tensor, fake: torch.Tensor, target: torch.Tensor, lambda_l1: float = 100.0
) -> dict[str, torch.Tensor]:
    """Args: (B, 1, h, w) logits of D on the fake pair; (B, C, H, W) generated and target images.

    Returns:
        ``G_GAN`` (BCE towards "real"), ``G_L1`` (mean absolute error) and ``G`` = G_GAN + λ·G_L1.
    """
    g_gan = F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
    g_l1 = F.l1_loss(fake, target)
    return {"G_GAN": g_gan, "G_L1": g_l1, "G": g_gan + lambda_l1 * g_l1}
