"""Training that is interrupted or meets bad input: signals, resume, non-finite losses, bad files, disks."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from safetensors import safe_open

from conftest import corrupt, one_line_error, run_cli
from sarcolor.checkpoint import resolve_checkpoint
from sarcolor.data.sources import discover_pairs
from sarcolor.data.split import select_split, split_scenes

TINY = "--ngf 4 --ndf 4 --batch-size 2 --workers 0 --no-progress"


def _records(run: Path) -> list[dict]:
    from sarcolor.figures import read_metrics_log  # skips a line being written right now

    return read_metrics_log(run / "metrics.jsonl")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_saves_a_checkpoint_and_resume_reproduces_the_run(
    signum, synthetic_v2: Path, tmp_path: Path, capsys
):
    run = tmp_path / "run"
    argv = [
        sys.executable,
        "-m",
        "sarcolor",
        "train",
        "--data",
        str(synthetic_v2),
        "--out",
        str(run),
        "--steps",
        "100000",
        "--log-every",
        "1",
        "--sample-every",
        "100000",
        *TINY.split(),
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while len(_records(run)) < 3 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signum)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, output
    step = int(output.split("interrupted at step ")[1].split("/")[0])
    assert (run / "checkpoints" / f"step_{step:07d}.safetensors").is_file()
    assert "--resume" in output

    assert run_cli(f"train --out {run} --resume --steps {step + 2} --no-progress") == 0
    assert f"resuming from step {step}" in capsys.readouterr().out
    straight = tmp_path / "straight"
    assert (
        run_cli(
            f"train --data {synthetic_v2} --out {straight} --steps {step + 2} "
            f"--log-every 1 --sample-every 100000 {TINY}"
        )
        == 0
    )
    with (
        safe_open(str(resolve_checkpoint(run)), "pt") as a,
        safe_open(str(resolve_checkpoint(straight)), "pt") as b,
    ):
        for key in a.keys():  # noqa: SIM118 (safe_open has no __iter__)
            if key.startswith(("G.", "D.")):
                assert np.array_equal(a.get_tensor(key).numpy(), b.get_tensor(key).numpy()), key


def test_stale_temp_files_are_cleared_when_training_starts(tiny_run: Path, tmp_path: Path):
    run = shutil.copytree(tiny_run, tmp_path / "run")
    stale = run / "checkpoints" / ".step_0000006.safetensors.abc123.tmp"
    stale.write_bytes(b"half a checkpoint")
    assert run_cli(f"train --out {run} --resume --steps 5 --no-progress") == 0
    assert not stale.exists()


@pytest.mark.parametrize("policy", ["stop", "skip"])
def test_non_finite_losses_stop_or_are_skipped(policy: str, synthetic_v2: Path, tmp_path: Path, capsys):
    run = tmp_path / policy
    # an absurd learning rate drives the weights to ±inf after one update: every later loss is NaN
    line = f"train --data {synthetic_v2} --out {run} --steps 30 --lr 1e30 --checkpoint-every 1"
    assert run_cli(f"{line} --on-nonfinite {policy} {TINY}") == 2
    err = capsys.readouterr().err
    if policy == "stop":
        assert "non-finite loss" in err and "training stopped" in err and "--on-nonfinite skip" in err
    else:
        assert "non-finite" in err and "training stopped" in err
    for ckpt in (run / "checkpoints").glob("*.safetensors"):  # nothing non-finite was ever saved
        with safe_open(str(ckpt), "pt") as f:
            names = [k for k in f.keys() if k[:2] in ("G.", "D.")]  # noqa: SIM118 (not iterable)
            assert all(np.isfinite(f.get_tensor(k).float().numpy()).all() for k in names)


def test_bad_training_files_are_listed_at_once_or_skipped(synthetic_v2: Path, tmp_path: Path, capsys):
    data = shutil.copytree(synthetic_v2.parent, tmp_path / "d")
    pairs = discover_pairs(data).pairs
    train = select_split(pairs, split_scenes(pairs, 0.1, 0.1, 0), "train")
    bad = [corrupt(train[1].s1), corrupt(train[5].s2)]
    small = train[8]
    Image.open(small.s1).crop((0, 0, 200, 200)).save(small.s1)  # its two images now differ in size
    assert run_cli(f"train --data {data} --out {tmp_path / 'r1'} --steps 2 {TINY}") == 2
    out, err = capsys.readouterr()
    listed = [line for line in out.splitlines() if line.startswith("bad sample:")]
    assert len(listed) == 3 and all(any(str(b) in line for line in listed) for b in bad)
    assert any("differs from its optical pair" in line for line in listed)
    assert "3 training pair(s) cannot be read (listed above)" in err
    assert run_cli(f"train --data {data} --out {tmp_path / 'r2'} --steps 2 --on-bad-sample skip {TINY}") == 0
    assert "leaving out 3 unreadable training pair(s)" in capsys.readouterr().out


def test_training_refuses_unusable_output_locations(synthetic_v2: Path, tmp_path: Path, capsys, monkeypatch):
    a_file = tmp_path / "file"
    a_file.write_text("")
    assert run_cli(f"train --data {synthetic_v2} --out {a_file} --steps 1 {TINY}") == 2
    one_line_error(capsys, str(a_file))
    import sarcolor.outputs as outputs

    monkeypatch.setattr(
        outputs.shutil, "disk_usage", lambda _: shutil._ntuple_diskusage(10**9, 10**9 - 1000, 1000)
    )
    assert run_cli(f"train --data {synthetic_v2} --out {tmp_path / 'r'} --steps 1 {TINY}") == 2
    one_line_error(capsys, "checkpoints need about")
