"""SSL4EO-S12: seasons per location, a file per band, S2 grids warped onto S1, pairs by closest date."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from PIL import Image
from rasterio.transform import Affine

from conftest import write_geotiff
from sarcolor.cli.main import main
from sarcolor.config import PreprocessConfig
from sarcolor.data.sources import discover_pairs, load_sample
from sarcolor.data.split import split_scenes

FAST = "--ngf 8 --ndf 8 --batch-size 2 --steps 2 --workers 0 --no-progress"
CRS = "+proj=latlong"  # as the SSL4EO-S12 downloader writes them
PIXEL = 9e-5  # ~10 m in degrees
SIZE = 64  # the dataset's patches are 264×264 (S1) and a pixel more or less (S2)
SQUARE = slice(20, 30)  # the bright red square, in S1 pixels
S1_TIMES = {  # S1A and S1B interleave: sorted names are not in date order
    "0000000": ["S1B…20200325T170509", "S1A…20200627T170524", "S1A…20200923T170530", "S1B…20201222T170515"],
    "0000001": ["S1A…20200401T053010", "S1A…20200630T053012", "S1B…20200928T053001", "S1B…20201227T053000"],
    "0000002": ["S1A…20220325T170533"],
}
S2_TIMES = {
    "0000000": ["20200402T102021", "20200620T102031", "20200930T101959", "20201210T102411"],
    "0000001": ["20200404T102021", "20200702T102031", "@20201001T102000"],  # @: date in metadata.json only
    "0000002": ["20220320T101559", "20220420T101601"],
}


def s1_product(stamp: str) -> str:
    """``S1B…20200325T170509`` → an Earth Engine Sentinel-1 ``system:index``."""
    mission, start = stamp.split("…")
    return f"{mission}_IW_GRDH_1SDV_{start}_{start[:9]}235959_031868_03ADC9_9F45"


def write_s1(folder: Path, origin: tuple[float, float]) -> None:
    folder.mkdir(parents=True)
    transform = Affine(PIXEL, 0, origin[0], 0, -PIXEL, origin[1])
    for band, db in (("VV", -10.0), ("VH", -17.0)):
        write_geotiff(
            folder / f"{band}.tif", np.full((SIZE, SIZE), db, np.float32), crs=CRS, transform=transform
        )
    (folder / "metadata.json").write_text(json.dumps({"system:index": folder.name, "instrumentMode": "IW"}))


def write_s2(folder: Path, origin: tuple[float, float], red: int = 2400, **meta: object) -> None:
    """B2, B3, B4, B8 (uint16 ×10000) on a grid one pixel larger on each side than the S1 grid."""
    folder.mkdir(parents=True)
    transform = Affine(PIXEL, 0, origin[0] - PIXEL, 0, -PIXEL, origin[1] + PIXEL)  # S2 (r+1, c+1) = S1 (r, c)
    for band, dn in (("B2", 600), ("B3", 600), ("B4", red), ("B8", 9000)):
        data = np.full((SIZE + 1, SIZE + 2), 600 if band == "B4" else dn, np.uint16)
        if band == "B4":
            data[SQUARE.start + 1 : SQUARE.stop + 1, SQUARE.start + 1 : SQUARE.stop + 1] = red
        write_geotiff(folder / f"{band}.tif", data, crs=CRS, transform=transform)
    (folder / "metadata.json").write_text(json.dumps({"system:index": folder.name, **meta}))


def write_location(root: Path, location: str, level: str = "s2a", s1: bool = True, **meta: object) -> None:
    origin = (11.0 + int(location) * 0.1, 48.0)
    for stamp in S1_TIMES[location] if s1 else []:
        write_s1(root / "s1" / location / s1_product(stamp), origin)
    for stamp in S2_TIMES[location]:
        if stamp.startswith("@"):  # an unnamed product: the date comes from system:time_start
            when = np.datetime64(f"{stamp[1:5]}-{stamp[5:7]}-{stamp[7:9]}T{stamp[10:12]}:{stamp[12:14]}")
            meta_time = {"system:time_start": int(when.astype("datetime64[ms]").astype(np.int64))}
            write_s2(root / level / location / "product_without_date", origin, **meta, **meta_time)
        else:
            name = f"{stamp}_{stamp[:9]}235959_T32UQD"
            write_s2(root / level / location / name, origin, **meta)


@pytest.fixture(scope="module")
def ssl4eo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three locations; the last acquired in 2022 (processing baseline 04.00: offset −1000 DN)."""
    root = tmp_path_factory.mktemp("ssl4eo")
    write_location(root, "0000000")
    write_location(root, "0000001")
    write_location(root, "0000002", PROCESSING_BASELINE="04.00")
    write_location(root, "0000000", level="s2c", s1=False)  # L1C beside L2A: not mixed in
    (root / "s1" / "0000002" / "S1A_IW_GRDH_1SDV_20220101T000000_broken").mkdir()  # no VV.tif
    return root


