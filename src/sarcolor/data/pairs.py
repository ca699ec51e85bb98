"""What a dataset holds: co-registered SAR/optical pairs, and the result of finding them.

A :class:`Pair` is plain data; which files it names and how they are read is the business of
the data source that found it (:mod:`sarcolor.data.sources`), recorded by name in
:attr:`Pair.source`. Nothing outside ``data/sources/`` asks which layout a pair came from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from sarcolor.errors import SarcolorError


@dataclass(frozen=True)
class Pair:
    """One co-registered SAR/optical pair.

    Attributes:
        s1: the Sentinel-1 (SAR) file (for multi-file layouts, the one that names the pair,
            e.g. BigEarthNet's ``_VV.tif``; the source finds its siblings).
        s2: the Sentinel-2 (optical) file, likewise.
        name: the pair's name, e.g. ``ROIs1868_summer_59_p30``: the s1 file's stem with the
            sensor token removed; predictions of other tools may be named so.
        split_group: the unit kept whole in one split (train, val or test), e.g. the SEN1-2
            scene ``ROIs1868_summer_59``; what it means for a layout is its source's
            ``split_unit``.
        source: the name of the data source that found the pair (``kaggle``, ``bigearthnet``…).
        terrain: the terrain (Kaggle terrain folders), or ``None``.
        patch: the patch number when the name carries one (for natural ordering).
        window: ``(row_off, col_off, height, width)`` of the pair's window on the SAR raster
            for layouts that cut large rasters into windows; ``None``: the whole files.
        acquired: acquisition dates or product names the source matched, for reports.
        dataset_split: the split the dataset itself files the pair under, where it has one
            (``test``: NUAA's ``test_*`` folders); such pairs make the test split.
    """

    s1: Path
    s2: Path
    name: str
    split_group: str
    source: str = "generic"
    terrain: str | None = None
    patch: int = -1
    window: tuple[int, int, int, int] | None = None
    acquired: str = ""
    dataset_split: str | None = None

    @property
    def season(self) -> str | None:
        """The season of a SEN1-2 split group (``ROIs1868_summer_59`` → ``summer``), else ``None``."""
        parts = self.split_group.split("_")
        return parts[1] if len(parts) == 3 and parts[0].startswith("ROIs") else None

    def with_terrain(self, terrain: str | None) -> Pair:
        return replace(self, terrain=terrain)


@dataclass
class Discovery:
    """The pairs found under a folder, with everything that did not pair up.

    Attributes:
        root: the folder searched.
        layout: the data source's name (``kaggle``, ``sen12``, ``bigearthnet``…).
        pairs: the complete pairs, in a stable natural order.
        unpaired: files without a partner (reported, never silently dropped).
        problems: other findings worth a warning (duplicates, misplaced files…).
    """

    root: Path
    layout: str
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
            # terrains are folders <terrain>/<sensor>/<file> (the only layout that has them)
            [u for u in self.unpaired if u.parent.parent.name in keep],
            self.problems,
        )
