"""``train-terrain`` holds its ``--out`` as ``train`` holds a run folder: a second run on it is
refused in one line, and ``train`` and ``train-terrain`` name each other (issue 23, item 6)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from conftest import one_line_error, run_cli
from sarcolor.training.runlock import LOCK_NAME, lock_folder, release

FAST = "--steps 2 --width 8 --device cpu --no-progress"


def test_a_held_folder_refuses_train_terrain(synthetic_v2: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "terrain"
    fd = lock_folder(out)  # as a running train (or train-terrain) holds it
    try:
        assert run_cli(f"train-terrain --data {synthetic_v2} --out {out} {FAST}") == 2
        one_line_error(capsys, f"{out}: in use by another sarcolor train (PID {os.getpid()})")
        assert not (out / "metrics.jsonl").exists() and not (out / "config.yaml").exists()
    finally:
        release(out, fd)


def test_train_terrain_takes_and_drops_the_lock(synthetic_v2: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "terrain"
    assert run_cli(f"train-terrain --data {synthetic_v2} --out {out} {FAST}") == 0
    assert (out / LOCK_NAME).read_text().split()[2] == "train-terrain"  # the holder's command
    fd = lock_folder(out)  # released at the end of the run
    release(out, fd)
    fd = lock_folder(out, command="train-terrain")
    try:  # and train, refused there, names it
        line = f"train --data {synthetic_v2} --out {out} --steps 1 --ngf 4 --ndf 4 --workers 0 --no-progress"
        assert run_cli(line) == 2
        one_line_error(capsys, f"{out}: in use by another sarcolor train-terrain (PID {os.getpid()})")
    finally:
        release(out, fd)


def test_train_terrain_refuses_a_generator_run_folder(
    tiny_run: Path, synthetic_v2: Path, tmp_path: Path, capsys
) -> None:
    """Its config.yaml would replace the run's: a folder with checkpoints is not a classifier's."""
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    before = (run / "config.yaml").read_bytes()
    assert run_cli(f"train-terrain --data {synthetic_v2} --out {run} {FAST}") == 2
    one_line_error(capsys, "run folder already has checkpoints; choose another --out")
    assert (run / "config.yaml").read_bytes() == before
