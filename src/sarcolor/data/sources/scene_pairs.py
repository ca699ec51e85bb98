"""Large co-registered GeoTIFF scene pairs, cut into windows.

::

    scenes/ ← alps_s1.tif, alps_s2.tif, delta_s1.tif, delta_s2.tif, …

``<name>_s1.tif`` holds the SAR (one band per polarisation), ``<name>_s2.tif`` Sentinel-2 red,
green, blue on any CRS or grid (warped onto the SAR grid when read). Each scene pair becomes
one :class:`~sarcolor.data.pairs.Pair` per :data:`WINDOW`-pixel window of a regular grid on
the SAR raster (``Pair.window``); training draws a random offset around each window inside
its split block. The split group is a :data:`SPLIT_BLOCK`-pixel block, ``<name>_b<row>_<col>``,
so neighbouring windows mostly share a split. Blocks of different splits still share an edge
(and the scene's season and sensor), so this layout measures generalisation across space
within one acquisition only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sarcolor.data.geotiff import open_raster
from sarcolor.data.optical import rgb_band_indexes
from sarcolor.data.pairs import Discovery, Pair
from sarcolor.data.sources.geotiff_pairs import GeoTiffSource, SarFiles
from sarcolor.errors import SarcolorError

SCENE_FILE = re.compile(r"^(?P<name>.+)_(?P<sensor>[sS][12])\.tiff?$", re.IGNORECASE)
WINDOW = 256  # one Pair per window of this side on a regular grid
SPLIT_BLOCK = 1024  # the split unit (4 × 4 windows); jitter stays inside it
MIN_EDGE_WINDOW = WINDOW // 4  # edge windows thinner than this are left out


def scene_windows(height: int, width: int, size: int = WINDOW) -> list[tuple[int, int, int, int]]:
    """``(row_off, col_off, height, width)`` of a regular ``size`` grid over a raster.

    Edge windows are cut at the border; those thinner than :data:`MIN_EDGE_WINDOW` are left
    out unless the raster has no other window on that axis (their pixels are still reached by
    the training jitter of the window beside them).

    Example:
        >>> scene_windows(300, 600)
        [(0, 0, 256, 256), (0, 256, 256, 256), (0, 512, 256, 88)]
    """

    def starts(length: int) -> list[int]:
        found = [s for s in range(0, length, size) if length - s >= MIN_EDGE_WINDOW]
        return found or [0]

    return [
        (r, c, min(size, height - r), min(size, width - c)) for r in starts(height) for c in starts(width)
    ]


class ScenePairs(GeoTiffSource):
    name = "scenes"
    title = "GeoTIFF scene pairs"
    structure = "`<name>_s1.tif` (SAR bands) beside `<name>_s2.tif` (red, green, blue; any grid)"
    split_unit = f"{SPLIT_BLOCK}-pixel block of a scene pair (neighbouring blocks share an edge)"
    hint = "<name>_s1.tif / <name>_s2.tif scenes"

    def detect(self, root: Path) -> bool:
        return any(SCENE_FILE.match(p.name) for p in root.iterdir() if p.is_file())

    def discover(self, root: Path) -> Discovery:
        files: dict[str, dict[str, Path]] = {"s1": {}, "s2": {}}
        problems: list[str] = []
        for path in sorted(p for p in root.iterdir() if p.is_file() and not p.name.startswith(".")):
            m = SCENE_FILE.match(path.name)
            if m:
                table = files[m["sensor"].lower()]
                if m["name"] in table:
                    problems.append(f"{path}: same scene name as {table[m['name']]}; the first is used")
                    continue
                table[m["name"]] = path
        pairs, unpaired = [], []
        for name, s1 in files["s1"].items():
            s2 = files["s2"].get(name)
            if s2 is None:
                unpaired.append(s1)
                continue
            try:
                with open_raster(s1) as src:
                    height, width = src.height, src.width
            except SarcolorError as exc:
                problems.append(str(exc))
                continue
            for index, window in enumerate(scene_windows(height, width)):
                row, col = window[:2]
                block = f"{name}_b{row // SPLIT_BLOCK}_{col // SPLIT_BLOCK}"
                pairs.append(Pair(s1, s2, f"{name}_r{row}_c{col}", block, self.name, None, index, window))
        unpaired += [p for n, p in files["s2"].items() if n not in files["s1"]]
        pairs.sort(key=lambda p: (p.split_group, p.patch))
        return Discovery(root, self.name, pairs, sorted(unpaired), problems)

    def sar_files(self, pair: Pair, bands: Sequence[str]) -> SarFiles:
        return [(pair.s1, None)]

    def optical_bands(self, pair: Pair) -> list[tuple[Path, int]]:
        with open_raster(pair.s2) as src:
            return [(pair.s2, i) for i in rgb_band_indexes(src)]

    def window(self, pair: Pair, height: int, width: int, margin: int) -> Any:
        """The pair's window grown by ``margin``, inside its split block and the scene."""
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
