"""The hostile-user probe of issue 15, through the real CLI: every case is one line, exit status 2.

All cases of a test run in one subprocess (the imports are paid once); each asserts the exit
status, the one line and what it names, and the test the subprocess's peak memory.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
from PIL import Image
from safetensors import safe_open
from safetensors.torch import save_file

from conftest import assert_clean_exit, run_cli_cases, untrained_checkpoint

CEILING = 700e6  # bytes; each batch measured ≈ 300–450 MB


def _yaml_bomb(path: Path) -> Path:
    """442 bytes, nine nested levels of aliases: 9⁹ strings if expanded (2.9 GB and 30 s before)."""
    levels = ["    - &a0 [" + ", ".join(["x"] * 9) + "]"]
    levels += [f"    - &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("data:\n  terrains:\n" + "\n".join(levels) + "\n")
    return path


def _with_metadata(src: Path, dst: Path, **changes: str) -> Path:
    with safe_open(str(src), "pt") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    dst.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(dst), metadata={**meta, **changes})
    return dst


def test_config_files_with_non_finite_or_absurd_values(synthetic_v2: Path, tmp_path: Path):
    configs = {
        "ngf.yaml": ("model: {ngf: .inf}\n", "model.ngf"),
        "lr.yaml": ("train: {lr: .nan}\n", "train.lr must be a finite number"),
        "calibration.yaml": ("preprocess: {calibration: .nan}\n", "preprocess.calibration must be a finite"),
        "steps.yaml": ("train: {steps: .inf}\n", "train.steps must be a finite number"),
        "despeckle.yaml": ("preprocess: {despeckle: 'lee:99999999'}\n", "speckle window must be an odd"),
        "bomb.yaml": (None, "YAML anchors and aliases are not accepted"),
    }  # fmt: skip
    cases, needles = [], []
    for name, (text, needle) in configs.items():
        path = tmp_path / name
        _yaml_bomb(path) if text is None else path.write_text(text)
        cases.append(
            ["train", "--config", path, "--data", synthetic_v2, "--out", tmp_path / "r", "--no-progress"]
        )
        needles.append(f"{path}: {needle}")
    run = tmp_path / "run_with_bomb"
    _yaml_bomb(run / "config.yaml")
    (run / "split.json").write_text("{}")
    predictions = tmp_path / "predictions"
    predictions.mkdir()
    cases.append(["evaluate", "--predictions", predictions, "--data", synthetic_v2, "--split-from", run])
    needles.append(f"{run / 'config.yaml'}: YAML anchors and aliases are not accepted")
    cases.append(
        [
            "colorize",
            tmp_path,
            "--checkpoint",
            tmp_path,
            "--out",
            tmp_path / "o",
            "--despeckle",
            "lee:99999999",
        ]
    )
    needles.append("flags: speckle window must be an odd integer from 3 to 51, not 99999999")
    results = run_cli_cases(cases)
    for result, needle in zip(results, needles, strict=True):
        assert_clean_exit(result, codes=(2,))
        assert needle in result["err"], (needle, result["err"])
    assert not (tmp_path / "r").exists()  # refused before the run folder was made
    assert max(r["rss"] for r in results) < CEILING


def test_checkpoint_metadata_of_the_wrong_kind(synthetic_v2: Path, tmp_path: Path):
    good = untrained_checkpoint(tmp_path / "good.safetensors")
    image = tmp_path / "x.png"
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(image)
    config = json.loads(safe_open(str(good), "pt").metadata()["config"])
    config["model"]["ngf"] = float("inf")
    bad = {
        "step_-5": ({"step": "-5"}, "step must be a non-negative integer"),
        "step_float": ({"step": "2.5"}, "step must be a non-negative integer"),
        "split_str": ({"split": '"abc"'}, "split must be a mapping of split names"),
        "split_int": ({"split": '{"train": 5}'}, "split 'train' must be a list of group ids"),
        "stats": ({"stats": "[1, 2]"}, "stats, baselines, training and run must be mappings"),
        "training": (
            {"training": '{"train_pairs": 1.5}'},
            "training pairs must be a count and a list of names",
        ),
        "ngf_inf": ({"config": json.dumps(config)}, "model.ngf must be a finite number"),
    }
    cases = []
    for name, (changes, needle) in bad.items():
        ckpt = _with_metadata(good, tmp_path / name / "checkpoints" / "step_0000002.safetensors", **changes)
        cases.append(
            (
                ["colorize", image, "--checkpoint", ckpt, "--out", tmp_path / "o", "--no-progress"],
                ckpt,
                needle,
            )
        )
        cases.append(
            (["train", "--out", tmp_path / name, "--resume", "--steps", "9", "--no-progress"], ckpt, needle)
        )
    results = run_cli_cases([argv for argv, _, _ in cases])
    for result, (_, ckpt, needle) in zip(results, cases, strict=True):
        assert_clean_exit(result, codes=(2,))
        assert f"{ckpt}: " in result["err"] and needle in result["err"], (needle, result["err"])
    for name in bad:  # a negative step never resumed into step_-000002.safetensors
        assert sorted(p.name for p in (tmp_path / name / "checkpoints").iterdir()) == [
            "step_0000002.safetensors"
        ]
    assert max(r["rss"] for r in results) < CEILING


def test_file_names_with_newlines_and_undecodable_bytes_stay_on_one_line(tmp_path: Path):
    ckpt = untrained_checkpoint(tmp_path / "m.safetensors")
    folder = tmp_path / "odd"
    folder.mkdir()
    newline = folder / "a\nb.png"
    newline.write_bytes(b"not a picture")
    undecodable = Path(os.fsdecode(bytes(folder) + b"/caf\xe9.png"))
    undecodable.write_bytes(b"not a picture either")
    good = folder / "good.png"
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(good)
    cases = [
        ["colorize", newline, "--checkpoint", ckpt, "--out", tmp_path / "o1"],
        ["colorize", undecodable, "--checkpoint", ckpt, "--out", tmp_path / "o2"],
        ["colorize", good, "--checkpoint", folder / "x\ny.safetensors", "--out", tmp_path / "o3"],
        ["colorize", folder, "--checkpoint", ckpt, "--out", tmp_path / "o4", "--on-bad-sample", "skip"],
    ]
    results = run_cli_cases(cases, env={"PYTHONIOENCODING": "utf-8"})  # a UTF-8 terminal: strict
    needles = [
        "a\\nb.png: cannot read image",
        "caf\\xe9.png: cannot read image",
        "x\\ny.safetensors: checkpoint not found",
    ]
    for result, needle in zip(results[:3], needles, strict=True):
        assert_clean_exit(result, codes=(2,))
        assert needle in result["err"], result["err"]
    listing = results[3]
    assert listing["rc"] == 1 and "Traceback" not in listing["err"], listing  # 1: some inputs failed
    failed = [line for line in listing["out"].splitlines() if line.startswith("  ")]
    assert (
        len(failed) == 2
        and any("a\\nb.png: " in f for f in failed)
        and any("caf\\xe9.png: " in f for f in failed)
    )
    assert (tmp_path / "o4" / "good.png").is_file()


def test_outputs_that_would_mix_with_their_inputs(synthetic_v2: Path, tmp_path: Path):
    ckpt = untrained_checkpoint(tmp_path / "m.safetensors")
    data = shutil.copytree(synthetic_v2.parent, tmp_path / "data")
    s1 = next(data.glob("v_2/*/s1"))
    predictions = tmp_path / "predictions"
    predictions.mkdir()
    name = next(s1.iterdir()).stem
    Image.fromarray(np.zeros((256, 256, 3), np.uint8)).save(predictions / f"{name}.png")
    Image.fromarray(np.zeros((256, 256, 3), np.uint8)).save(predictions / f"{name}.tif")
    before = sorted(p.name for p in s1.iterdir())
    cases = [
        (
            ["colorize", s1, "--checkpoint", ckpt, "--out", s1],
            f"the only images are inside the output folder {s1}",
        ),
        (["train", "--data", data, "--out", data / "v_2" / "run", "--no-progress"], "inside the data folder"),
        (
            ["evaluate", "--predictions", predictions, "--data", data],
            "which one is the prediction is ambiguous",
        ),
    ]
    results = run_cli_cases([argv for argv, _ in cases])
    for result, (_, needle) in zip(results, cases, strict=True):
        assert_clean_exit(result, codes=(2,))
        assert needle in result["err"], result["err"]
    assert sorted(p.name for p in s1.iterdir()) == before and not (data / "v_2" / "run").exists()
