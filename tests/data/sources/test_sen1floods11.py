"""Sen1Floods11: hand-labelled 512×512 chips in EPSG:4326, written here in the dataset's format."""

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
from sarcolor.data.augment import Augment
from sarcolor.data.dataset import PairDataset
from sarcolor.data.sources import discover_pairs, load_sample
from sarcolor.data.split import split_scenes

FAST = "--ngf 8 --ndf 8 --batch-size 2 --steps 2 --workers 0 --no-progress"
CHIP = 512
PIXEL = 8.983e-5  # 10 m in degrees, as the chips are stored
CHIPS = [("Bolivia", 103757), ("Bolivia", 129334), ("Sri-Lanka", 85652), ("USA", 1010394), ("Ghana", 5079)]


def write_chip(hand: Path, region: str, chip: int, *, s1: bool = True, s2: bool = True) -> None:
    """``S1Hand`` (VV, VH dB float32, NaN nodata) and ``S2Hand`` (13 bands int16 L1C) of one chip.

    VV is a ramp (−25 dB top left to about −5 dB bottom right) so a crop shows where it was
    cut; VH is −20 dB; in Bolivia the top-left 16×16 pixels have no radar data (NaN).
    """
    transform = Affine(PIXEL, 0, -63.5 + chip % 100 * 0.05, 0, -PIXEL, -14.2)
    if s1:
        rows, cols = np.mgrid[0:CHIP, 0:CHIP].astype(np.float32)
        vv = -25.0 + (rows * CHIP + cols) / (CHIP * CHIP) * 20.0
        sar = np.stack([vv, np.full((CHIP, CHIP), -20.0, np.float32)]).astype(np.float32)
        if region == "Bolivia":
            sar[:, :16, :16] = np.nan
        write_geotiff(
            hand / "S1Hand" / f"{region}_{chip}_S1Hand.tif", sar, crs="EPSG:4326", transform=transform
        )
    if s2:
        optical = np.full((13, CHIP, CHIP), 7000, np.int16)  # bands other than B4, B3, B2 far off
        optical[3], optical[2], optical[1] = 2400, 1200, 600  # B4, B3, B2 → 0.8, 0.4, 0.2 at 0.3
        write_geotiff(
            hand / "S2Hand" / f"{region}_{chip}_S2Hand.tif", optical, crs="EPSG:4326", transform=transform
        )


