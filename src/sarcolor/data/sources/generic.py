"""A generic pair of folders: ``A/`` (SAR) and ``B/`` (optical) holding files of the same names.

The split group is the SEN1-2 scene when the name is a SEN1-2 name, else each file is its own.
"""

from __future__ import annotations

from pathlib import Path

from sarcolor.data.pairs import Discovery
from sarcolor.data.sources.base import ImageFileSource
from sarcolor.data.sources.naming import SEN12_NAME, Entry, images, match


class Generic(ImageFileSource):
    name = "generic"
    title = "generic"
    structure = "`A/` (SAR) and `B/` (optical) holding files of the same names"
    split_unit = "SEN1-2 scene when the name is one, else one per file"
    hint = "A/ and B/ folders"

    def detect(self, root: Path) -> bool:
        return (root / "A").is_dir() and (root / "B").is_dir()

    def discover(self, root: Path) -> Discovery:
        entries: list[Entry] = []
        for folder, sensor in ((root / "A", "s1"), (root / "B", "s2")):
            for path in images(folder, recursive=True):
                rel = path.relative_to(folder).with_suffix("")
                parsed = SEN12_NAME.match(path.stem)
                group = f"{parsed['roi']}_{parsed['season']}_{parsed['scene']}" if parsed else str(rel)
                patch = int(parsed["patch"]) if parsed else -1
                entries.append(Entry(path, sensor, (str(rel),), group, patch, None))  # type: ignore[arg-type]
        return match(root, self.name, entries, [])
