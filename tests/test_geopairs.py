"""GeoTIFF pairs: BigEarthNet patch folders, co-registered scenes, optical targets, padding."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
import torch.nn.functional as F
from PIL import Image
from rasterio.transform import from_bounds, from_origin
from rasterio.warp import transform as warp_points
from rasterio.warp import transform_bounds

from conftest import shared_path, tiny_config
from sarcolor.checkpoint import read_meta, resolve_checkpoint
from sarcolor.cli.main import main
from sarcolor.config import PreprocessConfig
from sarcolor.data.dataset import PairDataset
from sarcolor.data.sources import discover_pairs, load_sample
from sarcolor.errors import SarcolorError
from sarcolor.training.pix2pix import masked_l1
from sarcolor.training.trainer import train

FAST = "--ngf 8 --ndf 8 --batch-size 2 --steps 2 --workers 0 --no-progress"
UTM = "EPSG:32631"


@pytest.fixture(scope="module")
def bigearthnet() -> Path:
    return shared_path("real", "bigearthnet")


def write_tif(path: Path, data: np.ndarray, crs: str, transform, **kw) -> Path:
    """A GeoTIFF of (C, H, W) ``data``; ``descriptions``, ``tags``, ``scales``, ``offsets``, ``nodata``."""
    descriptions, tags = kw.pop("descriptions", None), kw.pop("tags", {})
    scales, offsets = kw.pop("scales", None), kw.pop("offsets", None)
    profile = dict(driver="GTiff", count=data.shape[0], height=data.shape[1], width=data.shape[2])
    with rasterio.open(path, "w", dtype=data.dtype, crs=crs, transform=transform, **profile, **kw) as dst:
        dst.write(data)
        for i, d in enumerate(descriptions or [], start=1):
            dst.set_band_description(i, d)
        dst.update_tags(**tags)
        if scales:
            dst.scales, dst.offsets = scales, offsets
    return path


def test_bigearthnet_real_folder_pairs_through_metadata(bigearthnet: Path, tmp_path: Path):
    found = discover_pairs(bigearthnet)
    assert found.layout == "bigearthnet" and len(found.pairs) == 3 and not found.unpaired
    for pair in found.pairs:
        meta = json.loads((pair.s1.parent / f"{pair.name}_labels_metadata.json").read_text())
        assert pair.s1.name == f"{pair.name}_VV.tif" and pair.s2.parent.name == meta["corresponding_s2_patch"]
        with rasterio.open(pair.s1) as a, rasterio.open(pair.s2) as b:
            assert a.bounds == b.bounds  # the partner covers the same ground
        assert pair.split_group == pair.name.rsplit("_", 2)[0]  # acquisition + tile: one split
    assert len({p.split_group for p in found.pairs}) == 2

    # partners rotated in the metadata, one metadata file gone: pairing follows the metadata only
    copy = shutil.copytree(bigearthnet, tmp_path / "ben")
    s1 = sorted((copy / "S1").iterdir())
    s2_names = [
        json.loads((d / f"{d.name}_labels_metadata.json").read_text())["corresponding_s2_patch"] for d in s1
    ]
    for d, partner in zip(s1, s2_names[1:] + s2_names[:1], strict=True):
        meta = d / f"{d.name}_labels_metadata.json"
        meta.write_text(json.dumps({**json.loads(meta.read_text()), "corresponding_s2_patch": partner}))
    (s1[0] / f"{s1[0].name}_labels_metadata.json").unlink()
    rotated = discover_pairs(copy)
    assert {p.name: p.s2.parent.name for p in rotated.pairs} == {
        s1[1].name: s2_names[2],
        s1[2].name: s2_names[0],
    }
    assert [p.name for p in rotated.unpaired] == [f"{s1[0].name}_VV.tif", f"{s2_names[1]}_B04.tif"]

    mixed = tmp_path / "mixed"  # S1 and S2 patch folders side by side
    mixed.mkdir()
    for d in [*(bigearthnet / "S1").iterdir(), *(bigearthnet / "S2").iterdir()]:
        (mixed / d.name).symlink_to(d, target_is_directory=True)
    assert [(p.name, p.s2.name) for p in discover_pairs(mixed).pairs] == [
        (p.name, p.s2.name) for p in found.pairs
    ]


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


def test_small_patches_are_padded_with_a_mask(bigearthnet: Path):
    pair = discover_pairs(bigearthnet).pairs[0]
    cfg = PreprocessConfig(bands=["VV", "VH"], sar_scale="db")
    source, rgb, _ = load_sample(pair, cfg)
    item = PairDataset([pair], cfg, 256)[0]
    mask = item.mask[0]
    assert item.input.shape == (2, 256, 256) and mask.sum() == 120 * 120
    assert mask[68:188, 68:188].all()  # centred: 68 + 120 + 68
    assert torch.equal(item.input[:, 68:188, 68:188], source * 2 - 1)
    assert torch.equal(item.rgb[:, 68:188, 68:188], rgb)
    assert torch.equal(item.rgb[:, 67], item.rgb[:, 69])  # mirrored, not black or stretched

    fake = torch.rand(1, 3, 256, 256) * 2 - 1
    target = item.target[None]
    inside = F.l1_loss(fake[..., 68:188, 68:188], target[..., 68:188, 68:188])
    assert torch.allclose(masked_l1(fake, target, item.mask[None]), inside)
    ones = torch.ones(1, 1, 256, 256)
    assert torch.allclose(masked_l1(fake, target, ones), F.l1_loss(fake, target), rtol=1e-6)


def test_train_on_bigearthnet_through_the_cli(bigearthnet: Path, tmp_path: Path, capsys):
    run = tmp_path / "run"
    split = "--val-fraction 0 --test-fraction 0.3"  # one of the two acquisition tiles is test
    assert main(f"train --data {bigearthnet} --out {run} {split} {FAST}".split()) == 0
    out = capsys.readouterr().out
    assert "SAR scale: db — auto: float32 data" in out and "bigearthnet layout" in out
    cfg = read_meta(resolve_checkpoint(run)).config
    assert cfg.preprocess.sar_scale == "db" and cfg.preprocess.bands == ["VV"]
    preds = tmp_path / "preds"
    assert (
        main(f"evaluate --checkpoint {run} --split all --save-predictions {preds} --no-progress".split()) == 0
    )
    scores = json.loads((run / "eval" / "all.json").read_text())
    assert scores["summary"]["all"]["n"] == 3 and {r["scene"] for r in scores["images"]} == {
        "S1A_IW_GRDH_1SDV_20170617T064724_29UPU",
        "S1A_IW_GRDH_1SDV_20171221T064238_29SND",
    }
    assert {Image.open(p).size for p in preds.iterdir()} == {(120, 120)}  # scored at the patch's size

    two = tmp_path / "two.yaml"
    two.write_text("preprocess: {bands: [VV, VH]}\n")
    flags = f"--config {two} --val-fraction 0 --test-fraction 0"
    assert main(f"train --data {bigearthnet} --out {tmp_path / 'run2'} {flags} {FAST}".split()) == 0
    meta = read_meta(resolve_checkpoint(tmp_path / "run2"))
    assert meta.config.preprocess.bands == ["VV", "VH"] and meta.config.preprocess.sar_scale == "db"
    assert meta.config.preprocess.in_channels == 2


def test_png_layouts_take_one_band_only(real_sen12: Path, tmp_path: Path):
    cfg = tiny_config(real_sen12, steps=1).replace(preprocess={"bands": ["VV", "VH"]})
    with pytest.raises(SarcolorError, match="image files hold one SAR band"):
        train(cfg, tmp_path / "run", progress=False, echo=lambda _: None)
