"""SSL4EO-S12 (Wang et al. 2023): four seasons of Sentinel-1 and Sentinel-2 per location, a file per band.

::

    ssl4eo-s12/ ← s1/0000000/S1A_IW_GRDH_1SDV_20200327T170524_…_03ADC9_9F45/VV.tif, VH.tif
                  s2a/0000000/20200330T102021_20200330T102244_T32UQD/B4.tif, B3.tif, B2.tif, …
                  s2c/0000000/20200330T102021_20200330T102244_T32UQD/B4.tif, …

Each location folder holds one product folder per acquisition (normally four, one a season),
named by its Earth Engine ``system:index``, beside a ``metadata.json`` of the product's
properties. Band files are ``VV.tif``, ``VH.tif`` (float32 dB) and ``B2.tif``… (uint16
reflectance × 10000; ``B02.tif``-style names are accepted too). Rasters are in lon/lat and
the grids of the two sensors differ slightly (a pixel more or less, a shifted origin): the
optical bands are warped onto the SAR grid when read (:mod:`~sarcolor.data.sources.geotiff_pairs`).

Pairing: each Sentinel-1 acquisition is paired with the Sentinel-2 acquisition of the same
location closest in time, the dates taken from the product folder names (the first
``YYYYMMDDTHHMMSS`` token: the sensing start; ``system:time_start`` of ``metadata.json``
where a name has none), never from sort order. Acquisitions more than :data:`MAX_GAP_DAYS`
apart are not paired (they would show another season) and are reported, as are Sentinel-2
acquisitions no Sentinel-1 acquisition chose; two Sentinel-1 acquisitions may share their
nearest Sentinel-2 one. ``Pair.acquired`` records the two products and their distance in days.

Targets: Level-2A surface reflectance (``s2a/``) when the folder exists, else Level-1C
(``s2c/``); one level for the whole dataset, so the colours a model learns are consistent
(an unused ``s2c/`` is reported). The processing-baseline offset (−1000 DN from baseline
04.00, products from 25 January 2022 on) is read from the product name's ``_N0400_`` token
or the ``PROCESSING_BASELINE`` / ``PRODUCT_ID`` of ``metadata.json``; the Earth Engine
collections SSL4EO-S12 was drawn from (``COPERNICUS/S2``, ``COPERNICUS/S2_SR``, not the
``_HARMONIZED`` ones) keep it in the digital numbers.

The split group is the location (``0000000``): its four seasons show the same ground and go
to one split. The dataset's sampler kept location centres at least 1.5 patch radii (about
2 km) apart, while a patch is 2.64 km wide, so two neighbouring locations may overlap by a
few hundred metres; grouping them would need every location's bounds at discovery, which
is not done (251,079 locations).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

from sarcolor.data.optical import (
    BASELINE_OFFSET,
    OFFSET_BASELINE,
    QUANTIFICATION,
    Reflectance,
    processing_baseline,
)
from sarcolor.data.pairs import Discovery, Pair
from sarcolor.data.sources.geotiff_pairs import GeoTiffSource, SarFiles
from sarcolor.data.sources.naming import subdirs
from sarcolor.errors import SarcolorError, first_line
from sarcolor.textfiles import loads_json

S1_FOLDER = "s1"
S2_FOLDERS: tuple[str, ...] = ("s2a", "s2c")  # L2A preferred to L1C
STAMP = re.compile(r"(?<!\d)(\d{8}T\d{6})(?!\d)")  # 20200327T170524
MAX_GAP_DAYS = 45.0  # half a season: further apart, an optical image shows another season
RGB_FILES: tuple[tuple[str, ...], ...] = (("B4", "B04"), ("B3", "B03"), ("B2", "B02"))
METADATA = "metadata.json"
BASELINE_TOKEN = re.compile(r"_N\d{4}_")  # …_N0400_… in a Sentinel-2 product name


@dataclass(frozen=True)
class Acquisition:
    """One product folder of a location: when it was sensed and the band file naming it."""

    when: datetime
    folder: Path
    file: Path


def acquisition_time(folder: Path) -> datetime | None:
    """The sensing time of a product folder: its name's first date token, else ``system:time_start``.

    Example:
        >>> acquisition_time(Path("S1A_IW_GRDH_1SDV_20200327T170524_20200327T170549_031868_03ADC9_9F45"))
        datetime.datetime(2020, 3, 27, 17, 5, 24, tzinfo=datetime.timezone.utc)
    """
    m = STAMP.search(folder.name)
    if m:
        return datetime.strptime(m[1], "%Y%m%dT%H%M%S").replace(tzinfo=timezone.utc)
    start = _metadata(folder).get("system:time_start")
    if isinstance(start, int | float):
        return datetime.fromtimestamp(start / 1000, tz=timezone.utc)
    return None


@lru_cache(maxsize=4096)
def _metadata(folder: Path) -> dict:
    """A product folder's ``metadata.json`` (Earth Engine properties), ``{}`` if absent or unreadable."""
    try:
        found = loads_json((folder / METADATA).read_text(), folder / METADATA)
    except (OSError, UnicodeDecodeError, ValueError, SarcolorError):
        return {}
    return found if isinstance(found, dict) else {}


