"""Find Sentinel-1/Sentinel-2 image pairs on disk.

Five layouts are recognised (``root`` may be any of the folders shown with ←):

* Kaggle "sentinel12-image-pairs-segregated-by-terrain"::

      dataset/ ← v_2/ ← <terrain>/ ← {s1,s2}/ROIs1868_summer_s1_59_p30.png

* the original SEN1-2 release::

      sen12/ ← ROIs1868_summer/ ← s1_59/ROIs1868_summer_s1_59_p30.png  (and s2_59/…)

* a generic pair of folders ``A/`` (SAR) and ``B/`` (optical) holding files of the same names.

* BigEarthNet-MM (v1) GeoTIFF patch folders, paired through the S1 metadata's
  ``corresponding_s2_patch`` (never by name or sort order)::

      bigearthnet/ ← S1/<patch>/<patch>_VV.tif, _VH.tif, _labels_metadata.json
                     S2/<patch>/<patch>_B02.tif, _B03.tif, _B04.tif

  (``S1`` and ``S2`` patch folders may also sit mixed in ``root`` itself). The pair's ``s1``
  is the ``_VV.tif`` file and its ``s2`` the ``_B04.tif`` file; the other bands are their
  siblings by name. The scene id is the S1 patch name without its ``_<row>_<col>`` suffix
  (acquisition + tile, e.g. ``S1A_IW_GRDH_1SDV_20170617T064724_29UPU``), so the patches of
  one acquisition tile stay in one split. Patches are 120×120: the dataset pads them
  (:class:`sarcolor.data.dataset.PairDataset`).

* large co-registered scenes: a folder of GeoTIFF pairs ``<name>_s1.tif`` (SAR, one band per
  polarisation) and ``<name>_s2.tif`` (Sentinel-2 red, green, blue; any CRS or grid: it is
  reprojected onto the SAR grid when read, see :mod:`sarcolor.data.geopairs`)::

      scenes/ ← alps_s1.tif, alps_s2.tif, delta_s1.tif, delta_s2.tif, …

  Each scene pair becomes one :class:`Pair` per :data:`SCENE_WINDOW`-pixel window of a
  regular grid on the SAR raster (``Pair.window``); training draws a random offset around
  each window (inside its split block). The split is by :data:`SPLIT_BLOCK`-pixel block:
  the scene id is ``<name>_b<row>_<col>``, so neighbouring windows mostly share a split.
  Blocks of different splits still share an edge (and the scene's season and sensor), so a
  scene-pair layout measures generalisation across space within one acquisition only.

Files are paired by name, never by sort position: ``…_s1_…`` in a SEN1-2 name is matched with
``…_s2_…`` (as a whole ``_s1_`` token: ``ROIs1970`` also contains the letters "s1"). Files
without a partner are reported in :attr:`Discovery.unpaired`, never silently dropped.

Scene identity is ``(roi, season, scene)`` — e.g. ``ROIs1868_summer_59`` — independent of the
terrain folder, because the Kaggle data files patches of one scene under two terrains.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from sarcolor.data.geotiff import open_raster
from sarcolor.errors import SarcolorError, first_line

IMAGE_SUFFIXES: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff"})
SEN12_NAME = re.compile(
    r"^(?P<roi>ROIs\d+)_(?P<season>[A-Za-z]+)_(?P<sensor>s[12])_(?P<scene>\d+)_p(?P<patch>\d+)$"
)
SENSOR_TOKEN = re.compile(r"(?<=_)s[12](?=_)")
ROI_FOLDER = re.compile(r"^ROIs\d+_[A-Za-z]+$")
SCENE_FOLDER = re.compile(r"^(?P<sensor>s[12])_(?P<scene>\d+)$")

# BigEarthNet: <patch> = <tile>_<row>_<col>; its files are <patch>_<band>.tif
BIGEARTHNET_PATCH = re.compile(r"^(?P<tile>.+)_(?P<row>\d+)_(?P<col>\d+)$")
BIGEARTHNET_METADATA = "_labels_metadata.json"
SCENE_FILE = re.compile(r"^(?P<name>.+)_(?P<sensor>[sS][12])\.tiff?$", re.IGNORECASE)
SCENE_WINDOW = 256  # scene pairs: one Pair per window of this side on a regular grid
SPLIT_BLOCK = 1024  # scene pairs: the split unit (4 × 4 windows); jitter stays inside it
MIN_EDGE_WINDOW = SCENE_WINDOW // 4  # edge windows thinner than this are left out

Layout = Literal["kaggle", "sen12", "generic", "bigearthnet", "scenes"]
Sensor = Literal["s1", "s2"]
PairKind = Literal["image", "bigearthnet", "scene"]


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
        window: for scene pairs, ``(row_off, col_off, height, width)`` of the window on the
            SAR raster; ``None``: the whole files.
        kind: how the files are read: ``image`` — any picture :func:`sarcolor.data.io.read_image`
            reads, already in [0, 1]; ``bigearthnet`` — GeoTIFF patches, one band per file;
            ``scene`` — multi-band GeoTIFF scenes (:mod:`sarcolor.data.geopairs`).
    """

    s1: Path
    s2: Path
    name: str
    scene: str
    terrain: str | None = None
    patch: int = -1
    window: tuple[int, int, int, int] | None = None
    kind: PairKind = "image"

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

    @property
    def kind(self) -> str:
        """How the pairs are read (``image``, ``bigearthnet`` or ``scene``; one layout, one kind)."""
        return self.pairs[0].kind if self.pairs else "image"

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
    names = {d.name: d for d in _subdirs(root)}
    if "S1" in names and "S2" in names:  # before the Kaggle test: s1/ matches S1/ on macOS
        return _discover_bigearthnet(root, _subdirs(names["S1"]), _subdirs(names["S2"]))
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
    s1_patches = [d for d in names.values() if _patch_file(d, "VV").is_file()]
    s2_patches = [d for d in names.values() if _patch_file(d, "B04").is_file()]
    if s1_patches or s2_patches:
        return _discover_bigearthnet(root, s1_patches, s2_patches)
    if any(SCENE_FILE.match(p.name) for p in root.iterdir() if p.is_file()):
        return _discover_scenes(root)
    raise SarcolorError(
        f"{root}: no image pairs found; expected v_2/<terrain>/{{s1,s2}}/ (Kaggle), "
        "ROIs*_<season>/{s1,s2}_<scene>/ (SEN1-2), A/ and B/ folders, S1/ and S2/ patch folders "
        "(BigEarthNet) or <name>_s1.tif / <name>_s2.tif scenes"
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


def _discover_bigearthnet(root: Path, s1_dirs: Sequence[Path], s2_dirs: Sequence[Path]) -> Discovery:
    """Pair BigEarthNet patch folders through each S1 patch's ``corresponding_s2_patch``."""
    problems: list[str] = []
    s2_by_name = {}
    for folder in s2_dirs:
        if _patch_file(folder, "B04").is_file():
            s2_by_name[folder.name] = folder
        else:
            problems.append(f"{folder}: S2 patch folder without {_patch_file(folder, 'B04').name}")
    pairs, unpaired, used = [], [], set()
    for folder in s1_dirs:
        vv = _patch_file(folder, "VV")
        if not vv.is_file():
            problems.append(f"{folder}: S1 patch folder without {vv.name}")
            continue
        partner = _s2_partner(folder, problems)
        if partner is None or partner not in s2_by_name:
            if partner is not None:
                problems.append(f"{vv}: its metadata names S2 patch {partner}, which is not here")
            unpaired.append(vv)
            continue
        used.add(partner)
        tile = BIGEARTHNET_PATCH.match(folder.name)
        scene = tile["tile"] if tile else folder.name
        s2 = _patch_file(s2_by_name[partner], "B04")
        pairs.append(Pair(vv, s2, folder.name, scene, kind="bigearthnet"))
    unpaired += [_patch_file(d, "B04") for n, d in s2_by_name.items() if n not in used]
    pairs.sort(key=lambda p: (p.scene, p.name))
    return Discovery(root, "bigearthnet", pairs, sorted(unpaired), problems)


def _patch_file(folder: Path, band: str) -> Path:
    """``<patch>/<patch>_<band>.tif``: a band of a BigEarthNet patch."""
    return folder / f"{folder.name}_{band}.tif"


def _s2_partner(folder: Path, problems: list[str]) -> str | None:
    """The ``corresponding_s2_patch`` of an S1 patch folder's metadata, or ``None``."""
    path = folder / f"{folder.name}{BIGEARTHNET_METADATA}"
    if not path.is_file():
        return None
    try:
        partner = json.loads(path.read_text()).get("corresponding_s2_patch")
    except (OSError, UnicodeDecodeError, ValueError, AttributeError) as exc:
        problems.append(f"{path}: unreadable metadata ({first_line(exc)})")
        return None
    return partner if isinstance(partner, str) and partner else None


def _discover_scenes(root: Path) -> Discovery:
    """``<name>_s1.tif`` / ``<name>_s2.tif`` scene pairs → one Pair per grid window."""
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
            pairs.append(Pair(s1, s2, f"{name}_r{row}_c{col}", block, None, index, window, "scene"))
    unpaired += [p for n, p in files["s2"].items() if n not in files["s1"]]
    pairs.sort(key=lambda p: (p.scene, p.patch))
    return Discovery(root, "scenes", pairs, sorted(unpaired), problems)


def scene_windows(height: int, width: int, size: int = SCENE_WINDOW) -> list[tuple[int, int, int, int]]:
    """``(row_off, col_off, height, width)`` of a regular ``size`` grid over a raster.

    Edge windows are cut at the border; those thinner than :data:`MIN_EDGE_WINDOW` are left
    out unless the raster has no other window on that axis (their pixels are still reached by
    the training jitter of the window beside them).
    """

    def starts(length: int) -> list[int]:
        found = [s for s in range(0, length, size) if length - s >= MIN_EDGE_WINDOW]
        return found or [0]

    return [
        (r, c, min(size, height - r), min(size, width - c)) for r in starts(height) for c in starts(width)
    ]


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
