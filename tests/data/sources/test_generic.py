"""The generic A/B layout: files of the same names, one split group per file."""

from __future__ import annotations

from pathlib import Path

from conftest import touch
from sarcolor.data.sources import discover_pairs


def test_generic_a_b_layout(tmp_path: Path):
    for name in ("x.png", "y.png"):
        touch(tmp_path / "A" / name)
        touch(tmp_path / "B" / name)
    touch(tmp_path / "A" / "only_a.png")
    touch(tmp_path / "B" / "only_b.png")
    found = discover_pairs(tmp_path)
    assert found.layout == "generic"
    assert [(p.s1.name, p.s2.name) for p in found.pairs] == [("x.png", "x.png"), ("y.png", "y.png")]
    assert [p.name for p in found.unpaired] == ["only_a.png", "only_b.png"]
    assert {p.split_group for p in found.pairs} == {"x", "y"}  # no scene info: each file is its own
