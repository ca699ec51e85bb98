"""Distributed training: a real ``torchrun --nproc_per_node 2`` launch on CPU (gloo), and the
pieces it is made of (batch sharding, synchronised BatchNorm, replica fingerprints)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from conftest import tiny_config
from sarcolor.checkpoint import list_checkpoints, read_meta
from sarcolor.data.dataset import EpochBatchSampler
from sarcolor.errors import SarcolorError
from sarcolor.models import PatchDiscriminator, UNetGenerator, build_networks
from sarcolor.training.distributed import (
    ShardedBatchSampler,
    SyncBatchNorm2d,
    check_batch_size,
    convert_sync_batchnorm,
    fingerprint,
)
from sarcolor.training.trainer import train

ROOT = Path(__file__).resolve().parents[2]


# Records, per rank, every file the process opens for writing or renames inside the run folder
# (Python audit events: PIL, json logs, and atomic_write's os.replace of checkpoints).
AUDIT_HOOK = textwrap.dedent(
    """
    import os, sys
    _run, _log = os.environ.get("AUDIT_RUN"), os.environ.get("AUDIT_LOG")
    if _run and _log:
        _out = os.path.join(_log, "rank%s.txt" % os.environ.get("RANK", "x"))
        def _hook(event, args):
            path = None
            if event == "open" and args[1] and any(c in str(args[1]) for c in "wax+"):
                path = args[0]
            elif event == "os.rename":
                path = args[1]
            if isinstance(path, (str, bytes, os.PathLike)) and os.fsdecode(path).startswith(_run):
                with open(_out, "a") as fh:
                    fh.write("%s %s\\n" % (event, os.fsdecode(path)))
        sys.addaudithook(_hook)
    """
)


STEPS_DDP, STEPS_ALL = 3, 5


# Same global batches, same seed, no dropout (its masks are drawn per process) and --sync-bn:
# both runs compute the same function. What is left is float32 summation order (2 pairs per
# process against 4 in one; gradients averaged by all-reduce), which Adam's normalised steps
# amplify for weights whose gradient is near its eps. So the tolerance is on the gap between
# the runs' parameters relative to how far training moved them (Σ|w₂ − w₁| / Σ|w₁ − w₀|).
# Measured: 0.004 after 3 steps and 0.02 after 5 with --sync-bn; 1.04 after 3 without it
# (each process normalising its own 2 pairs is a different function), so a wrong gradient
# lands far above the tolerance.
TOLERANCE = 0.1


def _config(data: Path, steps: int):
    cfg = tiny_config(data, steps=steps, batch_size=4, checkpoint_every=STEPS_DDP, keep_checkpoints=5)
    return cfg.replace(model={"dropout": 0.0}, train={"sync_bn": True})


def _parameters(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.double() for k, v in state.items() if k.endswith((".weight", ".bias"))}


def _weights(ckpt: Path) -> dict[str, torch.Tensor]:
    return _parameters({k: v for k, v in load_file(str(ckpt)).items() if k.startswith(("G.", "D."))})


def _initial_weights(cfg) -> dict[str, torch.Tensor]:
    torch.manual_seed(cfg.train.seed)  # as the trainer does before building the networks
    g, d = build_networks(cfg)
    return _parameters(
        {
            **{f"G.{k}": v for k, v in g.state_dict().items()},
            **{f"D.{k}": v for k, v in d.state_dict().items()},
        }
    )


def _gap(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], start: dict[str, torch.Tensor]) -> float:
    """Σ|a − b| over all parameters, relative to how far training moved b from ``start``."""
    assert a.keys() == b.keys() == start.keys()
    moved = sum(float((b[k] - start[k]).abs().sum()) for k in b)
    return sum(float((a[k] - b[k]).abs().sum()) for k in a) / moved


@pytest.mark.slow
def test_torchrun_two_processes_equals_one_process(synthetic_v2: Path, tmp_path: Path) -> None:
    run = tmp_path / "ddp"
    audit = tmp_path / "audit"
    audit.mkdir()
    (audit / "sitecustomize.py").write_text(AUDIT_HOOK)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(audit), str(ROOT / "src")]),
        "AUDIT_RUN": str(run.resolve()),
        "AUDIT_LOG": str(audit),
        "OMP_NUM_THREADS": "1",
    }
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "sarcolor", "train", "--data", str(synthetic_v2), "--out", str(run),
        "--steps", str(STEPS_DDP), "--batch-size", "4", "--ngf", "8", "--ndf", "8", "--workers", "0",
        "--dropout", "0", "--sync-bn", "--no-progress", "--checkpoint-every", str(STEPS_DDP),
        "--log-every", "1", "--sample-every", str(STEPS_DDP), "--seed", "0",
        "--val-fraction", "0.25", "--test-fraction", "0.25",
    ]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"done: {STEPS_DDP} steps" in done.stdout
    assert done.stdout.count("resolved configuration") == 1  # rank 0 alone prints

    # rank 0 alone wrote: the checkpoint (renamed into place), logs and samples
    rank0 = (audit / "rank0.txt").read_text()
    assert f"os.rename {run.resolve()}/checkpoints/step_{STEPS_DDP:07d}.safetensors" in rank0
    assert "metrics.jsonl" in rank0 and "samples" in rank0
    assert not (audit / "rank1.txt").exists(), (audit / "rank1.txt").read_text()
    ckpt = list_checkpoints(run)[-1]

    # both ranks held identical weights: each fingerprinted its own copy, and rank 0's is what was saved
    meta = read_meta(ckpt)
    prints = meta.run["replica_fingerprints"]
    assert meta.run["world_size"] == 2 and len(prints) == 2 and prints[0] == prints[1]
    g = UNetGenerator(1, 3, 8, dropout=0.0)
    d = PatchDiscriminator(4, 8)
    g.load_state_dict({k[2:]: v for k, v in load_file(str(ckpt)).items() if k.startswith("G.")})
    d.load_state_dict({k[2:]: v for k, v in load_file(str(ckpt)).items() if k.startswith("D.")})
    assert fingerprint(g, d) == prints[0]

    # one process over the same global batches computes the same weights
    single = tmp_path / "single"
    cfg = _config(synthetic_v2, STEPS_ALL)
    start = _initial_weights(cfg)
    train(cfg, single, progress=False, echo=lambda _: None)
    steps = {int(p.stem.split("_")[1]): p for p in list_checkpoints(single)}
    assert _gap(_weights(ckpt), _weights(steps[STEPS_DDP]), start) < TOLERANCE

    # --resume with another world size: the 2-process run goes on in one process
    resumed = _config(synthetic_v2, STEPS_ALL)
    result = train(resumed, run, resume=True, progress=False, echo=lambda _: None)
    assert result.step == STEPS_ALL
    assert _gap(_weights(result.checkpoint), _weights(steps[STEPS_ALL]), start) < TOLERANCE


def test_sharded_batches_cover_each_global_batch_once() -> None:
    batches = EpochBatchSampler(10, 4, seed=3)
    shards = [ShardedBatchSampler(batches, rank, 2) for rank in range(2)]
    for step, (whole, a, b) in enumerate(zip(batches, *shards, strict=False)):
        assert a + b == whole and len(a) == len(b) == 2
        if step == 6:  # past two epochs: every rank reshuffles with the epoch
            break
    with pytest.raises(SarcolorError, match="multiple of the 3 processes"):
        check_batch_size(8, 3)
    check_batch_size(8, 4)


def test_sync_batchnorm_is_batchnorm_on_one_process() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Sequential(nn.BatchNorm2d(4)))
    keys = list(net.state_dict())
    x = torch.randn(2, 3, 8, 8)
    expected = net(x)
    convert_sync_batchnorm(net)
    assert isinstance(net[1], SyncBatchNorm2d) and isinstance(net[2][0], SyncBatchNorm2d)
    assert list(net.state_dict()) == keys  # checkpoints are unchanged
    assert torch.allclose(net(x), expected, atol=1e-6)


def test_fingerprint_sees_one_changed_weight() -> None:
    g = UNetGenerator(1, 3, 8)
    before = fingerprint(g)
    assert fingerprint(g) == before
    with torch.no_grad():
        g.last.weight.view(-1)[7] = torch.nextafter(g.last.weight.view(-1)[7], torch.tensor(1.0))
    assert fingerprint(g) != before
