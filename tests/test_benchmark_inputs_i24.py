"""benchmarks/colorize_speed.py builds its own inputs: the synthetic source must give PNGs."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from PIL import Image

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "colorize_speed.py"


def test_colorize_speed_makes_synthetic_inputs(tmp_path: Path, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARK.parent))  # it imports its sibling machine.py
    spec = importlib.util.spec_from_file_location("colorize_speed_i24", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "colorize_speed_i24", module)
    spec.loader.exec_module(module)
    inputs = module.make_inputs(tmp_path / "in", 2, "synthetic")  # was a ZeroDivisionError
    assert len(inputs) == 2 and len(set(inputs)) == 2
    for path in inputs:
        with Image.open(path) as image:
            assert image.mode == "L" and image.size == (256, 256)
