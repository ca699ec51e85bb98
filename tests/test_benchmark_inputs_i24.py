"""benchmarks/colorize_speed.py builds its own inputs: the synthetic source must give PNGs."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from conftest import load_benchmark


def test_colorize_speed_makes_synthetic_inputs(tmp_path: Path, monkeypatch):
    module = load_benchmark(monkeypatch, "colorize_speed")  # it imports its sibling machine.py
    inputs = module.make_inputs(tmp_path / "in", 2, "synthetic")  # was a ZeroDivisionError
    assert len(inputs) == 2 and len(set(inputs)) == 2
    for path in inputs:
        with Image.open(path) as image:
            assert image.mode == "L" and image.size == (256, 256)
