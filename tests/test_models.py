"""Shapes, parameter counts, receptive field, init and losses of the pix2pix networks."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from sarcolor.models import (
    PatchDiscriminator,
    UNetGenerator,
    discriminator_loss,
    generator_loss,
    init_weights,
)
from sarcolor.models.discriminator import RECEPTIVE_FIELD


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def expected_generator_params(cin: int, cout: int, ngf: int) -> int:
    """Hand derivation: 4×4 kernels, no conv bias before BatchNorm (γ, β per channel)."""
    down = [ngf * m for m in (1, 2, 4, 8, 8, 8, 8, 8)]
    up = [ngf * m for m in (8, 8, 8, 8, 4, 2, 1)]
    total, c = 0, cin
    for i, w in enumerate(down):
        total += 16 * c * w + (2 * w if i > 0 else 0)
        c = w
    skips = down[-2::-1]
    for w, s in zip(up, skips, strict=True):
        total += 16 * c * w + 2 * w
        c = w + s
    return total + 16 * c * cout + cout  # last transposed conv has a bias


def test_generator_parameter_count_matches_the_founding_description():
    g = UNetGenerator(1, 3, ngf=64)
    assert n_params(g) == expected_generator_params(1, 3, 64) == 54_412_931
    assert round(n_params(g) / 1e6, 2) == 54.41


@pytest.mark.parametrize(("cin", "cout", "ngf"), [(1, 3, 8), (1, 2, 16), (2, 3, 4)])
def test_generator_parameter_count_other_widths(cin, cout, ngf):
    assert n_params(UNetGenerator(cin, cout, ngf)) == expected_generator_params(cin, cout, ngf)


def test_generator_shapes_range_and_layers():
    g = UNetGenerator(1, 3, ngf=8).eval()
    x = torch.randn(2, 1, 256, 256)
    y = g(x)
    assert y.shape == (2, 3, 256, 256)
    assert y.abs().max() < 1.0  # tanh
    assert len(g.down) == 8 and len(g.up) == 7
    assert not any(isinstance(m, nn.BatchNorm2d) for m in g.down[0])
    assert all(isinstance(block[1], nn.BatchNorm2d) for block in g.down[1:])
    dropout = [any(isinstance(m, nn.Dropout) for m in block) for block in g.up]
    assert dropout == [True, True, True, False, False, False, False]
    assert [b[0].out_channels for b in g.up] == [64, 64, 64, 64, 32, 16, 8]
    assert g(torch.randn(1, 1, 512, 256)).shape == (1, 3, 512, 256)
    with pytest.raises(ValueError, match="multiples of 256"):
        g(torch.randn(1, 1, 300, 256))


def test_generator_trains_with_batch_of_one():
    """The 1×1 bottleneck BatchNorm must not fail (or zero the code) at batch size 1."""
    g = UNetGenerator(1, 3, ngf=8).train()
    out = g(torch.randn(1, 1, 256, 256))
    out.mean().backward()
    assert g.down[0][0].weight.grad is not None


def test_eval_mode_is_deterministic_and_train_mode_is_stochastic():
    g = UNetGenerator(1, 3, ngf=8)
    x = torch.randn(2, 1, 256, 256)
    g.train()
    g(x)  # populate running statistics
    g.eval()
    assert torch.equal(g(x), g(x))
    g.train()
    assert not torch.equal(g(x), g(x))  # dropout


def test_discriminator_output_is_30x30():
    d = PatchDiscriminator(4, ndf=64)
    assert d(torch.randn(1, 4, 256, 256)).shape == (1, 1, 30, 30)
    assert n_params(d) == 2_766_657


def test_discriminator_receptive_field_is_70():
    """Backpropagate from one interior logit and measure the input area that affects it."""
    d = PatchDiscriminator(4, ndf=8).eval()
    x = torch.randn(1, 4, 256, 256, requires_grad=True)
    d(x)[0, 0, 15, 15].backward()
    rows = torch.nonzero(x.grad.abs().sum(dim=(0, 1, 3)))
    cols = torch.nonzero(x.grad.abs().sum(dim=(0, 1, 2)))
    assert int(rows.max() - rows.min() + 1) == RECEPTIVE_FIELD == 70
    assert int(cols.max() - cols.min() + 1) == 70


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
