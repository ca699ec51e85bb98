"""The Kaggle terrain layout on the dataset's real 16,000 file names: pairing by token, not order."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from conftest import touch
from sarcolor.data.sources import discover_pairs


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
