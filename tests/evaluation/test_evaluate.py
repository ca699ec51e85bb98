"""The evaluation protocol: baselines, flags, predictions from other tools, hold-outs, runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sarcolor.checkpoint import read_meta, resolve_checkpoint
from sarcolor.cli.main import main
from sarcolor.config import Config
from sarcolor.data.sources import discover_pairs
from sarcolor.data.split import select_split, split_scenes
from sarcolor.errors import SarcolorError
from sarcolor.evaluation.evaluate import evaluate, evaluate_predictions
from sarcolor.evaluation.scores import aggregate
from sarcolor.runtime import bf16_is_native

PALETTE = np.random.default_rng(0).integers(0, 256, (256, 3), dtype=np.uint8)  # colour of each SAR level


@pytest.fixture(scope="module")
def level_coded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Pairs whose optical colour is a fixed function of the SAR level; terrain 'dark' uses low
    levels, 'bright' high ones. 2 terrains × 3 scenes × 2 patches of 64×64."""
    root = tmp_path_factory.mktemp("coded") / "v_2"
    rng = np.random.default_rng(1)
    for t, (terrain, lo, hi) in enumerate((("dark", 0, 100), ("bright", 150, 256))):
        for k in range(3):
            for patch in (1, 2):
                name = f"ROIs9000_{('spring', 'fall')[k % 2]}_s1_{10 * t + k}_p{patch}.png"
                sar = rng.integers(lo, hi, (64, 64), dtype=np.uint8)
                for sensor, image in (("s1", sar), ("s2", PALETTE[sar])):
                    path = root / terrain / sensor / name.replace("_s1_", f"_{sensor}_")
                    path.parent.mkdir(parents=True, exist_ok=True)
                    Image.fromarray(image).save(path)
    return root


