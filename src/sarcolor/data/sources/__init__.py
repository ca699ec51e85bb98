"""Dataset layouts as plug-ins: one module per layout, one registration line each.

Every layout implements :class:`~sarcolor.data.sources.base.DataSource`. :data:`SOURCES` lists
them in the order they are tried on a folder; the first whose ``detect`` answers yes finds the
pairs. Everything else in sarcolor reaches a pair's reader, split unit and cache eligibility
through the functions below, by the source name the pair carries, and never asks which
layout it came from. Adding a layout is one module here and one line in :data:`SOURCES`; the
README's data table is :func:`layout_table` (a test keeps the two equal).
"""

from __future__ import annotations

from pathlib import Path

from sarcolor.config import PreprocessConfig
from sarcolor.data.pairs import Discovery, Pair
from sarcolor.data.records import Sample
from sarcolor.data.sources.base import DataSource
from sarcolor.data.sources.bigearthnet import BigEarthNet
from sarcolor.data.sources.generic import Generic
from sarcolor.data.sources.kaggle import Kaggle
from sarcolor.data.sources.naming import IMAGE_SUFFIXES
from sarcolor.data.sources.nuaa import Nuaa
from sarcolor.data.sources.scene_pairs import ScenePairs
from sarcolor.data.sources.sen1floods11 import Sen1Floods11
from sarcolor.data.sources.sen12 import Sen12
from sarcolor.data.sources.sen12ms import Sen12MS
from sarcolor.data.sources.ssl4eo import SSL4EO
from sarcolor.errors import SarcolorError

# Tried in this order: layouts with distinctive folder names first. SSL4EO before Kaggle (its
# s1/ folder is no terrain folder); SEN12MS before SEN1-2 (the same folders, with .tif files).
SOURCES: tuple[DataSource, ...] = (
    BigEarthNet(),
    SSL4EO(),
    Sen1Floods11(),
    Kaggle(),
    Nuaa(),
    Generic(),
    Sen12MS(),
    Sen12(),
    ScenePairs(),
)
_BY_NAME: dict[str, DataSource] = {s.name: s for s in SOURCES}

__all__ = [
    "IMAGE_SUFFIXES",
    "SOURCES",
    "DataSource",
    "discover_pairs",
    "layout_table",
    "load_sample",
    "source_of",
]


def source_of(pair_or_name: Pair | str) -> DataSource:
    """The data source that found a pair (or of that name)."""
    name = pair_or_name if isinstance(pair_or_name, str) else pair_or_name.source
    try:
        return _BY_NAME[name]
    except KeyError:
        raise SarcolorError(f"unknown data source {name!r} (known: {', '.join(_BY_NAME)})") from None


def discover_pairs(root: str | Path) -> Discovery:
    """Find every pair under ``root``, in whichever known layout it is.

    Raises:
        SarcolorError: if ``root`` does not exist or holds none of the known layouts.
    """
    root = Path(root)
    if not root.is_dir():
        raise SarcolorError(f"{root}: data folder not found")
    for source in SOURCES:
        if source.detect(root):
            return source.discover(root)
    expected = ", ".join(s.hint for s in SOURCES)
    raise SarcolorError(f"{root}: no image pairs found; expected {expected}")


def load_sample(pair: Pair, preprocess: PreprocessConfig, margin: int = 0) -> Sample:
    """Read one pair with its source's reader (see :meth:`DataSource.load`)."""
    return source_of(pair).load(pair, preprocess, margin)


def layout_table() -> str:
    """The README's table of layouts, as Markdown, from :data:`SOURCES`."""
    lines = ["| layout | `sarcolor data` name | structure | terrain | split unit |", "|---|---|---|---|---|"]
    for s in SOURCES:
        lines.append(f"| {s.title} | `{s.name}` | {s.structure} | {s.terrain} | {s.split_unit} |")
    return "\n".join(lines)
