"""The split by scene: groups never straddle splits, scenes filed under two terrains stay whole."""

from __future__ import annotations

import csv
from pathlib import Path

from sarcolor.data.sources import discover_pairs
from sarcolor.data.split import select_split, split_scenes


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


def test_split_keeps_one_scene_for_training(real_sen12: Path):
    split = split_scenes(discover_pairs(real_sen12).pairs, 0.1, 0.1)
    assert len(split["train"]) == 1 and len(split["test"]) == 1 and split["val"] == []
