"""GeoTIFF pairs read on the SAR grid: an optical raster on another CRS is warped onto it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from rasterio.transform import from_bounds, from_origin
from rasterio.warp import transform as warp_points
from rasterio.warp import transform_bounds

from conftest import write_tif
from sarcolor.config import PreprocessConfig
from sarcolor.data.sources import discover_pairs, load_sample

UTM = "EPSG:32631"


def test_optical_scene_on_another_crs_is_warped_onto_the_sar_grid(tmp_path: Path):
    root = tmp_path / "scenes"
    root.mkdir()
    size, x0, y0 = 640, 500000.0, 5000000.0
    sar = np.full((1, size, size), -10.0, np.float32)
    sar[0, 300:340, 300:340] = -2.0  # a bright square, rows/cols 300–339 of the SAR grid
    write_tif(root / "a_s1.tif", sar, UTM, from_origin(x0, y0, 10, 10), descriptions=["VV"])
    # the optical scene in lon/lat, covering the SAR scene up to easting x0 + 5600 m only
    west, south, east, north = transform_bounds(UTM, "EPSG:4326", x0, y0 - size * 10, x0 + 5600, y0)
    h, w = 700, 600
    geo = from_bounds(west, south, east, north, w, h)
    lon, lat = geo @ np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    xs, ys = (np.asarray(v).reshape(h, w) for v in warp_points("EPSG:4326", UTM, lon.ravel(), lat.ravel()))
    col, row = (xs - x0) / 10, (y0 - ys) / 10
    bright = (row >= 300) & (row < 340) & (col >= 300) & (col < 340)
    write_tif(
        root / "a_s2.tif", np.stack([np.where(bright, 3000, 300).astype(np.uint16)] * 3), "EPSG:4326", geo
    )

    pairs = {p.window[:2]: p for p in discover_pairs(root).pairs}
    assert len(pairs) == 9 and {p.split_group for p in pairs.values()} == {"a_b0_0"}  # one 1024 split block
    cfg = PreprocessConfig(sar_scale="db")
    sar_w, rgb, valid = load_sample(pairs[256, 256], cfg)  # window rows/cols 256–511: square at 44–83
    assert torch.allclose(sar_w[0, 44:84, 44:84], torch.tensor(23 / 25))
    red = rgb[0]
    assert (red[46:82, 46:82] > 0.95).all()  # inside, away from the bilinear edge
    ring = torch.ones_like(red, dtype=torch.bool)
    ring[41:87, 41:87] = False
    assert (red[ring] - 0.1).abs().max() < 0.02 and valid.all()
    _, _, valid = load_sample(pairs[512, 512], cfg)  # cols 512–639: optical footprint ends at 560
    assert valid[:, :46].all() and not valid[:, 50:].any()
    grown = load_sample(pairs[256, 256], cfg, margin=128).source  # jitter room: clipped at the scene edge
    assert grown.shape[-2:] == (640 - 128, 640 - 128)
