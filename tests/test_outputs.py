"""Atomic writes: a writer killed mid-write leaves the previous file; a full disk is one line."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import one_line_error, run_cli, tiny_config, write_geotiff


def test_a_writer_killed_mid_write_leaves_the_previous_file(tmp_path: Path):
    target = tmp_path / "checkpoint.safetensors"
    target.write_bytes(b"previous, complete checkpoint")
    code = (
        "import sys, time\n"
        "from sarcolor.data.io import atomic_write\n"
        "def slow(tmp):\n"
        "    with open(tmp, 'wb') as fh:\n"
        "        fh.write(b'x' * 1_000_000); fh.flush(); print('writing', flush=True); time.sleep(60)\n"
        f"atomic_write({str(target)!r}, slow)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert target.read_bytes() == b"previous, complete checkpoint"
    leftovers = [p for p in tmp_path.iterdir() if p != target]
    assert len(leftovers) == 1 and leftovers[0].name.endswith(".tmp")  # the partial never took the name


def test_temp_files_carry_the_writers_pid_and_only_dead_writers_are_cleared(tmp_path: Path):
    from sarcolor.outputs import atomic_write, remove_stale_temps

    seen = []
    atomic_write(tmp_path / "a-1.png", lambda tmp: (seen.append(tmp.name), tmp.write_bytes(b"x")))
    assert seen[0].startswith(f".a-1.png.{os.getpid()}-") and seen[0].endswith(".tmp")
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid = int(gone.stdout)  # a process that has ended
    dead = tmp_path / f".step_1.safetensors.{dead_pid}-abc_12.tmp"
    live = tmp_path / f".step_1.safetensors.{os.getpid()}-abc_12.tmp"
    legacy = tmp_path / ".step_1.safetensors.abc_12.tmp"  # written before ids were recorded
    for path in (dead, live, legacy):
        path.write_bytes(b"partial")
    assert remove_stale_temps(tmp_path) == [dead]
    assert live.exists() and legacy.exists()
    assert remove_stale_temps(tmp_path, unnamed=True) == [legacy]  # a folder held exclusively
    assert live.exists()


@pytest.fixture
def tiny_disk(tmp_path: Path):
    """A 24 MB tmpfs of its own (needs root; skipped where it cannot be mounted)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode().strip() or 'not root'}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def leave_free(disk: Path, free: int) -> None:
    """Fill ``disk`` until exactly ``free`` bytes (rounded up to a page) are left."""
    page = os.statvfs(disk).f_frsize
    filler = disk / "filler"
    size = filler.stat().st_size if filler.exists() else 0
    excess = shutil.disk_usage(disk).free - (free + page - 1) // page * page
    with open(filler, "ab") as fh:
        fh.truncate(size)
        fh.write(b"\0" * max(0, excess))
    assert shutil.disk_usage(disk).free == (free + page - 1) // page * page


def test_a_full_disk_while_writing_a_checkpoint_is_one_line_and_keeps_the_last(
    tiny_disk: Path, synthetic_v2: Path, capsys
):
    import torch

    from sarcolor.checkpoint import list_checkpoints, read_meta
    from sarcolor.models.build import build_networks
    from sarcolor.training.runlock import LOCK_NAME

    cfg = tiny_config(synthetic_v2).replace(model={"ngf": 4, "ndf": 4})
    with torch.device("meta"):
        numel = sum(p.numel() for net in build_networks(cfg) for p in net.parameters())
    run = tiny_disk / "run"
    # what the up-front check asks for 1 kept checkpoint + the one being written (its estimate
    # leaves out buffers and metadata), and a page for the lock file: the first checkpoint fits,
    # the second cannot
    leave_free(tiny_disk, numel * 4 * 3 * 2 + 4096)
    line = f"train --data {synthetic_v2} --out {run} --steps 6 --checkpoint-every 2 --keep-checkpoints 1"
    assert (
        run_cli(f"{line} --ngf 4 --ndf 4 --batch-size 2 --workers 0 --no-progress --sample-every 1000") == 2
    )
    err = one_line_error(capsys, "disk full")
    assert "step_0000004.safetensors: cannot write" in err and "internal error" not in err
    kept = list_checkpoints(run)
    assert [p.name for p in kept] == ["step_0000002.safetensors"] and read_meta(kept[0]).step == 2
    assert not [p for p in (run / "checkpoints").iterdir() if p.name.endswith(".tmp")]
    assert (run / LOCK_NAME).exists()


def test_a_full_disk_while_writing_a_scene_names_the_file_and_keeps_the_previous(
    tiny_disk: Path, tiny_run: Path, tmp_path: Path, capsys
):
    rng = np.random.default_rng(0)
    scene = write_geotiff(tmp_path / "s.tif", rng.uniform(-25, 0, (300, 400)).astype(np.float32))
    out = tiny_disk / "s.tif"
    line = f"colorize {scene} --checkpoint {tiny_run} --out {out} --compress none --alpha --no-progress"
    assert run_cli(line) == 0
    previous = out.read_bytes()
    capsys.readouterr()
    # the up-front check allows 4 bytes a pixel, and an uncompressed RGBA scene is that plus its header
    leave_free(tiny_disk, 300 * 400 * 4)
    assert run_cli(f"{line} --overwrite") == 2
    err = one_line_error(capsys, f"{out}: cannot write (disk full")
    assert "See previous exception" not in err
    assert out.read_bytes() == previous
    assert sorted(p.name for p in tiny_disk.iterdir()) == ["filler", "s.tif"]  # no temp file left
