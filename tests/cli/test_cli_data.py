"""``sarcolor data``: counts per terrain and split, unpaired, unreadable and misplaced files as JSON."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest


def test_cli_data_json(real_sen12: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    from sarcolor.cli.main import main

    shutil.copytree(real_sen12, tmp_path / "v_2")
    (tmp_path / "v_2" / "agri" / "s1" / "ROIs1868_summer_s1_59_p31.png").write_bytes(b"")
    (tmp_path / "v_2" / "urban" / "s2").mkdir(parents=True)
    broken = tmp_path / "v_2" / "grassland" / "s2" / "ROIs1970_fall_s2_11_p537.png"
    broken.write_text("not a png")
    code = main(["data", str(tmp_path), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1  # an unreadable file
    assert report["total_pairs"] == 2
    assert report["pairs_per_terrain"] == {"agri": 1, "grassland": 1}
    assert sum(report["pairs_per_split"].values()) == 2
    assert sorted(s for ids in report["scenes_per_split"].values() for s in ids) == [
        "ROIs1868_summer_59",
        "ROIs1970_fall_11",
    ]
    assert report["unpaired"] == [str(tmp_path / "v_2" / "agri" / "s1" / "ROIs1868_summer_s1_59_p31.png")]
    assert [u["file"] for u in report["unreadable"]] == [str(broken)]
    assert any("urban" in p and "no s1/" in p for p in report["problems"])
