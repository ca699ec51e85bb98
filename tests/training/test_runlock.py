"""One training process per run folder: a second ``train`` is refused, a killed one leaves no lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import one_line_error, run_cli
from sarcolor.checkpoint import list_checkpoints, read_meta, resolve_checkpoint
from sarcolor.config import Config
from sarcolor.errors import SarcolorError
from sarcolor.figures import read_metrics_log
from sarcolor.training.runlock import LOCK_NAME, lock_folder, release

ROOT = Path(__file__).resolve().parents[2]
FAST = ["--batch-size", "2", "--ndf", "8", "--workers", "0", "--no-progress", "--sample-every", "100000"]


def _train(data: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "sarcolor", "train", "--data", str(data), "--out", str(out), *FAST, *extra]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def _wait_for_checkpoint(proc: subprocess.Popen, run: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not list_checkpoints(run):
        if proc.poll() is not None:
            pytest.fail(f"the first run ended early: {proc.stderr.read() if proc.stderr else ''}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the first run wrote no checkpoint in time")
        time.sleep(0.2)


@pytest.mark.slow  # three real trainings: ~20 s on 2 cores
def test_two_trains_on_one_folder_the_second_is_refused_and_a_killed_one_leaves_no_lock(
    synthetic_v2: Path, tmp_path: Path
):
    """The issue's reproduction: ``train … --ngf 8 & train … --ngf 16 --seed 2`` on one --out."""
    run = tmp_path / "run"
    first = subprocess.Popen(
        _train(synthetic_v2, run, "--steps", "100000", "--ngf", "8", "--checkpoint-every", "5"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        _wait_for_checkpoint(first, run)
        assert (run / LOCK_NAME).read_text().split()[0] == str(first.pid)  # the holder's id is on record
        second = subprocess.run(
            _train(
                synthetic_v2, run, "--steps", "60", "--ngf", "16", "--seed", "2", "--checkpoint-every", "5"
            ),
            capture_output=True,
            text=True,
            env=_env(),
            timeout=300,
        )
        assert second.returncode == 2
        err = second.stderr.strip()
        assert len(err.splitlines()) == 1 and "Traceback" not in err, err
        assert str(run) in err and f"PID {first.pid}" in err, err
        assert Config.from_yaml(run / "config.yaml").model.ngf == 8  # the first run's, untouched
    finally:
        first.send_signal(signal.SIGKILL)  # killed: no cleanup of any kind runs
        first.wait(timeout=60)

    # the writers' temp files: a killed writer's is removed, a live writer's never is
    dead = run / "checkpoints" / f".step_0000099.safetensors.{first.pid}-dead0.tmp"
    live = run / "checkpoints" / f".step_0000099.safetensors.{os.getpid()}-live0.tmp"
    dead.write_bytes(b"half a checkpoint")
    live.write_bytes(b"being written")
    step = read_meta(resolve_checkpoint(run)).step
    resume = [
        "train",
        "--out",
        str(run),
        "--resume",
        "--steps",
        str(step + 1),
        "--no-progress",
        "--workers",
        "0",
    ]
    resumed = subprocess.run(
        [sys.executable, "-m", "sarcolor", *resume], capture_output=True, text=True, env=_env(), timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr  # no stale lock after SIGKILL
    assert f"resuming from step {step}" in resumed.stdout
    assert not dead.exists() and live.exists()
    for ckpt in list_checkpoints(run):  # every checkpoint is the first run's model
        assert read_meta(ckpt).config.model.ngf == 8
    steps = [r["step"] for r in read_metrics_log(run / "metrics.jsonl")]
    assert steps == sorted(set(steps)) and steps[-1] == step + 1  # one run's log, not two interleaved


def test_a_held_folder_refuses_train_and_resume_in_one_line(synthetic_v2: Path, tmp_path: Path, capsys):
    run = tmp_path / "held"
    fd = lock_folder(run)  # this process holds it, as a running trainer would
    try:
        line = f"train --data {synthetic_v2} --out {run} --steps 1 --ngf 4 --ndf 4 --workers 0 --no-progress"
        assert run_cli(line) == 2
        one_line_error(capsys, f"{run}: in use by another sarcolor train (PID {os.getpid()})")
        with pytest.raises(SarcolorError, match="in use by another sarcolor train"):
            lock_folder(run)  # a second descriptor, even in the same process
    finally:
        release(run, fd)
    assert not (run / "checkpoints").exists()  # nothing was written by the refused run
    fd = lock_folder(run)  # released: free again
    release(run, fd)


def test_forked_children_do_not_keep_the_folder_locked(tmp_path: Path):
    """A data-loader worker forked by the trainer must not hold the lock once the trainer is gone."""
    run = tmp_path / "run"
    fd = lock_folder(run)
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # a worker: waits until told to exit
        os.close(write_end)
        os.read(read_end, 1)
        os._exit(0)
    os.close(read_end)
    try:
        release(run, fd)  # the trainer's descriptor is gone; the child is still alive
        code = f"import pathlib, sarcolor.training.runlock as r; r.lock_folder(pathlib.Path({str(run)!r}))"
        probe = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
        )
        assert probe.returncode == 0, probe.stderr
    finally:
        os.write(write_end, b"x")
        os.waitpid(child, 0)


def test_train_out_inside_the_data_folder_is_refused(synthetic_v2: Path, tmp_path: Path, capsys):
    inside = synthetic_v2 / "agri" / "run"
    assert run_cli(f"train --data {synthetic_v2} --out {inside} --steps 1 --workers 0 --no-progress") == 2
    one_line_error(capsys, "inside the data folder")
    assert not inside.exists()


@pytest.mark.slow
def test_torchrun_ranks_share_the_lock_and_all_refuse_a_held_folder(synthetic_v2: Path, tmp_path: Path):
    run = tmp_path / "held"
    fd = lock_folder(run)
    try:
        cmd = [
            sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
            "-m", "sarcolor", "train", "--data", str(synthetic_v2), "--out", str(run), "--steps", "2",
            "--batch-size", "2", "--ngf", "4", "--ndf", "4", "--workers", "0", "--no-progress",
        ]  # fmt: skip
        env = {**_env(), "PYTHONPATH": str(ROOT / "src")}
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    finally:
        release(run, fd)
    assert done.returncode != 0
    refusal = f"sarcolor train: error: {run}: in use by another sarcolor train (PID {os.getpid()})"
    assert done.stderr.count(refusal) == 2, done.stderr[-3000:]  # rank 0 and rank 1 alike
    assert not (run / "checkpoints").exists()


def test_a_file_given_as_the_run_folder_is_refused_in_one_line(tmp_path: Path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"not a folder")
    with pytest.raises(SarcolorError, match=r"model\.safetensors.*not a folder; --out takes the run folder"):
        lock_folder(path)
    assert path.read_bytes() == b"not a folder"
