"""``--target tinted``: luma learned from the radar, written in colour as luma × the training
pairs' mean colour (the tint, fitted once and stored); fine-tuned from a grey generator."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import run_cli, tiny_config, untrained_checkpoint
from sarcolor.checkpoint import read_meta, resolve_checkpoint
from sarcolor.config import PreprocessConfig
from sarcolor.data.preprocess import decode_output, encode_target, smooth_luma, tint_of, to_grey
from sarcolor.data.sources import discover_pairs
from sarcolor.errors import SarcolorError
from sarcolor.evaluation.baselines import fit_baselines
from sarcolor.training.init_from import init_config


def test_tinted_trains_on_luma_and_decodes_to_its_colour():
    rgb = torch.rand(2, 3, 16, 16)
    cfg = PreprocessConfig(
        target="tinted", tint=[1.2, 0.9, 1.1], tint_offset=[0.05, 0.0, -0.02], tint_smooth=False
    )
    assert torch.equal(encode_target(rgb, cfg), encode_target(rgb, PreprocessConfig(target="grey")))
    out = torch.rand(2, 1, 16, 16) * 1.6 - 0.8  # luma 0.1 … 0.9
    colour = decode_output(out, out, cfg)
    assert colour.shape == (2, 3, 16, 16)
    luma = (out + 1) / 2
    gain, offset = (
        torch.tensor([1.2, 0.9, 1.1]).view(1, 3, 1, 1),
        torch.tensor([0.05, 0.0, -0.02]).view(1, 3, 1, 1),
    )
    torch.testing.assert_close(colour, (offset + luma * gain).clamp(0, 1))
    smoothed = decode_output(out, out, replace(cfg, tint_smooth=True))  # the default: luma smoothed first
    torch.testing.assert_close(smoothed, (offset + smooth_luma(luma) * gain).clamp(0, 1))
    tint = tint_of([0.3, 0.35, 0.25])
    assert to_grey(torch.tensor(tint).view(1, 3, 1, 1)).item() == pytest.approx(1.0, abs=1e-5)
    assert tint[0] / tint[2] == pytest.approx(0.3 / 0.25, rel=1e-4)


def test_a_tint_must_be_a_colour():
    with pytest.raises(SarcolorError, match="--tint must be three finite"):
        PreprocessConfig(target="tinted", tint=[1.0, float("nan"), 1.0]).validate()
    with pytest.raises(SarcolorError, match="--tint-offset must be three finite"):
        PreprocessConfig(target="tinted", tint_offset=[0.1, 0.2]).validate()
    with pytest.raises(SarcolorError, match="--target tinted needs --input sar"):
        PreprocessConfig(input="optical-l", target="tinted").validate()


def test_fine_tuned_from_grey_it_stores_the_training_mean_colour_and_writes_colour(
    tmp_path: Path, synthetic_v2: Path, capsys
):
    ckpt = untrained_checkpoint(
        tmp_path / "grey.safetensors", target="grey", gain=50.0, sar_levels="standardise"
    )
    run = tmp_path / "tinted"
    base = f"train --data {synthetic_v2} --workers 0 --no-progress --batch-size 2 --steps 2"
    assert run_cli(f"{base} --init-from {ckpt} --target tinted --out {run}") == 0
    meta = read_meta(resolve_checkpoint(run))
    pre = meta.config.preprocess
    assert pre.target == "tinted" and pre.out_channels == 1 and pre.image_bands == 3
    assert pre.sar_levels == "standardise"
    train = meta.split.select(discover_pairs(meta.config.data.root).pairs, "train")
    assert pre.tint == pytest.approx(tint_of(fit_baselines(train, pre).baselines.mean_rgb), abs=1e-5)
    sar = sorted(synthetic_v2.rglob("*_s1_*.png"))[0]
    out = tmp_path / "out"
    capsys.readouterr()
    assert run_cli(f"colorize --checkpoint {resolve_checkpoint(run)} {sar} --out {out} --no-progress") == 0
    written = np.asarray(Image.open(next(out.glob("*.png"))), np.float64)
    assert written.ndim == 3 and written.shape[2] == 3
    bright = written.sum(axis=2) > 60  # off the clipped ends, every pixel has the tint's hue
    ratio = written[bright][:, 0] / np.maximum(written[bright][:, 2], 1)
    assert np.median(ratio) == pytest.approx(pre.tint[0] / pre.tint[2], rel=0.05)


def test_init_from_keeps_the_generator_s_sar_levels(tmp_path: Path, synthetic_v2: Path):
    ckpt = untrained_checkpoint(tmp_path / "std.safetensors", sar_levels="standardise")
    assert init_config(tiny_config(synthetic_v2), ckpt).preprocess.sar_levels == "standardise"
    with pytest.raises(SarcolorError, match="--sar-levels cannot change with --init-from"):
        standardised = tiny_config(synthetic_v2).replace(preprocess={"sar_levels": "standardise"})
        init_config(standardised, untrained_checkpoint(tmp_path / "raw.safetensors"))