def test_detected_and_paired_by_closest_date(ssl4eo: Path, tmp_path: Path):
    found = discover_pairs(ssl4eo)
    assert found.layout == "ssl4eo" and {p.source for p in found.pairs} == {"ssl4eo"}
    matched = {p.name: p.s2.parent.name[:8] for p in found.pairs}
    assert matched == {
        "0000000_20200325T170509": "20200402",
        "0000000_20200627T170524": "20200620",
        "0000000_20200923T170530": "20200930",
        "0000000_20201222T170515": "20201210",
        "0000001_20200401T053010": "20200404",
        "0000001_20200630T053012": "20200702",
        "0000001_20200928T053001": "product_",  # 2020-10-01, from metadata.json
        "0000002_20220325T170533": "20220320",
    }
    assert {p.split_group for p in found.pairs} == {"0000000", "0000001", "0000002"}
    assert all(p.split_group == p.name[:7] for p in found.pairs)
    first = found.pairs[0]
    assert first.s1.name == "VV.tif" and first.s2.name == "B4.tif" and first.s2.parts[-4] == "s2a"
    assert first.acquired == (
        f"s1 {first.s1.parent.name} | s2a 20200402T102021_20200402T235959_T32UQD (7.7 days apart)"
    )
    winter = ssl4eo / "s1" / "0000001" / s1_product("S1B…20201227T053000") / "VV.tif"
    spare = ssl4eo / "s2a" / "0000002" / "20220420T101601_20220420T235959_T32UQD" / "B4.tif"
    assert found.unpaired == sorted([winter, spare])
    assert sum("not used; the targets are the s2a/ acquisitions" in p for p in found.problems) == 1
    assert (
        sum(f"{winter.parent}: nearest s2a acquisition" in p and "87 days" in p for p in found.problems) == 1
    )
    assert sum("_broken: acquisition without VV.tif" in p for p in found.problems) == 1
    split = split_scenes(found.pairs, 0.3, 0.3, seed=0)  # a location's seasons stay together
    assert sorted(g for ids in split.values() for g in ids) == ["0000000", "0000001", "0000002"]

    l1c = tmp_path / "l1c"  # only L1C: its acquisitions are the targets
    write_location(l1c, "0000002", level="s2c")
    assert {p.s2.parts[-4] for p in discover_pairs(l1c).pairs} == {"s2c"}

    kaggle = tmp_path / "terrain"  # a Kaggle terrain folder has s1/ too, and stays Kaggle
    for sensor in ("s1", "s2"):
        (kaggle / sensor).mkdir(parents=True)
        (kaggle / sensor / f"ROIs1970_fall_{sensor}_11_p537.png").touch()
    assert discover_pairs(kaggle).layout == "kaggle"


def test_reading_warps_s2_onto_the_s1_grid(ssl4eo: Path):
    pairs = {p.name: p for p in discover_pairs(ssl4eo).pairs}
    cfg = PreprocessConfig(bands=["VV", "VH"], sar_scale="auto")  # auto: float32 → dB
    source, rgb, valid = load_sample(pairs["0000000_20200325T170509"], cfg)
    assert source.shape == (2, SIZE, SIZE) and rgb.shape == (3, SIZE, SIZE) and valid.all()
    assert torch.allclose(source[:, 5, 5], torch.tensor([15 / 25, 15.5 / 32.5]))  # VV.tif, VH.tif
    red = rgb[0]
    inside = torch.zeros_like(red, dtype=torch.bool)
    inside[SQUARE, SQUARE] = True
    assert torch.allclose(red[inside], torch.tensor(0.8), atol=1e-3)  # at S1 rows/cols 20–29,
    assert torch.allclose(red[~inside], torch.tensor(0.2), atol=1e-3)  # not at the S2 file's 21–30
    assert torch.allclose(rgb[1:], torch.tensor(0.2), atol=1e-3)  # green, blue: B3, B2 (not B8)

    _, rgb, _ = load_sample(pairs["0000002_20220325T170533"], cfg)  # baseline 04.00 in metadata.json
    assert torch.allclose(rgb[0, 25, 25], torch.tensor((2400 - 1000) / 10000 / 0.3), atol=1e-3)
    assert torch.allclose(rgb[2, 5, 5], torch.tensor((600 - 1000) / 10000 / 0.3).clamp(min=0), atol=1e-3)


def test_cli_data_train_evaluate_colorize(ssl4eo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["data", str(ssl4eo), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["layout"] == "ssl4eo" and report["total_pairs"] == 8 and report["unreadable"] == []
    assert report["split"]["by"] == "location (its four seasons)" and len(report["unpaired"]) == 2
    assert sum(report["pairs_per_split"].values()) == 8

    run = tmp_path / "run"
    assert main(f"train --data {ssl4eo} --out {run} --val-fraction 0 --test-fraction 0.3 {FAST}".split()) == 0
    assert "ssl4eo layout" in capsys.readouterr().out
    preds = tmp_path / "preds"
    args = f"evaluate --checkpoint {run} --split all --save-predictions {preds} --no-progress"
    assert main(args.split()) == 0
    scores = json.loads((run / "eval" / "all.json").read_text())
    assert scores["summary"]["all"]["n"] == 8
    assert {Image.open(p).size for p in preds.iterdir()} == {(SIZE, SIZE)}
    assert "0000000_20200325T170509.png" in {p.name for p in preds.iterdir()}

    vv = discover_pairs(ssl4eo).pairs[0].s1
    out = tmp_path / "colour.tif"
    assert main(f"colorize {vv} --checkpoint {run} --out {out} --no-progress".split()) == 0
    with rasterio.open(out) as dst:
        assert (dst.count, dst.width, dst.height) == (3, SIZE, SIZE)
