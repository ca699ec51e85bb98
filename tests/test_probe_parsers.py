"""Hostile nesting and environment values: one line naming the file or variable, never an
"internal error" (issue 23, item 12)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from conftest import assert_clean_exit, run_cli_cases, untrained_checkpoint
from sarcolor.errors import SarcolorError

DEEP = 900  # the probe's: 1.8 kB of brackets


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def _refused(result: dict, *needles: str) -> None:
    assert_clean_exit(result, codes=(2,))
    for needle in needles:
        assert needle in result["err"], result


@pytest.fixture(scope="module")
def sar_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sar") / "sar.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)).save(path)
    return path


def _with_metadata(src: Path, dst: Path, **changes: str) -> Path:
    """A copy of checkpoint ``src`` whose safetensors metadata has ``changes``."""
    with safe_open(str(src), framework="pt") as f:
        metadata = dict(f.metadata() or {})
    save_file(load_file(str(src)), str(dst), metadata={**metadata, **changes})
    return dst


def test_a_deeply_nested_config_is_refused_in_one_line(tmp_path: Path):
    cases = []
    for depth in (DEEP, 5000):
        config = tmp_path / f"deep{depth}.yaml"
        config.write_text(f"data:\n  terrains: {_nested(depth)}\n")
        cases.append(["train", "--config", config, "--out", tmp_path / f"run{depth}", "--steps", "1"])
    for result, depth in zip(run_cli_cases(cases), (DEEP, 5000), strict=True):
        _refused(result, f"deep{depth}.yaml: nested too deeply")
        assert not (tmp_path / f"run{depth}").exists()


def test_deeply_nested_checkpoint_metadata_is_refused_in_one_line(tmp_path: Path, sar_png: Path):
    plain = untrained_checkpoint(tmp_path / "plain.safetensors")
    with safe_open(str(plain), framework="pt") as f:
        config = json.loads(f.metadata()["config"])
    deep_config = {**config, "data": {**config["data"], "terrains": json.loads(_nested(DEEP))}}
    checkpoints = [
        _with_metadata(plain, tmp_path / "config.safetensors", config=json.dumps(deep_config)),
        _with_metadata(plain, tmp_path / "run.safetensors", run=f'{{"x": {_nested(DEEP)}}}'),
        _with_metadata(plain, tmp_path / "split.safetensors", split=_nested(5000)),
    ]
    cases = []
    for ckpt in checkpoints:
        cases.append(["colorize", sar_png, "--checkpoint", ckpt, "--out", tmp_path / f"{ckpt.stem}.png"])
        cases.append(["models", ckpt])
    for result in run_cli_cases(cases):
        _refused(result, ".safetensors: nested too deeply")


def test_a_hostile_eval_report_does_not_stop_models(tiny_run: Path, tmp_path: Path):
    """``models`` (and ``serve``) list a run whose eval/test.json is hostile, without its scores."""
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    (run / "eval").mkdir(exist_ok=True)
    reports = [
        f'{{"summary": {{"all": {_nested(DEEP)}}}}}',
        f'{{"summary": {_nested(5000)}}}',
        '{"summary": {"all": []}}',  # the wrong shape, shallow
        '{"summary": {"all": {"model": {"psnr": "high"}}}}',
        "[1]",
    ]
    cases = []
    for i, text in enumerate(reports):
        copy = tmp_path / f"run{i}"
        shutil.copytree(run, copy)
        (copy / "eval" / "test.json").write_text(text)
        cases.append(["models", copy])
    for result in run_cli_cases(cases):
        assert_clean_exit(result, codes=(0,))
        assert "not evaluated" in result["out"], result


@pytest.mark.parametrize(
    "name, value",
    [("SARCOLOR_MAX_PIXELS", "abc"), ("SARCOLOR_MEMORY_LIMIT", "abc"), ("SARCOLOR_MAX_PIXELS", "-1")],
)
def test_a_bad_environment_value_is_one_line_naming_the_variable(
    name: str, value: str, sar_png: Path, tmp_path: Path
):
    ckpt = untrained_checkpoint(tmp_path / "model.safetensors")
    env = {**os.environ, "OMP_NUM_THREADS": "1", name: value}
    argv = ["colorize", str(sar_png), "--checkpoint", str(ckpt), "--out", str(tmp_path / "out.png")]
    done = subprocess.run(
        [sys.executable, "-m", "sarcolor", *argv], capture_output=True, text=True, env=env, timeout=120
    )
    err = done.stderr.strip()
    assert done.returncode == 2, err
    assert len(err.splitlines()) == 1 and "internal error" not in err, err
    assert f"{name}='{value}': expected" in err, err
    assert not (tmp_path / "out.png").exists()


def test_loads_json_bounds_depth_and_leaves_plain_errors_to_the_caller():
    from sarcolor.textfiles import MAX_DEPTH, loads_json

    assert loads_json(_nested(MAX_DEPTH), "ok.json") == json.loads(_nested(MAX_DEPTH))
    for depth in (MAX_DEPTH + 1, DEEP, 100_000):
        with pytest.raises(SarcolorError, match=r"^deep\.json: nested too deeply"):
            loads_json(_nested(depth), "deep.json")
    with pytest.raises(ValueError):
        loads_json("{not json", "bad.json")
