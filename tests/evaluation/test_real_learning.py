"""Learning on real radar: a small model trained on two real SEN1-2 scenes, scored on the third.

The suite's other learning checks use synthetic data, where SAR and colour are related by
construction. Here the pairs are real Sentinel-1 / Sentinel-2 patches (``../shared/data``,
skipped when absent), and the test scene is one the model never saw: the scene-level split the
evaluation promises. docs/quality.md holds the full leave-one-scene-out benchmark; the
settings here were chosen there (margins measured over two seeds).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import shared_path, tiny_config
from sarcolor.evaluation.evaluate import evaluate
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


@pytest.fixture(scope="module")
def real_scenes() -> Path:
    return shared_path("real", "sen1-2-scenes", "v_2")


def test_two_real_scenes_teach_colours_that_beat_the_mean_colour_on_a_third(
    real_scenes: Path, tmp_path: Path
) -> None:
    cfg = tiny_config(
        real_scenes,
        steps=STEPS,
        batch_size=4,
        lr=LR,
        lambda_l1=LAMBDA_L1,
        lr_decay_fraction=0.5,
        log_every=50,
        sample_every=STEPS,
        checkpoint_every=STEPS,
    ).replace(data={"holdout_terrain": HELD_OUT, "val_fraction": 0.0, "test_fraction": 0.0}, model=MODEL)
    run = train(cfg.validate(), tmp_path / "run", progress=False, echo=lambda _: None)
    result = evaluate(run.checkpoint, split="test", progress=False)
    s = result.summary()["all"]
    assert s["n"] == 20 and s["scenes"] == 1  # the whole held-out scene, nothing else
    mean_colour = s["baselines"]["mean_colour"]
    assert s["model"]["psnr"] > mean_colour["psnr"], result.table()
    assert s["model"]["mae"] < mean_colour["mae"], result.table()
