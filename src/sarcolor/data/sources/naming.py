"""Pairing SEN1-2-style files by name token, never by sort order.

``…_s1_…`` in a SEN1-2 name is matched with ``…_s2_…`` as a whole ``_s1_`` token:
``ROIs1970`` also contains the letters "s1". Files without a partner are reported, and two
files claiming one pair name are both left out (which one is meant cannot be known).

Example:
    >>> m = SEN12_NAME.match("ROIs1868_summer_s1_59_p30")
    >>> (m["roi"], m["season"], m["sensor"], m["scene"], m["patch"])
    ('ROIs1868', 'summer', 's1', '59', '30')
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sarcolor.data.pairs import Discovery, Pair

IMAGE_SUFFIXES: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff"})
SEN12_NAME = re.compile(
    r"^(?P<roi>ROIs\d+)_(?P<season>[A-Za-z]+)_(?P<sensor>s[12])_(?P<scene>\d+)_p(?P<patch>\d+)$"
)
SENSOR_TOKEN = re.compile(r"(?<=_)s[12](?=_)")
ROI_FOLDER = re.compile(r"^ROIs\d+_[A-Za-z]+$")
SCENE_FOLDER = re.compile(r"^(?P<sensor>s[12])_(?P<scene>\d+)$")

Sensor = Literal["s1", "s2"]


@dataclass(frozen=True)
class Entry:
    """One file, keyed so that its partner of the other sensor has the same key."""

    path: Path
    sensor: Sensor
    key: tuple[str, ...]
    group: str
    patch: int
    terrain: str | None


def entry_from_name(path: Path, folder_sensor: Sensor, terrain: str | None) -> Entry:
    """Key a file by its name with the sensor token taken out."""
    m = SEN12_NAME.match(path.stem)
    if m:
        scene = f"{m['roi']}_{m['season']}_{m['scene']}"
        key = (terrain or "", scene, m["patch"])
        return Entry(path, m["sensor"], key, scene, int(m["patch"]), terrain)  # type: ignore[arg-type]
    tokens = SENSOR_TOKEN.findall(path.stem)
    sensor: Sensor = tokens[0] if len(tokens) == 1 else folder_sensor
    stem = SENSOR_TOKEN.sub("s", path.stem, count=1) if len(tokens) == 1 else path.stem
    return Entry(path, sensor, (terrain or "", stem), stem, -1, terrain)


def match(root: Path, layout: str, entries: list[Entry], problems: list[str]) -> Discovery:
    """Pairs of entries of the two sensors with equal keys."""
    by_sensor: dict[str, dict[tuple[str, ...], Entry]] = {"s1": {}, "s2": {}}
    clashes: set[tuple[str, tuple[str, ...]]] = set()
    for e in entries:
        table = by_sensor[e.sensor]
        if e.key in table:
            problems.append(f"{e.path}: same pair name as {table[e.key].path}; both ignored")
            clashes.add((e.sensor, e.key))
            continue
        table[e.key] = e
    for sensor, key in clashes:
        del by_sensor[sensor][key]
    pairs, unpaired = [], []
    for key, a in by_sensor["s1"].items():
        b = by_sensor["s2"].get(key)
        if b is None:
            unpaired.append(a.path)
            continue
        name = SENSOR_TOKEN.sub("", a.path.stem, count=1).replace("__", "_")
        pairs.append(Pair(a.path, b.path, name, a.group, layout, a.terrain, a.patch))
    unpaired += [e.path for k, e in by_sensor["s2"].items() if k not in by_sensor["s1"]]
    pairs.sort(key=lambda p: (p.terrain or "", p.split_group, p.patch, p.name))
    return Discovery(root, layout, pairs, sorted(unpaired), problems)


def subdirs(path: Path) -> list[Path]:
    """The visible sub-folders of ``path``, sorted."""
    return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))


def images(folder: Path, recursive: bool = False, suffixes: frozenset[str] = IMAGE_SUFFIXES) -> list[Path]:
    """The visible image files of ``folder``, sorted."""
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(
        p for p in found if p.suffix.lower() in suffixes and p.is_file() and not p.name.startswith(".")
    )
