"""Deciding a scene's SAR scale from a sample of it (data/geotiff.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

from conftest import write_geotiff
from sarcolor.data.geotiff import SCALE_WINDOWS, decide_scale, sample_windows
from sarcolor.errors import SarcolorError


def tiled(path: Path, data: np.ndarray, block: int = 256) -> Path:
    profile = dict(driver="GTiff", width=data.shape[1], height=data.shape[0], count=1, dtype=data.dtype.name)
    profile.update(tiled=True, blockxsize=block, blockysize=block, compress="deflate")
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data[None])
    return path


def db_scene(height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(-22, -3, (height, width)).astype(np.float32)


def test_a_large_tiled_scene_is_sampled_by_block_aligned_windows(tmp_path: Path) -> None:
    path = tiled(tmp_path / "db.tif", db_scene(3000, 2600))
    with rasterio.open(path) as src:
        windows = sample_windows(src)
        assert len(windows) == SCALE_WINDOWS**2
        for w in windows:
            assert w.col_off % 256 == 0 and w.row_off % 256 == 0
            assert w.col_off + w.width <= src.width and w.row_off + w.height <= src.height
        rows = sorted({w.row_off for w in windows})
        assert rows[0] < 1000 and rows[-1] > 2000  # spread over the scene, not one corner
        assert decide_scale(src, [1], "auto")[0] == "db"


def test_a_striped_linear_scene_decides_linear(tmp_path: Path) -> None:
    linear = 10 ** (db_scene(1500, 2200, seed=1) / 10)
    path = write_geotiff(tmp_path / "lin.tif", linear.astype(np.float32))
    with rasterio.open(path) as src:
        assert src.block_shapes[0][1] == src.width  # strips, not tiles
        assert decide_scale(src, [1], "auto")[0] == "linear"


def test_valid_pixels_outside_every_window_are_still_found(tmp_path: Path) -> None:
    data = np.full((2048, 2048), np.nan, np.float32)
    data[5:9, 2040:2046] = db_scene(4, 6)  # a corner no sample window covers
    path = tiled(tmp_path / "sparse.tif", data)
    with rasterio.open(path) as src:
        for w in sample_windows(src):
            assert not (w.row_off <= 5 < w.row_off + w.height and w.col_off <= 2040 < w.col_off + w.width)
        assert decide_scale(src, [1], "auto")[0] == "db"
    empty = tiled(tmp_path / "empty.tif", np.full((2048, 2048), np.nan, np.float32))
    with rasterio.open(empty) as src, pytest.raises(SarcolorError, match="no valid pixel"):
        decide_scale(src, [1], "auto")
