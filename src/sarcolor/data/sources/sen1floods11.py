"""Sen1Floods11 (Bonafilia et al. 2020): the hand-labelled Sentinel-1/Sentinel-2 flood chips.

::

    v1.1/ ← data/ ← flood_events/ ← HandLabeled/ ← S1Hand/Bolivia_103757_S1Hand.tif
                                                   S2Hand/Bolivia_103757_S2Hand.tif
                                                   (LabelHand/, JRCWaterHand/, … are not read)

(``root`` may be any folder marked ←.) The chips are 512×512 GeoTIFFs in EPSG:4326:

* ``S1Hand``: 2 bands, float32 backscatter in dB, VV then VH (no descriptions: VV is band 1,
  VH band 2), NaN where there is no data (left out of the loss and the scores);
* ``S2Hand``: 13 bands B1…B12 with B8A, integer Level-1C reflectance × 10000; the RGB target
  is B4, B3, B2 (bands 4, 3, 2, or found by description) with the same stored stretch as
  every Sentinel-2 layout (``preprocess.s2_max_reflectance``, :mod:`sarcolor.data.optical`).

Only the hand-labelled chips have a Sentinel-2 partner (``S1Weak`` and ``S1Perm`` have none).
A pair is ``<region>_<chip>`` found in both folders by name, never by sort order.

Split groups: the chips of one region are one flood event, cut from the same one or two
Sentinel-1 acquisitions over one area, so neighbouring chips share ground, date and weather.
A split by chip (the dataset's own ``flood_*_data.csv`` lists mix chips of a region across
train and test) leaks those into the test scores; the split group here is therefore the
**region** (``Bolivia``, ``Sri-Lanka``, …: 11 events), and whole events go to one split. The
region is also the pair's terrain, so ``--holdout-terrain Bolivia`` holds out the event the
dataset's authors keep for testing, and scores are reported per region. 512×512 chips are
larger than a 256 training crop: training draws a random crop of each chip
(:class:`~sarcolor.data.dataset.PairDataset`, centred when not augmenting); evaluation and
``colorize`` take whole chips.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from sarcolor.data.geotiff import GEOTIFF_SUFFIXES
from sarcolor.data.pairs import Discovery, Pair
from sarcolor.data.sources.geotiff_pairs import GeoTiffSource, SarFiles
from sarcolor.data.sources.naming import images
from sarcolor.data.sources.sen12ms import sar_band_indexes, stack_rgb_indexes

CHIP = re.compile(r"^(?P<region>.+)_(?P<chip>\d+)_(?P<folder>S1Hand|S2Hand)$")
HAND_FOLDERS: tuple[str, ...] = (  # where S1Hand/ and S2Hand/ sit below the folder given
    ".",
    "HandLabeled",
    "flood_events/HandLabeled",
    "data/flood_events/HandLabeled",
    "v1.1/data/flood_events/HandLabeled",
)


def hand_labeled(root: Path) -> Path | None:
    """The folder holding ``S1Hand/`` and ``S2Hand/`` at or below ``root``, or ``None``."""
    for rel in HAND_FOLDERS:
        folder = root / rel
        if (folder / "S1Hand").is_dir() and (folder / "S2Hand").is_dir():
            return folder
    return None


class Sen1Floods11(GeoTiffSource):
    name = "sen1floods11"
    title = "Sen1Floods11"
    structure = (
        "`S1Hand/<region>_<chip>_S1Hand.tif` (VV, VH dB) and `S2Hand/<region>_<chip>_S2Hand.tif` "
        "(13 bands L1C)"
    )
    terrain = "region (from the file name)"
    split_unit = "region: one flood event, whose chips are neighbours"
    hint = "S1Hand/ and S2Hand/ folders (Sen1Floods11)"

    def detect(self, root: Path) -> bool:
        return hand_labeled(root) is not None

    def discover(self, root: Path) -> Discovery:
        folder = hand_labeled(root)
        assert folder is not None, "discover() after detect()"
        chips: dict[str, dict[tuple[str, str], Path]] = {"S1Hand": {}, "S2Hand": {}}
        problems: list[str] = []
        for kind, table in chips.items():
            for path in images(folder / kind, suffixes=GEOTIFF_SUFFIXES):
                m = CHIP.match(path.stem)
                if m is None or m["folder"] != kind:
                    problems.append(f"{path}: not a Sen1Floods11 name (<region>_<chip>_{kind}.tif)")
                    continue
                table[m["region"], m["chip"]] = path
        pairs, unpaired = [], []
        for (region, chip), s1 in chips["S1Hand"].items():
            s2 = chips["S2Hand"].get((region, chip))
            if s2 is None:
                unpaired.append(s1)
                continue
            pairs.append(Pair(s1, s2, f"{region}_{chip}", region, self.name, region, int(chip)))
        unpaired += [p for key, p in chips["S2Hand"].items() if key not in chips["S1Hand"]]
        pairs.sort(key=lambda p: (p.split_group, p.patch, p.name))
        return Discovery(folder, self.name, pairs, sorted(unpaired), problems)

    def sar_files(self, pair: Pair, bands: Sequence[str]) -> SarFiles:
        return [(pair.s1, sar_band_indexes(pair.s1, bands))]

    def optical_bands(self, pair: Pair) -> list[tuple[Path, int]]:
        return [(pair.s2, i) for i in stack_rgb_indexes(pair.s2)]
