"""Reading Sentinel-1 GeoTIFFs by windows: band choice, validity masks, SAR scale.

A window of a scene becomes the network's [0, 1] SAR scale (:mod:`sarcolor.sar.radiometry`)
plus a validity mask: a pixel is invalid where any chosen band is GDAL nodata, masked by a
band/dataset mask or alpha, NaN or ±Inf. Every failure is a one-line
:class:`~sarcolor.errors.SarcolorError` naming the file.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from sarcolor.data.io import check_dtypes, check_size, library_reason
from sarcolor.errors import SarcolorError
from sarcolor.sar.radiometry import check_scale, detect_scale, to_unit

GEOTIFF_SUFFIXES: frozenset[str] = frozenset({".tif", ".tiff"})
SCALE_SAMPLE = 1024  # √(pixels) that :func:`decide_scale` looks at
SCALE_WINDOWS = 4  # … as a 4×4 grid of windows spread over a larger raster


@contextmanager
def open_raster(path: str | Path) -> Iterator:
    """``rasterio.open`` with one-line errors and no warning for rasters without a CRS."""
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    path = Path(path)
    if not path.is_file():
        raise SarcolorError(f"{path}: file not found")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        try:
            src = rasterio.open(path)
        except Exception as exc:
            raise SarcolorError(f"{path}: cannot read image ({library_reason(exc, path)})") from None
        with src:
            check_size(path, src.width, src.height)
            check_dtypes(path, src.dtypes)
            yield src


def describe_bands(src) -> str:
    """``1:VV, 2:VH`` (or ``1, 2`` without descriptions), for messages."""
    return ", ".join(f"{i}:{d}" if d else str(i) for i, d in enumerate(src.descriptions, start=1))


def select_bands(src, wanted: Sequence[str], chosen: Sequence[str] | None = None) -> list[int]:
    """1-based band indexes of ``src`` feeding a model trained on the bands ``wanted``.

    ``chosen`` (the ``--band`` values, one per wanted band) names bands by description or
    index. Without it, bands are found by description (``VV`` matches ``VV``, ``Sigma0_VV``,
    ``vv_db``…); a raster with exactly as many bands as wanted is taken in order.
    """
    path, count = src.name, src.count
    if chosen:
        if len(chosen) != len(wanted):
            raise SarcolorError(
                f"{path}: --band given {len(chosen)} time(s), the model takes {len(wanted)} "
                f"band(s) ({', '.join(wanted)})"
            )
        return [_band_index(src, name) for name in chosen]
    found = [_by_description(src, name) for name in wanted]
    known = [i for i in found if i is not None]
    if len(known) == len(found):
        return known
    if count == len(wanted):
        return list(range(1, count + 1))
    raise SarcolorError(
        f"{path}: {count} bands ({describe_bands(src)}), none described as "
        f"{'/'.join(w for w, i in zip(wanted, found, strict=True) if i is None)}; pick with --band NAME|INDEX"
    )


def _band_index(src, name: str) -> int:
    if name.isdigit():
        index = int(name)
        if not 1 <= index <= src.count:
            raise SarcolorError(f"{src.name}: --band {index} out of range (bands: {describe_bands(src)})")
        return index
    found = _by_description(src, name)
    if found is None:
        raise SarcolorError(f"{src.name}: no band described as {name} (bands: {describe_bands(src)})")
    return found


def _by_description(src, name: str) -> int | None:
    token = re.compile(rf"(^|[^a-z0-9]){re.escape(name.lower())}($|[^a-z0-9])")
    hits = [i for i, d in enumerate(src.descriptions, start=1) if d and token.search(d.lower())]
    return hits[0] if len(hits) == 1 else None


def read_window(src, indexes: Sequence[int], window=None, out_shape=None) -> tuple[np.ndarray, np.ndarray]:
    """Raw values (C, h, w) with invalid pixels set to 0, and the validity mask (h, w) bool."""
    try:
        kwargs = {"window": window, "masked": True}
        if out_shape is not None:
            kwargs["out_shape"] = (len(indexes), *out_shape)
        data = src.read(list(indexes), **kwargs)
    except Exception as exc:
        reason = library_reason(exc, Path(src.name))
        raise SarcolorError(f"{src.name}: cannot read image ({reason})") from None
    invalid = np.ma.getmaskarray(data).any(axis=0)
    values = data.filled(0)
    if values.dtype.kind == "f":
        invalid |= ~np.isfinite(values).all(axis=0)
        values = np.where(invalid, 0, values)
    return values, np.asarray(~invalid)


def decide_scale(src, indexes: Sequence[int], scale: str) -> tuple[str, str]:
    """``scale``, or for ``auto`` the scale :func:`detect_scale` sees in a sample of the raster.

    The sample is the whole raster up to 1024² pixels, else a 4×4 grid of 256² windows spread
    over it and aligned to its blocks (a decimated read would decode every block: 2.2 s of a
    10,000² deflate scene, before the model starts). A sample can miss every valid pixel of a
    sparse scene (NaN everywhere but a few pixels); then the valid pixels are gathered at full
    resolution, a strip at a time.
    """
    check_scale(scale)
    if scale != "auto":
        return scale, f"--sar-scale {scale}"
    found, dtype = sample_values(src, indexes)
    decided, reason = detect_scale(found, dtype)
    return decided, f"auto: {reason}"


def sample_values(src, indexes: Sequence[int]) -> tuple[np.ndarray, np.dtype]:
    """(C, n) valid raw values of a sample of ``src`` (as :func:`decide_scale` describes) and
    their data type; what the scale is decided from and a scene's levels are measured on.

    Raises:
        SarcolorError: the raster has no valid pixel.
    """
    if src.height * src.width <= SCALE_SAMPLE * SCALE_SAMPLE:
        values, valid = read_window(src, indexes)
        found, dtype = values[:, valid], values.dtype
    else:
        parts = [read_window(src, indexes, window) for window in sample_windows(src)]
        found = np.concatenate([values[:, valid] for values, valid in parts], axis=1)
        dtype = parts[0][0].dtype
        if not found.size:
            found = valid_pixels(src, indexes, SCALE_SAMPLE * SCALE_SAMPLE)
    if not found.size:
        raise SarcolorError(f"{src.name}: no valid pixel (all nodata, NaN or Inf)")
    return found, dtype


def sample_windows(src, side: int = SCALE_SAMPLE // SCALE_WINDOWS, grid: int = SCALE_WINDOWS) -> list:
    """A ``grid``×``grid`` set of ``side``² windows spread evenly over ``src`` (centred in their
    cells), each starting on a block boundary where the raster is tiled."""
    from rasterio.windows import Window

    block_h, block_w = src.block_shapes[0] if src.block_shapes else (1, 1)
    h, w = min(side, src.height), min(side, src.width)

    def starts(size: int, extent: int, block: int) -> list[int]:
        out = []
        for k in range(grid):
            centre = (2 * k + 1) * extent // (2 * grid)
            start = max(0, min(extent - size, centre - size // 2))
            if block < extent:  # a tiled raster: the window starts on a block boundary
                start = min(start // block * block, extent - size)
            out.append(start)
        return sorted(set(out))

    return [Window(c, r, w, h) for r in starts(h, src.height, block_h) for c in starts(w, src.width, block_w)]


def valid_pixels(src, indexes: Sequence[int], limit: int, strip_pixels: int = 1 << 22) -> np.ndarray:
    """(C, n) values of up to ``limit`` valid pixels, read at full resolution in strips of about
    ``strip_pixels`` pixels (memory stays bounded whatever the raster's size)."""
    from rasterio.windows import Window

    rows = max(1, strip_pixels // max(1, src.width))
    parts, count = [], 0
    for top in range(0, src.height, rows):
        values, valid = read_window(src, indexes, Window(0, top, src.width, min(rows, src.height - top)))
        if valid.any():
            parts.append(values[:, valid][:, : limit - count])
            count += parts[-1].shape[1]
            if count >= limit:
                break
    return np.concatenate(parts, axis=1) if parts else np.zeros((len(indexes), 0), np.float32)


def sar_unit(
    values: np.ndarray, scale: str, ranges: Sequence[tuple[float, float]], calibration: float = 1.0
) -> torch.Tensor:
    """Raw (C, h, w) values of a decided ``scale`` → (C, h, w) float32 in [0, 1]."""
    return to_unit(torch.from_numpy(np.ascontiguousarray(values)), scale, ranges, calibration)
