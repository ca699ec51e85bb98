"""Training mechanics: checkpoints on disk, exact resume, schedules, non-finite losses."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from conftest import tiny_config
from sarcolor.checkpoint import list_checkpoints, read_meta, resolve_checkpoint
from sarcolor.data.dataset import EpochBatchSampler
from sarcolor.errors import SarcolorError
from sarcolor.models import build_networks
from sarcolor.models.weights import load_modules
from sarcolor.training.pix2pix import NonFiniteLossError, Pix2Pix, lr_factor
from sarcolor.training.trainer import train

quiet = {"progress": False, "echo": lambda _: None}


def test_run_folder_contents(tiny_run: Path):
    names = {p.name for p in tiny_run.iterdir()}
    assert {
        "config.yaml",
        "split.json",
        "metrics.jsonl",
        "checkpoints",
        "samples",
        "loss_curve.png",
    } <= names
    records = [json.loads(line) for line in (tiny_run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4]
    assert {"D", "G_GAN", "G_L1", "lr", "images_per_s", "val_L1"} <= set(records[-1])
    split = json.loads((tiny_run / "split.json").read_text())
    scenes = [set(split[k]["scenes"]) for k in ("train", "val", "test")]
    assert not (scenes[0] & scenes[1]) and not (scenes[0] & scenes[2]) and all(scenes)
    assert [p.name for p in list_checkpoints(tiny_run)] == [
        "step_0000002.safetensors",
        "step_0000004.safetensors",
    ]
    assert sorted(p.name for p in (tiny_run / "samples").iterdir()) == [
        "step_0000002.png",
        "step_0000004.png",
    ]


def test_checkpoint_holds_everything_needed_to_colorize(tiny_run: Path):
    ckpt = resolve_checkpoint(tiny_run)
    assert ckpt.name == "step_0000004.safetensors"
    meta = read_meta(ckpt)
    assert meta.step == 4 and meta.config.model.ngf == 8
    assert meta.config.preprocess.input == "sar" and len(meta.baselines["mean_rgb"]) == 3
    assert set(meta.split) == {"train", "val", "test"}
    with safe_open(str(ckpt), framework="pt") as f:
        keys = set(f.keys())
    assert any(k.startswith("G.") for k in keys) and any(k.startswith("D.") for k in keys)
    assert any(k.startswith("optim.G.") for k in keys) and "rng.torch" in keys
    g, _ = build_networks(meta.config)
    load_modules(ckpt, {"G": g})
    assert ckpt.read_bytes()[:1] != b"\x80"  # a pickle starts with the PROTO opcode 0x80


def test_resume_reproduces_an_uninterrupted_run(synthetic_v2: Path, tmp_path: Path):
    cfg = tiny_config(synthetic_v2, steps=4, checkpoint_every=2)
    straight = train(cfg, tmp_path / "straight", **quiet)
    half = tiny_config(synthetic_v2, steps=2, checkpoint_every=2)
    train(half, tmp_path / "resumed", **quiet)
    messages: list[str] = []
    resumed = train(cfg, tmp_path / "resumed", resume=True, progress=False, echo=messages.append)
    assert any(m.startswith("resuming from step 2") for m in messages)
    assert resumed.step == straight.step == 4
    with (
        safe_open(str(straight.checkpoint), "pt") as a,
        safe_open(str(resumed.checkpoint), "pt") as b,
    ):
        assert set(a.keys()) == set(b.keys())
        for key in sorted(set(a.keys())):
            if key.startswith(("G.", "D.", "optim.")):
                assert torch.equal(a.get_tensor(key), b.get_tensor(key)), key


def test_resume_past_the_end_is_refused(tiny_run: Path, tmp_path: Path):
    cfg = read_meta(resolve_checkpoint(tiny_run)).config
    with pytest.raises(SarcolorError, match="already at step 4 of 4"):
        train(cfg, tiny_run, resume=True, **quiet)


def test_sampler_resumes_mid_epoch():
    full = EpochBatchSampler(10, 3, seed=5)
    stream = iter(full)
    first = [next(stream) for _ in range(7)]
    later = iter(EpochBatchSampler(10, 3, seed=5, start_step=4))
    assert [next(later) for _ in range(3)] == first[4:]
    epoch0 = [i for b in first[:3] for i, _ in b]
    assert len(set(epoch0)) == 9  # one epoch: 3 full batches of distinct pairs


def test_learning_rate_decay():
    assert [lr_factor(s, 50, 100) for s in (0, 49, 50, 75, 100)] == [1.0, 1.0, 1.0, 0.5, 0.0]
    assert lr_factor(10, 100, 100) == 1.0


def test_non_finite_loss_is_caught_before_the_update(synthetic_v2: Path):
    cfg = tiny_config(synthetic_v2)
    model = Pix2Pix(cfg, 10, torch.device("cpu"))
    before = {k: v.clone() for k, v in model.D.state_dict().items()}
    x = torch.zeros(2, 1, 256, 256)
    y = torch.full((2, 3, 256, 256), float("nan"))
    with pytest.raises(NonFiniteLossError, match=r"non-finite loss .* at step 7"):
        model.train_step(x, y, 7)
    after = model.D.state_dict()
    assert all(torch.equal(before[k], after[k]) for k, _ in model.D.named_parameters())


def test_precision_choice(monkeypatch: pytest.MonkeyPatch):
    from sarcolor.runtime import cpu_has_bf16, resolve_precision

    cpu = torch.device("cpu")
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else None
    if flags is not None:  # the detection agrees with what the kernel reports
        monkeypatch.delenv("SARCOLOR_CPU_BF16", raising=False)
        monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)  # a cap hides the instructions
        assert cpu_has_bf16() == any(f in flags.split() for f in ("avx512_bf16", "amx_bf16"))
    monkeypatch.setenv("SARCOLOR_CPU_BF16", "0")  # emulated bf16 is slow: fp32
    assert resolve_precision("auto", cpu) == "fp32"
    monkeypatch.setenv("SARCOLOR_CPU_BF16", "1")  # native bf16 instructions: bf16
    assert resolve_precision("auto", cpu) == "bf16"
    assert resolve_precision("bf16", cpu) == "bf16"
    with pytest.raises(SarcolorError, match="fp16 needs a CUDA GPU"):
        resolve_precision("fp16", cpu)
    with pytest.raises(SarcolorError, match="--precision must be"):
        resolve_precision("fp8", cpu)


def test_bf16_training_step_on_cpu_gives_finite_losses(synthetic_v2: Path):
    # bf16 convolutions are emulated on CPUs without bf16 instructions: keep it tiny
    cfg = tiny_config(synthetic_v2).replace(model={"ngf": 2, "ndf": 2}, train={"precision": "bf16"})
    model = Pix2Pix(cfg, 10, torch.device("cpu"))
    x, y = torch.rand(2, 1, 256, 256) * 2 - 1, torch.rand(2, 3, 256, 256) * 2 - 1
    losses = model.train_step(x, y, 0)
    assert model.precision == "bf16" and all(np.isfinite(v) for v in losses.values())
    assert all(p.dtype == torch.float32 for p in model.G.parameters())  # weights stay fp32


@pytest.mark.slow  # dynamo traces both networks: ~20–35 s on 2 cores
def test_compile_falls_back_to_eager_when_compiling_fails(
    synthetic_v2: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch._dynamo

    from sarcolor import runtime

    calls = []

    def no_compiler(graph, example_inputs):  # as when inductor finds no C++ compiler / Triton
        calls.append(graph)
        raise RuntimeError("no compiler on this machine")

    monkeypatch.setattr(runtime, "COMPILE_BACKEND", no_compiler)
    monkeypatch.setattr(torch._dynamo.config, "suppress_errors", False)  # restored afterwards
    eager = train(tiny_config(synthetic_v2, steps=2, compile="off"), tmp_path / "eager", progress=False)
    compiled = train(tiny_config(synthetic_v2, steps=2, compile="on"), tmp_path / "compiled", progress=False)
    torch._dynamo.reset()
    assert calls, "compilation was never attempted"
    a, b = load_file(str(eager.checkpoint)), load_file(str(compiled.checkpoint))
    for key in a:
        if key.startswith(("G.", "D.")):
            assert torch.equal(a[key], b[key]), key
