"""SAR radiometry: whatever a Sentinel-1 file holds → the [0, 1] scale the network was trained on.

The network's SAR input is backscatter in **dB**, clipped to a per-band range and mapped
linearly to [0, 1] (then to [-1, 1] by :func:`sarcolor.data.preprocess.encode_input`)::

    unit = clip((dB − lo) / (hi − lo), 0, 1)        VV: [lo, hi] = [−25, 0] dB
                                                    VH: [lo, hi] = [−32.5, 0] dB

This is the SEN1-2 convention: its 8-bit PNGs hold ``g = round(255 · unit)`` for VV, so
``dB = −25 + 25 · g / 255`` (g = 0 ↔ −25 dB or below, g = 255 ↔ 0 dB or above, one grey level ≈
0.098 dB). Every input scale reaches dB first:

=============  ===============================================  ======================================
scale          file holds                                       to dB
=============  ===============================================  ======================================
``db``         backscatter in dB (float)                        as is
``linear``     σ⁰ (or γ⁰, β⁰) intensity, linear (float)         10 · log10(max(x, 1e-10))
``amplitude``  amplitude, e.g. GRD digital numbers (uint16)     20 · log10(max(x / K, 1e-5))
``uint8``      8-bit values already scaled like SEN1-2           unit = x / 255 (no dB step)
=============  ===============================================  ======================================

K is ``calibration`` (1 for calibrated amplitude). ``auto`` picks one from the data type and
the value range (:func:`detect_scale`) and says in one line what it decided. Speckle filters
(:mod:`sarcolor.sar.speckle`) work on linear intensity: :func:`unit_to_linear` and
:func:`linear_to_unit` go between the two.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from sarcolor.errors import SarcolorError

# declared torch-free in conventions (the configuration needs them without torch); re-exported here
from sarcolor.sar.conventions import DEFAULT_DB_RANGES as DEFAULT_DB_RANGES
from sarcolor.sar.conventions import SAR_SCALES as SAR_SCALES
from sarcolor.sar.conventions import SarScale as SarScale
from sarcolor.sar.conventions import band_ranges as band_ranges
from sarcolor.sar.conventions import check_scale as check_scale
from sarcolor.sar.conventions import db_range

LINEAR_FLOOR: float = 1e-10  # −100 dB: far below any range, so log10 never sees 0
AMPLITUDE_FLOOR: float = 1e-5  # the same −100 dB for amplitudes


def to_db(raw: torch.Tensor, scale: str, calibration: float = 1.0) -> torch.Tensor:
    """Backscatter of any scale but ``uint8`` → dB (same shape, float32)."""
    x = raw.float()
    if scale == "db":
        return x
    if scale == "linear":
        return 10.0 * torch.log10(x.clamp_min(LINEAR_FLOOR))
    if scale == "amplitude":
        return 20.0 * torch.log10((x / calibration).clamp_min(AMPLITUDE_FLOOR))
    raise SarcolorError(f"cannot convert scale {scale!r} to dB (one of db, linear, amplitude)")


def _range_tensors(ranges: Sequence[tuple[float, float]], like: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Per-channel (lo, hi) as tensors broadcasting over (..., C, H, W)."""
    lo = torch.tensor([r[0] for r in ranges], dtype=torch.float32, device=like.device).view(-1, 1, 1)
    hi = torch.tensor([r[1] for r in ranges], dtype=torch.float32, device=like.device).view(-1, 1, 1)
    return lo, hi


def db_to_unit(db: torch.Tensor, ranges: Sequence[tuple[float, float]]) -> torch.Tensor:
    """(…, C, H, W) dB → [0, 1], clipped to each channel's range."""
    lo, hi = _range_tensors(ranges, db)
    return ((db.float() - lo) / (hi - lo)).clamp(0.0, 1.0)


def unit_to_db(unit: torch.Tensor, ranges: Sequence[tuple[float, float]]) -> torch.Tensor:
    """(…, C, H, W) [0, 1] → dB (inverse of :func:`db_to_unit` inside the range)."""
    lo, hi = _range_tensors(ranges, unit)
    return lo + unit.float() * (hi - lo)


