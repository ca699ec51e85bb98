"""Atomic writes: a writer killed mid-write leaves the previous file."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path


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
