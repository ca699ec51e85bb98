"""Learning on real radar: a small model trained on two real SEN1-2 scenes, scored on the third.

The suite's other learning checks use synthetic data, where SAR and colour are related by
construction. Here the pairs are real Sentinel-1 / Sentinel-2 patches (``../shared/data``,
skipped when absent), and the test scene is one the model never saw: the scene-level split the
evaluation promises. docs/quality.md holds the full leave-one-scene-out benchmark; the
settings here were chosen there (margins measured over three seeds). The recommended recipe for
real data is covered at a small budget: the resize decoder, the L1-dominated loss, and — in the
second case — the generator first trained with a grey target on the real NUAA grey pairs
(``--target grey``), then fine-tuned for colour (``--init-from``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import shared_path, tiny_config
from sarcolor.config import Config
from sarcolor.evaluation.evaluate import evaluate
from sarcolor.training.init_from import init_config
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
# With a 100-step grey pretraining on the NUAA pairs first (seeds 0, 1, 2; 1 thread): PSNR 15.27,
# 16.17, 15.19 and MAE 0.149, 0.135, 0.150 (from scratch, the same seeds: 15.66, 15.53, 16.06).
PRETRAIN_STEPS = 100


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


@pytest.mark.parametrize("start", ["scratch", "nuaa-grey"])
def test_two_real_scenes_teach_colours_that_beat_the_mean_colour_on_a_third(
    real_scenes: Path, tmp_path: Path, start: str
) -> None:
    cfg = settings(real_scenes, STEPS).replace(data={"holdout_terrain": HELD_OUT}).validate()
    init = None
    if start == "nuaa-grey":
        grey = settings(shared_path("real", "sen1-2-nuaa"), PRETRAIN_STEPS).replace(
            preprocess={"target": "grey"}
        )
        init = train(grey.validate(), tmp_path / "grey", progress=False, echo=lambda _: None).checkpoint
        cfg = init_config(cfg, init, {("preprocess", "target")})  # the grey generator, widened to RGB
        assert cfg.preprocess.target == "rgb" and cfg.model.upsample == "resize"
    run = train(cfg, tmp_path / "run", init_from=init, progress=False, echo=lambda _: None)
    result = evaluate(run.checkpoint, split="test", progress=False)
    s = result.summary()["all"]
    assert s["n"] == 20 and s["scenes"] == 1  # the whole held-out scene, nothing else
    mean_colour = s["baselines"]["mean_colour"]
    assert s["model"]["psnr"] > mean_colour["psnr"], result.table()
    assert s["model"]["mae"] < mean_colour["mae"], result.table()
