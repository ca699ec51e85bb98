"""Budgets before work (issue 23, items 8, 9, 11, 13): what would not fit in the memory this
process may use is refused in one line from a header, before any large allocation.

The big-image cases run the real CLI in a subprocess under a 4 GB address-space limit
(``RLIMIT_AS``, what ``ulimit -v 4000000`` sets), the limit the probe used.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from budget_support import constant_png, grey_png, onnx_model, sparse_geotiff, zip_bomb_pth
from conftest import assert_clean_exit, run_cli_cases, untrained_checkpoint
from sarcolor.data.io import read_image
from sarcolor.errors import SarcolorError
from sarcolor.memory import MEMORY_ENV

FOUR_GB = 4_000_000 * 1024  # ulimit -v 4000000


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return untrained_checkpoint(tmp_path_factory.mktemp("budgets") / "m.safetensors", ngf=4)


def test_budget_reads_the_address_space_limit():
    """``ulimit -v`` bounds what may be allocated, whatever the machine has free."""
    code = (
        "import resource, json\n"
        "from sarcolor.memory import available_memory, _status_bytes\n"
        "size = _status_bytes('VmSize')\n"
        "resource.setrlimit(resource.RLIMIT_AS, (size + (300 << 20), resource.RLIM_INFINITY))\n"
        "print(json.dumps([available_memory()]))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != MEMORY_ENV}
    for extra in ({}, {MEMORY_ENV: "100G"}):  # the setting cannot lift the kernel's limit
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env={**env, **extra}
        )
        (free,) = json.loads(done.stdout)
        assert free is not None and 200 << 20 < free <= 300 << 20, (extra, free)


def test_a_long_strip_is_budgeted_as_the_tiles_it_is_padded_to(tmp_path: Path, monkeypatch):
    """1,500,000×8 is 12 MP, but colorized as 1,500,000×256 tiles: 12 GB, refused from the header."""
    strip = constant_png(tmp_path / "strip.png", 1_500_000, 8)
    monkeypatch.setenv(MEMORY_ENV, "4G")
    assert read_image(strip).shape == (8, 1_500_000, 1)  # reading alone fits
    with pytest.raises(SarcolorError, match=r"strip\.png: 1500000×8 pixels .* need about 1[0-9]\.\d GB"):
        read_image(strip, 28, 96 << 20, pad_to=256)


def test_a_wide_scene_is_refused_before_any_strip_is_read(tmp_path: Path, checkpoint: Path, monkeypatch):
    """A 13 kB sparse 256×400,000 GeoTIFF peaked at 4.6 GB whatever SARCOLOR_MEMORY_LIMIT said."""
    from sarcolor.inference.colorizer import Colorizer
    from sarcolor.inference.scene import colorize_scene, scene_memory

    wide = sparse_geotiff(tmp_path / "wide.tif", 400_000, 256)
    monkeypatch.setenv(MEMORY_ENV, "1G")
    with pytest.raises(SarcolorError, match=r"wide\.tif: scenes 400000 pixels wide need about 1\d\.\d GB"):
        colorize_scene(Colorizer(checkpoint), wide, tmp_path / "out.tif", progress=False)
    assert not (tmp_path / "out.tif").exists()
    # what a scene of the usual width needs stays small: Sentinel-1 IW is ~25,000 columns
    assert scene_memory(25_000, 2, 4) < 2e9


def test_a_zip_bomb_pth_is_refused_from_its_directory(tmp_path: Path):
    """A 70 kB archive whose tensor record inflates to 64 MB (the probe's: 3.8 MB → 4 GB): refused
    from the zip's directory, before torch.load inflates it."""
    from sarcolor.pth import read_foreign_state_dict

    bomb = zip_bomb_pth(tmp_path / "bomb.pth")
    assert bomb.stat().st_size < 1 << 20
    with pytest.raises(SarcolorError, match=r"bomb\.pth: refused: record .*/data/0 inflates \d+×"):
        read_foreign_state_dict(bomb)


def test_a_pth_larger_than_the_budget_is_refused(tmp_path: Path, monkeypatch):
    import torch

    from sarcolor.pth import read_foreign_state_dict

    path = tmp_path / "big.pth"
    torch.save({"w": torch.zeros(1 << 20)}, path)  # 4 MB stored, as torch.save writes
    monkeypatch.setenv(MEMORY_ENV, "1M")
    with pytest.raises(
        SarcolorError, match=r"big\.pth: its records \(\d+, the largest .*/data/0\) need about"
    ):
        read_foreign_state_dict(path)
    monkeypatch.setenv(MEMORY_ENV, "1G")
    assert read_foreign_state_dict(path)["w"].shape == (1 << 20,)  # type: ignore[index]


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("fixed128", r"input is fixed to \(batch, 1, 128, 128\); sarcolor feeds \(batch, 1, 256, 256\)"),
        ("two_channels", r"input has 2 channel\(s\), the checkpoint it records expects 1"),
        ("grey_out", r"output has 1 channel\(s\), the checkpoint it records expects 3"),
        ("x64", r"output \(batch, 3, \?, \?\) is not the size of its input"),
    ],
)
def test_onnx_models_sarcolor_cannot_feed_are_refused_on_load(
    tmp_path: Path, checkpoint: Path, kind: str, message: str
):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from sarcolor.inference.colorizer import Colorizer

    model = onnx_model(tmp_path / f"{kind}.onnx", checkpoint, kind)
    with pytest.raises(SarcolorError, match=rf"{kind}\.onnx: the model's {message}"):
        Colorizer(model)


