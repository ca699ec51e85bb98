"""The inference fast path computes what the plain eval-mode generator computes.

BatchNorm folding, oneDNN prepacking and the Colorizer built on them are checked against
``UNetGenerator.eval()`` on random inputs, with BatchNorm statistics far from their initial
(0, 1) so that a wrong fold (wrong axis, mean or ε forgotten) cannot pass unnoticed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conftest import untrained_checkpoint
from sarcolor.data.preprocess import decode_output, encode_input
from sarcolor.inference.colorizer import Colorizer
from sarcolor.models import UNetGenerator, init_weights
from sarcolor.models.fast import fold_batchnorm, inference_model
from sarcolor.models.generator import BottleneckBatchNorm2d
from sarcolor.models.onednn import PackedConv2d, onednn_available

CPU = torch.device("cpu")


# fp32 reassociation over 16 layers: measured ≤ 6e-7 on outputs in (-1, 1).
ATOL = 1e-5


needs_onednn = pytest.mark.skipif(not onednn_available(), reason="this PyTorch lacks the oneDNN ops")


def generator_with_statistics(ngf: int = 8, seed: int = 0) -> UNetGenerator:
    """An eval-mode generator whose BatchNorms have non-trivial statistics and affine terms."""
    gen = torch.Generator().manual_seed(seed)
    g = UNetGenerator(1, 3, ngf)
    init_weights(g, generator=gen)
    with torch.no_grad():
        for m in g.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0.0, 0.5, generator=gen)
                m.running_var.uniform_(0.2, 3.0, generator=gen)
                m.weight.normal_(1.0, 0.3, generator=gen)
                m.bias.normal_(0.0, 0.3, generator=gen)
        g.last.weight.mul_(50)  # outputs that span (-1, 1) rather than sit near 0
    return g.eval()


@pytest.fixture(scope="module")
def generator() -> UNetGenerator:
    return generator_with_statistics()


@pytest.fixture(scope="module")
def x() -> torch.Tensor:
    return torch.rand(3, 1, 256, 256, generator=torch.Generator().manual_seed(1)) * 2 - 1


def test_folded_generator_equals_eval_generator(generator: UNetGenerator, x: torch.Tensor):
    before = {k: v.clone() for k, v in generator.state_dict().items()}
    folded = fold_batchnorm(generator)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert isinstance(generator.down[-1][1], BottleneckBatchNorm2d)  # the innermost one is folded too
    with torch.inference_mode():
        expected, got = generator(x), folded(x)
    assert expected.abs().max() > 0.5  # the comparison is not between two near-zero maps
    torch.testing.assert_close(got, expected, atol=ATOL, rtol=0)
    assert all(torch.equal(v, before[k]) for k, v in generator.state_dict().items())  # original intact
    assert generator.state_dict().keys() == before.keys()


def test_folded_generator_refuses_training(generator: UNetGenerator, x: torch.Tensor):
    folded = fold_batchnorm(generator)
    assert not any(p.requires_grad for p in folded.parameters())
    folded.train()
    with pytest.raises(RuntimeError, match="eval mode"):
        folded(x[:1])


@needs_onednn
@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("activation", [None, ("relu", []), ("leaky_relu", [0.2])])
def test_packed_convolution_equals_eager(transposed: bool, activation):
    torch.manual_seed(0)
    layer = (nn.ConvTranspose2d if transposed else nn.Conv2d)(6, 5, 4, stride=2, padding=1).eval()
    x = torch.randn(2, 6, 16, 16)
    with torch.inference_mode():
        expected = layer(x)
        if activation is not None:
            expected = F.relu(expected) if activation[0] == "relu" else F.leaky_relu(expected, 0.2)
        got = PackedConv2d(layer, activation)(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("batch", [1, 3])
def test_inference_model_equals_eval_generator(generator: UNetGenerator, x: torch.Tensor, batch: int):
    model = inference_model(generator, CPU, "fp32")
    if onednn_available():  # every convolution packed, every activation fused into one
        assert not any(isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) for m in model.modules())
        assert not any(isinstance(m, (nn.ReLU, nn.LeakyReLU)) for m in model.modules())
    with torch.inference_mode():
        expected, got = generator(x[:batch]), model(x[:batch])
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, expected, atol=ATOL, rtol=0)


def test_inference_model_bf16_stays_close(generator: UNetGenerator, x: torch.Tensor):
    """bf16 weights and activations: ~3 significant digits, so close, not equal."""
    with torch.inference_mode():
        error = (inference_model(generator, CPU, "bf16")(x[:1]) - generator(x[:1])).abs()
    assert error.mean() < 0.01 and error.max() < 0.1, (error.mean(), error.max())


def test_colorizer_output_equals_plain_eval_generator(tmp_path: Path):
    checkpoint = untrained_checkpoint(tmp_path / "g.safetensors", gain=50)
    c = Colorizer(checkpoint, "cpu", precision="fp32")
    assert not c.generator.training and c.model.net is not c.generator
    tiles = torch.rand(3, 1, 256, 256, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        net_in = encode_input(tiles, c.config.preprocess)
        expected = decode_output(c.generator(net_in), net_in, c.config.preprocess).permute(0, 2, 3, 1)
    got = c.predict(tiles)
    assert expected.std() > 0.01  # outputs follow the input
    np.testing.assert_allclose(got, expected.numpy(), atol=ATOL, rtol=0)
    whole = c.colorize(tiles[0].permute(1, 2, 0).numpy())  # one tile: colorize is predict
    np.testing.assert_allclose(whole, expected[0].numpy(), atol=ATOL, rtol=0)


def test_colorizer_train_mode_runs_the_unfolded_generator(tmp_path: Path):
    c = Colorizer(untrained_checkpoint(tmp_path / "g.safetensors"), "cpu", train_mode=True)
    assert c.model.net is c.generator and c.generator.training
    assert sum(isinstance(m, nn.BatchNorm2d) for m in c.model.modules()) == 14  # 7 down, 7 up