@pytest.fixture(scope="module")
def floods(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``v1.1/data/flood_events/HandLabeled`` with five chips of four regions and loose files."""
    root = tmp_path_factory.mktemp("sen1floods11")
    hand = root / "v1.1" / "data" / "flood_events" / "HandLabeled"
    for folder in ("S1Hand", "S2Hand", "LabelHand", "JRCWaterHand"):
        (hand / folder).mkdir(parents=True)
    for region, chip in CHIPS:
        write_chip(hand, region, chip)
    write_chip(hand, "India", 1068085, s1=False)  # optical without radar
    write_geotiff(hand / "S1Hand" / "notes.tif", np.zeros((4, 4), np.float32))
    write_geotiff(hand / "LabelHand" / "Bolivia_103757_LabelHand.tif", np.zeros((CHIP, CHIP), np.int16))
    return root


def test_detected_paired_and_split_by_region(floods: Path, tmp_path: Path):
    hand = floods / "v1.1" / "data" / "flood_events" / "HandLabeled"
    found = discover_pairs(floods)
    assert found.layout == "sen1floods11" and found.root == hand
    assert [(p.name, p.split_group, p.terrain) for p in found.pairs] == [
        ("Bolivia_103757", "Bolivia", "Bolivia"),
        ("Bolivia_129334", "Bolivia", "Bolivia"),
        ("Ghana_5079", "Ghana", "Ghana"),
        ("Sri-Lanka_85652", "Sri-Lanka", "Sri-Lanka"),
        ("USA_1010394", "USA", "USA"),
    ]
    assert all(p.s2.name == p.s1.name.replace("S1Hand", "S2Hand") for p in found.pairs)
    assert {p.source for p in found.pairs} == {"sen1floods11"}
    assert found.unpaired == [hand / "S2Hand" / "India_1068085_S2Hand.tif"]
    assert found.problems == [
        f"{hand / 'S1Hand' / 'notes.tif'}: not a Sen1Floods11 name (<region>_<chip>_S1Hand.tif)"
    ]
    for below in (hand, hand.parent, hand.parents[2]):
        assert [p.name for p in discover_pairs(below).pairs] == [p.name for p in found.pairs]

    split = split_scenes(found.pairs, 0.2, 0.2, seed=3)  # whole regions: the two Bolivia chips stay together
    assert sorted(g for ids in split.values() for g in ids) == ["Bolivia", "Ghana", "Sri-Lanka", "USA"]
    held = split_scenes(found.pairs, holdout_terrain="Bolivia")  # the dataset authors' hold-out event
    assert held["test"] == ["Bolivia"] and "Bolivia" not in held["train"]

    kaggle = tmp_path / "v_2" / "agri"  # the other layouts are still found as before
    for sensor in ("s1", "s2"):
        (kaggle / sensor).mkdir(parents=True)
        (kaggle / sensor / f"ROIs1868_summer_{sensor}_59_p30.png").touch()
    assert discover_pairs(tmp_path).layout == "kaggle" and discover_pairs(kaggle).layout == "kaggle"


def test_reading_nodata_rgb_and_cropping(floods: Path):
    pair = discover_pairs(floods).pairs[0]
    cfg = PreprocessConfig(bands=["VV", "VH"], sar_scale="auto")  # auto: float32 → dB
    source, rgb, valid = load_sample(pair, cfg)
    assert source.shape == (2, CHIP, CHIP) and rgb.shape == (3, CHIP, CHIP)
    assert not valid[:16, :16].any() and valid.sum() == CHIP * CHIP - 256  # NaN: no data, not −∞ dB
    assert (source[:, :16, :16] == 0).all() and (rgb[:, :16, :16] == 0).all()
    assert torch.allclose(rgb[:, 100, 100], torch.tensor([0.8, 0.4, 0.2]))  # B4, B3, B2 of 13 bands
    assert torch.allclose(source[1, 100, 100], torch.tensor(12.5 / 32.5))  # VH is band 2
    assert torch.allclose(source[0, 256, 0], torch.tensor((-15 + 25) / 25), atol=1e-5)  # VV ramp: band 1
    rgb_wide = load_sample(pair, PreprocessConfig(sar_scale="db", s2_max_reflectance=0.4)).rgb
    assert torch.allclose(rgb_wide[:, 100, 100], torch.tensor([0.6, 0.3, 0.15]))  # the stored stretch

    vv = PreprocessConfig(bands=["VV"], sar_scale="db")
    full = load_sample(pair, vv).source[0] * 2 - 1
    centred = PairDataset([pair], vv, 256)[0]  # not augmenting: the centre of the chip
    assert centred.input.shape == (1, 256, 256) and centred.mask.all()
    assert torch.allclose(centred.input[0], full[128:384, 128:384])
    flips = Augment(flip=False, rotate90=False)
    corners = set()
    for seed in range(4):  # augmenting: a random 256 crop, anywhere in the chip
        crop = PairDataset([pair], vv, 256, augment=flips)[0, seed].input[0]
        hits = torch.nonzero((full - crop[20, 20]).abs() < 1e-6)  # the ramp: one pixel has the value
        top, left = (int(v) - 20 for v in hits[0])
        assert torch.allclose(crop, full[top : top + 256, left : left + 256])
        corners.add((top, left))
    assert len(corners) == 4


def test_cli_data_train_evaluate_colorize(floods: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["data", str(floods), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["layout"] == "sen1floods11" and report["total_pairs"] == 5 and report["unreadable"] == []
    assert report["pairs_per_terrain"] == {"Bolivia": 2, "Ghana": 1, "Sri-Lanka": 1, "USA": 1}
    assert report["split"]["by"].startswith("region") and len(report["unpaired"]) == 1

    run = tmp_path / "run"
    flags = f"--band VV --band VH --holdout-terrain USA --val-fraction 0 {FAST}"
    assert main(f"train --data {floods} --out {run} {flags}".split()) == 0
    assert "sen1floods11 layout" in capsys.readouterr().out
    preds = tmp_path / "preds"
    assert main(f"evaluate --checkpoint {run} --save-predictions {preds} --no-progress".split()) == 0
    scores = json.loads((run / "eval" / "test.json").read_text())
    assert [(r["name"], r["terrain"]) for r in scores["images"]] == [("USA_1010394", "USA")]
    assert {Image.open(p).size for p in preds.iterdir()} == {(CHIP, CHIP)}  # whole chips scored

    chip = discover_pairs(floods).pairs[2].s1
    out = tmp_path / "chip.tif"
    assert main(f"colorize {chip} --checkpoint {run} --out {out} --no-progress".split()) == 0
    with rasterio.open(out) as dst:
        assert (dst.count, dst.width, dst.height, dst.crs.to_epsg()) == (3, CHIP, CHIP, 4326)
