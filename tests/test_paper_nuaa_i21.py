"""benchmarks/paper_nuaa.py: the recipe it trains, and one tiny run end to end on real NUAA pairs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import BENCHMARKS, load_benchmark, shared_path


def test_variants_parse_recipe_and_values(monkeypatch):
    variants = load_benchmark(monkeypatch, "variants")
    assert variants.parse_variant("hd=pix2pixhd,train.d_augment=translation,cutout,model.ngf=8") == (
        "hd",
        "pix2pixhd",
        {"train": {"d_augment": "translation,cutout"}, "model": {"ngf": 8}},
    )
    assert variants.parse_variant("pix2pix") == ("pix2pix", "pix2pix", {})
    with pytest.raises(SystemExit, match="unknown recipe 'nope'"):
        variants.parse_variant("x=nope,train.lr=1")
    with pytest.raises(SystemExit, match=r"not section\.field=value"):
        variants.parse_variant("x=pix2pix,lr=1")


def test_the_recommended_grey_recipe_and_a_variant_over_it(monkeypatch, tmp_path):
    paper = load_benchmark(monkeypatch, "paper_nuaa")
    budget = paper.BUDGETS["cpu"]
    cfg = paper.recipe_config(tmp_path, budget, 3, 0.1, tmp_path)
    _, recipe, values = load_benchmark(monkeypatch, "variants").parse_variant(paper.RECOMMENDED)
    assert cfg.preprocess.target == "grey" and cfg.train.recipe == recipe
    assert cfg.model.upsample == "resize" and cfg.train.steps == budget["steps"]
    assert cfg.train.lambda_l1 == values["train"]["lambda_l1"] and cfg.train.seed == 3
    other = paper.recipe_config(tmp_path, budget, 0, 0.1, tmp_path, "gan=pix2pix,train.lambda_l1=100")
    assert other.train.lambda_l1 == 100 and other.model.upsample == "transpose"  # pix2pix's own preset


def test_a_tiny_run_writes_evaluates_json_shape_beside_the_paper(tmp_path):
    nuaa = shared_path("real", "sen1-2-nuaa")
    data = tmp_path / "nuaa"
    for cls in ("forest", "river"):  # 12 real pairs of two classes, linked
        for sar in sorted((nuaa / cls / "train_A").glob("sar_*.jpg"))[:12]:
            op = nuaa / cls / "train_B" / sar.name.replace("sar_", "op_")
            for src, side in ((sar, "train_A"), (op, "train_B")):
                (data / cls / side).mkdir(parents=True, exist_ok=True)
                (data / cls / side / src.name).symlink_to(src)
    out = tmp_path / "scores.json"
    command = [sys.executable, str(BENCHMARKS / "paper_nuaa.py"), "--data", str(data), "--steps", "2"]
    command += ["--ngf", "8", "--batch-size", "2", "--val-fraction", "0.25", "--device", "cpu"]
    command += ["--workdir", str(tmp_path / "runs"), "--json", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "paper: pix2pixHD" in done.stdout and "baseline: level LUT" in done.stdout
    body = json.loads(out.read_text())
    summary = body["summary"]["all"]
    assert summary["n"] == 6  # a quarter of the 24 pairs
    for scores in (summary["model"], *(summary["baselines"][k] for k in ("mean_colour", "level_lut"))):
        assert set(scores) >= {"psnr", "ssim", "mae"} and 0 < scores["mae"] < 1
    assert body["benchmark"]["settings"]["steps"] == 2
    assert body["benchmark"]["paper_table_4"][0]["method"] == "pix2pix"
