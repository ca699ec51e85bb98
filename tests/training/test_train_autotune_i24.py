"""Training's auto precision/layout on CPU: measured once per machine, cached, never emulated bf16."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from conftest import tiny_config
from sarcolor.cli.main import main
from sarcolor.inference.autotune import CACHE_FILE
from sarcolor.training.autotune import TUNE_ENV, choose_training_path, measure_steps
from sarcolor.training.pix2pix import Pix2Pix

CPU = torch.device("cpu")


@pytest.fixture
def tuning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Measurement on (the suite turns it off), with a private cache folder."""
    monkeypatch.delenv(TUNE_ENV, raising=False)
    monkeypatch.setenv("SARCOLOR_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / CACHE_FILE


def _train_entries(cache: Path) -> dict:
    entries = json.loads(cache.read_text())["entries"]
    return {k: v for k, v in entries.items() if k.startswith("train | ")}


def test_a_forced_choice_is_obeyed_unmeasured(synthetic_v2: Path, tuning: Path):
    cfg = tiny_config(synthetic_v2, precision="fp32", channels_last=True)
    path = choose_training_path(cfg, CPU, echo=lambda _: None)
    assert (path.name, path.reason, path.rates, path.compiled) == (
        "fp32/channels_last",
        "configured",
        {},
        False,
    )
    model = Pix2Pix(cfg, 4, CPU, path=path)
    assert model.precision == "fp32" and model.channels_last
    weights = [p for p in model.G.parameters() if p.dim() == 4 and p.shape[1] > 1]
    assert weights and all(w.is_contiguous(memory_format=torch.channels_last) for w in weights)
    assert not tuning.exists()  # nothing was measured


def test_auto_never_takes_bf16_where_it_is_emulated(synthetic_v2: Path, tuning: Path, monkeypatch):
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")  # how an AVX2-only CPU is imitated
    monkeypatch.delenv("SARCOLOR_CPU_BF16", raising=False)  # the hardware decides, not the suite
    cfg = tiny_config(synthetic_v2, channels_last=False)  # precision auto: its candidates alone
    path = choose_training_path(cfg, CPU, echo=lambda _: None)
    assert (path.name, path.reason) == ("fp32/contiguous", "configured") and not tuning.exists()


def test_measuring_leaves_the_random_stream_alone(synthetic_v2: Path):
    cfg = tiny_config(synthetic_v2, batch_size=1).replace(model={"ngf": 2, "ndf": 2})
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    rates = measure_steps(cfg, CPU, [("fp32", False)])
    assert list(rates) == ["fp32/contiguous"] and torch.equal(torch.rand(3), expected)


@pytest.mark.slow
def test_training_measures_once_prints_why_and_reuses_the_cache(
    synthetic_v2: Path, tuning: Path, tmp_path, capsys
):
    args = ["train", "--data", str(synthetic_v2), "--steps", "1", "--precision", "fp32", "--no-progress"]
    args += ["--ngf", "2", "--ndf", "2", "--batch-size", "1", "--workers", "0"]
    assert main([*args, "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    resolved = out[out.index("resolved configuration") :]
    line = next(ln for ln in resolved.splitlines() if ln.startswith("training path: "))
    assert line.startswith("training path: fp32/") and "(measured in " in line and "pairs/s" in line
    ((key, entry),) = _train_entries(tuning).items()
    assert set(entry["rates"]) == {"fp32/contiguous", "fp32/channels_last"} and line.startswith(
        f"training path: {entry['path']},"
    )
    # the cache decides next time: point it at the other layout and that is taken, unmeasured
    other = "fp32/channels_last" if entry["path"] == "fp32/contiguous" else "fp32/contiguous"
    document = json.loads(tuning.read_text())
    document["entries"][key]["path"] = other
    tuning.write_text(json.dumps(document))
    assert main([*args, "--out", str(tmp_path / "again")]) == 0
    out = capsys.readouterr().out
    assert f"training path: {other}, torch.compile off (cached in " in out and "measuring" not in out
