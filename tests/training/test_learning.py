"""Does the model learn, and do tiles blend without seams? One short real training run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import tiny_config
from sarcolor.data.preprocess import decode_output, encode_input
from sarcolor.evaluation.evaluate import evaluate
from sarcolor.inference.colorizer import Colorizer
from sarcolor.synthetic import make_synthetic_dataset, render_scene
from sarcolor.training.trainer import train


@pytest.fixture(scope="module")
def learned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ngf = 8, 150 steps of batch 4 on 72 synthetic pairs (about a minute on 2 cores)."""
    root = make_synthetic_dataset(
        tmp_path_factory.mktemp("learn"), scenes_per_terrain=2, patches_per_scene=9, seed=3
    )
    cfg = tiny_config(
        root,
        steps=150,
        batch_size=4,
        log_every=50,
        sample_every=150,
        checkpoint_every=150,
        lr_decay_fraction=0.3,
    )
    cfg = cfg.replace(data={"num_workers": 1})
    return train(cfg, root.parent / "run", progress=False, echo=lambda _: None).checkpoint


def test_test_l1_is_clearly_below_the_mean_colour_baseline(learned: Path):
    result = evaluate(learned, split="test", progress=False)
    s = result.summary()["all"]
    assert s["n"] == 18  # two held-out scenes of nine patches
    mean_colour = s["baselines"]["mean_colour"]
    assert s["model"]["mae"] < 0.85 * mean_colour["mae"], result.table()
    assert s["model"]["psnr"] > mean_colour["psnr"] + 0.5, result.table()


def test_tiles_match_a_whole_image_pass_without_seams(learned: Path):
    sar, _ = render_scene("agri", 512, seed=99)  # a scene the model never saw
    image = sar[..., None].astype(np.float32) / 255.0
    colorizer = Colorizer(learned, "cpu", overlap=64)
    tiled = colorizer.colorize(image)
    with torch.inference_mode():
        x = encode_input(torch.from_numpy(image).permute(2, 0, 1)[None], colorizer.config.preprocess)
        whole = (
            decode_output(colorizer.generator(x), x, colorizer.config.preprocess)[0].permute(1, 2, 0).numpy()
        )
    assert tiled.shape == whole.shape == (512, 512, 3)
    diff = np.abs(tiled - whole)
    assert diff.mean() < 0.03, diff.mean()
    # no seams: the colour step across every tile border is no larger than across other columns
    steps = np.abs(np.diff(tiled, axis=1)).mean(axis=(0, 2))  # (511,) mean step between columns
    borders = [b - 1 for b in (128, 256, 384)]
    assert steps[borders].max() < 2.0 * np.median(steps), (steps[borders], np.median(steps))
    hard = Colorizer(learned, "cpu", overlap=0).colorize(image)  # plain crops, for contrast
    hard_steps = np.abs(np.diff(hard, axis=1)).mean(axis=(0, 2))
    assert hard_steps[255] > steps[255], (hard_steps[255], steps[255])  # blending softens the seam
