"""The demo pipeline end to end at a tiny budget (the real budget runs in `make demo`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sarcolor.demo import run_demo
from sarcolor.errors import SarcolorError
from sarcolor.inference.modelset import load_registry
from sarcolor.models.terrain_classifier import Classifier


def test_demo_writes_a_complete_report(tmp_path: Path):
    out = tmp_path / "demo"
    lines: list[str] = []
    run_demo(out, steps=4, ngf=4, device="cpu", progress=False, echo=lines.append, classifier_steps=20)
    files = {p.name for p in (out / "report").iterdir()}
    assert {"grid.png", "examples.png", "loss_curve.png", "metrics.json", "report.md"} <= files
    scores = json.loads((out / "report" / "metrics.json").read_text())
    s = scores["summary"]["all"]
    assert s["n"] == len(list((out / "colorized").iterdir())) > 0
    assert {"psnr", "ssim", "mae", "sam"} <= set(s["model"]) and "mean_colour" in s["baselines"]
    terrains = {r["terrain"] for r in scores["images"]}
    assert terrains == {"agri", "barrenland", "grassland", "urban"}  # the demo's test split shows all
    text = (out / "report" / "report.md").read_text()
    assert "mean-colour PSNR" in text and "![grid](grid.png)" in text
    assert any("mean-colour baseline" in line for line in lines)
    # a model set the app opens: the run (with its scores for the model card) and the classifier
    registry = load_registry([out / "models"])
    assert [m.id for m in registry.models] == ["all"] and registry.models[0].metrics is not None
    assert isinstance(registry.classifier, Classifier)
    terrain = json.loads((out / "models" / "terrain" / "eval" / "test.json").read_text())
    assert terrain["n"] == s["n"] and any(f"{terrain['accuracy']:.1%} of the test tiles" in x for x in lines)
    assert f"sarcolor serve --models {out / 'models'}" in lines[-1]
    assert "## Terrain classifier" in text
    run_demo(out, steps=2, ngf=4, device="cpu", progress=False, echo=lambda _: None, classifier_steps=2)


def test_demo_refuses_a_foreign_folder(tmp_path: Path):
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(SarcolorError, match="not made by `sarcolor demo`"):
        run_demo(tmp_path, steps=1, ngf=4, progress=False, echo=lambda _: None)
    assert (tmp_path / "precious.txt").read_text() == "keep me"
