"""Colorizing many files: outputs checked before the work, large images tiled, bad files skipped."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from conftest import corrupt, one_line_error, run_cli


def test_a_large_image_is_tiled_not_resized(tiny_run: Path, tmp_path: Path):
    big = tmp_path / "big.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (900, 1300), dtype=np.uint8)).save(big)
    assert run_cli(f"colorize {big} --checkpoint {tiny_run} --out {tmp_path / 'o'} --no-progress") == 0
    assert Image.open(tmp_path / "o" / "big.png").size == (1300, 900)


def test_colorize_checks_outputs_and_streams_past_bad_files(
    tiny_run: Path, tmp_path: Path, capsys, monkeypatch
):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(5):
        Image.fromarray(np.full((40, 30), 20 * i, np.uint8)).save(src / f"img{i}.png")
    corrupt(src / "img2.png")
    out = tmp_path / "out"
    assert run_cli(f"colorize {src} --checkpoint {tiny_run} --out {out} --no-progress") == 2
    one_line_error(capsys, "img2.png")
    assert (
        run_cli(
            f"colorize {src} --checkpoint {tiny_run} --out {out} --no-progress "
            "--on-bad-sample skip --overwrite"
        )
        == 1
    )
    report = capsys.readouterr().out
    assert "colorized 4 image(s)" in report and "1 input(s) failed" in report and "img2.png" in report
    assert sorted(p.name for p in out.iterdir()) == ["img0.png", "img1.png", "img3.png", "img4.png"]
    assert run_cli(f"colorize {src / 'img0.png'} --checkpoint {tiny_run} --out {out}") == 2
    one_line_error(capsys, "exists (1 output(s) would be replaced); pass --overwrite")
    assert (
        run_cli(f"colorize {src / 'img0.png'} --checkpoint {tiny_run} --out {out} --overwrite --no-progress")
        == 0
    )
    a_file = tmp_path / "file"
    a_file.write_text("")
    assert run_cli(f"colorize {src / 'img0.png'} --checkpoint {tiny_run} --out {a_file / 'sub'}") == 2
    one_line_error(capsys, str(a_file))
    import sarcolor.outputs as outputs  # a nearly full disk, as the OS would report it

    monkeypatch.setattr(
        outputs.shutil, "disk_usage", lambda _: shutil._ntuple_diskusage(10**9, 10**9 - 100, 100)
    )
    assert run_cli(f"colorize {src / 'img0.png'} --checkpoint {tiny_run} --out {tmp_path / 'o3'}") == 2
    one_line_error(capsys, "GB free, the outputs may need")
