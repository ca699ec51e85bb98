"""The command line end to end on real files: train → resume → colorize → evaluate."""

from __future__ import annotations

import json
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from sarcolor.cli.main import main
from sarcolor.data.sources import discover_pairs
from sarcolor.data.split import select_split, split_scenes

FAST = "--ngf 8 --ndf 8 --workers 0 --no-progress"


def cli(line: str, *paths: Path | str) -> int:
    """Run ``sarcolor`` in-process; ``{}`` placeholders in ``line`` take ``paths`` in order."""
    return main(line.format(*(str(p) for p in paths)).split())


def s1_stem(pair_name: str) -> str:
    """``ROIs2025_fall_101_p3`` → ``ROIs2025_fall_s1_101_p3`` (the SAR file's stem)."""
    roi, season, scene, patch = pair_name.split("_")
    return f"{roi}_{season}_s1_{scene}_{patch}"


def test_real_samples_train_resume_colorize_evaluate(real_sen12: Path, tmp_path: Path, capsys):
    run, yaml_file = tmp_path / "run", tmp_path / "c.yaml"
    yaml_file.write_text(
        "train: {steps: 9, batch_size: 4, checkpoint_every: 2}\ndata: {test_fraction: 0.5}\n"
    )
    assert (
        cli(
            "train --data {} --out {} --config {} --steps 2 --batch-size 1 " + FAST,
            real_sen12,
            run,
            yaml_file,
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "resolved configuration" in out and "steps: 2" in out and "batch_size: 1" in out
    assert "train 1 pairs / 1 scenes" in out and "test 1 pairs / 1 scenes" in out

    assert cli("train --out {} --resume --steps 3 --no-progress", run) == 0
    out = capsys.readouterr().out
    assert "resuming from step 2" in out and "done: 3 steps" in out
    assert (run / "checkpoints" / "step_0000003.safetensors").is_file()

    s1 = real_sen12 / "agri" / "s1" / "ROIs1868_summer_s1_59_p30.png"
    assert cli("colorize {} --checkpoint {} --out {} --no-progress", s1, run, tmp_path / "colour") == 0
    result = Image.open(tmp_path / "colour" / "ROIs1868_summer_s1_59_p30.png")
    assert result.mode == "RGB" and result.size == (256, 256)

    scores = tmp_path / "scores.json"
    assert cli("evaluate --checkpoint {} --split all --out {} --no-progress", run, scores) == 0
    table = capsys.readouterr().out
    assert "agri" in table and "grassland" in table and "PSNR" in table
    report = json.loads(scores.read_text())
    assert report["summary"]["all"]["n"] == 2
    assert set(report["summary"]) == {"all", "agri", "grassland"}
    assert all(np.isfinite(r["model"]["psnr"]) and 0 < r["model"]["ssim"] <= 1 for r in report["images"])
    assert set(report["images"][0]["baselines"]) == {"mean_colour", "terrain_colour", "level_lut"}
    assert (tmp_path / "scores_examples.png").is_file()

    ckpt = run / "checkpoints" / "step_0000003.safetensors"
    assert cli("evaluate --checkpoint {} --no-progress", ckpt) == 0  # default: RUN_DIR/eval/test.json
    test_only = json.loads((run / "eval" / "test.json").read_text())
    assert (run / "eval" / "test_examples.png").is_file()
    split = json.loads((run / "split.json").read_text())
    assert [r["name"] for r in test_only["images"]] == split["test"]["pairs"]


def test_synthetic_chain_through_the_cli(synthetic_v2: Path, tmp_path: Path, capsys):
    run = tmp_path / "run"
    assert (
        cli(
            "train --data {} --out {} --steps 2 --batch-size 2 --checkpoint-every 1 " + FAST,
            synthetic_v2,
            run,
        )
        == 0
    )
    assert cli("train --out {} --resume --steps 4 --no-progress", run) == 0
    assert "resuming from step 2" in capsys.readouterr().out
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == 4  # the resumed log continues, no repeats
    preds = tmp_path / "preds"
    assert cli("evaluate --checkpoint {} --save-predictions {} --no-progress", run, preds) == 0
    scored = json.loads((run / "eval" / "test.json").read_text())
    assert sorted(p.stem for p in preds.iterdir()) == sorted(s1_stem(r["name"]) for r in scored["images"])
    s1 = sorted((synthetic_v2 / "urban" / "s1").iterdir())[0]
    assert cli("colorize {} --checkpoint {} --out {} --no-progress", s1, run, tmp_path / "one.png") == 0
    assert Image.open(tmp_path / "one.png").size == (256, 256)


def test_colorize_any_size_folder_and_glob(tiny_run: Path, tmp_path: Path):
    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (200, 300), dtype=np.uint8)).save(src / "a.png")
    Image.fromarray(rng.integers(0, 65535, (520, 600), dtype=np.uint16)).save(src / "b.tif")
    Image.fromarray(rng.integers(0, 255, (256, 256, 4), dtype=np.uint8), "RGBA").save(src / "c.png")
    Image.fromarray(rng.integers(0, 255, (64, 80, 3), dtype=np.uint8)).save(src / "d.jpg")
    out = src / "colour"  # inside the input folder: it must not be read back as input
    for again in ("", " --overwrite"):
        assert cli("colorize {} --checkpoint {} --out {} --no-progress" + again, src, tiny_run, out) == 0
    sizes = {p.name: Image.open(p).size for p in out.iterdir()}
    assert sizes == {"a.png": (300, 200), "b.tif": (600, 520), "c.png": (256, 256), "d.png": (80, 64)}
    out2 = tmp_path / "out2"
    assert cli("colorize {} --checkpoint {} --out {} --no-progress", src / "*.png", tiny_run, out2) == 0
    assert sorted(p.name for p in out2.iterdir()) == ["a.png", "c.png"]
    single = tmp_path / "one.png"
    assert (
        cli(
            "colorize {} --checkpoint {} --out {} --no-progress",
            src / "a.png",
            tiny_run / "checkpoints",
            single,
        )
        == 0
    )
    assert Image.open(single).size == (300, 200)  # one input and a .png --out: that file


