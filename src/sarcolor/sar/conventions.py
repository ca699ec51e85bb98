"""The torch-free part of the SAR conventions: scales, band dB ranges and speckle-filter names.

What the configuration (:mod:`sarcolor.config`) and the command line need to declare and check
options, without importing PyTorch: ``sarcolor --help`` and argument errors answer before torch
is loaded. :mod:`sarcolor.sar.radiometry` and :mod:`sarcolor.sar.speckle` re-export these names
beside the tensor code that uses them.

Example:
    >>> band_ranges(["VV", "VH"])
    [(-25.0, 0.0), (-32.5, 0.0)]
    >>> str(parse_despeckle("lee"))
    'lee:7'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from sarcolor.errors import SarcolorError

SarScale = Literal["auto", "db", "linear", "amplitude", "uint8"]
SAR_SCALES: tuple[str, ...] = get_args(SarScale)
DEFAULT_DB_RANGES: dict[str, tuple[float, float]] = {"VV": (-25.0, 0.0), "VH": (-32.5, 0.0)}

FILTERS: tuple[str, ...] = ("lee", "enhanced-lee", "frost", "gamma-map", "median", "box")
DEFAULT_WINDOW = 7
MAX_WINDOW = 51  # a fifth of a 256-pixel tile; literature windows are 3–15, and cost grows as window²
_VALID = f"expected NAME[:window[:looks]] with NAME one of {', '.join(FILTERS)}"


def db_range(band: str, ranges: Sequence[Sequence[float]] = (), index: int = 0) -> tuple[float, float]:
    """The dB range of a band: ``ranges[index]`` when given, else the default for its name.

    Bands without a default (e.g. ``HH``) take VV's range; the checkpoint records it.
    """
    if index < len(ranges):
        lo, hi = (float(v) for v in ranges[index])
        if not lo < hi:
            raise SarcolorError(f"dB range of band {band} must have low < high, got [{lo}, {hi}]")
        return lo, hi
    return DEFAULT_DB_RANGES.get(band.upper(), DEFAULT_DB_RANGES["VV"])


def band_ranges(bands: Sequence[str], ranges: Sequence[Sequence[float]] = ()) -> list[tuple[float, float]]:
    """The dB range of every band, in order."""
    if ranges and len(ranges) != len(bands):
        raise SarcolorError(f"{len(ranges)} dB range(s) given for {len(bands)} band(s) {', '.join(bands)}")
    return [db_range(b, ranges, i) for i, b in enumerate(bands)]


def check_scale(scale: str) -> str:
    if scale not in SAR_SCALES:
        raise SarcolorError(f"--sar-scale must be one of {', '.join(SAR_SCALES)}, got {scale!r}")
    return scale


def odd_window(window: int) -> bool:
    return 3 <= window <= MAX_WINDOW and window % 2 == 1


@dataclass(frozen=True)
class DespeckleSpec:
    """A speckle filter by name, its window (odd, 3 to 51) and the looks (``None``: estimated)."""

    name: str
    window: int = DEFAULT_WINDOW
    looks: float | None = None

    def __post_init__(self) -> None:
        if self.name not in FILTERS:
            raise SarcolorError(f"unknown speckle filter {self.name!r}; {_VALID}")
        if isinstance(self.window, bool) or not isinstance(self.window, int) or not odd_window(self.window):
            raise SarcolorError(
                f"speckle window must be an odd integer from 3 to {MAX_WINDOW}, not {self.window!r}; {_VALID}"
            )
        if self.looks is not None and not (math.isfinite(self.looks) and self.looks > 0):
            raise SarcolorError(f"speckle looks must be a number > 0, not {self.looks!r}; {_VALID}")

    def __str__(self) -> str:
        text = f"{self.name}:{self.window}"
        return text if self.looks is None else f"{text}:{float(self.looks)!r}"


def parse_despeckle(text: str | None) -> DespeckleSpec | None:
    """``'NAME[:window[:looks]]'`` → a spec; ``None``, ``''`` and ``'none'`` → ``None``.

    Examples: ``'lee'`` (window 7, looks estimated), ``'frost:5'``, ``'gamma-map:9:4.4'``.

    Raises:
        SarcolorError: an unknown name, a window that is not an odd integer from 3 to 51, or looks ≤ 0;
            the one-line message lists the valid filter names.
    """
    if text is None or text.strip().lower() in ("", "none"):
        return None
    parts = [part.strip() for part in text.strip().lower().split(":")]
    if len(parts) > 3:
        raise SarcolorError(f"bad speckle filter {text!r}; {_VALID}")
    name = parts[0].replace("_", "-")
    window: int = DEFAULT_WINDOW
    looks: float | None = None
    if len(parts) > 1:
        try:
            window = int(parts[1])
        except ValueError:
            raise SarcolorError(f"bad speckle window in {text!r}: not an integer; {_VALID}") from None
    if len(parts) > 2:
        try:
            looks = float(parts[2])
        except ValueError:
            raise SarcolorError(f"bad speckle looks in {text!r}: not a number; {_VALID}") from None
    return DespeckleSpec(name, window, looks)
