"""The "SEN1-2 Image Translation Dataset" of Zhang et al. (NUAA): SAR/grey optical JPEG pairs by class.

::

    <root>/ ← <class>/ ← {train,test}_{A,B}/{sar,op}_<n>.jpg

``train_A/sar_<n>.jpg`` (SAR) pairs with ``train_B/op_<n>.jpg`` (optical, grey as the authors
converted it), likewise ``test_A``/``test_B``; ``root`` may be the folder of classes or one
class folder. The class folder (agriculture, forest, gorge, resident, river) is the terrain.
Pairs under ``test_*`` keep the authors' test split (:attr:`~sarcolor.data.pairs.Pair.dataset_split`);
the rest are split by sarcolor. The files carry no scene ids, so the split unit is the file: the
paper splits per file too, and neighbouring patches may share a split's edge.

Reference: J. Zhang, J. Zhou, X. Lu, *Feature-Guided SAR-to-Optical Image Translation*,
IEEE Access 8, 2020.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from sarcolor.data.pairs import Discovery, Pair
from sarcolor.data.sources.base import ImageFileSource
from sarcolor.data.sources.naming import Entry, Sensor, images, match, subdirs

PARTS: tuple[str, ...] = ("train", "test")  # the authors' folders train_A/B and test_A/B
FOLDER_SENSOR: dict[str, Sensor] = {"A": "s1", "B": "s2"}
FILE_PREFIX: dict[Sensor, str] = {"s1": "sar", "s2": "op"}
NAME = re.compile(r"^(?P<prefix>sar|op)_(?P<n>[A-Za-z0-9-]+)$")


def is_class_folder(path: Path) -> bool:
    """Whether ``path`` holds ``train_A``, ``train_B``, ``test_A`` or ``test_B``."""
    return any((path / f"{part}_{side}").is_dir() for part in PARTS for side in FOLDER_SENSOR)


class Nuaa(ImageFileSource):
    name = "nuaa"
    title = "SEN1-2 Image Translation Dataset (NUAA, Zhang et al. 2020)"
    structure = "`<class>/{train,test}_A/sar_<n>.jpg` ↔ `<class>/{train,test}_B/op_<n>.jpg`"
    terrain = "folder"
    split_unit = "one per file (no scene ids; the paper splits per file); `test_*` files are the test split"
    hint = "<class>/train_A/ and train_B/ (NUAA)"

    def detect(self, root: Path) -> bool:
        return is_class_folder(root) or any(is_class_folder(d) for d in subdirs(root))

    def discover(self, root: Path) -> Discovery:
        classes = [root] if is_class_folder(root) else [d for d in subdirs(root) if is_class_folder(d)]
        entries: list[Entry] = []
        problems: list[str] = []
        for folder in classes:
            for part in PARTS:
                sides = {side: folder / f"{part}_{side}" for side in FOLDER_SENSOR}
                present = [s for s, d in sides.items() if d.is_dir()]
                if len(present) == 1:
                    missing = "B" if present == ["A"] else "A"
                    problems.append(f"{folder}: {part}_{present[0]}/ has no {part}_{missing}/ beside it")
                for side in present:
                    entries += self._entries(sides[side], FOLDER_SENSOR[side], folder.name, part, problems)
        found = match(root, self.name, entries, problems)
        # one pair name per file across classes and parts; the authors' test files keep their split
        found.pairs = [
            replace(
                p, name=p.split_group, dataset_split="test" if p.s1.parent.name.startswith("test_") else None
            )
            for p in found.pairs
        ]
        return found

    @staticmethod
    def _entries(folder: Path, sensor: Sensor, terrain: str, part: str, problems: list[str]) -> list[Entry]:
        out = []
        for path in images(folder):
            m = NAME.match(path.stem)
            if m is None or m["prefix"] != FILE_PREFIX[sensor]:
                problems.append(f"{path}: not named {FILE_PREFIX[sensor]}_<n> as {folder.name}/ files are")
                continue
            n = m["n"]
            group = f"{terrain}_{part}_{n}"
            patch = int(n) if n.isdigit() else -1
            out.append(Entry(path, sensor, (terrain, part, n), group, patch, terrain))
        return out

    def prediction_stem(self, pair: Pair) -> str:
        """``sar_<n>`` repeats across classes: predictions take the pair name, ``<class>_<part>_<n>``."""
        return pair.name
