"""Sentinel-2 reflectance → the RGB targets of training, with one fixed display stretch.

The optical target of a GeoTIFF pair is true colour from the 10 m bands red, green and blue
(B04, B03, B02). Each band's digital numbers become surface (L2A) or top-of-atmosphere (L1C)
reflectance, then one fixed linear stretch maps reflectance to display values::

    ρ   = (DN + offset) / 10000          offset = 0, or −1000 from processing baseline 04.00 on
    RGB = clip(ρ / s2_max_reflectance, 0, 1)          s2_max_reflectance = 0.3 by default

The stretch is the same for every image (no per-image percentiles), so the model learns
absolute colours; ``s2_max_reflectance`` lives in :class:`~sarcolor.config.PreprocessConfig`
and therefore in every checkpoint. 0.3 shows vegetation, soil and water well and saturates
bright clouds, snow and roofs.

The offset comes from the file's metadata, first match wins (:func:`reflectance_of`):

1. a GDAL band scale other than 1: ρ = DN · scale + offset (GDAL's own unit conversion);
2. a GDAL band offset with scale 1: an offset in digital numbers, ρ = (DN + offset) / 10000;
3. a ``BOA_ADD_OFFSET`` (L2A) or ``RADIO_ADD_OFFSET`` (L1C) tag of the band or the file;
4. a processing baseline ≥ 04.00 — a ``PROCESSING_BASELINE`` tag, or ``_N0400_``-style token
   in a tag or in a BigEarthNet ``*_labels_metadata.json`` ``tile_source`` — means −1000
   (ESA added the offset to every product from 25 January 2022 on);
5. otherwise 0. Floating-point files whose values stay below 2 are taken as reflectance
   already (ρ = value).

Invalid pixels — GDAL nodata, masks, NaN/Inf, and DN 0 in all three bands of integer data
(Sentinel-2's NO_DATA value) — go into the validity mask, not into the colours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from sarcolor.data.geotiff import describe_bands, open_raster, read_window
from sarcolor.errors import SarcolorError
from sarcolor.textfiles import loads_json

QUANTIFICATION = 10000.0  # Sentinel-2 BOA/TOA_QUANTIFICATION_VALUE
BASELINE_OFFSET = -1000.0  # BOA_ADD_OFFSET / RADIO_ADD_OFFSET from processing baseline 04.00 on
OFFSET_BASELINE = 4.0
FLOAT_REFLECTANCE_MAX = 2.0  # float data whose 99th percentile stays below this is reflectance
RGB_BANDS: tuple[tuple[str, ...], ...] = (  # names a band of a 3-band file may carry, R, G, B
    ("B04", "B4", "red"),
    ("B03", "B3", "green"),
    ("B02", "B2", "blue"),
)
_BASELINE_TOKEN = re.compile(r"_N(\d{2})(\d{2})_")
_OFFSET_TAGS = ("BOA_ADD_OFFSET", "RADIO_ADD_OFFSET")


@dataclass(frozen=True)
class Reflectance:
    """``ρ = DN · scale + offset`` for one band, and the one-line reason it was chosen."""

    scale: float
    offset: float
    reason: str

    def apply(self, values: np.ndarray) -> np.ndarray:
        return values.astype(np.float32) * np.float32(self.scale) + np.float32(self.offset)


def stretch(reflectance: torch.Tensor | np.ndarray, max_reflectance: float) -> torch.Tensor:
    """(3, H, W) reflectance → display RGB in [0, 1]: ``clip(ρ / max_reflectance, 0, 1)``."""
    rho = torch.as_tensor(reflectance, dtype=torch.float32)
    return (rho / max_reflectance).clamp(0.0, 1.0)


def processing_baseline(text: str) -> float | None:
    """``…_N0205_…`` (a Sentinel-2 product name) or ``04.00`` → 2.05 / 4.0; else ``None``."""
    m = _BASELINE_TOKEN.search(text)
    if m:
        return int(m[1]) + int(m[2]) / 100.0
    try:
        return float(text.strip())
    except ValueError:
        return None


def reflectance_of(src, index: int) -> Reflectance:
    """How the band ``index`` (1-based) of an open Sentinel-2 raster becomes reflectance."""
    scale = src.scales[index - 1] if src.scales else 1.0
    offset = src.offsets[index - 1] if src.offsets else 0.0
    if scale not in (None, 0.0, 1.0):
        return Reflectance(scale, offset or 0.0, f"GDAL scale {scale:g}, offset {offset or 0:g}")
    if offset:
        return Reflectance(1 / QUANTIFICATION, offset / QUANTIFICATION, f"GDAL offset {offset:g} DN")
    tags = {**src.tags(), **src.tags(index)}
    for key in _OFFSET_TAGS:
        found = [v for k, v in tags.items() if k.upper().startswith(key)]
        if found:
            try:
                dn = float(found[0])
            except ValueError:
                raise SarcolorError(f"{src.name}: {key} tag {found[0]!r} is not a number") from None
            return Reflectance(1 / QUANTIFICATION, dn / QUANTIFICATION, f"{key} {dn:g} DN")
    baseline = _baseline(src, tags)
    if baseline is not None and baseline >= OFFSET_BASELINE:
        return Reflectance(
            1 / QUANTIFICATION,
            BASELINE_OFFSET / QUANTIFICATION,
            f"processing baseline {baseline:05.2f}: offset {BASELINE_OFFSET:g} DN",
        )
    if np.dtype(src.dtypes[index - 1]).kind == "f" and _looks_like_reflectance(src, index):
        return Reflectance(1.0, 0.0, "floating-point values below 2: reflectance already")
    return Reflectance(1 / QUANTIFICATION, 0.0, "DN / 10000, no offset")


def _baseline(src, tags: dict[str, str]) -> float | None:
    for key, value in tags.items():
        if "BASELINE" in key.upper() or _BASELINE_TOKEN.search(str(value)):
            found = processing_baseline(str(value))
            if found is not None:
                return found
    return _bigearthnet_baseline(str(src.name))


@lru_cache(maxsize=4096)
def _bigearthnet_baseline(path: str) -> float | None:
    """The baseline in a BigEarthNet patch's ``tile_source`` (e.g. ``…_N0205_…``), if any."""
    folder = Path(path).parent
    meta = folder / f"{folder.name}_labels_metadata.json"
    if not meta.is_file():
        return None
    try:
        source = loads_json(meta.read_text(), meta).get("tile_source", "")
    except (OSError, UnicodeDecodeError, ValueError, AttributeError, SarcolorError):
        return None
    return processing_baseline(source) if isinstance(source, str) and _BASELINE_TOKEN.search(source) else None


