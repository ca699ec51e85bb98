"""The pix2pixHD-style discriminator under a real ``torchrun --nproc_per_node 2`` on CPU (gloo):
multi-scale D with spectral norm, LSGAN, feature matching and DiffAugment (and the resize
decoder) train on two processes as on one (same global batches, --sync-bn), and both replicas
stay identical."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from conftest import tiny_config
from sarcolor.checkpoint import list_checkpoints, read_meta
from sarcolor.config import Config
from sarcolor.models import build_networks
from sarcolor.models.multiscale import MultiScaleDiscriminator
from sarcolor.training.trainer import train

ROOT = Path(__file__).resolve().parents[2]
STEPS = 3
# As in test_distributed.py: the gap between the runs' parameters relative to how far training
# moved them. What is left with --sync-bn is float32 summation order.
TOLERANCE = 0.1
OPTIONS = [
    "--d-scales", "2", "--spectral-norm", "--gan-loss", "lsgan", "--lambda-fm", "10",
    "--d-augment", "translation,cutout,color", "--upsample", "resize",
]  # fmt: skip


def _config(data: Path) -> Config:
    return (
        tiny_config(data, steps=STEPS, batch_size=4, checkpoint_every=STEPS, log_every=1, sample_every=STEPS)
        .replace(
            model={"dropout": 0.0, "d_scales": 2, "spectral_norm": True, "upsample": "resize"},
            train={
                "sync_bn": True,
                "gan_loss": "lsgan",
                "lambda_fm": 10.0,
                "d_augment": "translation,cutout,color",
            },
        )
        .validate()
    )


def _parameters(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.double() for k, v in state.items() if k.endswith((".weight", ".bias", ".original"))}


@pytest.mark.slow
def test_torchrun_multiscale_discriminator_equals_one_process(synthetic_v2: Path, tmp_path: Path) -> None:
    run = tmp_path / "ddp"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "sarcolor", "train", "--data", str(synthetic_v2), "--out", str(run),
        "--steps", str(STEPS), "--batch-size", "4", "--ngf", "8", "--ndf", "8", "--workers", "0",
        "--dropout", "0", "--sync-bn", "--no-progress", "--checkpoint-every", str(STEPS),
        "--log-every", "1", "--sample-every", str(STEPS), "--seed", "0",
        "--val-fraction", "0.25", "--test-fraction", "0.25", *OPTIONS,
    ]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    ckpt = list_checkpoints(run)[-1]
    meta = read_meta(ckpt)
    prints = meta.run["replica_fingerprints"]
    assert meta.run["world_size"] == 2 and prints[0] == prints[1]  # the replicas agree bit for bit
    cfg = _config(synthetic_v2)
    assert meta.config.model == cfg.model and meta.config.train.lambda_fm == 10.0

    torch.manual_seed(cfg.train.seed)  # as the trainer does before building the networks
    g, d = build_networks(cfg)
    assert isinstance(d, MultiScaleDiscriminator)
    start = _parameters({**{f"G.{k}": v for k, v in g.state_dict().items()},
                         **{f"D.{k}": v for k, v in d.state_dict().items()}})  # fmt: skip
    single = train(cfg, tmp_path / "single", progress=False, echo=lambda _: None)
    a = _parameters({k: v for k, v in load_file(str(ckpt)).items() if k.startswith(("G.", "D."))})
    b = _parameters(
        {k: v for k, v in load_file(str(single.checkpoint)).items() if k.startswith(("G.", "D."))}
    )
    assert a.keys() == b.keys() == start.keys() and any(k.startswith("D.scales.1.") for k in a)
    moved = sum(float((b[k] - start[k]).abs().sum()) for k in b)
    gap = sum(float((a[k] - b[k]).abs().sum()) for k in a) / moved
    assert moved > 0 and gap < TOLERANCE, gap
