"""benchmarks/real_quality.py --final: the recommended colour recipe (a grey generator pretrained on
the NUAA pairs, its colour stage fitted on real colour scenes) scored on another folder, in
``sarcolor evaluate``'s JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import shared_path

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "real_quality.py"


def test_final_pretrains_fine_tunes_and_scores_beside_the_baselines(tmp_path):
    scenes, loose = shared_path("real", "sen1-2-scenes", "v_2"), shared_path("real", "sen1-2", "v_2")
    nuaa = shared_path("real", "sen1-2-nuaa")
    out = tmp_path / "final.json"
    command = [sys.executable, str(BENCHMARK), "--final", "--data", str(scenes), "--nuaa", str(nuaa)]
    command += ["--test-data", str(loose), "--json", str(out), "--workdir", str(tmp_path / "runs")]
    command += ["--steps", "2", "--pretrain-steps", "2", "--ngf", "8", "--batch-size", "2", "--device", "cpu"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    body = json.loads(out.read_text())
    summary = body["summary"]["all"]
    assert summary["n"] == 2  # the two loose pairs
    for scores in (summary["model"], summary["baselines"]["mean_colour"], summary["baselines"]["level_lut"]):
        assert set(scores) >= {"psnr", "ssim", "mae"}
    record = body["benchmark"]
    assert record["variant"] == "recommended+nuaa2+colour-stage"  # the two-stage recipe
    config = record["config"]
    assert config["train"]["lambda_l1"] == 10000 and config["model"]["upsample"] == "resize"
    pre = config["preprocess"]  # the grey generator pretrained on NUAA, its colour stage fitted
    assert pre["target"] == "tinted" and pre["sar_levels"] == "standardise" and len(pre["tint"]) == 3
    assert "pretrain" in Path(record["init_from"]).parts
    # the loose agri pair is a patch of a training scene (ROIs1868_summer 59): said, not hidden
    assert record["test_scenes_also_trained"] == ["ROIs1868_summer_59"]
    assert "WARNING" in done.stdout and "ROIs1868_summer_59" in done.stdout
