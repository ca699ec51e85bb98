"""Reading GeoTIFF pairs — BigEarthNet patches and co-registered scenes — on the SAR grid.

The SAR raster is the reference grid. A window of it (the whole patch, or a scene window
grown by the training jitter) is read from

* the SAR bands of ``preprocess.bands`` (BigEarthNet: the sibling files ``<patch>_VV.tif``,
  ``<patch>_VH.tif``; scenes: the bands of ``<name>_s1.tif`` found by description or order,
  :func:`sarcolor.data.geotiff.select_bands`), scaled to [0, 1] with the configured
  ``sar_scale``, dB ranges and calibration (:func:`sarcolor.data.geotiff.sar_unit`);
* the Sentinel-2 red, green and blue bands (:mod:`sarcolor.data.optical`). When the optical
  raster is on another grid or CRS it is warped onto the SAR grid on the fly (rasterio
  ``WarpedVRT`` with the SAR CRS, transform and size; bilinear), so the window covers the same
  ground in both.

The validity mask is the AND of both sides' masks; invalid SAR pixels are set to 0 (the low
end of the dB range) and invalid optical pixels to black, and both are left out of the loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from sarcolor.config import PreprocessConfig
from sarcolor.data.discovery import SPLIT_BLOCK, Pair
from sarcolor.data.geotiff import decide_scale, open_raster, read_window, sar_unit, select_bands
from sarcolor.data.optical import file_reflectance, read_rgb, rgb_band_indexes
from sarcolor.errors import SarcolorError

BIGEARTHNET_RGB: tuple[str, ...] = ("B04", "B03", "B02")
IMAGE_SCALE_REASON = "image files: 8-bit grey scaled like SEN1-2 (0…255 ↔ the dB range)"


def resolve_sar_scale(pairs: Sequence[Pair], preprocess: PreprocessConfig) -> tuple[str, str]:
    """The scale of the training SAR files and a one-line reason.

    ``preprocess.sar_scale`` when given, else decided from the first pair's file
    (:func:`sarcolor.data.geotiff.decide_scale`). Image layouts (PNG, JPEG, 8/16-bit TIFF) are
    read as [0, 1] already: ``uint8``, one band only.

    Raises:
        SarcolorError: image pairs with several bands or another scale than auto/uint8.
    """
    if not pairs:
        raise SarcolorError("no pairs to decide the SAR scale from")
    first = pairs[0]
    if first.kind == "image":
        if len(preprocess.bands) != 1:
            raise SarcolorError(
                f"{first.s1}: image files hold one SAR band; preprocess.bands {preprocess.bands} "
                "needs GeoTIFF pairs (BigEarthNet patches or <name>_s1.tif scenes)"
            )
        if preprocess.sar_scale not in ("auto", "uint8"):
            raise SarcolorError(
                f"{first.s1}: image files are read as 8-bit grey scaled like SEN1-2; "
                f"--sar-scale {preprocess.sar_scale} does not apply (use auto or uint8)"
            )
        return "uint8", IMAGE_SCALE_REASON
    path, indexes = _sar_files(first, preprocess.bands)[0]
    with open_raster(path) as src:
        chosen = indexes or select_bands(src, preprocess.bands)
        decided, reason = decide_scale(src, chosen, preprocess.sar_scale)
    return decided, f"{reason} ({path.name})"


def load_geopair(
    pair: Pair, preprocess: PreprocessConfig, sensor: str = "s1", margin: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Read a GeoTIFF pair on the SAR grid.

    Args:
        pair: a ``bigearthnet`` or ``scene`` pair.
        preprocess: bands, SAR scale (``auto`` is decided per file), ranges, calibration and
            the optical stretch.
        sensor: ``s1`` — the source is the SAR; ``s2`` — the source is the optical RGB.
        margin: grow a scene window by this many pixels on every side, inside its split block
            and the scene (room for a random crop); ignored for whole-file pairs.

    Returns:
        ``(source (C, h, w), rgb (3, h, w), valid (h, w) bool)``, source and rgb in [0, 1].
    """
    sar_files = _sar_files(pair, preprocess.bands)
    with ExitStack() as stack:
        ref = stack.enter_context(open_raster(pair.s1))
        window = _window(pair, ref.height, ref.width, margin)
        rgb, valid = _read_optical(pair, ref, window, preprocess.s2_max_reflectance, stack)
        if sensor != "s1":
            return rgb, rgb, torch.from_numpy(valid)
        parts, first = [], 0
        for path, indexes in sar_files:
            src = ref if path == pair.s1 else stack.enter_context(open_raster(path))
            if (src.height, src.width) != (ref.height, ref.width):
                raise SarcolorError(
                    f"{path}: {src.width}×{src.height}, but {pair.s1.name} is {ref.width}×{ref.height}"
                )
            chosen = indexes or select_bands(src, preprocess.bands)
            scale = preprocess.sar_scale
            if scale == "auto":
                scale = _decided_scale(str(path), tuple(chosen))
            values, ok = read_window(src, chosen, window=window)
            ranges = preprocess.ranges[first : first + len(chosen)]
            parts.append(sar_unit(values, scale, ranges, preprocess.calibration))
            valid &= ok
            first += len(chosen)
    sar = torch.cat(parts)
    mask = torch.from_numpy(valid)
    sar[:, ~mask] = 0.0
    rgb[:, ~mask] = 0.0
    return sar, rgb, mask


