"""PSNR and SSIM per image against scikit-image on real and generated images."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from sarcolor.data.io import read_image
from sarcolor.evaluation.metrics import pixel_metrics


def reference(pred: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    psnr = peak_signal_noise_ratio(target, pred, data_range=1.0)
    ssim = structural_similarity(
        target,
        pred,
        data_range=1.0,
        channel_axis=-1,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
    )
    return psnr, ssim


def as_batch(*images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).double()


def test_against_scikit_image_on_real_images(real_sen12):
    target = read_image(real_sen12 / "agri" / "s2" / "ROIs1868_summer_s2_59_p30.png").astype(np.float64)
    other = read_image(real_sen12 / "grassland" / "s2" / "ROIs1970_fall_s2_11_p537.png").astype(np.float64)
    noisy = np.clip(target + np.random.default_rng(0).normal(0, 0.05, target.shape), 0, 1)
    preds, targets = [noisy, other], [target, target]
    ours = pixel_metrics(as_batch(*preds), as_batch(*targets))
    for i, (p, t) in enumerate(zip(preds, targets, strict=True)):
        ref_psnr, ref_ssim = reference(p, t)
        assert float(ours["psnr"][i]) == pytest.approx(ref_psnr, abs=1e-4)
        assert float(ours["ssim"][i]) == pytest.approx(ref_ssim, abs=1e-6)
        assert float(ours["l1"][i]) == pytest.approx(np.abs(p - t).mean(), abs=1e-9)


def test_scores_are_per_image_not_pooled():
    rng = np.random.default_rng(1)
    t = rng.random((2, 64, 64, 3))
    p = t.copy()
    p[0] += 0.01
    p[1] += 0.2
    ours = pixel_metrics(as_batch(*p), as_batch(*t))["psnr"]
    assert float(ours[0]) == pytest.approx(40.0, abs=1e-4) and float(ours[1]) == pytest.approx(
        20 * np.log10(5), abs=1e-4
    )
    pooled = 10 * np.log10(1 / np.mean((p - t) ** 2))
    assert abs(float(ours.mean()) - pooled) > 5  # averaging per image differs from pooling


def test_identical_images_are_capped():
    x = as_batch(np.full((16, 16, 3), 0.5))
    m = pixel_metrics(x, x)
    assert float(m["psnr"][0]) == 100.0 and float(m["ssim"][0]) == pytest.approx(1.0)
