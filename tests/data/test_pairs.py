"""Discovery results: filtering by terrain, with a clear error for an unknown one."""

from __future__ import annotations

from pathlib import Path

import pytest

from sarcolor.data.sources import discover_pairs
from sarcolor.errors import SarcolorError


def test_terrain_filter(real_sen12: Path):
    found = discover_pairs(real_sen12)
    assert [p.terrain for p in found.filter_terrains(["grassland"]).pairs] == ["grassland"]
    with pytest.raises(SarcolorError, match="no terrain urban; available: agri, grassland"):
        found.filter_terrains(["urban"])
