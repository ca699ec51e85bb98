"""Reading GeoTIFF pairs on the SAR grid: the shared half of every GeoTIFF layout.

The SAR raster is the reference grid. A window of it (the whole patch, or a scene window grown
by the training jitter) is read from

* the SAR bands of ``preprocess.bands`` (the files and band indexes the layout names,
  :meth:`GeoTiffSource.sar_files`; bands found by description or order otherwise,
  :func:`sarcolor.data.geotiff.select_bands`), scaled to [0, 1] with the configured
  ``sar_scale``, dB ranges and calibration (:func:`sarcolor.data.geotiff.sar_unit`);
* the Sentinel-2 red, green and blue bands (:meth:`GeoTiffSource.optical_bands`,
  :mod:`sarcolor.data.optical`). When the optical raster is on another grid or CRS it is
  warped onto the SAR grid on the fly (rasterio ``WarpedVRT`` with the SAR CRS, transform and
  size; bilinear), so the window covers the same ground in both.

The validity mask is the AND of both sides' masks; invalid SAR pixels are set to 0 (the low
end of the dB range) and invalid optical pixels to black, and both are left out of the loss.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from contextlib import ExitStack
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sarcolor.config import PreprocessConfig
from sarcolor.data.geotiff import decide_scale, open_raster, read_window, sar_unit, select_bands
from sarcolor.data.optical import Reflectance, file_reflectance, read_rgb
from sarcolor.data.pairs import Pair
from sarcolor.data.preprocess import source_sensor
from sarcolor.data.records import Sample
from sarcolor.data.sources.base import DataSource
from sarcolor.errors import SarcolorError

SarFiles = list[tuple[Path, list[int] | None]]


class GeoTiffSource(DataSource):
    """A layout of georeferenced SAR and optical rasters (dB or linear SAR, reflectance optical)."""

    @abstractmethod
    def sar_files(self, pair: Pair, bands: Sequence[str]) -> SarFiles:
        """``(file, 1-based band indexes)`` holding ``bands`` in order; ``None``: find by name."""

    @abstractmethod
    def optical_bands(self, pair: Pair) -> list[tuple[Path, int]]:
        """``(file, 1-based band index)`` of red, green and blue."""

    def reflectance(self, pair: Pair, path: Path, index: int) -> Reflectance:
        """How band ``index`` of the optical file ``path`` becomes reflectance: from the file's metadata.

        Layouts that keep the processing baseline beside the rasters (a product name, a JSON
        file) override this.
        """
        return file_reflectance(str(path), index)

    def window(self, pair: Pair, height: int, width: int, margin: int) -> Any:
        """The rasterio ``Window`` of the SAR raster to read: by default the whole raster."""
        from rasterio.windows import Window

        return Window(0, 0, width, height)

    def sar_scale(self, pair: Pair, preprocess: PreprocessConfig) -> tuple[str, str]:
        path, indexes = self.sar_files(pair, preprocess.bands)[0]
        with open_raster(path) as src:
            chosen = indexes or select_bands(src, preprocess.bands)
            decided, reason = decide_scale(src, chosen, preprocess.sar_scale)
        return decided, f"{reason} ({path.name})"

    def load(self, pair: Pair, preprocess: PreprocessConfig, margin: int = 0) -> Sample:
        sar_files = self.sar_files(pair, preprocess.bands)
        with ExitStack() as stack:
            ref = stack.enter_context(open_raster(sar_files[0][0]))
            window = self.window(pair, ref.height, ref.width, margin)
            rgb, valid = self._optical(pair, ref, window, preprocess.s2_max_reflectance, stack)
            if source_sensor(preprocess) != "s1":
                return Sample(rgb, rgb, torch.from_numpy(valid))
            parts, first = [], 0
            for path, indexes in sar_files:
                src = ref if path == sar_files[0][0] else stack.enter_context(open_raster(path))
                if (src.height, src.width) != (ref.height, ref.width):
                    raise SarcolorError(
                        f"{path}: {src.width}×{src.height}, but {Path(ref.name).name} is "
                        f"{ref.width}×{ref.height}"
                    )
                chosen = indexes or select_bands(src, preprocess.bands)
                scale: str = preprocess.sar_scale
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
        return Sample(sar, rgb, mask)

    def _optical(self, pair: Pair, ref, window, max_reflectance: float, stack: ExitStack):
        """Red, green, blue of ``pair`` on the grid of the open SAR raster ``ref``."""
        files = self.optical_bands(pair)
        readers = {}
        for path in dict.fromkeys(p for p, _ in files):
            readers[path] = on_grid(stack.enter_context(open_raster(path)), ref, stack)
        sources = [(readers[path], i, self.reflectance(pair, path, i)) for path, i in files]
        return read_rgb(sources, window, max_reflectance)


def sibling(path: Path, band: str) -> Path:
    """``<patch>/<patch>_VV.tif`` → ``<patch>/<patch>_<band>.tif`` (BigEarthNet-style band files)."""
    found = path.with_name(f"{path.parent.name}_{band}.tif")
    if not found.is_file():
        raise SarcolorError(f"{path.parent}: no {band} band ({found.name} not found)")
    return found


@lru_cache(maxsize=4096)
def _decided_scale(path: str, indexes: tuple[int, ...]) -> str:
    with open_raster(path) as src:
        return decide_scale(src, indexes, "auto")[0]


def on_grid(src, ref, stack: ExitStack):
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
