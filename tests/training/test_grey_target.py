"""``--target grey``: a 1-channel generator, stored in the checkpoint, written and scored as grey."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from PIL import Image

from conftest import run_cli, tiny_config, write_geotiff
from sarcolor.checkpoint import resolve_checkpoint
from sarcolor.config import PreprocessConfig
from sarcolor.data.preprocess import decode_output, encode_target, scored_image
from sarcolor.errors import SarcolorError
from sarcolor.models.weights import read_checkpoint


def write_grey_pairs(root: Path, n: int = 8, size: int = 256) -> Path:
    """NUAA-layout JPEG pairs whose grey optical image is a function of the SAR (learnable)."""
    rng = np.random.default_rng(0)
    for k in range(n):
        sar = rng.integers(0, 256, (size // 16, size // 16), dtype=np.uint8).repeat(16, 0).repeat(16, 1)
        terrain = ("forest", "river")[k % 2]
        for side, prefix, pixels in (("A", "sar", sar), ("B", "op", 255 - sar // 2)):
            path = root / terrain / f"train_{side}" / f"{prefix}_{k}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels, "L").save(path, quality=95)
    return root


@pytest.fixture(scope="module")
def grey_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sarcolor.training.trainer import train

    tmp = tmp_path_factory.mktemp("grey")
    cfg = (
        tiny_config(write_grey_pairs(tmp / "nuaa"), steps=4, sample_every=4, checkpoint_every=4)
        .replace(preprocess={"target": "grey"})
        .validate()
    )
    train(cfg, tmp / "run", progress=False, echo=lambda _: None)
    return tmp / "run"


def test_grey_target_is_luma_and_decodes_to_grey():
    cfg = PreprocessConfig(target="grey")
    assert cfg.out_channels == 1 and cfg.image_bands == 1
    rgb = torch.tensor([1.0, 0.5, 0.0]).view(1, 3, 1, 1)
    assert encode_target(rgb, cfg).item() == pytest.approx((0.299 + 0.587 * 0.5) * 2 - 1)
    grey = torch.rand(1, 1, 4, 4)
    assert torch.allclose(encode_target(grey.expand(-1, 3, -1, -1), cfg), grey * 2 - 1)  # grey as is
    out = decode_output(grey * 2 - 1, grey, cfg)
    assert out.shape == (1, 3, 4, 4) and torch.allclose(scored_image(out, cfg), grey, atol=1e-6)
    with pytest.raises(SarcolorError, match="--target grey needs --input sar"):
        PreprocessConfig(target="grey", input="optical-l").validate()


def test_checkpoint_stores_grey_and_one_output_channel(grey_run: Path):
    meta, states = read_checkpoint(resolve_checkpoint(grey_run), ["G"])
    assert meta.config.preprocess.target == "grey"
    assert states["G"]["last.bias"].shape == (1,)  # the generator's last layer makes one channel


def test_colorize_writes_one_band_png_and_geotiff(grey_run: Path, tmp_path: Path):
    sar = next((grey_run.parent / "nuaa" / "forest" / "train_A").iterdir())
    assert run_cli(f"colorize {sar} --checkpoint {grey_run} --out {tmp_path / 'png'} --no-progress") == 0
    written = Image.open(tmp_path / "png" / f"{sar.stem}.png")
    assert written.mode == "L" and written.size == (256, 256)
    scene = write_geotiff(
        tmp_path / "scene_s1.tif", np.linspace(-25, 0, 300 * 280, dtype=np.float32).reshape(300, 280)
    )
    assert run_cli(f"colorize {scene} --checkpoint {grey_run} --out {tmp_path / 'tif'} --no-progress") == 0
    with rasterio.open(tmp_path / "tif" / "scene_s1.tif") as dst:
        assert dst.count == 1 and dst.dtypes[0] == "uint8" and dst.crs is not None


def test_evaluate_scores_grey_beside_grey_baselines(grey_run: Path, tmp_path: Path):
    out = tmp_path / "eval.json"
    preds = tmp_path / "preds"
    line = (
        f"evaluate --checkpoint {grey_run} --split test --out {out} --save-predictions {preds} --no-progress"
    )
    assert run_cli(line) == 0
    body = json.loads(out.read_text())
    summary = body["summary"]["all"]
    assert body["protocol"]["target"] == "grey" and "luma" in body["conventions"]
    assert set(summary["baselines"]) >= {"mean_colour", "level_lut"}
    for scores in (summary["model"], *summary["baselines"].values()):
        assert {"psnr", "ssim", "mae"} <= set(scores) and scores["sam"] == 0.0  # one channel
    # the level LUT knows the exact mapping op = 255 − sar/2 (up to JPEG): far above the mean grey
    assert summary["baselines"]["level_lut"]["psnr"] > summary["baselines"]["mean_colour"]["psnr"] + 5
    assert {Image.open(p).mode for p in preds.iterdir()} == {"L"}
