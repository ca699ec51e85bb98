"""BigEarthNet-MM (v1) Sentinel-1/Sentinel-2 GeoTIFF patch folders (Sumbul et al.).

::

    bigearthnet/ ← S1/<patch>/<patch>_VV.tif, _VH.tif, _labels_metadata.json
                   S2/<patch>/<patch>_B02.tif, _B03.tif, _B04.tif

(``S1`` and ``S2`` patch folders may also sit mixed in ``root`` itself). Pairs come from each S1
patch's metadata ``corresponding_s2_patch``, never from names or sort order. The pair's ``s1``
is the ``_VV.tif`` file and its ``s2`` the ``_B04.tif`` file; the other bands are siblings by
name. The split group is the S1 patch name without its ``_<row>_<col>`` suffix (acquisition +
tile, e.g. ``S1A_IW_GRDH_1SDV_20170617T064724_29UPU``), so the patches of one acquisition tile
stay in one split. Patches are 120×120: the dataset pads them
(:class:`sarcolor.data.dataset.PairDataset`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from sarcolor.data.pairs import Discovery, Pair
from sarcolor.data.sources.geotiff_pairs import GeoTiffSource, SarFiles, sibling
from sarcolor.data.sources.naming import subdirs
from sarcolor.errors import SarcolorError, first_line
from sarcolor.textfiles import loads_json

PATCH = re.compile(r"^(?P<tile>.+)_(?P<row>\d+)_(?P<col>\d+)$")  # <patch> = <tile>_<row>_<col>
METADATA = "_labels_metadata.json"
RGB_BANDS: tuple[str, ...] = ("B04", "B03", "B02")


def patch_file(folder: Path, band: str) -> Path:
    """``<patch>/<patch>_<band>.tif``: a band of a BigEarthNet patch."""
    return folder / f"{folder.name}_{band}.tif"


class BigEarthNet(GeoTiffSource):
    name = "bigearthnet"
    title = "BigEarthNet-MM"
    structure = "`S1/<patch>/<patch>_VV.tif`, `_VH.tif` and `S2/<patch>/<patch>_B0{2,3,4}.tif`"
    split_unit = "acquisition tile (S1 patch name without _<row>_<col>)"
    hint = "S1/ and S2/ patch folders (BigEarthNet)"

    def detect(self, root: Path) -> bool:
        names = {d.name for d in subdirs(root)}
        if "S1" in names and "S2" in names:  # before Kaggle's test: s1/ matches S1/ on macOS
            return True
        return any(patch_file(d, "VV").is_file() or patch_file(d, "B04").is_file() for d in subdirs(root))

    def discover(self, root: Path) -> Discovery:
        names = {d.name: d for d in subdirs(root)}
        if "S1" in names and "S2" in names:
            s1_dirs, s2_dirs = subdirs(names["S1"]), subdirs(names["S2"])
        else:
            s1_dirs = [d for d in names.values() if patch_file(d, "VV").is_file()]
            s2_dirs = [d for d in names.values() if patch_file(d, "B04").is_file()]
        problems: list[str] = []
        s2_by_name = {}
        for folder in s2_dirs:
            if patch_file(folder, "B04").is_file():
                s2_by_name[folder.name] = folder
            else:
                problems.append(f"{folder}: S2 patch folder without {patch_file(folder, 'B04').name}")
        pairs, unpaired, used = [], [], set()
        for folder in s1_dirs:
            vv = patch_file(folder, "VV")
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
            tile = PATCH.match(folder.name)
            group = tile["tile"] if tile else folder.name
            s2 = patch_file(s2_by_name[partner], "B04")
            pairs.append(Pair(vv, s2, folder.name, group, self.name))
        unpaired += [patch_file(d, "B04") for n, d in s2_by_name.items() if n not in used]
        pairs.sort(key=lambda p: (p.split_group, p.name))
        return Discovery(root, self.name, pairs, sorted(unpaired), problems)

    def sar_files(self, pair: Pair, bands: Sequence[str]) -> SarFiles:
        return [(sibling(pair.s1, band.upper()), [1]) for band in bands]

    def optical_bands(self, pair: Pair) -> list[tuple[Path, int]]:
        return [(sibling(pair.s2, band), 1) for band in RGB_BANDS]


def _s2_partner(folder: Path, problems: list[str]) -> str | None:
    """The ``corresponding_s2_patch`` of an S1 patch folder's metadata, or ``None``."""
    path = folder / f"{folder.name}{METADATA}"
    if not path.is_file():
        return None
    try:
        partner = loads_json(path.read_text(), path).get("corresponding_s2_patch")
    except (OSError, UnicodeDecodeError, ValueError, AttributeError, SarcolorError) as exc:
        problems.append(f"{path}: unreadable metadata ({first_line(exc)})")
        return None
    return partner if isinstance(partner, str) and partner else None
