"""pix2pix's N(0, 0.02) initialisation and its losses on hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from sarcolor.models import (
    UNetGenerator,
    discriminator_loss,
    generator_loss,
    init_weights,
)


def test_init_weights_normal_002():
    g = UNetGenerator(1, 3, ngf=16)
    init_weights(g, generator=torch.Generator().manual_seed(0))
    w = g.down[3][0].weight.detach()
    assert abs(float(w.mean())) < 1e-3
    assert float(w.std()) == pytest.approx(0.02, rel=0.05)
    bn = g.down[3][1].weight.detach()
    assert float(bn.mean()) == pytest.approx(1.0, abs=0.01)


def test_losses_on_hand_computed_values():
    real = torch.zeros(1, 1, 2, 2)  # sigmoid(0) = 0.5 → BCE = ln 2 for either label
    fake = torch.full((1, 1, 2, 2), 2.0)
    d = discriminator_loss(real, fake)
    assert float(d["D_real"]) == pytest.approx(math.log(2))
    assert float(d["D_fake"]) == pytest.approx(math.log(1 + math.e**2))  # -log(1 - σ(2))
    assert float(d["D"]) == pytest.approx(0.5 * (math.log(2) + math.log(1 + math.e**2)))
    out = torch.tensor([0.5, -0.5]).view(1, 2, 1, 1)
    target = torch.tensor([0.0, 0.5]).view(1, 2, 1, 1)
    g = generator_loss(fake, out, target, lambda_l1=100.0)
    assert float(g["G_GAN"]) == pytest.approx(math.log(1 + math.e**-2))
    assert float(g["G_L1"]) == pytest.approx(0.75)
    assert float(g["G"]) == pytest.approx(math.log(1 + math.e**-2) + 75.0)


def test_gan_losses_on_hand_computed_values():
    real, fake = torch.full((1, 1, 2, 2), 0.5), torch.full((1, 1, 2, 2), -2.0)
    ls = discriminator_loss(real, fake, "lsgan")
    assert float(ls["D_real"]) == pytest.approx(0.25) and float(ls["D_fake"]) == pytest.approx(4.0)
    hinge = discriminator_loss(real, fake, "hinge")
    assert float(hinge["D_real"]) == pytest.approx(0.5) and float(hinge["D_fake"]) == pytest.approx(0.0)
    out, target = torch.zeros(1, 3, 2, 2), torch.full((1, 3, 2, 2), 0.1)
    assert float(generator_loss(fake, out, target, 100.0, "lsgan")["G_GAN"]) == pytest.approx(9.0)
    g = generator_loss(fake, out, target, 100.0, "hinge")
    assert float(g["G_GAN"]) == pytest.approx(2.0) and float(g["G"]) == pytest.approx(12.0)
    bce = discriminator_loss([real, fake], [fake, fake])  # two scales: the mean of each scale's loss
    one = lambda r, f: discriminator_loss(r, f)["D_real"]  # noqa: E731
    assert float(bce["D_real"]) == pytest.approx(0.5 * float(one(real, fake) + one(fake, fake)))
    assert float(bce["D_fake"]) == pytest.approx(math.log(1 + math.e**-2))
    with pytest.raises(ValueError, match="GAN loss must be one of"):
        discriminator_loss(real, fake, "wgan")  # type: ignore[arg-type]


def test_feature_matching_is_zero_on_equal_features_and_l1_otherwise():
    from sarcolor.models.losses import feature_matching_loss

    a = [
        [torch.zeros(1, 2, 4, 4), torch.zeros(1, 3, 2, 2)],
        [torch.zeros(1, 2, 2, 2), torch.zeros(1, 3, 1, 1)],
    ]
    b = [[t + 0.5 for t in scale] for scale in a]
    assert float(feature_matching_loss(a, a)) == 0.0
    assert float(feature_matching_loss(b, a)) == pytest.approx(1.0)  # 2 layers × 0.5, mean over scales
    fake = [[t.clone().requires_grad_(True) for t in scale] for scale in b]
    real = [[t.clone().requires_grad_(True) for t in scale] for scale in a]
    feature_matching_loss(fake, real).backward()
    assert fake[0][0].grad is not None and real[0][0].grad is None  # the real side is a constant


def test_bilinear_upsampling_init_keeps_the_output_variance():
    from sarcolor.models.init import init_upsampling_bilinear

    torch.manual_seed(0)
    plain, bilinear = torch.nn.ConvTranspose2d(256, 64, 4, 2, 1), torch.nn.ConvTranspose2d(256, 64, 4, 2, 1)
    init_weights(plain)
    init_weights(bilinear)
    init_upsampling_bilinear(bilinear)
    x = torch.randn(2, 256, 16, 16)
    with torch.no_grad():
        a, b = plain(x), bilinear(x)
    assert float(b.std() / a.std()) == pytest.approx(1.0, abs=0.1)
    # the four pixels of a 2×2 cell are made of one weight per channel pair: none stands out
    cells = b.unfold(2, 2, 2).unfold(3, 2, 2)[:, :, 1:-1, 1:-1]  # interior cells
    per_parity = cells.std(dim=(0, 1, 2, 3))
    assert float(per_parity.max() / per_parity.min()) < 1.05
