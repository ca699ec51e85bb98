"""What a killed ``train-terrain`` leaves in its ``--out`` (a temp file, the private folder holding
safetensors' own ``.tmpXXXXXX``) is removed when the next run holds the folder (issue 23, item 7);
a live writer's temps are kept."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import run_cli
from sarcolor.models.terrain_classifier import FILENAME

FAST = "--steps 2 --width 8 --device cpu --no-progress"


def dead_pid() -> int:
    """The id of a process that has ended (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_temps_are_removed_at_the_next_start(synthetic_v2: Path, tmp_path: Path) -> None:
    out = tmp_path / "terrain"
    out.mkdir()
    pid = dead_pid()
    stale_file = out / f".metrics.jsonl.{pid}-abc123.tmp"
    stale_file.write_text("half a line")
    stale_folder = out / f".{FILENAME}.{pid}-def456.tmp"  # as a private_folder write leaves it
    (stale_folder / ".tmpAbC123").parent.mkdir()
    (stale_folder / ".tmpAbC123").write_bytes(bytes(1024))
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as live:
        alive = out / f".config.yaml.{live.pid}-ghi789.tmp"
        alive.write_text("being written")
        try:
            assert run_cli(f"train-terrain --data {synthetic_v2} --out {out} {FAST}") == 0
        finally:
            live.kill()
    assert not stale_file.exists() and not stale_folder.exists()
    assert alive.exists()  # another process's write in progress is left alone
    assert (out / FILENAME).is_file()
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp") and p != alive]
