"""SAR scales to the network's [0, 1] scale and back; the speckle filter travels in the checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sarcolor.checkpoint import read_meta, resolve_checkpoint
from sarcolor.cli.main import main
from sarcolor.config import PreprocessConfig
from sarcolor.data.preprocess import encode_input
from sarcolor.errors import SarcolorError
from sarcolor.inference.colorizer import Colorizer
from sarcolor.sar.radiometry import (
    band_ranges,
    db_to_unit,
    linear_to_unit,
    to_unit,
    unit_to_db,
    unit_to_linear,
)
from sarcolor.sar.speckle import equivalent_looks


def test_every_scale_reaches_the_same_unit_value():
    db = torch.tensor([[[-40.0, -25.0, -12.5, 0.0, 3.0]]])  # (C=1, H=1, W=5)
    ranges = band_ranges(["VV"])
    expected = torch.tensor([[[0.0, 0.0, 0.5, 1.0, 1.0]]])  # clipped to [-25, 0] dB
    linear, amplitude = 10 ** (db / 10), 10 ** (db / 20)
    assert torch.allclose(to_unit(db, "db", ranges), expected)
    assert torch.allclose(to_unit(linear, "linear", ranges), expected, atol=1e-6)
    assert torch.allclose(to_unit(amplitude * 300, "amplitude", ranges, calibration=300), expected, atol=1e-6)
    grey = torch.tensor([[[0.0, 0.0, 127.5, 255.0, 255.0]]])
    assert torch.allclose(to_unit(grey, "uint8", ranges), expected)
    assert torch.isfinite(to_unit(torch.zeros(1, 1, 3), "linear", ranges)).all()  # log of 0 is floored


def test_band_ranges_and_inverses():
    assert band_ranges(["VV", "VH"]) == [(-25.0, 0.0), (-32.5, 0.0)]
    assert band_ranges(["VV"], [[-30, 5]]) == [(-30.0, 5.0)]
    with pytest.raises(SarcolorError, match="2 band"):
        band_ranges(["VV", "VH"], [[-30, 5]])
    unit = torch.rand(2, 2, 16, 16)
    ranges = band_ranges(["VV", "VH"])
    assert torch.allclose(db_to_unit(unit_to_db(unit, ranges), ranges), unit, atol=1e-6)
    assert torch.allclose(linear_to_unit(unit_to_linear(unit, ranges), ranges), unit, atol=1e-5)
    assert unit_to_db(torch.ones(1, 2, 1, 1), ranges).flatten().tolist() == [0.0, 0.0]
    assert unit_to_db(torch.zeros(1, 2, 1, 1), ranges).flatten().tolist() == [-25.0, -32.5]


def test_despeckle_in_encode_input_raises_the_looks():
    torch.manual_seed(0)
    speckle = torch.distributions.Gamma(torch.tensor(2.0), torch.tensor(2.0)).sample((1, 1, 96, 96))
    sigma0 = 10 ** (-12 / 10) * speckle  # a homogeneous −12 dB area, 2 looks
    unit = linear_to_unit(sigma0, band_ranges(["VV"]))
    plain = encode_input(unit, PreprocessConfig())
    filtered = encode_input(unit, PreprocessConfig(despeckle="lee:7"))
    back = lambda x: unit_to_linear((x + 1) / 2, band_ranges(["VV"]))[0, 0, 8:-8, 8:-8]  # noqa: E731
    assert equivalent_looks(back(filtered)) > 5 * equivalent_looks(back(plain))
    with pytest.raises(SarcolorError, match="unknown speckle filter 'wiener'"):
        PreprocessConfig(despeckle="wiener").validate()


def test_despeckle_is_stored_at_training_and_applied_at_colorizing(
    synthetic_v2: Path, tmp_path: Path, capsys
):
    run = tmp_path / "run"
    flags = "--ngf 4 --ndf 4 --batch-size 2 --workers 0 --no-progress --steps 2"
    assert main(f"train --data {synthetic_v2} --out {run} {flags} --despeckle lee:5".split()) == 0
    assert read_meta(resolve_checkpoint(run)).config.preprocess.despeckle == "lee:5"
    image = np.random.default_rng(0).uniform(0.2, 0.8, (256, 256, 1)).astype(np.float32)
    stored = Colorizer(run, "cpu")
    assert stored.config.preprocess.despeckle == "lee:5" and not stored.despeckle_note
    unfiltered = Colorizer(run, "cpu", despeckle="none")
    assert "differs from training (lee:5)" in unfiltered.despeckle_note
    assert not np.allclose(stored.colorize(image), unfiltered.colorize(image), atol=1e-4)
    assert (
        main(f"train --data {synthetic_v2} --out {tmp_path / 'bad'} {flags} --despeckle lee:4".split()) == 2
    )
    assert "odd integer" in capsys.readouterr().err
