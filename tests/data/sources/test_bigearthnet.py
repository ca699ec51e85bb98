"""BigEarthNet-MM patch folders: pairing through the metadata, padding of 120×120 patches, training."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import rasterio
import torch
import torch.nn.functional as F
from PIL import Image

from conftest import shared_path
from sarcolor.checkpoint import read_meta, resolve_checkpoint
from sarcolor.cli.main import main
from sarcolor.config import PreprocessConfig
from sarcolor.data.dataset import PairDataset
from sarcolor.data.sources import discover_pairs, load_sample
from sarcolor.training.pix2pix import masked_l1

FAST = "--ngf 8 --ndf 8 --batch-size 2 --steps 2 --workers 0 --no-progress"


@pytest.fixture(scope="module")
def bigearthnet() -> Path:
    return shared_path("real", "bigearthnet")


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
