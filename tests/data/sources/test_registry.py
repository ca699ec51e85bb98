"""The layout registry: clear errors for missing, empty or unknown folders; the README table."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import one_line_error, run_cli
from sarcolor.data.sources import SOURCES, discover_pairs, layout_table, source_of
from sarcolor.errors import SarcolorError


def test_missing_or_unknown_folders_give_clear_errors(tmp_path: Path):
    with pytest.raises(SarcolorError, match="data folder not found"):
        discover_pairs(tmp_path / "nope")
    (tmp_path / "random").mkdir()
    with pytest.raises(SarcolorError, match="no image pairs found"):
        discover_pairs(tmp_path / "random")


TINY = "--ngf 4 --ndf 4 --batch-size 2 --workers 0 --no-progress"


def test_empty_and_missing_data_folders(tmp_path: Path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "agri" / "s1").mkdir(parents=True)
    for folder, needle in (
        ("missing", "data folder not found"),
        ("empty", "no image pairs found"),
        ("v", "no complete SAR/optical pairs"),
    ):
        assert run_cli(f"train --data {tmp_path / folder} --out {tmp_path / 'r'} {TINY}") == 2
        one_line_error(capsys, needle)


def test_readme_data_table_is_the_registry():
    """README's table of layouts is generated from the registry; adding a layout updates both."""
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    start, end = "<!-- data-layouts:start -->", "<!-- data-layouts:end -->"
    assert start in readme and end in readme, "README lost its generated data table"
    table = readme.split(start, 1)[1].split(end, 1)[0].strip()
    assert table == layout_table(), "regenerate with: python -m sarcolor.data.sources"
    assert len(SOURCES) == len({s.name for s in SOURCES})  # one name per layout
    for source in SOURCES:
        assert f"`{source.name}`" in table


def test_every_pair_names_a_registered_source(real_sen12: Path):
    pairs = discover_pairs(real_sen12).pairs
    assert {p.source for p in pairs} == {"kaggle"}
    assert all(source_of(p).name == "kaggle" for p in pairs)
    with pytest.raises(SarcolorError, match="unknown data source"):
        source_of("nonesuch")