def test_train_mode_flag_is_stochastic(tiny_run: Path, tmp_path: Path):
    img = tmp_path / "x.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (256, 256), dtype=np.uint8)).save(img)
    outs = []
    for name, flags in (("e1", ""), ("e2", ""), ("t1", " --train-mode"), ("t2", " --train-mode")):
        assert (
            cli("colorize {} --checkpoint {} --out {} --no-progress" + flags, img, tiny_run, tmp_path / name)
            == 0
        )
        outs.append(np.asarray(Image.open(tmp_path / name / "x.png")))
    assert np.array_equal(outs[0], outs[1])  # eval mode: deterministic
    assert not np.array_equal(outs[2], outs[3])  # dropout on


def test_errors_are_one_line_without_traceback(tiny_run: Path, synthetic_v2: Path, tmp_path: Path, capsys):
    bad_png = tmp_path / "text.png"
    bad_png.write_text("I am not a picture")
    evil = tmp_path / "evil.safetensors"
    evil.write_bytes(pickle.dumps({"x": 1}))
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    good = sorted((synthetic_v2 / "agri" / "s1").iterdir())[0]
    broken = shutil.copytree(synthetic_v2.parent, tmp_path / "broken")
    pairs = discover_pairs(broken).pairs
    train_pairs = select_split(pairs, split_scenes(pairs, 0.1, 0.1, 0), "train")  # train's defaults
    victim = train_pairs[len(train_pairs) // 2].s1
    # trained while the file was good; on --resume (no up-front check) only a loader worker meets it
    assert (
        cli(
            "train --data {} --out {} --steps 1 --ngf 4 --ndf 4 --workers 0 --no-progress",
            broken,
            tmp_path / "r2",
        )
        == 0
    )
    victim.write_bytes(victim.read_bytes()[:200])
    capsys.readouterr()
    worker_run = f"train --out {tmp_path / 'r2'} --resume --steps 40 --workers 1 --no-progress"
    cases = [
        (f"colorize {bad_png} --checkpoint {tiny_run} --out {tmp_path / 'o'}", str(bad_png)),
        (
            f"colorize {bad_png} --checkpoint {tmp_path / 'missing'} --out {tmp_path / 'o'}",
            "checkpoint not found",
        ),
        (
            f"colorize {bad_png} --checkpoint {evil} --out {tmp_path / 'o'}",
            "sarcolor loads only safetensors checkpoints",
        ),
        (
            f"colorize {tmp_path / 'nothing*.png'} --checkpoint {tiny_run} --out {tmp_path / 'o'}",
            "no file matches",
        ),
        (f"colorize {good} --checkpoint {tiny_run} --out {a_file}", str(a_file)),
        (f"colorize {good} --checkpoint {tiny_run} --out {good}", "would overwrite an input"),
        (
            f"colorize {good} {bad_png} --checkpoint {tiny_run} --out {tmp_path / 'two.png'}",
            "takes one input",
        ),
        (f"train --data {tmp_path / 'nodata'} --out {tmp_path / 'r'} {FAST}", "data folder not found"),
        (f"train --data {tmp_path} --out {tiny_run} {FAST}", "already has checkpoints"),
        (worker_run, str(victim)),
        (
            f"train --data {broken} --out {tmp_path / 'r3'} --steps 2 {FAST}",
            "1 training pair(s) cannot be read",
        ),
        (f"evaluate --checkpoint {tiny_run} --data {tmp_path}", "no image pairs found"),
        (f"data {synthetic_v2} --val-fraction 2", "val_fraction must be in [0, 1)"),
    ]
    for line, needle in cases:
        assert main(line.split()) == 2, line
        err = capsys.readouterr().err.strip()
        assert needle in err and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert good.read_bytes()[:4] == b"\x89PNG"  # the refused overwrite left the input alone


def test_data_reports_truncated_images_and_mixed_grey_rgb_evaluates(
    tiny_run: Path, synthetic_v2: Path, tmp_path: Path, capsys
):
    data = shutil.copytree(synthetic_v2.parent, tmp_path / "d")
    test_scene = json.loads((tiny_run / "split.json").read_text())["test"]["pairs"][0]
    s1 = next((data / "v_2").glob(f"*/s1/{s1_stem(test_scene)}.png"))
    Image.open(s1).convert("RGB").save(s1)  # one SAR tile stored as three identical channels
    assert (
        cli(
            "evaluate --checkpoint {} --data {} --out {} --no-progress",
            tiny_run,
            data / "v_2",
            tmp_path / "e.json",
        )
        == 0
    )
    cut = sorted((data / "v_2" / "urban" / "s2").iterdir())[0]
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    capsys.readouterr()
    assert cli("data {} --json", data) == 1
    report = json.loads(capsys.readouterr().out)
    assert [u["file"] for u in report["unreadable"]] == [str(cut)]


def test_console_script_and_module(tmp_path: Path):
    exe = shutil.which("sarcolor", path=str(Path(sys.executable).parent))
    assert exe is not None, "the console script is installed with the package"
    helped = subprocess.run([exe, "train", "--help"], capture_output=True, text=True, check=True).stdout
    assert "--batch-size" in helped and "default 8" in helped and "--resume" in helped
    argv = [
        sys.executable,
        "-m",
        "sarcolor",
        "colorize",
        "x.png",
        "--checkpoint",
        str(tmp_path),
        "--out",
        str(tmp_path),
    ]
    proc = subprocess.run(argv, capture_output=True, text=True)
    assert (
        proc.returncode == 2
        and "Traceback" not in proc.stderr
        and "x.png: no such file or folder" in proc.stderr
    )