def _looks_like_reflectance(src, index: int) -> bool:
    factor = max(1, max(src.height, src.width) // 512)
    values, valid = read_window(src, [index], out_shape=(src.height // factor or 1, src.width // factor or 1))
    return not valid.any() or float(np.percentile(values[0][valid], 99)) <= FLOAT_REFLECTANCE_MAX


def rgb_band_indexes(src) -> list[int]:
    """1-based indexes of red, green, blue in a Sentinel-2 raster.

    Found by band description (``B04``/``B4``/``red``…), then by GDAL colour interpretation;
    a file with exactly three bands and neither is taken in the order red, green, blue (the
    order of RGB images, *not* the order of Sentinel-2 band numbers B02, B03, B04).
    """
    found = [_described(src, names) for names in RGB_BANDS]
    known = [i for i in found if i is not None]
    if len(known) == len(found):
        return known
    interp = [getattr(c, "name", str(c)) for c in src.colorinterp]
    if all(interp.count(c) == 1 for c in ("red", "green", "blue")):
        return [interp.index(c) + 1 for c in ("red", "green", "blue")]
    if src.count == 3:
        return [1, 2, 3]
    raise SarcolorError(
        f"{src.name}: {src.count} bands ({describe_bands(src)}), no red/green/blue found; "
        "describe them as B04, B03, B02 or keep exactly 3 bands in the order red, green, blue"
    )


def _described(src, names: tuple[str, ...]) -> int | None:
    tokens = [re.compile(rf"(^|[^a-z0-9]){n.lower()}($|[^a-z0-9])") for n in names]
    hits = [
        i for i, d in enumerate(src.descriptions, start=1) if d and any(t.search(d.lower()) for t in tokens)
    ]
    return hits[0] if len(hits) == 1 else None


@lru_cache(maxsize=4096)
def file_reflectance(path: str, index: int) -> Reflectance:
    """:func:`reflectance_of` for a file, decided once per process (float files are sampled)."""
    with open_raster(path) as src:
        return reflectance_of(src, index)


def read_rgb(
    sources: list[tuple[object, int, Reflectance]], window, max_reflectance: float
) -> tuple[torch.Tensor, np.ndarray]:
    """Red, green, blue → (RGB (3, h, w) in [0, 1], valid (h, w) bool).

    Args:
        sources: ``(open raster or WarpedVRT, 1-based band index, its reflectance)`` for red,
            green and blue, all on the grid ``window`` refers to.
        window: a rasterio ``Window``, or ``None`` for the whole raster.
        max_reflectance: the stretch's white point (``s2_max_reflectance``).
    """
    bands, valid = [], None
    all_zero = None
    for src, index, reflectance in sources:
        values, ok = read_window(src, [index], window=window)
        rho = reflectance.apply(values[0])
        integer = values.dtype.kind in "iu"
        zero = (values[0] == 0) if integer else np.zeros(values[0].shape, bool)
        all_zero = zero if all_zero is None else all_zero & zero
        valid = ok if valid is None else valid & ok
        bands.append(rho)
    assert valid is not None and all_zero is not None
    valid &= ~all_zero  # Sentinel-2 NO_DATA
    rgb = stretch(np.stack(bands), max_reflectance)
    rgb[:, torch.from_numpy(~valid)] = 0.0
    return rgb, valid
