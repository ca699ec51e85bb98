"""Per-image pixel metrics on sRGB images in [0, 1] (data range 1).

Each metric returns one value per image; averages are taken over images afterwards. Pooling
the squared error over a whole batch first would weight the easy images' tiny errors against
the hard ones and inflate PSNR.
"""

from __future__ import annotations

import math

import torch
from kornia.metrics import ssim as ssim_map

PSNR_CAP_DB: float = 100.0  # identical images have infinite PSNR; capped so averages stay finite
METRICS: tuple[str, ...] = ("psnr", "ssim", "mae", "sam")
HIGHER_IS_BETTER: dict[str, bool] = {"psnr": True, "ssim": True, "mae": False, "sam": False, "lpips": False}
UNITS: dict[str, str] = {"psnr": "dB", "ssim": "", "mae": "", "sam": "°", "lpips": ""}


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


def mae(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) pair → (B,) mean absolute error."""
    return (pred - target).abs().mean(dim=(1, 2, 3))


def sam(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """(B, C, H, W) pair → (B,) spectral angle in degrees, averaged over pixels.

    The angle between the colour vectors of prediction and target at each pixel,
    ``arccos(<p, t> / (|p| |t|))`` (Kruse et al. 1993). Pixels where either vector is zero
    (pure black) have no direction and are left out; an image with none left scores 0.
    """
    dot = (pred * target).sum(dim=1)
    norms = pred.norm(dim=1) * target.norm(dim=1)
    valid = norms > eps
    cos = (dot / norms.clamp(min=eps)).clamp(-1.0, 1.0)
    angle = torch.rad2deg(torch.acos(cos)) * valid
    count = valid.sum(dim=(1, 2))
    return angle.sum(dim=(1, 2)) / count.clamp(min=1)


def pixel_metrics(pred: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    """``{"psnr", "ssim", "mae", "sam"}``, each (B,), for a batch of images in [0, 1]."""
    pred, target = pred.double(), target.double()
    return {
        name: fn(pred, target) for name, fn in (("psnr", psnr), ("ssim", ssim), ("mae", mae), ("sam", sam))
    }


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value)."""
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def masked_pixel_metrics(
    pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None
) -> dict[str, torch.Tensor]:
    """:func:`pixel_metrics` over the pixels where ``valid`` (B, 1, H, W) holds.

    ``None`` (every pixel valid) is exactly ``pixel_metrics``. Otherwise PSNR and MAE average
    over valid pixels, SAM over valid pixels with non-zero colour, and SSIM over the positions
    whose whole 11×11 window is valid (over valid centres when there is none).
    """
    if valid is None:
        return pixel_metrics(pred, target)
    pred, target = pred.double(), target.double()
    weight = valid.double().expand_as(pred)
    count = weight.sum(dim=(1, 2, 3)).clamp_min(1.0)
    diff = pred - target
    mse = (diff.pow(2) * weight).sum(dim=(1, 2, 3)) / count
    dot, norms = (pred * target).sum(dim=1), pred.norm(dim=1) * target.norm(dim=1)
    ok = (norms > 1e-12) & valid[:, 0]
    angle = torch.rad2deg(torch.acos((dot / norms.clamp(min=1e-12)).clamp(-1.0, 1.0))) * ok
    return {
        "psnr": (10.0 * torch.log10(1.0 / mse)).clamp(max=PSNR_CAP_DB),
        "ssim": _masked_ssim(pred, target, valid),
        "mae": (diff.abs() * weight).sum(dim=(1, 2, 3)) / count,
        "sam": angle.sum(dim=(1, 2)) / ok.sum(dim=(1, 2)).clamp(min=1),
    }


def _masked_ssim(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    if min(pred.shape[-2:]) < 11:
        return ssim(pred, target)
    smap = ssim_map(pred, target, window_size=11, max_val=1.0, padding="valid").mean(dim=1)
    inside = -torch.nn.functional.max_pool2d(-valid.double(), 11, stride=1)[:, 0] > 0.5  # window all valid
    centres = valid[:, 0, 5:-5, 5:-5]
    out = []
    for i in range(smap.shape[0]):
        keep = inside[i] if inside[i].any() else centres[i]
        out.append(smap[i][keep].mean() if keep.any() else smap[i].mean())
    return torch.stack(out)
