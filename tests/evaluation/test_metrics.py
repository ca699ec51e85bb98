"""Per-image metrics against independent references: scikit-image (PSNR, SSIM), hand computation
(SAM, MAE), on real and generated images, to 1e-4."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from sarcolor.data.io import read_image
from sarcolor.evaluation.metrics import mean_std, pixel_metrics


def reference(pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """Independent computations on (H, W, 3) float64 arrays."""
    ssim = structural_similarity(
        target,
        pred,
        data_range=1.0,
        channel_axis=-1,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
    )
    dot = (pred * target).sum(-1)
    norms = np.linalg.norm(pred, axis=-1) * np.linalg.norm(target, axis=-1)
    valid = norms > 1e-12
    angles = [
        math.degrees(math.acos(min(1.0, max(-1.0, d / n))))
        for d, n in zip(dot[valid], norms[valid], strict=True)
    ]
    return {
        "psnr": peak_signal_noise_ratio(target, pred, data_range=1.0),
        "ssim": ssim,
        "mae": float(np.abs(pred - target).mean()),
        "sam": float(np.mean(angles)) if angles else 0.0,
    }


def as_batch(*images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).double()


def check(preds: list[np.ndarray], targets: list[np.ndarray]) -> None:
    ours = pixel_metrics(as_batch(*preds), as_batch(*targets))
    for i, (p, t) in enumerate(zip(preds, targets, strict=True)):
        for name, value in reference(p, t).items():
            assert float(ours[name][i]) == pytest.approx(value, abs=1e-4), name


def test_against_references_on_real_images(real_sen12):
    target = read_image(real_sen12 / "agri" / "s2" / "ROIs1868_summer_s2_59_p30.png").astype(np.float64)
    other = read_image(real_sen12 / "grassland" / "s2" / "ROIs1970_fall_s2_11_p537.png").astype(np.float64)
    noisy = np.clip(target + np.random.default_rng(0).normal(0, 0.05, target.shape), 0, 1)
    check([noisy, other], [target, target])


def test_against_references_on_generated_images():
    rng = np.random.default_rng(3)
    target = rng.random((64, 48, 3))
    shifted = np.clip(target * np.array([0.8, 1.0, 1.2]), 0, 1)  # a colour cast: SAM sees it
    black = target.copy()
    black[:8] = 0.0  # pixels without a direction are left out of SAM
    check([shifted, black, rng.random((64, 48, 3))], [target, target, target])


def test_sam_measures_hue_not_brightness():
    t = np.random.default_rng(4).random((16, 16, 3)) + 0.1
    m = pixel_metrics(as_batch(t * 0.5), as_batch(t))
    assert float(m["sam"][0]) == pytest.approx(0.0, abs=1e-5)  # same direction, half as bright
    assert float(m["mae"][0]) > 0.1


def test_scores_are_per_image_not_pooled():
    rng = np.random.default_rng(1)
    t = rng.random((2, 64, 64, 3))
    p = t.copy()
    p[0] += 0.01
    p[1] += 0.2
    ours = pixel_metrics(as_batch(*p), as_batch(*t))["psnr"]
    assert float(ours[0]) == pytest.approx(40.0, abs=1e-4)
    assert float(ours[1]) == pytest.approx(20 * np.log10(5), abs=1e-4)
    pooled = 10 * np.log10(1 / np.mean((p - t) ** 2))
    assert abs(float(ours.mean()) - pooled) > 5  # averaging per image differs from pooling


def test_identical_images_are_capped():
    x = as_batch(np.full((16, 16, 3), 0.5))
    m = pixel_metrics(x, x)
    assert float(m["psnr"][0]) == 100.0 and float(m["ssim"][0]) == pytest.approx(1.0)
    assert float(m["sam"][0]) == pytest.approx(0.0, abs=1e-4) and float(m["mae"][0]) == 0.0


def test_mean_std():
    assert mean_std([2.0]) == (2.0, 0.0)
    mean, std = mean_std([1.0, 2.0, 3.0])
    assert mean == 2.0 and std == pytest.approx(1.0)
