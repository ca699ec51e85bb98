"""The run lock never writes through a link: a run folder handed over by someone else cannot make
``train`` truncate a file of the user's choosing (issue 23, item 3)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sarcolor.errors import SarcolorError
from sarcolor.training.runlock import LOCK_NAME, lock_folder, release


def _cli(*argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "sarcolor", *argv], capture_output=True, text=True, env=env, timeout=300
    )


def test_resume_refuses_a_lock_that_is_a_symlink_and_leaves_its_target_alone(tiny_run: Path, tmp_path: Path):
    """The issue's reproduction: ``ln -s ../victim.txt RUN/.sarcolor-train.lock; train --resume``."""
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    (run / LOCK_NAME).unlink(missing_ok=True)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (run / LOCK_NAME).symlink_to("../victim.txt")
    done = _cli("train", "--out", str(run), "--resume", "--steps", "6", "--no-progress", "--workers", "0")
    err = done.stderr.strip()
    assert done.returncode == 2, done.stderr
    assert len(err.splitlines()) == 1 and "Traceback" not in err and "internal error" not in err, err
    assert f"{run / LOCK_NAME}: the run lock is a symbolic link" in err, err
    assert victim.read_text() == "precious\n"
    assert (run / LOCK_NAME).is_symlink()


def test_a_dangling_symlink_as_the_lock_creates_nothing(tmp_path: Path):
    run = tmp_path / "run"
    run.mkdir()
    target = tmp_path / "elsewhere.txt"
    (run / LOCK_NAME).symlink_to(target)
    with pytest.raises(SarcolorError, match="the run lock is a symbolic link"):
        lock_folder(run)
    assert not target.exists()


def test_a_hard_linked_lock_is_not_written(tmp_path: Path):
    run = tmp_path / "run"
    run.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    os.link(victim, run / LOCK_NAME)
    with pytest.raises(SarcolorError, match="not a plain file of yours"):
        lock_folder(run)
    assert victim.read_text() == "precious\n"


def test_a_fifo_as_the_lock_is_refused_without_blocking(tmp_path: Path):
    run = tmp_path / "run"
    run.mkdir()
    os.mkfifo(run / LOCK_NAME)
    with pytest.raises(SarcolorError, match="not a plain file of yours"):
        lock_folder(run)


def test_a_plain_lock_file_is_still_taken_over(tmp_path: Path):
    run = tmp_path / "run"
    run.mkdir()
    (run / LOCK_NAME).write_text("999999 somewhere train\n")  # left by a run that ended
    fd = lock_folder(run)
    try:
        assert (run / LOCK_NAME).read_text().split()[0] == str(os.getpid())
    finally:
        release(run, fd)