def _sar_files(pair: Pair, bands: Sequence[str]) -> list[tuple[Path, list[int] | None]]:
    """``(file, band indexes)`` in band order; ``None``: find the bands in the file by name."""
    if pair.kind == "bigearthnet":
        return [(_sibling(pair.s1, band.upper()), [1]) for band in bands]
    return [(pair.s1, None)]


def _sibling(path: Path, band: str) -> Path:
    """``<patch>/<patch>_VV.tif`` → ``<patch>/<patch>_<band>.tif``."""
    found = path.with_name(f"{path.parent.name}_{band}.tif")
    if not found.is_file():
        raise SarcolorError(f"{path.parent}: no {band} band ({found.name} not found)")
    return found


@lru_cache(maxsize=4096)
def _decided_scale(path: str, indexes: tuple[int, ...]) -> str:
    with open_raster(path) as src:
        return decide_scale(src, indexes, "auto")[0]


def _window(pair: Pair, height: int, width: int, margin: int):
    """The rasterio ``Window`` to read: the whole raster, or the pair's window grown by ``margin``."""
    from rasterio.windows import Window

    if pair.window is None:
        return Window(0, 0, width, height)
    row, col, h, w = pair.window
    if row + h > height or col + w > width:
        raise SarcolorError(f"{pair.s1}: window {pair.window} outside the {width}×{height} raster")
    block_row, block_col = row // SPLIT_BLOCK * SPLIT_BLOCK, col // SPLIT_BLOCK * SPLIT_BLOCK
    top, left = max(row - margin, block_row), max(col - margin, block_col)
    bottom = min(row + h + margin, block_row + SPLIT_BLOCK, height)
    right = min(col + w + margin, block_col + SPLIT_BLOCK, width)
    return Window(left, top, right - left, bottom - top)


def _read_optical(pair: Pair, ref, window, max_reflectance: float, stack: ExitStack):
    """Red, green, blue of ``pair`` on the grid of the open SAR raster ``ref``."""
    if pair.kind == "bigearthnet":
        files = [(_sibling(pair.s2, band), 1) for band in BIGEARTHNET_RGB]
    else:
        with open_raster(pair.s2) as src:
            files = [(pair.s2, i) for i in rgb_band_indexes(src)]
    readers = {}
    for path in dict.fromkeys(p for p, _ in files):
        readers[path] = _on_grid(stack.enter_context(open_raster(path)), ref, stack)
    sources = [(readers[path], i, file_reflectance(str(path), i)) for path, i in files]
    return read_rgb(sources, window, max_reflectance)


def _on_grid(src, ref, stack: ExitStack):
    """``src`` itself when it shares ``ref``'s grid, else a bilinear ``WarpedVRT`` onto it."""
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT

    same = (
        (src.width, src.height) == (ref.width, ref.height)
        and src.crs == ref.crs
        and src.transform.almost_equals(ref.transform)
    )
    if same:
        return src
    if src.crs is None or ref.crs is None:
        raise SarcolorError(
            f"{src.name}: {src.width}×{src.height} without a shared CRS cannot be put on the grid of "
            f"{Path(ref.name).name} ({ref.width}×{ref.height})"
        )
    extra = {}
    if src.nodata is None:  # outside the optical footprint must read as invalid
        extra["nodata"] = np.nan if np.dtype(src.dtypes[0]).kind == "f" else 0
    return stack.enter_context(
        WarpedVRT(
            src,
            crs=ref.crs,
            transform=ref.transform,
            width=ref.width,
            height=ref.height,
            resampling=Resampling.bilinear,
            **extra,
        )
    )