def band_file(folder: Path, names: Sequence[str]) -> Path | None:
    """The first of ``<name>.tif`` in ``folder`` that exists."""
    return next((folder / f"{n}.tif" for n in names if (folder / f"{n}.tif").is_file()), None)


class SSL4EO(GeoTiffSource):
    name = "ssl4eo"
    title = "SSL4EO-S12"
    structure = (
        "`s1/<location>/<S1 product>/{VV,VH}.tif` and `s2a/` (L2A) or `s2c/` (L1C) "
        "`<location>/<S2 product>/B{2,3,4}.tif`"
    )
    split_unit = "location (its four seasons)"
    hint = "s1/ and s2a/ or s2c/ location folders (SSL4EO-S12)"

    def detect(self, root: Path) -> bool:
        names = {d.name for d in subdirs(root)}
        return S1_FOLDER in names and any(n in names for n in S2_FOLDERS)

    def discover(self, root: Path) -> Discovery:
        problems: list[str] = []
        level = next(n for n in S2_FOLDERS if (root / n).is_dir())
        for other in S2_FOLDERS:
            if other != level and (root / other).is_dir():
                problems.append(f"{root / other}: not used; the targets are the {level}/ acquisitions")
        s1 = _acquisitions(root / S1_FOLDER, ("VV",), problems)
        s2 = _acquisitions(root / level, RGB_FILES[0], problems)
        pairs, unpaired, chosen = [], [], set()
        for location, acquisitions in s1.items():
            candidates = s2.get(location, [])
            for a in acquisitions:
                best = min(candidates, key=lambda b: (abs(b.when - a.when), b.when, b.folder), default=None)
                if best is None:
                    unpaired.append(a.file)
                    continue
                gap = abs(best.when - a.when).total_seconds() / 86400
                if gap > MAX_GAP_DAYS:
                    problems.append(
                        f"{a.folder}: nearest {level} acquisition {best.folder.name} is {gap:.0f} days "
                        f"away (more than {MAX_GAP_DAYS:g}); not paired"
                    )
                    unpaired.append(a.file)
                    continue
                chosen.add(best.file)
                name = f"{location}_{a.when:%Y%m%dT%H%M%S}"
                acquired = f"s1 {a.folder.name} | {level} {best.folder.name} ({gap:.1f} days apart)"
                pairs.append(Pair(a.file, best.file, name, location, self.name, acquired=acquired))
        unpaired += [b.file for bs in s2.values() for b in bs if b.file not in chosen]
        pairs.sort(key=lambda p: (p.split_group, p.name))
        return Discovery(root, self.name, pairs, sorted(unpaired), problems)

    def sar_files(self, pair: Pair, bands: Sequence[str]) -> SarFiles:
        files: SarFiles = []
        for band in bands:
            path = pair.s1.with_name(f"{band.upper()}.tif")
            if not path.is_file():
                raise SarcolorError(f"{pair.s1.parent}: no {band} band ({path.name} not found)")
            files.append((path, [1]))
        return files

    def optical_bands(self, pair: Pair) -> list[tuple[Path, int]]:
        found = []
        for names in RGB_FILES:
            path = band_file(pair.s2.parent, names)
            if path is None:
                missing = " or ".join(f"{n}.tif" for n in names)
                raise SarcolorError(f"{pair.s2.parent}: no {names[0]} band ({missing} not found)")
            found.append((path, 1))
        return found

    def reflectance(self, pair: Pair, path: Path, index: int) -> Reflectance:
        """The baseline offset from the product's name or ``metadata.json``, else the file's metadata."""
        baseline = product_baseline(path.parent)
        if baseline is not None and baseline >= OFFSET_BASELINE:
            reason = (
                f"processing baseline {baseline:05.2f} of {path.parent.name}: offset {BASELINE_OFFSET:g} DN"
            )
            return Reflectance(1 / QUANTIFICATION, BASELINE_OFFSET / QUANTIFICATION, reason)
        return super().reflectance(pair, path, index)


def product_baseline(folder: Path) -> float | None:
    """The processing baseline of a Sentinel-2 product folder (``_N0400_`` in its name or metadata)."""
    if BASELINE_TOKEN.search(folder.name):
        return processing_baseline(folder.name)
    meta = _metadata(folder)
    product = meta.get("PRODUCT_ID")
    if isinstance(product, str) and BASELINE_TOKEN.search(product):
        return processing_baseline(product)
    baseline = meta.get("PROCESSING_BASELINE")
    return processing_baseline(str(baseline)) if isinstance(baseline, str | int | float) else None


def _acquisitions(folder: Path, names: Sequence[str], problems: list[str]) -> dict[str, list[Acquisition]]:
    """The acquisitions of every location folder under ``s1/`` or ``s2?/``, by location."""
    found: dict[str, list[Acquisition]] = {}
    try:
        locations = subdirs(folder)
    except OSError as exc:
        problems.append(f"{folder}: cannot list ({first_line(exc)})")
        return found
    for location in locations:
        for product in subdirs(location):
            path = band_file(product, names)
            if path is None:
                problems.append(f"{product}: acquisition without {names[0]}.tif")
                continue
            when = acquisition_time(product)
            if when is None:
                problems.append(f"{product}: no date in the folder name or {METADATA}; not paired")
                continue
            found.setdefault(location.name, []).append(Acquisition(when, product, path))
    return found
