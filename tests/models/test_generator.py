"""The U-Net-256 generator: parameter counts, shapes, layers, batch of one, eval vs train mode."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from conftest import n_params
from sarcolor.models import (
    UNetGenerator,
)


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


def test_resize_decoder_shapes_parameters_and_fast_inference():
    from sarcolor.config import Config
    from sarcolor.models import build_networks, inference_model

    g = UNetGenerator(1, 3, ngf=8, upsample="resize")
    plain = UNetGenerator(1, 3, ngf=8)
    assert not [m for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert sum(isinstance(m, nn.Upsample) for m in g.modules()) == 8
    # the decoder's 4×4 transposed kernels become 3×3 kernels: 9/16 of the decoder's weights
    weights = lambda net: sum(  # noqa: E731
        m.weight.numel()
        for m in [*net.up.modules(), *net.last.modules()]
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))
    )
    assert weights(g) * 16 == weights(plain) * 9 and n_params(g) < n_params(plain)
    x = torch.randn(2, 1, 256, 256)
    g.eval()
    with torch.no_grad():
        out = g(x)
        fast = inference_model(g, torch.device("cpu"), "fp32")(x)
    assert out.shape == (2, 3, 256, 256) and torch.allclose(fast, out, atol=1e-5)
    built, _ = build_networks(Config().replace(model={"ngf": 8, "upsample": "resize"}).validate())
    assert isinstance(built.last, nn.Sequential) and isinstance(built.last[0], nn.Upsample)
