"""Learning on real radar: a small model trained on two real SEN1-2 scenes, scored on the third.

The suite's other learning checks use synthetic data, where SAR and colour are related by
construction. Here the pairs are real Sentinel-1 / Sentinel-2 patches (``../shared/data``,
skipped when absent), and the test scene is one the model never saw: the scene-level split the
evaluation promises. docs/quality.md holds the full leave-one-scene-out benchmark; the
settings here were chosen there (margins measured over three seeds). Two recipes are covered at a
small budget: colour training from scratch (the resize decoder, the L1-dominated loss), and the
recommended two-stage model — a grey generator trained on the real NUAA grey pairs with
standardised SAR levels (``--target grey --sar-levels standardise``), coloured by
``sarcolor fit-colour`` on the other four colour scenes, scored on the fifth.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import load_benchmark, shared_path, tiny_config
from sarcolor.config import Config
from sarcolor.evaluation.evaluate import evaluate
from sarcolor.training.colour_stage import colour_stage
from sarcolor.training.trainer import train

pytestmark = pytest.mark.slow

HELD_OUT = "grassland"  # ROIs1970_fall scene 115; trained on agri (ROIs1868_summer 59) and barrenland (114)
# Measured in fp32 as the suite runs (docs/quality.md, "The real-data learning test"): five runs
# (seeds 0, 1, 2; 1 and 2 threads) gave PSNR 14.94-16.06 (mean 15.65) against the mean colour's
# 14.67, and MAE 0.134-0.153 (mean 0.143) against 0.164. Float summation order alone moves a run
# by ~0.7 dB, so the assertion is "beats", not a margin. With the GAN term or the founding
# decoder at this budget the model stayed at or below the mean colour in some runs.
STEPS, LR = 100, 1e-3
MODEL = {"upsample": "resize"}  # nearest ×2 + 3×3 convolutions: no dot grid
LAMBDA_L1 = 10_000.0  # the L1 term dominates: at 100 steps the adversarial term only adds noise
# The two-stage model: 100 grey steps on the NUAA pairs, the colour stage fitted on four scenes,
# scored on SEN1-2's ROIs1158_spring scene 90 (docs/quality.md, "The real-data learning test"):
# six runs (seeds 0, 1, 2; 1 and 2 threads) gave PSNR 13.59-13.72 against the mean colour's 13.47
# and MAE 0.178-0.181 against 0.183. At this budget the grey stage's luma barely varies, so the
# colour stage stays near the mean colour and adds a little structure: enough on scene 90 and
# agri, not on grassland (held out among three scenes, below the mean colour for every seed).
GREY_STEPS = 100
TWO_STAGE_HELD_OUT = "scene90"


def settings(data: Path, steps: int) -> Config:
    """The test's budget on ``data``: ngf 8, batch 4, ``steps`` steps, the recommended losses."""
    return tiny_config(
        data,
        steps=steps,
        batch_size=4,
        lr=LR,
        lambda_l1=LAMBDA_L1,
        lr_decay_fraction=0.5,
        log_every=50,
        sample_every=steps,
        checkpoint_every=steps,
    ).replace(data={"val_fraction": 0.0, "test_fraction": 0.0}, model=MODEL)


@pytest.fixture(scope="module")
def real_scenes() -> Path:
    return shared_path("real", "sen1-2-scenes", "v_2")


def test_two_real_scenes_teach_colours_that_beat_the_mean_colour_on_a_third(
    real_scenes: Path, tmp_path: Path
) -> None:
    cfg = settings(real_scenes, STEPS).replace(data={"holdout_terrain": HELD_OUT}).validate()
    run = train(cfg, tmp_path / "run", progress=False, echo=lambda _: None)
    result = evaluate(run.checkpoint, split="test", progress=False)
    s = result.summary()["all"]
    assert s["n"] == 20 and s["scenes"] == 1  # the whole held-out scene, nothing else
    mean_colour = s["baselines"]["mean_colour"]
    assert s["model"]["psnr"] > mean_colour["psnr"], result.table()
    assert s["model"]["mae"] < mean_colour["mae"], result.table()


def five_scenes(monkeypatch: pytest.MonkeyPatch, out: Path) -> Path:
    """The five real colour scenes as one folder of links, one terrain folder per scene
    (benchmarks/colour_scenes.py, as the leave-one-scene-out benchmark builds it)."""
    module = load_benchmark(monkeypatch, "colour_scenes")
    roots = [shared_path("real", "sen1-2-scenes", "v_2"), shared_path("real", "sen1-2-original")]
    root, folds = module.scene_folder(roots, out)
    assert TWO_STAGE_HELD_OUT in folds and len(folds) == 5
    return root


def test_the_two_stage_model_beats_the_mean_colour_on_a_held_out_scene(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenes = five_scenes(monkeypatch, tmp_path / "scenes")
    grey = settings(shared_path("real", "sen1-2-nuaa"), GREY_STEPS).replace(
        preprocess={"target": "grey", "sar_levels": "standardise"}
    )
    stage_one = train(grey.validate(), tmp_path / "grey", progress=False, echo=lambda _: None).checkpoint
    split = {"holdout_terrain": TWO_STAGE_HELD_OUT, "val_fraction": 0.0, "test_fraction": 0.0}
    model = colour_stage(stage_one, scenes, tmp_path / "two-stage.safetensors", split, echo=lambda _: None)
    result = evaluate(model, split="test", progress=False)
    s = result.summary()["all"]
    assert s["n"] == 15 and s["scenes"] == 1  # the whole held-out scene, nothing else
    mean_colour = s["baselines"]["mean_colour"]  # fitted on the four scenes the colour stage saw
    assert s["model"]["psnr"] > mean_colour["psnr"], result.table()
    assert s["model"]["mae"] < mean_colour["mae"], result.table()
