"""The command line end to end on real files: train → resume → colorize → evaluate."""

from __future__ import annotations

import json
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sarcolor.cli.main import main

FAST = ["--ngf", "8", "--ndf", "8", "--workers", "0", "--no-progress"]


def test_real_samples_train_resume_colorize_evaluate(
    real_sen12: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    run = tmp_path / "run"
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "train: {steps: 9, batch_size: 4, checkpoint_every: 2, sample_every: 2}\ndata: {test_fraction: 0.5}\n"
    )
    code = main(
        [
            "train",
            "--data",
            str(real_sen12),
            "--out",
            str(run),
            "--config",
            str(cfg),
            "--steps",
            "2",
            "--batch-size",
            "1",
            *FAST,
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "resolved configuration" in out and "steps: 2" in out and "batch_size: 1" in out
    assert "train 1 pairs / 1 scenes" in out and "test 1 pairs / 1 scenes" in out

    assert main(["train", "--out", str(run), "--resume", "--steps", "3", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "resuming from step 2" in out and "done: 3 steps" in out
    assert (run / "checkpoints" / "step_0000003.safetensors").is_file()

    s1 = real_sen12 / "agri" / "s1" / "ROIs1868_summer_s1_59_p30.png"
    colour = tmp_path / "colour"
    assert main(["colorize", str(s1), "--checkpoint", str(run), "--out", str(colour), "--no-progress"]) == 0
    result = Image.open(colour / "ROIs1868_summer_s1_59_p30.png")
    assert result.mode == "RGB" and result.size == (256, 256)

    scores = tmp_path / "scores.json"
    assert (
        main(
            [
                "evaluate",
                "--checkpoint",
                str(run),
                "--split",
                "all",
                "--out",
                str(scores),
                "--no-progress",
            ]
        )
        == 0
    )
    table = capsys.readouterr().out
    assert "agri" in table and "grassland" in table and "PSNR" in table
    report = json.loads(scores.read_text())
    assert report["summary"]["all"]["n"] == 2
    assert set(report["summary"]) == {"all", "agri", "grassland"}
    assert all(np.isfinite(r["psnr"]) and 0 < r["ssim"] <= 1 for r in report["images"])
    assert (tmp_path / "scores_examples.png").is_file()

    main(
        [
            "evaluate",
            "--checkpoint",
            str(run / "checkpoints" / "step_0000003.safetensors"),
            "--out",
            str(scores),
            "--no-progress",
        ]
    )
    test_only = json.loads(scores.read_text())
    assert [r["name"] for r in test_only["images"]] == [
        n
        for n in ("ROIs1868_summer_59_p30", "ROIs1970_fall_11_p537")
        if n in json.loads((run / "split.json").read_text())["test"]["pairs"]
    ]


def test_colorize_any_size_folder_and_glob(tiny_run: Path, tmp_path: Path):
    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (200, 300), dtype=np.uint8)).save(src / "a.png")
    Image.fromarray(rng.integers(0, 65535, (520, 600), dtype=np.uint16)).save(src / "b.tif")
    Image.fromarray(rng.integers(0, 255, (256, 256, 4), dtype=np.uint8), "RGBA").save(src / "c.png")
    Image.fromarray(rng.integers(0, 255, (64, 80, 3), dtype=np.uint8)).save(src / "d.jpg")
    out = tmp_path / "out"
    assert (
        main(
            [
                "colorize",
                str(src),
                "--checkpoint",
                str(tiny_run),
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    sizes = {p.name: Image.open(p).size for p in out.iterdir()}
    assert sizes == {
        "a.png": (300, 200),
        "b.png": (600, 520),
        "c.png": (256, 256),
        "d.png": (80, 64),
    }
    out2 = tmp_path / "out2"
    assert (
        main(
            [
                "colorize",
                str(src / "*.png"),
                "--checkpoint",
                str(tiny_run),
                "--out",
                str(out2),
                "--no-progress",
            ]
        )
        == 0
    )
    assert sorted(p.name for p in out2.iterdir()) == ["a.png", "c.png"]
    single = tmp_path / "one.png"
    assert (
        main(
            [
                "colorize",
                str(src / "a.png"),
                "--checkpoint",
                str(tiny_run / "checkpoints"),
                "--out",
                str(single),
            ]
        )
        == 0
    )
    assert Image.open(single).size == (300, 200)  # one input, a .png --out: written to that file


def test_train_mode_flag_is_stochastic(tiny_run: Path, tmp_path: Path):
    img = tmp_path / "x.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (256, 256), dtype=np.uint8)).save(img)
    outs = []
    for name, flags in (("e1", []), ("e2", []), ("t1", ["--train-mode"]), ("t2", ["--train-mode"])):
        main(
            [
                "colorize",
                str(img),
                "--checkpoint",
                str(tiny_run),
                "--out",
                str(tmp_path / name),
                "--no-progress",
                *flags,
            ]
        )
        outs.append(np.asarray(Image.open(tmp_path / name / "x.png")))
    assert np.array_equal(outs[0], outs[1])  # eval mode: deterministic
    assert not np.array_equal(outs[2], outs[3])  # dropout on


def test_errors_are_one_line_without_traceback(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    bad_png = tmp_path / "text.png"
    bad_png.write_text("I am not a picture")
    evil = tmp_path / "evil.safetensors"
    evil.write_bytes(pickle.dumps({"x": 1}))
    cases = [
        (
            ["colorize", str(bad_png), "--checkpoint", str(tiny_run), "--out", str(tmp_path / "o")],
            str(bad_png),
        ),
        (
            [
                "colorize",
                str(bad_png),
                "--checkpoint",
                str(tmp_path / "missing"),
                "--out",
                str(tmp_path / "o"),
            ],
            "checkpoint not found",
        ),
        (
            ["colorize", str(bad_png), "--checkpoint", str(evil), "--out", str(tmp_path / "o")],
            "not a sarcolor safetensors checkpoint",
        ),
        (
            [
                "colorize",
                str(tmp_path / "nothing*.png"),
                "--checkpoint",
                str(tiny_run),
                "--out",
                str(tmp_path / "o"),
            ],
            "no file matches",
        ),
        (
            ["train", "--data", str(tmp_path / "nodata"), "--out", str(tmp_path / "r"), *FAST],
            "data folder not found",
        ),
        (
            ["train", "--data", str(tmp_path), "--out", str(tiny_run), *FAST],
            "already has checkpoints",
        ),
        (
            ["evaluate", "--checkpoint", str(tiny_run), "--data", str(tmp_path)],
            "no image pairs found",
        ),
    ]
    for argv, needle in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert needle in err and len(err.splitlines()) == 1 and "Traceback" not in err, err


def test_console_script_and_module(tmp_path: Path):
    exe = shutil.which("sarcolor", path=str(Path(sys.executable).parent))
    assert exe is not None, "the console script is installed with the package"
    helped = subprocess.run([exe, "train", "--help"], capture_output=True, text=True, check=True).stdout
    assert "--batch-size" in helped and "default 8" in helped and "--resume" in helped
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sarcolor",
            "colorize",
            "x.png",
            "--checkpoint",
            str(tmp_path / "none"),
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
    )
    assert (
        proc.returncode == 2
        and "Traceback" not in proc.stderr
        and "x.png: no such file or folder" in proc.stderr
    )
