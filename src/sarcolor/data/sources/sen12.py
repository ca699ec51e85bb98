"""The original SEN1-2 release (Schmitt, Hughes & Zhu 2018): PNG patches by ROI, season and scene.

::

    sen12/ ← ROIs1868_summer/ ← s1_59/ROIs1868_summer_s1_59_p30.png  (and s2_59/…)

The split group is the scene ``(roi, season, scene)``; files whose names do not parse stay
inside the scene of their folder.
"""

from __future__ import annotations

from pathlib import Path

from sarcolor.data.pairs import Discovery
from sarcolor.data.sources.base import ImageFileSource
from sarcolor.data.sources.naming import (
    ROI_FOLDER,
    SCENE_FOLDER,
    SEN12_NAME,
    Entry,
    entry_from_name,
    images,
    match,
    subdirs,
)


def roi_folders(root: Path) -> list[Path]:
    """``root`` itself when it is one ROI folder holding scene folders, else its ROI sub-folders."""
    if ROI_FOLDER.match(root.name) and any(SCENE_FOLDER.match(d.name) for d in subdirs(root)):
        return [root]
    return [d for d in subdirs(root) if ROI_FOLDER.match(d.name)]


class Sen12(ImageFileSource):
    name = "sen12"
    title = "SEN1-2 original"
    structure = "`ROIs<roi>_<season>/s1_<scene>/…` and `s2_<scene>/…`"
    split_unit = "scene (roi, season, scene)"
    hint = "ROIs*_<season>/{s1,s2}_<scene>/ (SEN1-2)"

    def detect(self, root: Path) -> bool:
        return bool(roi_folders(root))

    def discover(self, root: Path) -> Discovery:
        entries: list[Entry] = []
        for rdir in roi_folders(root):
            for sdir in subdirs(rdir):
                m = SCENE_FOLDER.match(sdir.name)
                if not m:
                    continue
                sensor = m["sensor"]
                for path in images(sdir):
                    entry = entry_from_name(path, folder_sensor=sensor, terrain=None)  # type: ignore[arg-type]
                    if SEN12_NAME.match(path.stem) is None:  # keep unparsed names inside their scene
                        scene = f"{rdir.name}_{m['scene']}"
                        entry = Entry(path, sensor, (scene, *entry.key), scene, -1, None)  # type: ignore[arg-type]
                    entries.append(entry)
        return match(root, self.name, entries, [])
