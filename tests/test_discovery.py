"""Pair discovery in the three layouts, on real file names, and the scene split."""

from __future__ import annotations

import csv
import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from sarcolor.data.sources import discover_pairs
from sarcolor.data.split import select_split, split_scenes
from sarcolor.errors import SarcolorError


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    return path


@pytest.fixture(scope="module")
def kaggle_tree(kaggle_filelist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Empty placeholder files named exactly as the 16,000 Kaggle pairs."""
    root = tmp_path_factory.mktemp("kaggle") / "dataset"
    with open(kaggle_filelist) as fh:
        for row in csv.DictReader(fh):
            touch(root / "v_2" / row["terrain"] / "s1" / row["s1_filename"])
            touch(root / "v_2" / row["terrain"] / "s2" / row["s2_filename"])
    return root


def test_kaggle_file_list_gives_4x4000_pairs(kaggle_tree: Path):
    found = discover_pairs(kaggle_tree)
    assert found.layout == "kaggle"
    assert len(found.pairs) == 16_000
    assert Counter(p.terrain for p in found.pairs) == {
        t: 4000 for t in ("agri", "barrenland", "grassland", "urban")
    }
    assert found.unpaired == [] and found.problems == []
    for pair in found.pairs[::997]:
        assert pair.s1.name.replace("_s1_", "_s2_") == pair.s2.name
        assert pair.s1.parent.parent == pair.s2.parent.parent


def test_kaggle_split_keeps_scenes_apart(kaggle_tree: Path, kaggle_filelist: Path):
    found = discover_pairs(kaggle_tree)
    with open(kaggle_filelist) as fh:
        rows = list(csv.DictReader(fh))
    groups = {(r["terrain"], r["roi"], r["season"], r["scene"]) for r in rows}
    scenes = {(r["roi"], r["season"], r["scene"]) for r in rows}
    assert (len(groups), len(scenes)) == (32, 30)  # scenes 115 and 144 sit under two terrains
    split = split_scenes(found.pairs, 0.1, 0.1, seed=0)
    sets = {k: set(v) for k, v in split.items()}
    assert (
        not (sets["train"] & sets["val"])
        and not (sets["train"] & sets["test"])
        and not (sets["val"] & sets["test"])
    )
    assert sum(map(len, sets.values())) == len(scenes)
    by_split = {k: select_split(found.pairs, split, k) for k in split}
    assert sum(map(len, by_split.values())) == 16_000
    scene_of = {name: {p.split_group for p in pairs} for name, pairs in by_split.items()}
    assert not (scene_of["train"] & scene_of["test"])
    # scene 115 is filed under agri and grassland: both halves must land in one split
    both = [p for p in found.pairs if p.split_group == "ROIs1970_fall_115"]
    assert {p.terrain for p in both} == {"agri", "grassland"}
    assert len({k for k, v in split.items() if "ROIs1970_fall_115" in v}) == 1
    assert all(len(v) > 0 for v in by_split.values())
    assert split == split_scenes(found.pairs, 0.1, 0.1, seed=0)  # deterministic
    assert split != split_scenes(found.pairs, 0.1, 0.1, seed=1)


def test_data_root_may_be_root_v2_or_terrain(real_sen12: Path):
    assert len(discover_pairs(real_sen12.parent).pairs) == 2
    assert len(discover_pairs(real_sen12).pairs) == 2
    agri = discover_pairs(real_sen12 / "agri")
    assert [p.name for p in agri.pairs] == ["ROIs1868_summer_59_p30"]
    assert agri.pairs[0].terrain == "agri" and agri.pairs[0].split_group == "ROIs1868_summer_59"


def test_pairs_by_token_not_by_sort_order(tmp_path: Path):
    """Sorted lists would pair p10 with p2; ROIs1970 contains 's1' but is no sensor token."""
    t = tmp_path / "v_2" / "urban"
    for patch in (2, 10, 100):
        touch(t / "s1" / f"ROIs1970_fall_s1_144_p{patch}.png")
    for patch in (10, 100, 2, 7):
        touch(t / "s2" / f"ROIs1970_fall_s2_144_p{patch}.png")
    found = discover_pairs(tmp_path)
    assert {(p.s1.name, p.s2.name) for p in found.pairs} == {
        (f"ROIs1970_fall_s1_144_p{n}.png", f"ROIs1970_fall_s2_144_p{n}.png") for n in (2, 10, 100)
    }
    assert [p.patch for p in found.pairs] == [2, 10, 100]  # natural order
    assert found.unpaired == [t / "s2" / "ROIs1970_fall_s2_144_p7.png"]


def test_file_in_wrong_sensor_folder_is_reported(tmp_path: Path):
    t = tmp_path / "v_2" / "agri"
    touch(t / "s1" / "ROIs1868_summer_s1_59_p1.png")
    touch(t / "s2" / "ROIs1868_summer_s1_59_p1.png")  # optical file carrying the s1 name
    found = discover_pairs(tmp_path)
    assert any("named as s1 but stored in s2/" in p for p in found.problems)


def test_original_sen12_layout(tmp_path: Path):
    for roi, scene, patches in (("ROIs1158_spring", 1, (1, 2)), ("ROIs2017_winter", 22, (5,))):
        for p in patches:
            touch(tmp_path / roi / f"s1_{scene}" / f"{roi}_s1_{scene}_p{p}.png")
            touch(tmp_path / roi / f"s2_{scene}" / f"{roi}_s2_{scene}_p{p}.png")
    touch(tmp_path / "ROIs1158_spring" / "s1_1" / "ROIs1158_spring_s1_1_p9.png")
    found = discover_pairs(tmp_path)
    assert found.layout == "sen12"
    assert [(p.split_group, p.patch) for p in found.pairs] == [
        ("ROIs1158_spring_1", 1),
        ("ROIs1158_spring_1", 2),
        ("ROIs2017_winter_22", 5),
    ]
    assert found.unpaired == [tmp_path / "ROIs1158_spring" / "s1_1" / "ROIs1158_spring_s1_1_p9.png"]
    assert len(discover_pairs(tmp_path / "ROIs2017_winter").pairs) == 1


def test_generic_a_b_layout(tmp_path: Path):
    for name in ("x.png", "y.png"):
        touch(tmp_path / "A" / name)
        touch(tmp_path / "B" / name)
    touch(tmp_path / "A" / "only_a.png")
    touch(tmp_path / "B" / "only_b.png")
    found = discover_pairs(tmp_path)
    assert found.layout == "generic"
    assert [(p.s1.name, p.s2.name) for p in found.pairs] == [("x.png", "x.png"), ("y.png", "y.png")]
    assert [p.name for p in found.unpaired] == ["only_a.png", "only_b.png"]
    assert {p.split_group for p in found.pairs} == {"x", "y"}  # no scene info: each file is its own


def test_missing_or_unknown_folders_give_clear_errors(tmp_path: Path):
    with pytest.raises(SarcolorError, match="data folder not found"):
        discover_pairs(tmp_path / "nope")
    (tmp_path / "random").mkdir()
    with pytest.raises(SarcolorError, match="no image pairs found"):
        discover_pairs(tmp_path / "random")


def test_terrain_filter(real_sen12: Path):
    found = discover_pairs(real_sen12)
    assert [p.terrain for p in found.filter_terrains(["grassland"]).pairs] == ["grassland"]
    with pytest.raises(SarcolorError, match="no terrain urban; available: agri, grassland"):
        found.filter_terrains(["urban"])


def test_split_keeps_one_scene_for_training(real_sen12: Path):
    split = split_scenes(discover_pairs(real_sen12).pairs, 0.1, 0.1)
    assert len(split["train"]) == 1 and len(split["test"]) == 1 and split["val"] == []


def test_cli_data_json(real_sen12: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    from sarcolor.cli.main import main

    shutil.copytree(real_sen12, tmp_path / "v_2")
    (tmp_path / "v_2" / "agri" / "s1" / "ROIs1868_summer_s1_59_p31.png").write_bytes(b"")
    (tmp_path / "v_2" / "urban" / "s2").mkdir(parents=True)
    broken = tmp_path / "v_2" / "grassland" / "s2" / "ROIs1970_fall_s2_11_p537.png"
    broken.write_text("not a png")
    code = main(["data", str(tmp_path), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1  # an unreadable file
    assert report["total_pairs"] == 2
    assert report["pairs_per_terrain"] == {"agri": 1, "grassland": 1}
    assert sum(report["pairs_per_split"].values()) == 2
    assert sorted(s for ids in report["scenes_per_split"].values() for s in ids) == [
        "ROIs1868_summer_59",
        "ROIs1970_fall_11",
    ]
    assert report["unpaired"] == [str(tmp_path / "v_2" / "agri" / "s1" / "ROIs1868_summer_s1_59_p31.png")]
    assert [u["file"] for u in report["unreadable"]] == [str(broken)]
    assert any("urban" in p and "no s1/" in p for p in report["problems"])
