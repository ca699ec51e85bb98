"""Model sets: listing what a path holds and choosing the model for a terrain (real checkpoints)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app_support import terrain_checkpoint
from sarcolor.errors import SarcolorError
from sarcolor.evaluation.evaluate import write_json
from sarcolor.evaluation.metrics import METRICS
from sarcolor.evaluation.scores import Evaluation, ImageScore
from sarcolor.inference.modelset import (
    ANY_TERRAIN,
    SelectionError,
    describe_models,
    format_models,
    load_registry,
)


@pytest.fixture(scope="module")
def model_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("set")
    terrain_checkpoint(root / "agri", ["agri"])
    terrain_checkpoint(root / "Grass Land", ["grassland"])
    terrain_checkpoint(root / "agri+urban", ["agri", "urban"])
    (root / "notes").mkdir()  # a folder without checkpoints is not a member
    return root


def scores(psnr: float) -> dict[str, float]:
    return {"psnr": psnr, "ssim": 0.5, "mae": 0.1, "sam": 5.0}


def test_a_set_lists_its_runs_with_their_terrains(model_set: Path) -> None:
    registry = load_registry([model_set])
    assert [m.id for m in registry.models] == ["agri", "agri-urban", "grass-land"]
    by_id = {m.id: m for m in registry.models}
    assert by_id["grass-land"].name == "Grass Land" and by_id["grass-land"].terrains == ["grassland"]
    assert by_id["agri-urban"].terrains == ["agri", "urban"]
    model = by_id["agri"]
    assert (model.input, model.target, model.bands, model.step) == ("sar", "rgb", ["VV"], 0)
    assert model.path.name == "step_0000000.safetensors" and model.metrics is None
    assert registry.terrains == ["agri", "grassland", "urban"]


def test_runs_checkpoints_and_sets_mix_with_unique_ids(model_set: Path, tmp_path: Path) -> None:
    other = terrain_checkpoint(tmp_path / "elsewhere" / "agri")  # same name, every terrain
    registry = load_registry([model_set / "agri", other, model_set])
    assert [m.id for m in registry.models] == ["agri", "agri-2", "agri-3", "agri-urban", "grass-land"]
    assert registry.get("agri-2").terrains == []


def test_paths_without_models_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SarcolorError, match="not found"):
        load_registry([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(SarcolorError, match="no models here"):
        load_registry([tmp_path / "empty"])


def test_choosing_by_model_and_terrain(model_set: Path) -> None:
    registry = load_registry([model_set])
    assert registry.choose("auto", "grassland").model.id == "grass-land"
    assert registry.choose("auto", "agri").model.id == "agri"  # the specialist before agri+urban
    assert registry.choose("auto", "urban").model.id == "agri-urban"
    choice = registry.choose("grass-land", "auto")
    assert (choice.model.id, choice.terrain, choice.confidence) == ("grass-land", "grassland", None)
    assert registry.choose("agri-urban", "auto").terrain == ANY_TERRAIN  # two terrains: not known
    for model, terrain, message in [
        ("nope", "auto", "unknown model 'nope'"),
        ("auto", "desert", "unknown terrain 'desert'"),
        ("agri", "urban", "trained on agri, not urban"),
        ("auto", "barrenland", "no model for terrain 'barrenland'"),
        ("auto", "auto", "needs a terrain classifier"),
    ]:
        with pytest.raises(SelectionError, match=message):
            registry.choose(model, terrain)


def test_a_model_for_every_terrain_is_the_fallback(model_set: Path, tmp_path: Path) -> None:
    general = terrain_checkpoint(tmp_path / "plain")
    registry = load_registry([model_set, general])
    assert registry.choose("auto", "barrenland").model.id == "plain"
    assert registry.choose("auto", "agri").model.id == "agri"  # a specialist wins when there is one
    choice = registry.choose("auto", "auto")  # no classifier: the general model, terrain unknown
    assert (choice.model.id, choice.terrain) == ("plain", ANY_TERRAIN)
    assert set(registry.terrains) == {"agri", "barrenland", "grassland", "urban"}


def test_terrain_auto_asks_the_classifier_only_when_it_must(model_set: Path) -> None:
    calls: list[tuple[int, ...]] = []

    def classifier(image: np.ndarray) -> tuple[str, float]:
        calls.append(image.shape)
        return ("grassland", 0.8) if image.mean() > 0.5 else ("urban", 0.6)

    registry = load_registry([model_set], classifier)
    bright = np.full((32, 32, 1), 0.9, np.float32)
    choice = registry.choose("auto", "auto", lambda: bright)
    assert (choice.model.id, choice.terrain, choice.confidence) == ("grass-land", "grassland", 0.8)
    dark = np.zeros((16, 8, 1), np.float32)
    assert registry.choose("auto", "auto", lambda: dark).model.id == "agri-urban"
    assert calls == [(32, 32, 1), (16, 8, 1)]
    registry.choose("auto", "agri", lambda: bright)  # a named terrain needs no classifier
    registry.choose("agri", "auto", lambda: bright)  # nor does a named model
    assert len(calls) == 2
    assert registry.needs_image("auto", "auto") and not registry.needs_image("agri", "auto")


def test_scores_come_from_the_runs_evaluation(model_set: Path, tmp_path: Path) -> None:
    run = tmp_path / "evaluated"
    terrain_checkpoint(run, ["agri"])
    baselines = {"mean_colour": scores(18.0), "level_lut": scores(19.0)}
    records = [ImageScore(f"p{i}", "agri", f"s{i % 2}", scores(20.0 + i), baselines) for i in range(3)]
    write_json(Evaluation("evaluated", "test", "data", images=records), run / "eval" / "test.json")
    model = load_registry([run]).models[0]
    assert model.metrics is not None and model.metrics["split"] == "test"
    overall = model.metrics["summary"]["all"]
    assert overall["n"] == 3 and overall["scenes"] == 2 and overall["model"]["psnr"] == pytest.approx(21.0)
    assert set(overall["baselines"]) == {"mean_colour", "level_lut"} and set(overall["model"]) == set(METRICS)
    text = format_models(load_registry([run, model_set]))
    assert "PSNR 21.00 dB (best baseline 19.00 dB)" in text
    assert "not evaluated" in text and "agri, urban" in text
    (run / "eval" / "test.json").write_text("{ broken")
    assert load_registry([run]).models[0].metrics is None  # a broken file: no scores, no crash


def test_describe_models_says_how_terrain_auto_resolves(model_set: Path) -> None:
    assert "terrain auto: refused (no terrain classifier; name a terrain)" in describe_models([model_set])
    assert "terrain auto: the only model" in describe_models([model_set / "agri"])
