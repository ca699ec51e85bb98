"""The dataset: a file going bad mid-epoch is replaced by the next readable pair and reported."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import corrupt
from sarcolor.data.dataset import PairDataset
from sarcolor.data.sources import discover_pairs
from sarcolor.errors import SarcolorError


def test_a_file_going_bad_mid_epoch_is_skipped(synthetic_v2: Path, tmp_path: Path):
    from sarcolor.config import PreprocessConfig

    data = shutil.copytree(synthetic_v2.parent, tmp_path / "d")
    pairs = discover_pairs(data).pairs
    corrupt(pairs[3].s1)  # after any check: fails only when the loader reaches it
    strict = PairDataset(pairs, PreprocessConfig())
    with pytest.raises(SarcolorError, match=str(pairs[3].s1)):
        strict[3]
    lenient = PairDataset(pairs, PreprocessConfig(), skip_bad=True)
    item = lenient[3]
    assert item.index == 4 and str(pairs[3].s1) in item.skipped and lenient[2].skipped == ""
