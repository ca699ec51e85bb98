"""SEN12MS and SEN12MS-CR: GeoTIFF triplets by ROI and scene, written here in the dataset's format."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch

from conftest import write_geotiff
from sarcolor.cli.main import main
from sarcolor.config import PreprocessConfig
from sarcolor.data.sources import discover_pairs, load_sample
from sarcolor.data.split import split_scenes
from sarcolor.errors import SarcolorError

FAST = "--ngf 8 --ndf 8 --batch-size 2 --steps 2 --workers 0 --no-progress"
SIZE = 64  # the dataset's patches are 256×256; the format is the same
S2_DN = {4: 1500, 3: 3000, 2: 600}  # B4, B3, B2 → ρ 0.15, 0.30, 0.06 → RGB 0.5, 1.0, 0.2 at 0.3


def write_triplet(folder: Path, roi: str, scene: int, patch: int, *, sensors=("s1", "s2"), vv=-12.5) -> None:
    """One SEN12MS patch: s1 (VV, VH float32 dB, no descriptions) and s2 (13 bands uint16 L1C)."""
    for sensor in sensors:
        (folder / f"{sensor}_{scene}").mkdir(parents=True, exist_ok=True)
        path = folder / f"{sensor}_{scene}" / f"{roi}_{sensor}_{scene}_p{patch}.tif"
        if sensor == "s1":
            data = np.stack(
                [np.full((SIZE, SIZE), vv, np.float32), np.full((SIZE, SIZE), -16.25, np.float32)]
            )
        else:  # B1 … B12 with B8A: every other band far from the RGB values, so a wrong pick shows
            data = np.full((13, SIZE, SIZE), 9000, np.uint16)
            for index, dn in S2_DN.items():
                data[index - 1] = dn
        write_geotiff(path, data)


@pytest.fixture(scope="module")
def sen12ms(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three scenes, five pairs; an s2 patch without s1; a land-cover folder; a foreign name."""
    root = tmp_path_factory.mktemp("sen12ms")
    for patch in (2, 10, 1):
        write_triplet(root / "ROIs1158_spring", "ROIs1158_spring", 1, patch, vv=-10.0 - patch)
    write_triplet(root / "ROIs1158_spring", "ROIs1158_spring", 1, 7, sensors=("s2",))
    write_triplet(root / "ROIs1868_summer", "ROIs1868_summer", 59, 30)
    write_triplet(root / "ROIs2017_winter", "ROIs2017_winter", 22, 5)
    (root / "ROIs1158_spring" / "lc_1").mkdir()
    write_geotiff(
        root / "ROIs1158_spring" / "lc_1" / "ROIs1158_spring_lc_1_p1.tif", np.ones((4, 8, 8), np.uint16)
    )
    write_geotiff(root / "ROIs1868_summer" / "s1_59" / "preview.tif", np.zeros((8, 8), np.float32))
    return root


def test_detected_and_paired_by_name_token(sen12ms: Path, tmp_path: Path):
    found = discover_pairs(sen12ms)
    assert found.layout == "sen12ms" and {p.source for p in found.pairs} == {"sen12ms"}
    assert [(p.split_group, p.patch) for p in found.pairs] == [
        ("ROIs1158_spring_1", 1),
        ("ROIs1158_spring_1", 2),
        ("ROIs1158_spring_1", 10),  # natural order; p10 with p10, not with the sorted neighbour
        ("ROIs1868_summer_59", 30),
        ("ROIs2017_winter_22", 5),
    ]
    for pair in found.pairs:
        assert pair.s2.name == pair.s1.name.replace("_s1_", "_s2_") and pair.s2.parent.name.startswith("s2_")
    assert found.pairs[0].name == "ROIs1158_spring_1_p1" and found.pairs[0].season == "spring"
    assert found.unpaired == [sen12ms / "ROIs1158_spring" / "s2_1" / "ROIs1158_spring_s2_1_p7.tif"]
    assert len(found.problems) == 1 and "preview.tif: not a SEN12MS name" in found.problems[0]
    assert len(discover_pairs(sen12ms / "ROIs2017_winter").pairs) == 1  # one ROI folder as root

    split = split_scenes(found.pairs, 0.2, 0.2, seed=0)  # whole scenes, one split each
    assert sorted(g for ids in split.values() for g in ids) == sorted({p.split_group for p in found.pairs})
    held = split_scenes(found.pairs, holdout_season="winter")
    assert held["test"] == ["ROIs2017_winter_22"]

    png = tmp_path / "png"  # the SEN1-2 PNG release in the same folders stays sen12
    for sensor in ("s1", "s2"):
        (png / "ROIs1158_spring" / f"{sensor}_1").mkdir(parents=True)
        (png / "ROIs1158_spring" / f"{sensor}_1" / f"ROIs1158_spring_{sensor}_1_p1.png").touch()
    assert discover_pairs(png).layout == "sen12"


