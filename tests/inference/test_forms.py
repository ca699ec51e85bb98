"""The ``onnxruntime`` inference form: the generator exported to ONNX once, cached, run by ONNX Runtime.

Real exports and real ONNX Runtime sessions of a tiny generator (ngf 2), in a private cache
folder; a form that computes anything but what the eval generator computes fails here."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from conftest import untrained_checkpoint
from sarcolor.cli.main import main
from sarcolor.errors import SarcolorError
from sarcolor.inference.autotune import choose_form
from sarcolor.inference.forms import KEEP, RUNTIME, RuntimeForm, build_form
from sarcolor.models import UNetGenerator, init_weights

pytest.importorskip("onnxruntime", reason="the onnxruntime form needs the onnx extra")

CPU = torch.device("cpu")


def _generator(seed: int) -> UNetGenerator:
    g = UNetGenerator(1, 3, ngf=2)
    seeded = torch.Generator().manual_seed(seed)
    init_weights(g, generator=seeded)
    with torch.no_grad():  # BatchNorm statistics away from (0, 1): a wrong fold shows
        for m in g.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5, generator=seeded)
                m.running_var.uniform_(0.5, 2.0, generator=seeded)
    return g.eval()


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private cache folder (``--form auto`` would write its choice there)."""
    monkeypatch.setenv("SARCOLOR_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "onnx"


@pytest.mark.parametrize("shape", [(1, 1, 256, 256), (3, 1, 256, 256), (1, 1, 512, 256)])
def test_it_computes_what_the_eval_generator_computes_at_any_batch_and_size(cache: Path, shape):
    g = _generator(0)
    x = torch.rand(shape, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.inference_mode():
        expected, got = g(x), build_form(g, CPU, "fp32", RUNTIME)(x)
    assert got.dtype == torch.float32 and got.shape == expected.shape
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def test_the_export_is_cached_per_weights_and_old_ones_pruned(cache: Path):
    x = torch.rand(2, 1, 256, 256, generator=torch.Generator().manual_seed(1)) * 2 - 1
    first = RuntimeForm(_generator(0))
    assert first.source is not None and first.source.parent == cache and first.source.is_file()
    os.utime(first.source, (1, 1))  # long unused
    again = RuntimeForm(_generator(0))  # the same weights: read back, not exported again
    assert again.source == first.source and first.source.stat().st_mtime > 1  # marked as used
    with torch.inference_mode():
        torch.testing.assert_close(again(x), first(x), atol=0, rtol=0)
        other = RuntimeForm(_generator(1))
        assert (other(x) - first(x)).abs().max() > 1e-2  # other weights: another model, not the cached one
    os.utime(first.source, (1, 1))
    later = [RuntimeForm(_generator(seed)).source for seed in range(2, KEEP + 1)]
    kept = sorted(cache.glob("*.onnx"))
    assert len({first.source, other.source, *later}) == KEEP + 1  # each set of weights its own file
    assert len(kept) == KEEP and first.source not in kept  # the least recently used went


def test_a_damaged_cache_entry_is_exported_again(cache: Path):
    g = _generator(0)
    source = RuntimeForm(g).source
    assert source is not None
    source.write_bytes(b"not an onnx model")
    form = RuntimeForm(g)
    x = torch.rand(1, 1, 256, 256) * 2 - 1
    with torch.inference_mode():
        torch.testing.assert_close(form(x), g(x), atol=1e-5, rtol=0)
    assert form.source == source and source.read_bytes() != b"not an onnx model"


def test_an_unwritable_cache_only_costs_the_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("SARCOLOR_CACHE_DIR", str(blocker / "cache"))  # under a file: cannot be made
    g = _generator(0)
    form = RuntimeForm(g)
    assert form.source is None
    x = torch.rand(1, 1, 256, 256) * 2 - 1
    with torch.inference_mode():
        torch.testing.assert_close(form(x), g(x), atol=1e-5, rtol=0)


def test_it_is_refused_where_it_cannot_run(cache: Path):
    g = _generator(0)
    with pytest.raises(SarcolorError, match="--form onnxruntime runs in fp32 on the CPU, not bf16"):
        choose_form(g, CPU, "bf16", RUNTIME)
    with pytest.raises(ValueError, match="fp32 on the CPU"):
        build_form(g, CPU, "bf16", RUNTIME)


def test_colorize_with_the_form_writes_what_eager_writes(tmp_path: Path, cache: Path):
    checkpoint = untrained_checkpoint(tmp_path / "g.safetensors", ngf=2, gain=50)  # outputs follow the input
    sar = tmp_path / "scene_s1_1.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (300, 280), dtype=np.uint8)).save(sar)
    written = {}
    for form in ("eager", RUNTIME):
        out = tmp_path / form
        args = ["colorize", str(sar), "--checkpoint", str(checkpoint), "--out", str(out), "--form", form]
        assert main([*args, "--device", "cpu", "--precision", "fp32", "--no-progress"]) == 0
        (png,) = out.glob("*.png")
        written[form] = np.asarray(Image.open(png), dtype=np.int16)
    assert written["eager"].shape == (300, 280, 3) and written["eager"].std() > 5  # not a flat image
    assert np.abs(written["eager"] - written[RUNTIME]).max() <= 1  # float rounding: one level at most
