"""Find Sentinel-1/Sentinel-2 image pairs on disk.

Three layouts are recognised (``root`` may be any of the folders shown with ←):

* Kaggle "sentinel12-image-pairs-segregated-by-terrain"::

      dataset/ ← v_2/ ← <terrain>/ ← {s1,s2}/ROIs1868_summer_s1_59_p30.png

* the original SEN1-2 release::

      sen12/ ← ROIs1868_summer/ ← s1_59/ROIs1868_summer_s1_59_p30.png  (and s2_59/…)

* a generic pair of folders ``A/`` (SAR) and ``B/`` (optical) holding files of the same names.

Files are paired by name, never by sort position: ``…_s1_…`` in a SEN1-2 name is matched with
``…_s2_…`` (as a whole ``_s1_`` token: ``ROIs1970`` also contains the letters "s1"). Files
without a partner are reported in :attr:`Discovery.unpaired`, never silently dropped.

Scene identity is ``(roi, season, scene)`` — e.g. ``ROIs1868_summer_59`` — independent of the
terrain folder, because the Kaggle data files patches of one scene under two terrains.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from sarcolor.errors import SarcolorError

IMAGE_SUFFIXES: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff"})
SEN12_NAME = re.compile(
    r"^(?P<roi>ROIs\d+)_(?P<season>[A-Za-z]+)_(?P<sensor>s[12])_(?P<scene>\d+)_p(?P<patch>\d+)$"
)
SENSOR_TOKEN = re.compile(r"(?<=_)s[12](?=_)")
ROI_FOLDER = re.compile(r"^ROIs\d+_[A-Za-z]+$")
SCENE_FOLDER = re.compile(r"^(?P<sensor>s[12])_(?P<scene>\d+)$")

Layout = Literal["kaggle", "sen12", "generic"]
Sensor = Literal["s1", "s2"]


@dataclass(frozen=True)
class Pair:
    """One co-registered SAR/optical pair.

    Attributes:
        s1: the Sentinel-1 (SAR) image.
        s2: the Sentinel-2 (optical) image.
        name: the pair's name: the s1 file's stem with the sensor token removed, e.g.
            ``ROIs1868_summer_59_p30``; outputs are named after the s1 file.
        scene: the scene id used to split, e.g. ``ROIs1868_summer_59``.
        terrain: the Kaggle terrain folder, or ``None`` in the other layouts.
        patch: the patch number when the name carries one (for natural ordering).
    """

    s1: Path
    s2: Path
    name: str
    scene: str
    terrain: str | None = None
    patch: int = -1

    @property
    def season(self) -> str | None:
        """The season of a SEN1-2 scene id (``ROIs1868_summer_59`` → ``summer``), else ``None``."""
        parts = self.scene.split("_")
        return parts[1] if len(parts) == 3 and parts[0].startswith("ROIs") else None


@dataclass
class Discovery:
    """The result of :func:`discover_pairs`."""

    root: Path
    layout: Layout
    pairs: list[Pair]
    unpaired: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def terrains(self) -> list[str]:
        return sorted({p.terrain for p in self.pairs if p.terrain is not None})

    def filter_terrains(self, terrains: Sequence[str]) -> Discovery:
        """Keep only the pairs of the given terrains (error if one is unknown)."""
        if not terrains:
            return self
        unknown = sorted(set(terrains) - set(self.terrains))
        if unknown:
            have = ", ".join(self.terrains) or "none (this layout has no terrain folders)"
            raise SarcolorError(f"{self.root}: no terrain {', '.join(unknown)}; available: {have}")
        keep = set(terrains)
        return Discovery(
            self.root,
            self.layout,
            [p for p in self.pairs if p.terrain in keep],
            [u for u in self.unpaired if _terrain_of(u, self) in keep],
            self.problems,
        )


@dataclass(frozen=True)
class _Entry:
    path: Path
    sensor: Sensor
    key: tuple[str, ...]
    scene: str
    patch: int
    terrain: str | None


def discover_pairs(root: str | Path) -> Discovery:
    """Find every pair under ``root`` (see the module docstring for the layouts).

    Raises:
        SarcolorError: if ``root`` does not exist or holds none of the known layouts.
    """
    root = Path(root)
    if not root.is_dir():
        raise SarcolorError(f"{root}: data folder not found")
    if (root / "v_2").is_dir():
        return discover_pairs(root / "v_2")
    if _is_terrain_folder(root):
        return _discover_kaggle(root, [root])
    terrains = [d for d in _subdirs(root) if _is_terrain_folder(d)]
    if terrains:
        return _discover_kaggle(root, terrains)
    if (root / "A").is_dir() and (root / "B").is_dir():
        return _discover_generic(root)
    if ROI_FOLDER.match(root.name) and any(SCENE_FOLDER.match(d.name) for d in _subdirs(root)):
        return _discover_sen12(root, [root])
    rois = [d for d in _subdirs(root) if ROI_FOLDER.match(d.name)]
    if rois:
        return _discover_sen12(root, rois)
    raise SarcolorError(
        f"{root}: no image pairs found; expected v_2/<terrain>/{{s1,s2}}/ (Kaggle), "
        "ROIs*_<season>/{s1,s2}_<scene>/ (SEN1-2) or A/ and B/ folders"
    )


def _discover_kaggle(root: Path, terrain_dirs: Iterable[Path]) -> Discovery:
    entries: list[_Entry] = []
    problems: list[str] = []
    for tdir in terrain_dirs:
        for sensor in ("s1", "s2"):
            folder = tdir / sensor
            if not folder.is_dir():
                problems.append(f"{tdir}: terrain folder has no {sensor}/ subfolder")
                continue
            for path in _images(folder):
                entry = _entry_from_name(path, folder_sensor=sensor, terrain=tdir.name)
                if entry.sensor != sensor:
                    problems.append(f"{path}: named as {entry.sensor} but stored in {sensor}/")
                    entry = _Entry(path, sensor, entry.key, entry.scene, entry.patch, entry.terrain)
                entries.append(entry)
    return _match(root, "kaggle", entries, problems)


def _discover_sen12(root: Path, roi_dirs: Iterable[Path]) -> Discovery:
    entries: list[_Entry] = []
    problems: list[str] = []
    for rdir in roi_dirs:
        for sdir in _subdirs(rdir):
            m = SCENE_FOLDER.match(sdir.name)
            if not m:
                continue
            sensor = m["sensor"]
            for path in _images(sdir):
                entry = _entry_from_name(path, folder_sensor=sensor, terrain=None)
                if SEN12_NAME.match(path.stem) is None:  # keep unparsed names inside their scene
                    scene = f"{rdir.name}_{m['scene']}"
                    entry = _Entry(path, sensor, (scene, *entry.key), scene, -1, None)
                entries.append(entry)
    return _match(root, "sen12", entries, problems)


def _discover_generic(root: Path) -> Discovery:
    entries: list[_Entry] = []
    for folder, sensor in ((root / "A", "s1"), (root / "B", "s2")):
        for path in _images(folder, recursive=True):
            rel = path.relative_to(folder).with_suffix("")
            parsed = SEN12_NAME.match(path.stem)
            scene = f"{parsed['roi']}_{parsed['season']}_{parsed['scene']}" if parsed else str(rel)
            patch = int(parsed["patch"]) if parsed else -1
            entries.append(_Entry(path, sensor, (str(rel),), scene, patch, None))
    return _match(root, "generic", entries, [])


def _entry_from_name(path: Path, folder_sensor: Sensor, terrain: str | None) -> _Entry:
    """Key a file by its name with the sensor token taken out."""
    m = SEN12_NAME.match(path.stem)
    if m:
        scene = f"{m['roi']}_{m['season']}_{m['scene']}"
        key = (terrain or "", scene, m["patch"])
        return _Entry(path, m["sensor"], key, scene, int(m["patch"]), terrain)
    tokens = SENSOR_TOKEN.findall(path.stem)
    sensor: Sensor = tokens[0] if len(tokens) == 1 else folder_sensor
    stem = SENSOR_TOKEN.sub("s", path.stem, count=1) if len(tokens) == 1 else path.stem
    return _Entry(path, sensor, (terrain or "", stem), stem, -1, terrain)


def _match(root: Path, layout: Layout, entries: list[_Entry], problems: list[str]) -> Discovery:
    by_sensor: dict[str, dict[tuple[str, ...], _Entry]] = {"s1": {}, "s2": {}}
    clashes: set[tuple[str, tuple[str, ...]]] = set()
    for e in entries:
        table = by_sensor[e.sensor]
        if e.key in table:
            problems.append(f"{e.path}: same pair name as {table[e.key].path}; both ignored")
            clashes.add((e.sensor, e.key))
            continue
        table[e.key] = e
    for sensor, key in clashes:  # which of two same-named files is meant cannot be known
        del by_sensor[sensor][key]
    pairs, unpaired = [], []
    for key, a in by_sensor["s1"].items():
        b = by_sensor["s2"].get(key)
        if b is None:
            unpaired.append(a.path)
            continue
        name = SENSOR_TOKEN.sub("", a.path.stem, count=1).replace("__", "_")
        pairs.append(Pair(a.path, b.path, name, a.scene, a.terrain, a.patch))
    unpaired += [e.path for k, e in by_sensor["s2"].items() if k not in by_sensor["s1"]]
    pairs.sort(key=lambda p: (p.terrain or "", p.scene, p.patch, p.name))
    return Discovery(root, layout, pairs, sorted(unpaired), problems)


def _is_terrain_folder(path: Path) -> bool:
    return (path / "s1").is_dir() or (path / "s2").is_dir()


def _subdirs(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))


def _images(folder: Path, recursive: bool = False) -> list[Path]:
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(
        p for p in found if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() and not p.name.startswith(".")
    )


def _terrain_of(path: Path, discovery: Discovery) -> str | None:
    return path.parent.parent.name if discovery.layout == "kaggle" else None
