"""The multi-scale PatchGAN (pix2pixHD), its features, spectral normalisation, and which
discriminator a configuration builds."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from sarcolor.config import Config
from sarcolor.errors import SarcolorError
from sarcolor.models import PatchDiscriminator, build_networks
from sarcolor.models.build import build_discriminator
from sarcolor.models.multiscale import (
    MultiScaleDiscriminator,
    add_spectral_norm,
    has_spectral_norm,
    patch_features,
)
from sarcolor.models.weights import check_fits


def test_multiscale_discriminator_shapes_and_features():
    d = MultiScaleDiscriminator(4, ndf=8, scales=3)
    out = d(torch.randn(2, 4, 256, 256))
    assert len(out) == 3 and all(len(scale) == 5 for scale in out)  # 4 feature maps + logits
    assert [tuple(s[-1].shape) for s in out] == [(2, 1, 30, 30), (2, 1, 14, 14), (2, 1, 6, 6)]
    assert [tuple(f.shape[1:]) for f in out[0][:-1]] == [
        (8, 128, 128),
        (16, 64, 64),
        (32, 32, 32),
        (64, 31, 31),
    ]
    # each scale is the founding PatchGAN: its logits equal a plain PatchDiscriminator's on the same input
    plain = PatchDiscriminator(4, ndf=8).eval()
    plain.load_state_dict(d.scales[0].state_dict())
    d.eval()
    x = torch.randn(1, 4, 256, 256)
    assert torch.allclose(d(x)[0][-1], plain(x), atol=1e-6)
    assert torch.allclose(patch_features(plain, x)[-1], plain(x))
    with pytest.raises(ValueError, match="scales must be in"):
        MultiScaleDiscriminator(4, 8, scales=4)


def test_founding_configuration_builds_the_founding_discriminator():
    _, d = build_networks(Config().replace(model={"ngf": 8, "ndf": 8}))
    assert type(d) is PatchDiscriminator and not has_spectral_norm(d)
    two = Config().replace(model={"ngf": 8, "ndf": 8, "d_scales": 2, "spectral_norm": True}).validate()
    _, d = build_networks(two)
    assert isinstance(d, MultiScaleDiscriminator) and len(d.scales) == 2 and has_spectral_norm(d)
    fm = Config().replace(model={"ngf": 8, "ndf": 8}, train={"lambda_fm": 10.0}).validate()
    _, d = build_networks(fm)  # features are needed: one scale, in the multi-scale form
    assert isinstance(d, MultiScaleDiscriminator) and len(d.scales) == 1
    # the builder used to check checkpoints (meta device) names the same tensors as training's
    _, trained = build_networks(two)
    with torch.device("meta"):
        meta = build_discriminator(two)
    shapes = {k: v.shape for k, v in trained.state_dict().items()}
    assert {k: v.shape for k, v in meta.state_dict().items()} == shapes
    assert any(".parametrizations.weight.original" in k for k in shapes)


def test_spectral_norm_bounds_every_convolution():
    torch.manual_seed(0)
    d = add_spectral_norm(PatchDiscriminator(4, ndf=8).train())
    x = torch.randn(2, 4, 64, 64)
    for _ in range(30):  # power iterations run in training forward passes
        d(x)
    d.eval()
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 5 and has_spectral_norm(d)
    for conv in convs:
        sigma = torch.linalg.matrix_norm(conv.weight.detach().flatten(1), ord=2)
        assert float(sigma) == pytest.approx(1.0, abs=0.05)
    state = d.state_dict()
    assert any(k.endswith("parametrizations.weight.original") for k in state)
    assert any(k.endswith("_u") for k in state)  # the power-iteration vector is saved with the weights


def test_a_discriminator_of_another_form_is_refused_in_one_line(tmp_path: Path):
    cfg = Config().replace(model={"ngf": 8, "ndf": 8})
    g, d = build_networks(cfg)
    path = tmp_path / "plain.safetensors"
    save_file(
        {
            **{f"G.{k}": v for k, v in g.state_dict().items()},
            **{f"D.{k}": v for k, v in d.state_dict().items()},
        },
        str(path),
    )
    check_fits(path, cfg, ("G", "D"))
    with pytest.raises(SarcolorError, match=r"plain\.safetensors: .*D\.scales\.0"):
        check_fits(path, cfg.replace(model={"d_scales": 3}), ("G", "D"))
