"""The terrain classifier on the synthetic data: it beats always-the-majority-terrain on held-out
scenes, is stored as safetensors with its config, and a model set holding it lists, serves and
evaluates as a whole (real training runs, through the CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import run_cli
from sarcolor.config import Config
from sarcolor.data.io import read_image
from sarcolor.data.split import Split
from sarcolor.demo import _split_seed_covering_terrains
from sarcolor.errors import SarcolorError
from sarcolor.inference.modelset import load_registry
from sarcolor.models.terrain_classifier import FORMAT, Classifier, classifier_file
from sarcolor.synthetic import make_synthetic_dataset

SPLIT = "--val-fraction 0.125 --test-fraction 0.25 --split-seed {seed}"


@pytest.fixture(scope="module")
def four_terrains(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """4 terrains × 4 scenes × 4 patches, and a split seed whose test scenes show every terrain."""
    root = make_synthetic_dataset(
        tmp_path_factory.mktemp("data"), scenes_per_terrain=4, patches_per_scene=4, seed=2
    )
    cfg = Config().replace(data={"val_fraction": 0.125, "test_fraction": 0.25})
    return root, _split_seed_covering_terrains(root, cfg, 0)


@pytest.fixture(scope="module")
def model_set(four_terrains: tuple[Path, int], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SET/terrain (the classifier), SET/agri and SET/all (tiny generators holding out its scenes)."""
    data, seed = four_terrains
    root = tmp_path_factory.mktemp("set")
    line = f"train-terrain --data {data} --out {root / 'terrain'} {SPLIT.format(seed=seed)}"
    assert run_cli(line + " --steps 150 --width 8 --device cpu --no-progress") == 0
    fast = "--steps 4 --batch-size 2 --ngf 8 --ndf 8 --workers 0 --device cpu --no-progress"
    split = f"--split-from {root / 'terrain'}"
    assert run_cli(f"train --data {data} --out {root / 'agri'} --terrain agri {split} {fast}") == 0
    assert run_cli(f"train --data {data} --out {root / 'all'} {split} {fast}") == 0
    return root


def test_the_classifier_beats_the_majority_terrain_on_held_out_scenes(model_set: Path, capsys) -> None:
    report = json.loads((model_set / "terrain" / "eval" / "test.json").read_text())
    assert report["n"] == 16 and len(report["scenes"]) == 4
    assert report["classes"] == ["agri", "barrenland", "grassland", "urban"]
    assert report["majority"]["accuracy"] == pytest.approx(0.25)  # one test scene per terrain
    assert report["accuracy"] > report["majority"]["accuracy"]
    assert np.asarray(report["confusion"]).sum() == 16 and np.trace(report["confusion"]) == round(
        16 * report["accuracy"]
    )
    assert run_cli(f"evaluate --checkpoint {model_set / 'terrain'} --no-progress") == 0
    out = capsys.readouterr().out
    assert "confusion (rows: true terrain, columns: predicted)" in out and "the classifier beats" in out


def test_it_is_a_safetensors_checkpoint_with_its_config(model_set: Path, four_terrains) -> None:
    data, _ = four_terrains
    path = classifier_file(model_set / "terrain")
    assert path is not None and path.name == "terrain.safetensors"
    assert path.read_bytes()[8:9] == b"{"  # a safetensors header, not a pickle
    classifier = Classifier(model_set / "terrain")
    assert (
        classifier.meta.config.classifier.width == 8
        and classifier.meta.config.preprocess.sar_scale == "uint8"
    )
    assert classifier.meta.split == Split.from_split_file(model_set / "terrain")
    patch = read_image(next((data / "urban" / "s1").iterdir()))
    terrain, confidence = classifier(patch)
    assert terrain in classifier.classes and 0.25 <= confidence <= 1.0
    wide = np.concatenate([patch, patch, patch[:, :100]], axis=1)  # 612 px: three tiles, averaged
    tiles = torch.from_numpy(np.stack([wide[:, :256], wide[:, 256:512]])).permute(0, 3, 1, 2)
    assert classifier.classify_tiles(tiles)[0][0] == terrain  # the same patch, the same answer
    assert classifier(wide)[0] in classifier.classes
    assert classifier_file(model_set / "agri") is None  # a generator run is not a classifier
    with pytest.raises(SarcolorError, match="not a terrain classifier"):
        Classifier(model_set / "agri")
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        assert f.metadata()["format"] == FORMAT


def test_a_model_set_lists_its_models_and_classifier(model_set: Path, capsys) -> None:
    registry = load_registry([model_set])
    assert [m.id for m in registry.models] == ["agri", "all"] and isinstance(registry.classifier, Classifier)
    assert run_cli(f"models {model_set}") == 0
    out = capsys.readouterr().out
    assert "agri" in out and "all" in out and "terrain auto: the terrain classifier" in out
    assert "test accuracy" in out


def test_a_model_set_evaluates_as_a_whole(model_set: Path, capsys) -> None:
    assert run_cli(f"evaluate --checkpoint {model_set} --device cpu --no-progress") == 0
    out = capsys.readouterr().out
    assert "terrain auto (classifier)" in out and "true terrain" in out and "tiles per terrain" in out
    auto = json.loads((model_set / "eval" / "test.json").read_text())
    true = json.loads((model_set / "eval" / "test_true_terrain.json").read_text())
    assert auto["summary"]["all"]["n"] == true["summary"]["all"]["n"] == 16
    assert set(auto["summary"]) == {"all", "agri", "barrenland", "grassland", "urban"}
    assert "mean_colour" in auto["summary"]["all"]["baselines"]


def test_train_terrain_needs_terrain_folders(tmp_path: Path, real_sen12: Path, capsys) -> None:
    data = tmp_path / "one"
    (data / "v_2").mkdir(parents=True)
    (data / "v_2" / "agri").symlink_to(real_sen12 / "agri")
    assert run_cli(f"train-terrain --data {data} --out {tmp_path / 'c'} --no-progress") == 2
    assert "one terrain only (agri)" in capsys.readouterr().err
