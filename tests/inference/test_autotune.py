"""``--form auto``: the generator's inference form measured once per machine, cached, and obeyed.

No test asserts a timing: which form wins depends on the CPU (and on what else runs on it). They
check what must hold whatever wins — the cache is written, reused, repaired; a forced form runs;
every form computes what the plain eval generator computes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from conftest import untrained_checkpoint
from sarcolor.cli.main import main
from sarcolor.inference.autotune import CACHE_FILE, choose_form, machine_key
from sarcolor.inference.colorizer import Colorizer
from sarcolor.inference.forms import FORMS, RUNTIME, build_form, cache_dir
from sarcolor.models import UNetGenerator, init_weights
from sarcolor.models.onednn import PackedConv2d, onednn_available

CPU = torch.device("cpu")


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private cache folder, with ``auto`` measuring (the suite otherwise fixes the form)."""
    monkeypatch.setenv("SARCOLOR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("SARCOLOR_FORM", raising=False)
    return tmp_path / "cache" / CACHE_FILE


@pytest.fixture(scope="module")
def generator() -> UNetGenerator:
    g = UNetGenerator(1, 3, ngf=2)
    init_weights(g, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():  # BatchNorm statistics away from (0, 1): a wrong fold shows
        for m in g.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    return g.eval()


def test_auto_measures_once_then_reads_the_cache(generator: UNetGenerator, cache: Path):
    first = choose_form(generator, CPU, "fp32", "auto", batch=1)
    assert first.reason == "measured" and first.cache == cache and first.form in FORMS
    assert set(first.rates) == set(FORMS) and first.form == max(first.rates, key=first.rates.__getitem__)
    assert "eager" in first.rates  # the baseline is a candidate: never slower than it
    written = json.loads(cache.read_text())
    assert written["entries"][first.key]["form"] == first.form
    stamp = cache.stat().st_mtime_ns
    again = choose_form(generator, CPU, "fp32", "auto", batch=1)
    assert (again.reason, again.form, again.rates) == ("cached", first.form, first.rates)
    assert cache.stat().st_mtime_ns == stamp  # not measured, not rewritten
    # another batch size is another key: measured, and kept beside the first
    other = choose_form(generator, CPU, "fp32", "auto", batch=2)
    assert other.reason == "measured" and other.key != first.key
    assert set(json.loads(cache.read_text())["entries"]) == {first.key, other.key}


def test_the_key_names_what_speed_depends_on(generator: UNetGenerator, monkeypatch: pytest.MonkeyPatch):
    key = machine_key(generator, "fp32", 8)
    assert torch.__version__ in key and "ngf 2" in key and "batch 8" in key and "fp32" in key
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")  # an imitated AVX2 CPU is another machine
    assert machine_key(generator, "fp32", 8) != key and "onednn<=AVX2" in machine_key(generator, "fp32", 8)


@pytest.mark.parametrize(
    "content",
    ["{not json", json.dumps([1, 2]), json.dumps({"version": 1, "entries": {"x": 3}})],
    ids=["garbage", "a list", "foreign entries"],
)
def test_a_corrupt_cache_is_ignored_and_rewritten(generator: UNetGenerator, cache: Path, content: str):
    cache.parent.mkdir(parents=True)
    cache.write_text(content)
    key = machine_key(generator, "fp32", 1)
    if content.startswith('{"version"'):  # an entry for this machine that is not a choice
        cache.write_text(json.dumps({"version": 1, "entries": {key: {"form": "warp-drive"}}}))
    choice = choose_form(generator, CPU, "fp32", "auto", batch=1)
    assert choice.reason == "measured"
    assert json.loads(cache.read_text())["entries"][key]["form"] == choice.form


def test_an_unwritable_cache_only_means_measuring_again(
    generator: UNetGenerator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("SARCOLOR_CACHE_DIR", str(tmp_path / "a-file" / "sarcolor"))  # cannot be a folder
    monkeypatch.delenv("SARCOLOR_FORM", raising=False)
    choice = choose_form(generator, CPU, "fp32", "auto", batch=1)
    assert choice.reason == "measured" and choice.cache is None and choice.form in FORMS


def test_cache_folder_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("SARCOLOR_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "sarcolor"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "sarcolor"
    monkeypatch.setenv("SARCOLOR_CACHE_DIR", str(tmp_path / "here"))
    assert cache_dir() == tmp_path / "here"


def test_a_forced_form_is_obeyed_without_measuring(tmp_path: Path, cache: Path):
    checkpoint = untrained_checkpoint(tmp_path / "g.safetensors", ngf=2)
    eager = Colorizer(checkpoint, "cpu", precision="fp32", form="eager")
    assert (eager.form.form, eager.form.reason) == ("eager", "forced") and not cache.exists()
    assert any(isinstance(m, nn.BatchNorm2d) for m in eager.model.modules())  # as trained, not folded
    packed = Colorizer(checkpoint, "cpu", precision="fp32", form="prepacked")
    assert not any(isinstance(m, nn.BatchNorm2d) for m in packed.model.modules())
    if onednn_available():
        assert any(isinstance(m, PackedConv2d) for m in packed.model.modules())
    tiles = torch.rand(2, 1, 256, 256, generator=torch.Generator().manual_seed(1))
    assert abs(eager.predict(tiles) - packed.predict(tiles)).max() < 1e-4


def test_the_suite_setting_fixes_auto(generator: UNetGenerator, cache: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SARCOLOR_FORM", "folded")
    choice = choose_form(generator, CPU, "fp32", "auto", batch=1)
    assert (choice.form, choice.reason) == ("folded", "SARCOLOR_FORM") and not cache.exists()


@pytest.mark.parametrize("form", FORMS)
def test_every_form_computes_what_eager_computes(generator: UNetGenerator, form: str):
    x = torch.rand(2, 1, 256, 256, generator=torch.Generator().manual_seed(3)) * 2 - 1
    with torch.inference_mode():
        expected, got = generator(x), build_form(generator, CPU, "fp32", form)(x)
    channels_last = got.is_contiguous(memory_format=torch.channels_last)
    assert got.dtype == torch.float32 and channels_last == (form not in ("eager", RUNTIME))
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def test_speed_command_shows_the_choice_and_why(tmp_path: Path, cache: Path, capsys: pytest.CaptureFixture):
    checkpoint = untrained_checkpoint(tmp_path / "g.safetensors", ngf=2)
    args = ["speed", "--checkpoint", str(checkpoint), "--device", "cpu", "--precision", "fp32"]
    args += ["--batch-size", "1"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "(measured in " in out and "← chosen" in out and "× eager" in out and "batch 1" in out
    assert main(args) == 0
    assert "(cached in " in capsys.readouterr().out
    assert main([*args, "--remeasure"]) == 0
    assert "(measured in " in capsys.readouterr().out
