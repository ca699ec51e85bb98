"""``sarcolor --help`` and argument errors answer without importing PyTorch (it takes ~1.5 s).

Each case runs the real CLI in a fresh interpreter and reports which heavy modules it loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import json, sys
from sarcolor.cli.main import main
try:
    status = main(sys.argv[1:])
except SystemExit as exc:
    status = exc.code
heavy = sorted(m for m in ("torch", "numpy", "PIL", "rasterio", "onnx", "onnxruntime") if m in sys.modules)
print("PROBE " + json.dumps({"status": status, "heavy": heavy}))
"""


def probe(*argv: str) -> tuple[int, list[str], str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=120, check=False
    )
    line = next(x for x in done.stdout.splitlines() if x.startswith("PROBE "))
    result = json.loads(line.removeprefix("PROBE "))
    return result["status"], result["heavy"], done.stdout + done.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["colorize", "--help"],
        ["train", "--help"],
        ["export", "--help"],
        ["colorize", "in.png", "--out", "out"],  # --checkpoint missing: argparse
        ["colorize", "in.png", "--out", "out", "--checkpoint", "c", "--batch-size", "0"],  # out of range
        ["train", "--out", "run", "--steps", "0"],
    ],
    ids=" ".join,
)
def test_help_and_argument_errors_import_no_torch(argv: list[str]) -> None:
    status, heavy, output = probe(*argv)
    assert status in (0, 2), output
    assert "torch" not in heavy and "numpy" not in heavy, (heavy, output)
    if status == 2:
        assert "error" in output


def test_a_real_command_still_imports_what_it_needs(tmp_path: Path) -> None:
    # a missing checkpoint is found after the inputs are planned: by then the library is loaded
    (tmp_path / "in.png").write_bytes(b"")
    status, heavy, output = probe(
        "colorize", str(tmp_path / "in.png"), "--out", str(tmp_path / "out"), "--checkpoint", "missing"
    )
    assert status == 2 and "missing: checkpoint not found" in output, output
    assert "torch" in heavy
