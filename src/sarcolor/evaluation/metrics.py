"""Per-image pixel metrics on sRGB images in [0, 1] (data range 1).

Each metric returns one value per image; averages are taken over images afterwards (pooling
the error over a batch first would inflate PSNR).
"""

from __future__ import annotations

import torch
from kornia.metrics import ssim as ssim_map

PSNR_CAP_DB: float = 100.0  # identical images have infinite PSNR; capped so averages stay finite


def psnr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) pair in [0, 1] → (B,) PSNR in dB, 10·log10(1 / MSE) per image, capped at 100."""
    mse = (pred - target).pow(2).mean(dim=(1, 2, 3))
    return (10.0 * torch.log10(1.0 / mse)).clamp(max=PSNR_CAP_DB)


def ssim(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) pair in [0, 1] → (B,) SSIM (Wang et al. 2004): Gaussian window 11, σ 1.5.

    The SSIM map is averaged over the valid region (no padding) and the channels, exactly as
    scikit-image's ``structural_similarity(gaussian_weights=True, use_sample_covariance=False)``.
    (torchmetrics' SSIM differs from that reference by about 1e-3.)
    """
    return ssim_map(pred, target, window_size=11, max_val=1.0, padding="valid").mean(dim=(1, 2, 3))


def pixel_metrics(pred: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    """``{"psnr": (B,), "ssim": (B,), "l1": (B,)}`` for a batch of images in [0, 1]."""
    pred, target = pred.double(), target.double()
    return {
        "psnr": psnr(pred, target),
        "ssim": ssim(pred, target),
        "l1": (pred - target).abs().mean(dim=(1, 2, 3)),
    }
