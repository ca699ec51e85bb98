"""Sentinel-2 reflectance → RGB: offsets from metadata, the stored stretch, nodata masked."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from rasterio.transform import from_origin

from conftest import write_tif
from sarcolor.config import PreprocessConfig
from sarcolor.data.sources import discover_pairs, load_sample

UTM = "EPSG:32631"


def _scene_dir(tmp_path: Path, s2: np.ndarray, **s2_kw) -> Path:
    """A scene pair: 2-band SAR (VH, VV: not in model order) 300×300 and a 3-band S2 on the same grid."""
    root = tmp_path / "scenes"
    root.mkdir(parents=True)
    transform = from_origin(500000, 5000000, 10, 10)
    sar = np.stack([np.full((300, 300), -20.0, np.float32), np.full((300, 300), -10.0, np.float32)])
    write_tif(root / "x_s1.tif", sar, UTM, transform, descriptions=["VH", "VV"])
    write_tif(root / "x_s2.tif", s2, UTM, transform, **s2_kw)
    return root


def test_optical_stretch_offsets_and_nodata(tmp_path: Path):
    dn = np.zeros((3, 300, 300), np.uint16)
    dn[0], dn[1], dn[2] = 1500, 3000, 4500  # stored B02, B03, B04 (blue first): found by description
    dn[:, :2, :2] = 0  # Sentinel-2 NO_DATA
    root = _scene_dir(tmp_path / "plain", dn, descriptions=["B02", "B03", "B04"])
    found = discover_pairs(root)
    assert found.layout == "scenes" and [p.window for p in found.pairs] == [
        (0, 0, 256, 256)
    ]  # 44 px edges dropped
    cfg = PreprocessConfig(bands=["VV", "VH"], sar_scale="db")
    source, rgb, valid = load_sample(found.pairs[0], cfg)
    assert torch.allclose(
        rgb[:, 5, 5], torch.tensor([1.0, 1.0, 0.5])
    )  # R 0.45/0.3 → clip, G 0.3/0.3, B 0.15/0.3
    assert torch.allclose(
        source[:, 5, 5], torch.tensor([15 / 25, 12.5 / 32.5])
    )  # VV then VH, whatever the order
    assert not valid[:2, :2].any() and valid.sum() == 256 * 256 - 4 and (rgb[:, :2, :2] == 0).all()

    cases = {  # DN 2500 + offset −1000 → ρ 0.15 → 0.5, in three ways metadata can say so
        "tag": {"tags": {"BOA_ADD_OFFSET": "-1000"}},
        "baseline": {
            "tags": {"PRODUCT_URI": "S2B_MSIL2A_20230105T103329_N0509_R108_T31TFJ_20230105T121018.SAFE"}
        },
        "gdal": {"scales": [1e-4] * 3, "offsets": [-0.1] * 3},
    }
    for name, kw in cases.items():
        root = _scene_dir(tmp_path / name, np.full((3, 300, 300), 2500, np.uint16), **kw)
        _, rgb, _ = load_sample(discover_pairs(root).pairs[0], cfg)
        assert torch.allclose(rgb, torch.full_like(rgb, 0.5), atol=1e-6), name
    cfg = replace(cfg, s2_max_reflectance=0.25)  # the stretch is the configured one
    _, rgb, _ = load_sample(discover_pairs(tmp_path / "tag" / "scenes").pairs[0], cfg)
    assert torch.allclose(rgb, torch.full_like(rgb, 0.6), atol=1e-6)
