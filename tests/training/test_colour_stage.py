"""The two-stage model: a grey generator's luma and a colour stage fitted by least squares on colour
pairs (``sarcolor fit-colour``), written as one ``--target tinted`` checkpoint."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import one_line_error, run_cli, untrained_checkpoint
from sarcolor.checkpoint import read_meta
from sarcolor.data.io import read_image
from sarcolor.data.preprocess import smooth_luma
from sarcolor.inference.colorizer import Colorizer
from sarcolor.training.colour_stage import colour_stage, neutral

GAIN, OFFSET = [0.5, 0.3, 0.8], [0.1, 0.2, 0.05]


@pytest.fixture(scope="module")
def grey(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A grey generator whose luma follows its (standardised) SAR input."""
    path = tmp_path_factory.mktemp("grey") / "grey.safetensors"
    return untrained_checkpoint(path, target="grey", gain=50.0, sar_levels="standardise")


@pytest.fixture(scope="module")
def coloured(grey: Path, synthetic_v2: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic pairs with every optical image replaced by OFFSET + GAIN · (the generator's luma)."""
    root = tmp_path_factory.mktemp("coloured") / "v_2"
    shutil.copytree(synthetic_v2, root)
    luma_of = neutral(Colorizer(grey, device="cpu", form="eager"))
    for s1 in root.rglob("*_s1_*.png"):
        luma = luma_of.colorize(read_image(s1))[..., :1]  # (H, W, 1)
        rgb = np.clip(np.asarray(OFFSET) + luma * np.asarray(GAIN), 0, 1)
        s2 = s1.parent.parent / "s2" / s1.name.replace("_s1_", "_s2_")
        Image.fromarray(np.round(rgb * 255).astype(np.uint8)).save(s2)
    return root


def test_the_fit_recovers_the_colour_stage_and_colorizes_as_the_pairs_were_made(grey, coloured, tmp_path):
    out = colour_stage(grey, coloured, tmp_path / "colour.safetensors", device="cpu", echo=lambda _: None)
    meta = read_meta(out)
    pre = meta.config.preprocess
    assert pre.target == "tinted" and pre.sar_levels == "standardise" and pre.tint_smooth
    np.testing.assert_allclose(pre.tint, GAIN, atol=0.01)  # 8-bit targets: within rounding
    np.testing.assert_allclose(pre.tint_offset, OFFSET, atol=0.005)
    assert meta.split.select(meta_pairs(coloured), "test")  # a split by scene was drawn and stored
    assert meta.baselines["mean_rgb"]  # and the baselines fitted on its training pairs
    s1 = sorted(coloured.rglob("*_s1_*.png"))[0]
    made = read_image(s1.parent.parent / "s2" / s1.name.replace("_s1_", "_s2_"))
    drawn = Colorizer(out, device="cpu", form="eager").colorize(read_image(s1))
    assert np.abs(drawn - made).max() <= 1.5 / 255


def test_a_flat_luma_leaves_the_mean_colour(coloured, tmp_path):
    flat = untrained_checkpoint(tmp_path / "flat.safetensors", target="grey", gain=0.0)
    out = colour_stage(flat, coloured, tmp_path / "colour.safetensors", device="cpu", echo=lambda _: None)
    pre = read_meta(out).config.preprocess
    mean_rgb = read_meta(out).baselines["mean_rgb"]
    drawn = Colorizer(out, device="cpu", form="eager").colorize(np.full((64, 64, 1), 0.4, np.float32))
    np.testing.assert_allclose(drawn.reshape(-1, 3).mean(axis=0), mean_rgb, atol=0.01)
    assert max(abs(g) for g in pre.tint) < 5  # a constant luma cannot explain colour: no blow-up


def test_cli_writes_one_colour_model_and_refuses_a_colour_generator(grey, coloured, tmp_path, capsys):
    out = tmp_path / "model.safetensors"
    base = f"fit-colour --data {coloured} --device cpu --no-progress --holdout-terrain agri"
    assert run_cli(f"{base} --checkpoint {grey} --out {out}") == 0
    assert "wrote" in capsys.readouterr().out
    assert read_meta(out).split.select(meta_pairs(coloured), "test")[0].terrain == "agri"
    rgb = untrained_checkpoint(tmp_path / "rgb.safetensors")
    assert run_cli(f"{base} --checkpoint {rgb} --out {tmp_path / 'x.safetensors'}") == 2
    one_line_error(capsys, "the colour stage needs a grey generator")
    assert run_cli(f"{base} --checkpoint {grey} --out {tmp_path / 'x.pt'}") == 2
    one_line_error(capsys, "--out must be a .safetensors file")


def test_the_luma_smoothing_cancels_periods_of_2_and_4_pixels_and_keeps_level():
    x = torch.arange(32.0)
    for period in (2, 4):
        stripes = (torch.cos(2 * torch.pi * x / period) * 0.2 + 0.5).expand(1, 1, 32, 32)
        inside = smooth_luma(stripes)[..., 2:-2, 2:-2]  # the mirrored edges are not periodic
        assert (inside - 0.5).abs().max() < 1e-5
    slow = (torch.cos(2 * torch.pi * x / 16) * 0.2 + 0.5).expand(1, 1, 32, 32)
    assert (smooth_luma(slow) - 0.5).abs().max() > 0.15  # a period of 16 pixels stays
    assert torch.allclose(smooth_luma(torch.full((1, 1, 8, 8), 0.3)), torch.full((1, 1, 8, 8), 0.3))


def meta_pairs(root: Path):
    from sarcolor.data.sources import discover_pairs

    return discover_pairs(root).pairs
