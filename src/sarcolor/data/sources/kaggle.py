"""The Kaggle "sentinel12-image-pairs-segregated-by-terrain" layout (16,000 SEN1-2 PNG pairs).

::

    dataset/ ← v_2/ ← <terrain>/ ← {s1,s2}/ROIs1868_summer_s1_59_p30.png

(``root`` may be any folder marked ←.) The terrain is the folder; the split group is the
SEN1-2 scene ``(roi, season, scene)`` across terrain folders, because the dataset files
patches of one scene under two terrains (scenes 115 and 144).
"""

from __future__ import annotations

from pathlib import Path

from sarcolor.data.pairs import Discovery
from sarcolor.data.sources.base import ImageFileSource
from sarcolor.data.sources.naming import Entry, entry_from_name, images, match, subdirs

TERRAINS: tuple[str, ...] = ("agri", "barrenland", "grassland", "urban")  # the dataset's terrain folders


def is_terrain_folder(path: Path) -> bool:
    return (path / "s1").is_dir() or (path / "s2").is_dir()


class Kaggle(ImageFileSource):
    name = "kaggle"
    title = "Kaggle terrain folders"
    structure = "`v_2/<terrain>/{s1,s2}/ROIs<roi>_<season>_s1_<scene>_p<patch>.png`"
    terrain = "folder"
    split_unit = "scene (roi, season, scene), across terrain folders"
    hint = "v_2/<terrain>/{s1,s2}/ (Kaggle)"

    def detect(self, root: Path) -> bool:
        if (root / "v_2").is_dir():
            return True
        return is_terrain_folder(root) or any(is_terrain_folder(d) for d in subdirs(root))

    def discover(self, root: Path) -> Discovery:
        if (root / "v_2").is_dir():
            root = root / "v_2"
        terrain_dirs = (
            [root] if is_terrain_folder(root) else [d for d in subdirs(root) if is_terrain_folder(d)]
        )
        entries: list[Entry] = []
        problems: list[str] = []
        for tdir in terrain_dirs:
            for sensor in ("s1", "s2"):
                folder = tdir / sensor
                if not folder.is_dir():
                    problems.append(f"{tdir}: terrain folder has no {sensor}/ subfolder")
                    continue
                for path in images(folder):
                    entry = entry_from_name(path, folder_sensor=sensor, terrain=tdir.name)
                    if entry.sensor != sensor:
                        problems.append(f"{path}: named as {entry.sensor} but stored in {sensor}/")
                        entry = Entry(path, sensor, entry.key, entry.group, entry.patch, entry.terrain)
                    entries.append(entry)
        return match(root, self.name, entries, problems)