def test_an_onnx_model_of_the_expected_signature_colorizes(tmp_path: Path, checkpoint: Path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from sarcolor.inference.colorizer import Colorizer

    colorizer = Colorizer(onnx_model(tmp_path / "ok.onnx", checkpoint, "ok"))
    assert colorizer.colorize(read_image(grey_png(tmp_path / "x.png"))).shape == (64, 64, 3)


@pytest.mark.slow
def test_huge_images_are_refused_in_one_line_under_4_gb(tmp_path: Path, checkpoint: Path):
    """The probe's cases, through the CLI under ``ulimit -v 4000000`` and no SARCOLOR_MEMORY_LIMIT:
    a 19000² PNG (400 kB), a 1,500,000×8 PNG and a 256×1,500,000 GeoTIFF are refused from their
    headers, at the memory of an idle process (they ended in ``internal error: MemoryError``)."""
    inputs = [
        constant_png(tmp_path / "big.png", 19_000, 19_000),
        constant_png(tmp_path / "strip.png", 1_500_000, 8),
        sparse_geotiff(tmp_path / "wide.tif", 1_500_000, 256),
    ]
    cases = [
        [
            "colorize",
            str(path),
            "--checkpoint",
            str(checkpoint),
            "--out",
            str(tmp_path / f"o{i}"),
            "--no-progress",
        ]
        for i, path in enumerate(inputs)
    ]
    env = {MEMORY_ENV: ""}  # unset: only the address-space limit bounds this process
    results = run_cli_cases(cases, address_space=FOUR_GB, env=env)
    for path, result in zip(inputs, results, strict=True):
        assert_clean_exit(result, codes=(2,))
        assert f"{path}: " in result["err"] and "GB available" in result["err"], result
        assert result["rss"] < 1e9, result  # nothing large was allocated


def test_predictions_scored_whole_are_budgeted_from_their_header(
    synthetic_v2: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``evaluate --predictions``: a prediction is scored whole beside its target, so it is costed
    as colorizing would be, not as decoding only (a 4000² PNG decodes in 0.16 GB, scoring it takes
    ~0.7 GB): refused from the header, before a truncated body is ever decoded."""
    from app_support import bomb_png
    from sarcolor.data.sources import discover_pairs
    from sarcolor.evaluation.evaluate import evaluate_predictions

    predictions = tmp_path / "predictions"
    predictions.mkdir()
    for pair in discover_pairs(synthetic_v2).pairs:
        (predictions / f"{pair.name}.png").write_bytes(bomb_png(4000, 4000))
    monkeypatch.setenv(MEMORY_ENV, "300M")
    with pytest.raises(SarcolorError, match=r"\.png: 4000×4000 pixels .* need about 0\.\d GB of memory"):
        evaluate_predictions(predictions, synthetic_v2, perceptual=False, progress=False)