def test_reading_bands_rgb_and_stretch(sen12ms: Path, tmp_path: Path):
    pair = discover_pairs(sen12ms).pairs[0]  # p1: VV −11 dB
    both = load_sample(pair, PreprocessConfig(bands=["VV", "VH"], sar_scale="db"))
    assert both.source.shape == (2, SIZE, SIZE) and both.valid.all()
    assert torch.allclose(both.source[:, 3, 3], torch.tensor([14 / 25, 16.25 / 32.5]))  # VV band 1, VH band 2
    assert torch.allclose(both.rgb[:, 3, 3], torch.tensor([0.5, 1.0, 0.2]))  # B4, B3, B2 of 13 bands
    vh = load_sample(pair, PreprocessConfig(bands=["VH"], sar_scale="auto"))  # auto: float32 → dB
    assert torch.allclose(vh.source, torch.full_like(vh.source, 0.5))
    wide = load_sample(pair, PreprocessConfig(sar_scale="db", s2_max_reflectance=0.6))
    assert torch.allclose(wide.rgb[:, 0, 0], torch.tensor([0.25, 0.5, 0.1]))
    with pytest.raises(SarcolorError, match=r"holds VV .* no HH"):
        load_sample(pair, PreprocessConfig(bands=["HH"], sar_scale="db"))

    # bands described (B1 … B12 in another order): found by description, not position
    names = ["B2", "B3", "B4", "B1", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12"]
    root = tmp_path / "described"
    write_triplet(root / "ROIs1970_fall", "ROIs1970_fall", 3, 1)
    s2 = root / "ROIs1970_fall" / "s2_3" / "ROIs1970_fall_s2_3_p1.tif"
    data = np.full((13, SIZE, SIZE), 9000, np.uint16)
    data[2], data[1], data[0] = 1500, 3000, 600
    write_geotiff(s2, data, descriptions=tuple(names))
    rgb = load_sample(discover_pairs(root).pairs[0], PreprocessConfig(sar_scale="db")).rgb
    assert torch.allclose(rgb[:, 0, 0], torch.tensor([0.5, 1.0, 0.2]))


def test_sen12ms_cr_takes_the_clear_s2_and_reports_the_cloudy(tmp_path: Path):
    for part in ("s1", "s2", "s2_cloudy"):
        for patch in (1, 2):
            sensor = "s2" if part == "s2_cloudy" else part
            write_triplet(
                tmp_path / f"ROIs1158_spring_{part}", "ROIs1158_spring", 1, patch, sensors=(sensor,)
            )
    cloudy = tmp_path / "ROIs1158_spring_s2_cloudy"
    for path in list(cloudy.rglob("*.tif")):  # cloudy files and folders carry the "s2_cloudy" token
        path.rename(path.with_name(path.name.replace("_s2_", "_s2_cloudy_")))
    (cloudy / "s2_1").rename(cloudy / "s2_cloudy_1")
    found = discover_pairs(tmp_path)
    assert found.layout == "sen12ms" and len(found.pairs) == 2 and not found.unpaired
    assert {p.s2.parent.parent.name for p in found.pairs} == {"ROIs1158_spring_s2"}
    assert found.problems == [
        f"{tmp_path}: 2 cloudy Sentinel-2 patch(es) (s2_cloudy_<scene>/) not used; "
        "the clear s2 patch is the target"
    ]


def test_cli_data_train_evaluate_colorize(sen12ms: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["data", str(sen12ms), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["layout"] == "sen12ms" and report["total_pairs"] == 5 and report["unreadable"] == []
    assert report["split"]["by"] == "scene (roi, season, scene)" and len(report["unpaired"]) == 1
    assert sorted(g for ids in report["scenes_per_split"].values() for g in ids) == [
        "ROIs1158_spring_1",
        "ROIs1868_summer_59",
        "ROIs2017_winter_22",
    ]

    run = tmp_path / "run"
    flags = f"--band VV --band VH --val-fraction 0 --test-fraction 0.2 {FAST}"
    assert main(f"train --data {sen12ms} --out {run} {flags}".split()) == 0
    assert "sen12ms layout" in capsys.readouterr().out
    preds = tmp_path / "preds"
    args = f"evaluate --checkpoint {run} --split all --save-predictions {preds} --no-progress"
    assert main(args.split()) == 0
    scores = json.loads((run / "eval" / "all.json").read_text())
    assert scores["summary"]["all"]["n"] == 5
    assert sorted(p.name for p in preds.iterdir())[0] == "ROIs1158_spring_1_p1.png"

    s1 = discover_pairs(sen12ms).pairs[-1].s1  # a SEN12MS s1 file colorizes as any 2-band GeoTIFF
    out = tmp_path / "colour.tif"
    assert main(f"colorize {s1} --checkpoint {run} --out {out} --no-progress".split()) == 0
    with rasterio.open(out) as dst, rasterio.open(s1) as src:
        assert (dst.count, dst.width, dst.height, dst.crs) == (3, SIZE, SIZE, src.crs)