def write_predictions(pairs, folder: Path, kind: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, pair in enumerate(pairs):
        target = np.asarray(Image.open(pair.s2))
        image = target if kind == "perfect" else np.full_like(target, 128)
        stem = (pair.name, pair.s1.stem, pair.s2.stem)[i % 3]  # any of the three names matches
        Image.fromarray(image).save(folder / f"{stem}.png")
    return folder


def test_baselines_are_fitted_on_train_and_the_lut_is_exact(level_coded: Path, tmp_path: Path):
    pairs = discover_pairs(level_coded).pairs
    split = split_scenes(pairs, 0.0, 0.34, seed=0)
    test = select_split(pairs, split, "test")
    result = evaluate_predictions(
        write_predictions(test, tmp_path / "p", "perfect"), level_coded, "test", scenes=split
    )
    s = result.summary()["all"]
    assert s["n"] == len(test) and s["model"]["psnr"] == 100.0 and result.flags() == []
    base = s["baselines"]
    seen_levels = {
        lvl for p in select_split(pairs, split, "train") for lvl in np.unique(np.asarray(Image.open(p.s1)))
    }
    test_levels = {lvl for p in test for lvl in np.unique(np.asarray(Image.open(p.s1)))}
    assert test_levels <= seen_levels  # (the fixture draws every level of its range in each image)
    assert base["level_lut"]["psnr"] == 100.0  # the colour is a function of the level
    assert base["level_lut"]["psnr"] > base["terrain_colour"]["psnr"] > base["mean_colour"]["psnr"]
    assert result.protocol["split_by"].startswith("scene") and result.protocol["scenes"] == split["test"]


def test_a_model_below_a_baseline_is_flagged(level_coded: Path, tmp_path: Path, capsys):
    pairs = discover_pairs(level_coded).pairs
    split = split_scenes(pairs, 0.0, 0.34, seed=0)
    grey = write_predictions(select_split(pairs, split, "test"), tmp_path / "grey", "grey")
    assert (
        main(
            [
                "evaluate",
                "--predictions",
                str(grey),
                "--data",
                str(level_coded),
                "--test-fraction",
                "0.34",
                "--val-fraction",
                "0",
                "--no-progress",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "⚠ the model does not beat the level lut baseline on PSNR" in out
    scores = json.loads((grey / "scores_test.json").read_text())
    assert any("level lut" in f for f in scores["flags"]) and scores["conventions"].startswith("per-image")
    fid = scores["perceptual"]["fid"]
    assert fid["available"] is False and ("sarcolor[metrics]" in fid["reason"] or "weights" in fid["reason"])


def test_missing_predictions_are_an_error(level_coded: Path, tmp_path: Path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SarcolorError, match="no prediction matches"):
        evaluate_predictions(tmp_path / "empty", level_coded)


def test_holdout_terrain_and_season(level_coded: Path):
    pairs = discover_pairs(level_coded).pairs
    split = split_scenes(pairs, 0.0, 0.2, holdout_terrain="bright")
    assert {p.terrain for p in select_split(pairs, split, "test")} == {"bright"}
    assert {p.terrain for p in select_split(pairs, split, "train")} == {"dark"}
    split = split_scenes(pairs, 0.0, 0.2, holdout_season="fall")
    assert {p.season for p in select_split(pairs, split, "test")} == {"fall"}
    assert {p.season for p in select_split(pairs, split, "train")} == {"spring"}
    with pytest.raises(SarcolorError, match="held-out terrain 'urban'"):
        split_scenes(pairs, holdout_terrain="urban")


def test_checkpoint_scores_equal_its_saved_predictions_scored_as_files(tiny_run: Path, tmp_path: Path):
    meta = read_meta(resolve_checkpoint(tiny_run))
    train = select_split(discover_pairs(meta.config.data.root).pairs, meta.split, "train")
    assert len(meta.baselines["lut"]) == 256 and set(meta.baselines["terrain_rgb"]) == {
        p.terrain for p in train
    }
    direct = evaluate(
        tiny_run, device="cpu", predictions_dir=tmp_path / "pred", perceptual=False, progress=False
    )
    files = evaluate_predictions(
        tmp_path / "pred", meta.config.data.root, scenes=meta.split, perceptual=False, progress=False
    )
    a, b = direct.summary()["all"], files.summary()["all"]
    assert a["n"] == b["n"]
    for metric in ("psnr", "ssim", "mae", "sam"):  # one protocol: the model is scored as 8-bit images too
        assert a["model"][metric] == pytest.approx(b["model"][metric], abs=1e-6), metric
        for name, scores in a["baselines"].items():
            assert scores[metric] == pytest.approx(b["baselines"][name][metric], abs=1e-6)


def test_perceptual_metrics_report_why_they_are_unavailable(tiny_run: Path, tmp_path: Path):
    result = evaluate(tiny_run, device="cpu", weights_dir=tmp_path, progress=False)
    for name in ("lpips", "fid"):
        entry = result.perceptual[name]
        assert entry["available"] is False and entry["reason"]
    assert "unavailable" in result.table()


def test_several_runs_give_mean_and_std(tiny_run: Path, synthetic_v2: Path, tmp_path: Path, capsys):
    from conftest import tiny_config
    from sarcolor.training.trainer import train

    other = train(
        tiny_config(synthetic_v2, seed=7), tmp_path / "seed7", progress=False, echo=lambda _: None
    ).run_dir
    runs = [evaluate(r, device="cpu", perceptual=False, progress=False) for r in (tiny_run, other)]
    agg = aggregate(runs)
    psnrs = [r.summary()["all"]["model"]["psnr"] for r in runs]
    assert agg["all"]["psnr"][0] == pytest.approx(np.mean(psnrs))
    assert agg["all"]["psnr"][1] == pytest.approx(np.std(psnrs, ddof=1))
    out = tmp_path / "both.json"
    assert (
        main(
            [
                "evaluate",
                "--checkpoint",
                str(tiny_run),
                "--checkpoint",
                str(other),
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    assert "mean ± std over 2 runs" in capsys.readouterr().out
    assert len(json.loads(out.read_text())["runs"]) == 2


def test_config_holds_holdouts():
    cfg = Config.from_dict({"data": {"holdout_terrain": "urban"}})
    assert cfg.data.holdout_terrain == "urban" and cfg.data.holdout_season is None


def test_predictions_are_never_written_over_the_data(tiny_run: Path, capsys):
    meta = read_meta(resolve_checkpoint(tiny_run))
    s1_folder = next(Path(meta.config.data.root).glob("*/s1"))
    before = {p: p.read_bytes() for p in s1_folder.iterdir()}
    assert (
        main(
            [
                "evaluate",
                "--checkpoint",
                str(tiny_run),
                "--split",
                "all",
                "--save-predictions",
                str(s1_folder),
                "--no-progress",
            ]
        )
        == 2
    )
    assert "inside the dataset folder" in capsys.readouterr().err  # refused before any output is planned
    assert {p: p.read_bytes() for p in s1_folder.iterdir()} == before


def test_holdout_terrain_through_train_and_evaluate(synthetic_v2: Path, tmp_path: Path, capsys):
    run = tmp_path / "held"
    assert (
        main(
            [
                "train",
                "--data",
                str(synthetic_v2),
                "--out",
                str(run),
                "--holdout-terrain",
                "urban",
                "--steps",
                "2",
                "--batch-size",
                "2",
                "--ngf",
                "4",
                "--ndf",
                "4",
                "--workers",
                "0",
                "--no-progress",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", str(run), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "held-out urban is the test split" in out and "conventions: per-image" in out
    scores = json.loads((run / "eval" / "test.json").read_text())
    assert {r["terrain"] for r in scores["images"]} == {"urban"} and scores["protocol"][
        "holdout_terrain"
    ] == "urban"
    assert not any("terrain colour" in f for f in scores["flags"])  # not fitted for an unseen terrain


def test_precision_is_chosen_and_recorded(trained_run: Path, tmp_path: Path):
    out = tmp_path / "scores.json"
    args = ["evaluate", "--checkpoint", str(trained_run), "--out", str(out), "--no-progress"]
    assert main([*args, "--precision", "fp32"]) == 0
    fp32 = json.loads(out.read_text())
    assert fp32["protocol"]["precision"] == "fp32"
    if not bf16_is_native():  # emulated bf16: this evaluation alone took 153 s on AVX2 kernels
        pytest.skip("bf16 is emulated on this CPU (no AVX-512-BF16/AMX, or ONEDNN_MAX_CPU_ISA caps it)")
    assert main([*args, "--precision", "bf16", "--overwrite"]) == 0
    bf16 = json.loads(out.read_text())
    assert bf16["protocol"]["precision"] == "bf16"
    # bf16 moves outputs by under one 8-bit level: the scores barely change, but they do change
    a, b = fp32["summary"]["all"]["model"]["mae"], bf16["summary"]["all"]["model"]["mae"]
    assert a != b and abs(a - b) < 0.002  # != : bf16 really ran