def unit_to_linear(unit: torch.Tensor, ranges: Sequence[tuple[float, float]]) -> torch.Tensor:
    """(…, C, H, W) [0, 1] → linear intensity 10^(dB/10)."""
    return torch.pow(10.0, unit_to_db(unit, ranges) / 10.0)


def linear_to_unit(linear: torch.Tensor, ranges: Sequence[tuple[float, float]]) -> torch.Tensor:
    """(…, C, H, W) linear intensity → [0, 1]."""
    return db_to_unit(to_db(linear, "linear"), ranges)


def to_unit(
    raw: torch.Tensor, scale: str, ranges: Sequence[tuple[float, float]], calibration: float = 1.0
) -> torch.Tensor:
    """(…, C, H, W) raw values of ``scale`` (not ``auto``) → the network's [0, 1] scale."""
    if scale == "uint8":
        return (raw.float() / 255.0).clamp(0.0, 1.0)
    return db_to_unit(to_db(raw, scale, calibration), ranges)


def uint8_to_db(grey: np.ndarray | torch.Tensor, band: str = "VV") -> np.ndarray | torch.Tensor:
    """SEN1-2 8-bit grey levels → dB (``−25 + 25 · g / 255`` for VV)."""
    lo, hi = db_range(band)
    return lo + grey * ((hi - lo) / 255.0)


def db_to_uint8(db: np.ndarray, band: str = "VV") -> np.ndarray:
    """dB → SEN1-2 8-bit grey levels: ``rint((clip(dB, lo, hi) − lo) / (hi − lo) · 255)``, float32.

    The inverse of :func:`uint8_to_db` (exact for every level); any shape.

    Example:
        >>> db_to_uint8(np.array([-30.0, -25.0, -12.5, 0.0, 5.0])).tolist()
        [0, 0, 128, 255, 255]
    """
    lo, hi = (np.float32(v) for v in db_range(band))
    clipped = np.clip(np.asarray(db, dtype=np.float32), lo, hi)
    return np.rint((clipped - lo) / (hi - lo) * np.float32(255.0)).astype(np.uint8)


def detect_scale(values: np.ndarray, dtype: np.dtype | str) -> tuple[str, str]:
    """Decide the scale of SAR data from its data type and the range of its valid ``values``.

    Returns ``(scale, reason)``; ``reason`` is the one line the CLI prints. Rules:

    * ``uint8`` data → ``uint8`` (already scaled like SEN1-2);
    * other integer data → ``amplitude`` (GRD products store amplitude digital numbers);
    * floating data with negative values, or a median above 1 and values up to 60 → ``db``;
    * non-negative floating data with a median above 1 and values beyond 60 → ``amplitude``;
    * non-negative floating data with a median below 1 → ``linear`` σ⁰.
    """
    dtype = np.dtype(dtype)
    finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values
    if finite.size == 0:
        raise SarcolorError("no valid pixel to decide the SAR scale from")
    lo, med, hi = (float(v) for v in np.percentile(finite, [1, 50, 99]))
    span = f"values {lo:.3g}…{hi:.3g}, median {med:.3g}"
    if dtype == np.uint8:
        return "uint8", f"{dtype} data: taken as 8-bit grey scaled like SEN1-2 (0…255 ↔ the dB range)"
    if dtype.kind in "iu":
        return "amplitude", f"{dtype} data ({span}): taken as amplitude, dB = 20·log10(DN / calibration)"
    if lo < 0 or (med > 1.0 and hi <= 60.0):
        return "db", f"{dtype} data ({span}): taken as backscatter in dB"
    if med > 1.0:
        return "amplitude", f"{dtype} data ({span}): taken as amplitude, dB = 20·log10(x / calibration)"
    return "linear", f"{dtype} data ({span}): non-negative, taken as linear σ⁰ intensity, dB = 10·log10(x)"
