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
