"""What the benchmarks share: the machine they ran on (its CPU, ISA flags and measured GEMM rate,
the ceiling a convolution network's rate is a share of), and writing their section into a docs page."""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from sarcolor.runtime import bf16_is_native, cpu_isa_flags
from sarcolor.runtime import cpu_model as cpu_name

__all__ = ["Machine", "cpu_name", "gemm_gflops", "machine", "write_section"]


def gemm_gflops(dtype_name: str = "fp32", size: int = 2048, repeats: int = 12) -> float:
    """The best GFLOP/s of ``torch.mm`` on two ``size``² matrices in ``fp32`` or ``bf16``, on the
    CPU with the threads PyTorch uses: what the convolutions could reach at most."""
    import torch

    dtype = torch.bfloat16 if dtype_name == "bf16" else torch.float32
    a, b = (torch.rand(size, size, generator=torch.Generator().manual_seed(i)).to(dtype) for i in (0, 1))
    torch.mm(a, b)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


@dataclass(frozen=True)
class Machine:
    """The CPU a benchmark ran on, and its measured GEMM rate per precision (GFLOP/s)."""

    name: str
    cores: int
    threads: int
    flags: list[str]
    gemm: dict[str, float]

    def describe(self) -> str:
        """e.g. "AMD EPYC 9R45, 2 cores, 2 threads, ISA avx2 avx512f avx512_bf16, GEMM fp32 161
        GFLOP/s, bf16 1020 GFLOP/s (native)"."""
        rates = ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in self.gemm.items())
        bf16 = "native" if "bf16" in self.gemm else "emulated: not measured"
        isa = " ".join(self.flags) or "unknown"
        return (
            f"{self.name}, {self.cores} cores, {self.threads} threads, ISA {isa}, "
            f"GEMM (2048² torch.mm) {rates}; bf16 {bf16}"
        )

    def share(self, gflops: float, precision: str = "fp32") -> str:
        """``gflops`` as a share of this CPU's GEMM rate in ``precision`` (fp32 where bf16 is not
        measured), e.g. "58 %"."""
        peak = self.gemm.get(precision) or self.gemm["fp32"]
        return f"{100 * gflops / peak:.0f} %"


def machine() -> Machine:
    """This CPU: its name, ISA flags and the fp32 (and, where native, bf16) GEMM rate, measured now."""
    import torch

    gemm = {"fp32": gemm_gflops("fp32")}
    if bf16_is_native():
        gemm["bf16"] = gemm_gflops("bf16")
    return Machine(cpu_name(), os.cpu_count() or 1, torch.get_num_threads(), cpu_isa_flags(), gemm)


def write_section(doc: Path, begin: str, end: str, section: str, title: str = "# Benchmarks") -> None:
    """Put ``section`` between the markers ``begin`` and ``end`` in ``doc``, or append it there;
    nothing else in the page changes (a missing page starts with ``title``)."""
    text = doc.read_text() if doc.exists() else title + "\n"
    block = f"{begin}\n{section.rstrip()}\n{end}\n"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end) + r"\n?", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + block
    doc.write_text(text)
