"""The torchrun process group: which rank this process is, and what ranks share.

``torchrun --nproc_per_node N -m sarcolor ...`` starts N copies of the same command; torchrun's
environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``…) tells each copy who it
is. Without those variables nothing here does anything, so the same command works with and
without torchrun. Training (:mod:`sarcolor.training.distributed`) and colorizing an archive
(:mod:`sarcolor.inference.archive`) both stand on it: it is runtime, not training.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from sarcolor.errors import SarcolorError

TIMEOUT = datetime.timedelta(minutes=30)  # rank 0 may decode a whole dataset before the others go on


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: ``rank`` of ``world_size``, on ``device``."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self, device: torch.device) -> torch.device:
        """This rank's device: ``cuda:LOCAL_RANK`` on GPUs, else ``device``."""
        if device.type == "cuda" and self.enabled:
            return torch.device("cuda", self.local_rank)
        return device

    def mean(self, values: torch.Tensor) -> torch.Tensor:
        """The mean over ranks of a tensor (every rank passes one of the same shape)."""
        if not self.enabled:
            return values
        values = values.detach().clone()
        dist.all_reduce(values)
        return values / self.world_size

    def any(self, flag: bool, device: torch.device) -> bool:
        """Whether ``flag`` is true on any rank (so that every rank takes the same branch)."""
        if not self.enabled:
            return flag
        t = torch.tensor([float(flag)], device=device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())

    def share(self, obj: Any) -> Any:
        """Rank 0's ``obj``, on every rank (others may pass ``None``)."""
        if not self.enabled:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order, on every rank."""
        if not self.enabled:
            return [obj]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()


def from_environment() -> DistContext:
    """The context torchrun describes in the environment (one process when it is absent)."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError as exc:
        raise SarcolorError(f"torchrun environment: {exc}") from None
    if world < 1 or not 0 <= rank < world:
        raise SarcolorError(f"torchrun environment: RANK={rank} is not within WORLD_SIZE={world}")
    return DistContext(rank, world, local)


def init_process_group(ctx: DistContext, device: torch.device) -> None:
    """Join the process group: NCCL between GPUs, gloo between CPU processes."""
    if not ctx.enabled or dist.is_initialized():
        return
    if not dist.is_available():
        raise SarcolorError("this PyTorch build has no torch.distributed; run without torchrun")
    if device.type == "cuda":
        if ctx.local_rank >= torch.cuda.device_count():
            raise SarcolorError(
                f"LOCAL_RANK {ctx.local_rank} but only {torch.cuda.device_count()} GPU(s): "
                "lower --nproc_per_node"
            )
        torch.cuda.set_device(ctx.local_rank)
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend, timeout=TIMEOUT)


def shutdown(ctx: DistContext) -> None:
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()
