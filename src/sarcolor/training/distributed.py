"""Training on several processes with PyTorch's DistributedDataParallel, launched by ``torchrun``.

The process group itself (:class:`~sarcolor.parallel.DistContext`) is :mod:`sarcolor.parallel`'s.

``torchrun --nproc_per_node N -m sarcolor train ...`` starts N copies of the same command;
torchrun's environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``…) tells each
copy who it is. Without those variables nothing here does anything and training runs on one
device, so the same command works with and without torchrun.

How the work is divided:

* ``--batch-size`` is the **global** batch. Every rank draws the same global batch of
  :class:`~sarcolor.data.dataset.EpochBatchSampler` (reseeded every epoch) and keeps its own
  contiguous slice (:class:`ShardedBatchSampler`), so the data order, the step count and the
  checkpoints do not depend on the number of processes: ``--resume`` works with any world size.
* Gradients are averaged over ranks by DDP (generator and discriminator wrapped separately),
  which equals the gradient of the global batch's mean loss.
* BatchNorm normalises each rank's slice by default (as plain DDP does). With ``--sync-bn`` the
  statistics are those of the whole global batch (:class:`SyncBatchNorm2d`), and a run on N
  processes computes what one process computes on the global batch.
* Rank 0 alone prints, logs, writes samples and checkpoints.
"""

from __future__ import annotations

import hashlib

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from sarcolor.errors import SarcolorError
from sarcolor.parallel import DistContext


class ShardedBatchSampler(torch.utils.data.Sampler[list]):
    """This rank's contiguous slice of every global batch of ``batches``.

    Args:
        batches: a batch sampler yielding global batches (lists).
        rank: this process's rank.
        world_size: the number of processes; must divide every batch's length.
    """

    def __init__(self, batches: torch.utils.data.Sampler[list], rank: int, world_size: int) -> None:
        self.batches, self.rank, self.world_size = batches, rank, world_size

    def __iter__(self):
        for batch in self.batches:
            per_rank = len(batch) // self.world_size
            yield batch[self.rank * per_rank : (self.rank + 1) * per_rank]

    def __len__(self) -> int:
        return len(self.batches)  # type: ignore[arg-type]


def check_batch_size(batch_size: int, world_size: int) -> None:
    if batch_size % world_size:
        raise SarcolorError(
            f"--batch-size {batch_size} is the global batch and must be a multiple of the "
            f"{world_size} processes (e.g. {world_size * max(1, batch_size // world_size)})"
        )


class SyncBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics are those of the batch over all ranks.

    Unlike :class:`torch.nn.SyncBatchNorm` it also runs on CPU (gloo), and it keeps the
    parameter and buffer names of :class:`~torch.nn.BatchNorm2d`, so checkpoints are
    unchanged. The sums go through a differentiable all-reduce, so gradients flow to every
    rank's inputs as they would through one BatchNorm over the global batch. Mean and variance
    are computed in float32 in two passes (no E[x²] − E[x]² cancellation). A global batch of a
    single value per channel (the U-Net's 1×1 bottleneck at batch 1) is normalised with the
    running statistics, as :class:`~sarcolor.models.generator.BottleneckBatchNorm2d` does.

    Input and output: (B, C, H, W).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and _world_size() > 1):
            return super().forward(x)
        c = x.shape[1]
        xf = x.float()
        count = torch.tensor([x.numel() // c], dtype=torch.float32, device=x.device)
        total = differentiable_all_reduce(torch.cat([xf.sum((0, 2, 3)), count]))
        n = total[-1].detach()
        if float(n) <= 1:
            return F.batch_norm(
                x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
            )
        mean = total[:c] / n
        centred = xf - mean[None, :, None, None]
        var = differentiable_all_reduce(centred.square().sum((0, 2, 3))) / n
        if self.track_running_stats and self.running_mean is not None and self.running_var is not None:
            with torch.no_grad():
                tracked = self.num_batches_tracked
                assert tracked is not None  # track_running_stats
                tracked += 1
                m = self.momentum if self.momentum is not None else 1.0 / float(tracked)
                self.running_mean.lerp_(mean.detach(), m)
                self.running_var.lerp_(var.detach() * n / (n - 1), m)
        y = centred * torch.rsqrt(var + self.eps)[None, :, None, None]
        if self.affine:
            y = y * self.weight[None, :, None, None] + self.bias[None, :, None, None]
        return y.to(x.dtype)


class _SumOverRanks(torch.autograd.Function):
    """Σ over ranks of a tensor; the gradient of each rank's input is Σ over ranks of the
    output's gradients (every rank's loss depends on every rank's contribution)."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        out = tensor.clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        out = grad.clone()
        dist.all_reduce(out)
        return out


def differentiable_all_reduce(tensor: torch.Tensor) -> torch.Tensor:
    return _SumOverRanks.apply(tensor)


def _world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def convert_sync_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every BatchNorm2d of ``module`` in place by a :class:`SyncBatchNorm2d` sharing its
    parameters and buffers; returns ``module``."""
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d) and not isinstance(child, SyncBatchNorm2d):
            sync = SyncBatchNorm2d(
                child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats
            )
            sync.weight, sync.bias = child.weight, child.bias
            for buffer in ("running_mean", "running_var", "num_batches_tracked"):
                setattr(sync, buffer, getattr(child, buffer))
            sync.train(child.training)
            setattr(module, name, sync)
        else:
            convert_sync_batchnorm(child)
    return module


def fingerprint(*modules: nn.Module) -> str:
    """SHA-256 (16 hex digits) of the bytes of every parameter and buffer of ``modules``.

    Replicas that hold the same weights have the same fingerprint; one differing bit changes it.
    """
    digest = hashlib.sha256()
    for module in modules:
        for name, tensor in module.state_dict().items():
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def check_replicas(ctx: DistContext, *modules: nn.Module) -> list[str]:
    """Every rank's :func:`fingerprint` of ``modules``; raises when the replicas have diverged.

    Buffers (BatchNorm running statistics) are first set to rank 0's, as DDP does at every
    forward pass: without ``--sync-bn`` each rank's statistics follow its own slice of the batch.
    Parameters are left alone, so they must already agree.
    """
    if ctx.enabled:
        with torch.no_grad():
            for module in modules:
                for buffer in module.buffers():
                    dist.broadcast(buffer, src=0)
    prints = ctx.gather(fingerprint(*modules))
    if len(set(prints)) > 1:
        raise SarcolorError(
            "the processes' copies of the model have diverged (weight fingerprints "
            f"{', '.join(prints)}); nothing saved. This is a bug: please report it"
        )
    return prints


def wrap(module: nn.Module, ctx: DistContext, device: torch.device) -> nn.Module:
    """``module`` inside DistributedDataParallel when distributed, else itself."""
    if not ctx.enabled:
        return module
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids)
