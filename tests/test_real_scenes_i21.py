"""benchmarks/colour_scenes.py: the five real colour scenes, two layouts, one fold per scene."""

from __future__ import annotations

from conftest import load_benchmark, shared_path
from sarcolor.config import DataConfig
from sarcolor.data.sources import discover_pairs
from sarcolor.data.split import split_for


def test_each_scene_of_both_layouts_is_one_fold(tmp_path, monkeypatch):
    kaggle = shared_path("real", "sen1-2-scenes", "v_2")
    original = shared_path("real", "sen1-2-original")
    scenes = load_benchmark(monkeypatch, "colour_scenes")
    root, folds = scenes.scene_folder([kaggle, original], tmp_path / "scenes")
    assert folds == ["agri", "barrenland", "grassland", "scene45", "scene90"]
    found = discover_pairs(root)
    assert found.layout == "kaggle" and len(found.pairs) == 73 + 26
    groups = {fold: {p.split_group for p in found.pairs if p.terrain == fold} for fold in folds}
    assert groups["scene45"] == {"ROIs1158_spring_45"} and all(len(g) == 1 for g in groups.values())
    split = split_for(found.pairs, DataConfig(root=str(root), holdout_terrain="scene90", val_fraction=0.0))
    test, train = split.select(found.pairs, "test"), split.select(found.pairs, "train")
    assert len(test) == 15 and {p.split_group for p in test} == {"ROIs1158_spring_90"}
    assert len(train) == 84 and "ROIs1158_spring_90" not in {p.split_group for p in train}
    assert scenes.scene_folder([kaggle, original], tmp_path / "scenes")[1] == folds  # again: links kept


def test_loose_pairs_join_their_scene_and_rename_a_shared_terrain(tmp_path, monkeypatch):
    scenes = load_benchmark(monkeypatch, "colour_scenes")
    roots = [shared_path("real", "sen1-2-scenes", "v_2"), shared_path("real", "sen1-2", "v_2")]
    folds = scenes.scene_pairs(roots)
    assert sorted(folds) == ["agri", "barrenland", "scene11", "scene115"]  # grassland holds 115 and 11
    assert len(folds["agri"]) == 34 and len(folds["scene11"]) == 1
