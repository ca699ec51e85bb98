"""SEN12MS (Schmitt et al. 2019) and SEN12MS-CR (Ebel et al. 2020): GeoTIFF patch triplets by ROI and scene.

::

    sen12ms/ ← ROIs1158_spring/ ← s1_1/ROIs1158_spring_s1_1_p30.tif   (and s2_1/…, lc_1/…)

    sen12ms-cr/ ← ROIs1158_spring_s1/s1_1/ROIs1158_spring_s1_1_p30.tif
                  ROIs1158_spring_s2/s2_1/ROIs1158_spring_s2_1_p30.tif
                  ROIs1158_spring_s2_cloudy/s2_cloudy_1/ROIs1158_spring_s2_cloudy_1_p30.tif

(``root`` may also be one ROI folder.) The folders are those of the SEN1-2 PNG release
(:mod:`sarcolor.data.sources.sen12`); the files are 256×256 GeoTIFFs on one UTM grid:

* ``s1``: 2 bands, float32 backscatter in dB, VV then VH (the bands carry no descriptions,
  so the order is the dataset's: VV is band 1, VH band 2);
* ``s2``: 13 bands B1…B12 with B8A, uint16 Level-1C top-of-atmosphere reflectance × 10000;
  the RGB target is B4, B3, B2 (bands 4, 3, 2, or found by description), stretched with
  ``preprocess.s2_max_reflectance`` (:mod:`sarcolor.data.optical`).

Pairs come from the name tokens (``_s1_`` ↔ ``_s2_``, same ROI, season, scene and patch;
:mod:`sarcolor.data.sources.naming`), never from sort order. The split group is the scene
``(roi, season, scene)``, e.g. ``ROIs1158_spring_1``, so ``--holdout-season`` works as for
SEN1-2. The land-cover folders ``lc_<scene>`` are not read. In SEN12MS-CR the clear ``s2``
patch is the target and the cloudy ``s2_cloudy`` patches are not used; their number is
reported among the problems, so a user who pointed at the dataset sees why they are left out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from sarcolor.data.geotiff import GEOTIFF_SUFFIXES, describe_bands, open_raster
from sarcolor.data.pairs import Discovery, Pair
from sarcolor.data.sources.geotiff_pairs import GeoTiffSource, SarFiles
from sarcolor.data.sources.naming import SEN12_NAME, Entry, entry_from_name, images, match, subdirs
from sarcolor.errors import SarcolorError

ROI_FOLDER = re.compile(r"^ROIs\d+_[A-Za-z]+(?:_(?P<part>s1|s2|s2_cloudy))?$")  # SEN12MS, SEN12MS-CR
SCENE_FOLDER = re.compile(r"^(?P<sensor>s1|s2|s2_cloudy)_(?P<scene>\d+)$")
SAR_BANDS: dict[str, int] = {"VV": 1, "VH": 2}  # the band order of SEN12MS and Sen1Floods11 S1 files
RGB_NAMES: tuple[tuple[str, str, str], ...] = (("B4", "B3", "B2"), ("B04", "B03", "B02"))
STACK_RGB: tuple[int, int, int] = (4, 3, 2)  # B4, B3, B2 in a B1…B12 stack (B8A, B10 come later)


def sar_band_indexes(path: Path, bands: Sequence[str]) -> list[int]:
    """1-based indexes of ``bands`` in a 2-band VV, VH file (SEN12MS, Sen1Floods11)."""
    unknown = [b for b in bands if b.upper() not in SAR_BANDS]
    if unknown:
        raise SarcolorError(f"{path}: holds VV (band 1) and VH (band 2), no {', '.join(unknown)}")
    return [SAR_BANDS[b.upper()] for b in bands]


@lru_cache(maxsize=4096)
def stack_rgb_indexes(path: Path) -> tuple[int, int, int]:
    """Red, green, blue of a Sentinel-2 band stack B1…B12: by description (B4/B04…), else 4, 3, 2.

    Raises:
        SarcolorError: the file has fewer than 4 bands (it is no such stack).
    """
    with open_raster(path) as src:
        names = [(d or "").upper() for d in src.descriptions]
        for red, green, blue in RGB_NAMES:
            if all(names.count(n) == 1 for n in (red, green, blue)):
                return names.index(red) + 1, names.index(green) + 1, names.index(blue) + 1
        if src.count < max(STACK_RGB):
            raise SarcolorError(
                f"{path}: {src.count} bands ({describe_bands(src)}); a Sentinel-2 stack B1…B12 "
                "has red, green, blue as bands 4, 3, 2"
            )
    return STACK_RGB


def roi_folders(root: Path) -> list[Path]:
    """``root`` itself when it is one ROI folder holding scene folders, else its ROI sub-folders."""
    if ROI_FOLDER.match(root.name) and any(SCENE_FOLDER.match(d.name) for d in subdirs(root)):
        return [root]
    return [d for d in subdirs(root) if ROI_FOLDER.match(d.name)]


def scene_folders(root: Path) -> list[tuple[Path, str]]:
    """``(folder, sensor)`` of every ``s1_<scene>``, ``s2_<scene>``, ``s2_cloudy_<scene>`` folder."""
    found = []
    for rdir in roi_folders(root):
        for sdir in subdirs(rdir):
            m = SCENE_FOLDER.match(sdir.name)
            if m:
                found.append((sdir, m["sensor"]))
    return found


class Sen12MS(GeoTiffSource):
    name = "sen12ms"
    title = "SEN12MS / SEN12MS-CR"
    structure = (
        "`ROIs<roi>_<season>/s1_<scene>/*.tif` (VV, VH dB) and `s2_<scene>/*.tif` (13 bands L1C); "
        "SEN12MS-CR's `ROIs…_s1/`, `ROIs…_s2/` (cloudy `…_s2_cloudy/` not used)"
    )
    split_unit = "scene (roi, season, scene)"
    hint = "ROIs*_<season>/{s1,s2}_<scene>/*.tif (SEN12MS)"

    def detect(self, root: Path) -> bool:
        """ROI and scene folders as SEN1-2's, whose first non-empty scene folder holds GeoTIFFs."""
        for folder, _ in scene_folders(root):
            files = images(folder)
            if files:
                return any(f.suffix.lower() in GEOTIFF_SUFFIXES for f in files)
        return False

    def discover(self, root: Path) -> Discovery:
        entries: list[Entry] = []
        problems: list[str] = []
        cloudy = 0
        for folder, sensor in scene_folders(root):
            files = images(folder, suffixes=GEOTIFF_SUFFIXES)
            if sensor == "s2_cloudy":
                cloudy += len(files)
                continue
            for path in files:
                parsed = SEN12_NAME.match(path.stem)
                if parsed is None:
                    problems.append(f"{path}: not a SEN12MS name (ROIs<roi>_<season>_{sensor}_<scene>_p<n>)")
                    continue
                entry = entry_from_name(path, folder_sensor=sensor, terrain=None)  # type: ignore[arg-type]
                if entry.sensor != sensor:
                    problems.append(f"{path}: named as {entry.sensor} but stored in {folder.name}/")
                    entry = Entry(path, sensor, entry.key, entry.group, entry.patch, None)  # type: ignore[arg-type]
                entries.append(entry)
        if cloudy:
            problems.append(
                f"{root}: {cloudy} cloudy Sentinel-2 patch(es) (s2_cloudy_<scene>/) not used; "
                "the clear s2 patch is the target"
            )
        return match(root, self.name, entries, problems)

    def sar_files(self, pair: Pair, bands: Sequence[str]) -> SarFiles:
        return [(pair.s1, sar_band_indexes(pair.s1, bands))]

    def optical_bands(self, pair: Pair) -> list[tuple[Path, int]]:
        return [(pair.s2, i) for i in stack_rgb_indexes(pair.s2)]
