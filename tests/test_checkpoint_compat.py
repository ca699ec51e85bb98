"""Checkpoints written by earlier sarcolor versions still load and colorize identically."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sarcolor.data.io import read_image
from sarcolor.inference.colorizer import Colorizer

FIXTURES = Path(__file__).parent / "fixtures"


def test_v0_checkpoint_colorizes_as_it_did_when_written():
    colorizer = Colorizer(FIXTURES / "v0_ngf2_step150.safetensors", "cpu", precision="fp32")
    rgb = colorizer.colorize(read_image(FIXTURES / "v0_input_300x260.png"))
    got = (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.int16)
    expected = np.asarray(read_image(FIXTURES / "v0_expected_fp32.png") * 255 + 0.5, dtype=np.int16)
    assert got.shape == expected.shape == (260, 300, 3)
    diff = np.abs(got - expected)
    # the same fp32 arithmetic: at most a rounding flip of one 8-bit level, and almost never that
    assert diff.max() <= 1
    assert (diff > 0).mean() < 0.001
    assert expected.std() > 10  # the fixture's output varies with its input: a real comparison
