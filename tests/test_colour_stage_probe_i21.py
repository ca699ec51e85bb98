"""benchmarks/colour_stage_probe.py: its luma fit is ``fit-colour``'s, its other stages are fitted
and scored per held-out scene, and an unknown feature is refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import load_benchmark, untrained_checkpoint
from sarcolor.data.sources import discover_pairs
from sarcolor.inference.colorizer import Colorizer
from sarcolor.training.colour_stage import fit_colour, neutral


@pytest.fixture(scope="module")
def grey(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("probe") / "grey.safetensors"
    return untrained_checkpoint(path, target="grey", gain=50.0, sar_levels="standardise")


def test_the_probe_fits_as_fit_colour_and_scores_each_scene(grey: Path, synthetic_v2: Path, monkeypatch):
    probe = load_benchmark(monkeypatch, "colour_stage_probe")
    samples = probe.gather(grey, [synthetic_v2], progress=False)
    xtx, xtt = probe.equations(samples, ["y"])
    weights = probe.solve(xtx, xtt)  # (2, 3): the offsets, then the gains
    gains, offsets = fit_colour(
        neutral(Colorizer(grey, device="cpu", form="eager")), discover_pairs(synthetic_v2).pairs
    )
    np.testing.assert_allclose(weights[1].numpy(), gains, atol=2e-6)
    np.testing.assert_allclose(weights[0].numpy(), offsets, atol=2e-6)
    assert weights[1].abs().min() > 1e-3  # the luma carries colour here: a test that can fail
    flat = probe.solve(xtx, xtt, shrink=0.0)  # no gain: the mean colour of the valid pixels
    mean = torch.stack([s.target[:, s.valid].sum(1) for s in samples]).sum(0) / sum(
        int(s.valid.sum()) for s in samples
    )
    assert torch.all(flat[1] == 0) and torch.allclose(flat[0], mean)
    scenes = {s.scene for s in samples}
    results = probe.probe(samples, ["y", "y+ybar+sar"], shrink=False)
    assert set(results) == {"y", "y+ybar+sar"} and len(scenes) >= 2
    for folds in results.values():
        assert set(folds) == scenes
        assert all(
            np.isfinite(f["psnr"]) and 0 < f["mae"] < 1 and -1 < f["ssim"] <= 1 for f in folds.values()
        )
    with pytest.raises(SystemExit, match="unknown colour"):
        probe.probe(samples, ["y+colour"], shrink=False)
