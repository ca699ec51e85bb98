"""A measure of periodic artefacts ("dot grids", checkerboards) in generated images.

A generator built of stride-2 layers can print a pattern that repeats every 2ᵏ pixels — from
transposed convolutions (Odena et al. 2016, "Deconvolution and Checkerboard Artifacts") or
from a discriminator whose 70×70 patches are 8 pixels apart. Such a pattern puts power at the
spatial frequencies (a/p, b/p) cycles per pixel of its period p, which natural images do not
single out. So, for a set of images:

1. each image's luminance (channel mean), minus its mean, times a 2-D Hann window, goes through
   a 2-D FFT; the power spectra are averaged over the images;
2. at every frequency bin of period ``p`` (every multiple of H/p, W/p, the DC bin excepted) the
   power of the 3×3 bins around it is compared with 9 × the median power of the ring 3–5 bins
   away (the local level of the image's own 1/f spectrum);
3. the score of period ``p`` is 10·log10 of the mean of those ratios, in dB.

The real SEN1-2 optical tiles score −0.3 to +0.4 dB at every period; adding a dot of +2 % of the
range every 8 pixels (one pixel in 64) raises their 8-pixel score to +5.5…+7.5 dB. Compare
outputs with their targets: ``excess = score(outputs) − score(targets)`` is what the model added.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

PERIODS: tuple[int, ...] = (2, 4, 8, 16, 32)
_RING = (3, 5)  # Chebyshev distances of the background ring, in bins


def mean_power_spectrum(images: Sequence[np.ndarray]) -> np.ndarray:
    """(H, W) mean power spectrum (unshifted, as ``np.fft.fft2``) of (H, W[, C]) images of one size."""
    if not images:
        raise ValueError("no images")
    h, w = images[0].shape[:2]
    window = np.outer(np.hanning(h), np.hanning(w))
    total = np.zeros((h, w))
    for image in images:
        if image.shape[:2] != (h, w):
            raise ValueError(f"images differ in size: {image.shape[:2]} and {(h, w)}")
        grey = image.astype(np.float64)
        grey = grey.mean(axis=-1) if grey.ndim == 3 else grey
        total += np.abs(np.fft.fft2((grey - grey.mean()) * window)) ** 2
    return total / len(images)


def grid_scores(images: Sequence[np.ndarray], periods: Sequence[int] = PERIODS) -> dict[int, float]:
    """Period (pixels) → score in dB (see the module docstring) of a set of images.

    Periods that do not divide the image size are left out.
    """
    power = mean_power_spectrum(images)
    h, w = power.shape
    out: dict[int, float] = {}
    for p in periods:
        if h % p or w % p:
            continue
        ratios = [
            _peak_ratio(power, (a * h // p) % h, (b * w // p) % w)
            for a in range(-(p // 2) + 1, p // 2 + 1)
            for b in range(-(p // 2) + 1, p // 2 + 1)
            if (a, b) != (0, 0)
        ]
        out[p] = float(10 * np.log10(np.mean(ratios)))
    return out


def _peak_ratio(power: np.ndarray, ky: int, kx: int) -> float:
    h, w = power.shape
    near = [(dy, dx) for dy in range(-1, 2) for dx in range(-1, 2)]
    lo, hi = _RING
    ring = [
        (dy, dx)
        for dy in range(-hi, hi + 1)
        for dx in range(-hi, hi + 1)
        if lo <= max(abs(dy), abs(dx)) <= hi
    ]
    peak = sum(power[(ky + dy) % h, (kx + dx) % w] for dy, dx in near)
    background = np.median([power[(ky + dy) % h, (kx + dx) % w] for dy, dx in ring])
    return float(peak / (len(near) * max(background, 1e-30)))
