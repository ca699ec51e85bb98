"""Where and in which number format computations run."""

from __future__ import annotations

import contextlib
import os
import platform
from pathlib import Path
from typing import TypeVar

import torch

from sarcolor.config import DEVICES, PRECISIONS
from sarcolor.errors import SarcolorError


def resolve_device(name: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU; ``cuda`` without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SarcolorError("--device cuda: no CUDA GPU is available to this PyTorch build")
    if name not in DEVICES:
        raise SarcolorError(f"--device must be one of {', '.join(DEVICES)}, got {name!r}")
    return torch.device(name)


def resolve_precision(name: str, device: torch.device) -> str:
    """``auto`` → bf16 on CUDA (fp16 where the GPU lacks bf16); on CPU bf16 where the CPU has
    bf16 instructions (AVX-512-BF16 or AMX), else fp32.

    Without them bf16 convolutions are emulated: on an AVX2-only 2-core AMD EPYC one conv layer
    took 13.8 s in bf16 against 0.2 s in fp32. With AVX-512-BF16 (a 2-core Zen 5 EPYC) a
    training step at batch 8 ran 1.9× faster in bf16 than in fp32 (docs/benchmarks.md).
    """
    if name not in PRECISIONS:
        raise SarcolorError(f"--precision must be one of {', '.join(PRECISIONS)}, got {name!r}")
    if name == "auto":
        if device.type != "cuda":
            return "bf16" if cpu_has_bf16() else "fp32"
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if name == "fp16" and device.type != "cuda":
        raise SarcolorError("--precision fp16 needs a CUDA GPU (use bf16 or fp32 on CPU)")
    return name


def cpu_has_bf16() -> bool:
    """Whether ``--precision auto`` takes bf16 on this CPU: :func:`bf16_is_native`, unless
    ``SARCOLOR_CPU_BF16=0`` or ``1`` overrides it (the test suite sets 0 to run fp32 everywhere)."""
    forced = os.environ.get("SARCOLOR_CPU_BF16")
    if forced in ("0", "1"):
        return forced == "1"
    return bf16_is_native()


# oneDNN's ISA caps (``ONEDNN_MAX_CPU_ISA``) below AVX512_CORE_BF16: under these its bf16
# convolutions are emulated in fp32 code even on a CPU that has bf16 instructions.
_ONEDNN_CAPS_WITHOUT_BF16 = frozenset(
    ["SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI"]
)


def bf16_is_native() -> bool:
    """Whether bf16 convolutions run on bf16 instructions here (AVX-512-BF16 or AMX tiles) rather
    than emulated (~70× slower than fp32, and other rounding): the hardware, as oneDNN may use it.

    ``ONEDNN_MAX_CPU_ISA=AVX2`` (or another cap below AVX512_CORE_BF16) makes a bf16 CPU behave as
    one without: this says False then, and that is how an AVX2-only CPU is imitated.
    """
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA", os.environ.get("DNNL_MAX_CPU_ISA", "")).strip().upper()
    if cap in _ONEDNN_CAPS_WITHOUT_BF16 or not torch.backends.mkldnn.is_available():
        return False
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # private: absent is "no"
    return any(bool(getattr(torch.cpu, probe, lambda: False)()) for probe in probes)


ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8")


def cpu_isa_flags() -> list[str]:
    """The speed-relevant ISA flags /proc/cpuinfo lists for this CPU (of :data:`ISA_FLAGS`), in
    that order, plus ``onednn<=CAP`` when ``ONEDNN_MAX_CPU_ISA`` limits oneDNN; [] where unknown."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    present = set(line.partition(":")[2].split())
    flags = [f for f in ISA_FLAGS if f in present]
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA", os.environ.get("DNNL_MAX_CPU_ISA", "")).strip().upper()
    return flags + ([f"onednn<={cap}"] if cap and cap not in ("ALL", "DEFAULT") else [])


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (e.g. "AMD EPYC 9R45"), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


M = TypeVar("M", bound=torch.nn.Module)


def place(module: M, device: torch.device | None = None, layout: torch.memory_format | None = None) -> M:
    """``module.to(device, memory_format=layout)``, typed (PyTorch's stubs lack the keyword)."""
    kwargs = {} if layout is None else {"memory_format": layout}
    return module.to(device, **kwargs)  # type: ignore[call-overload]


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """Mixed precision for the forward pass (fp32: no-op). Losses stay fp32 under autocast."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype)


COMPILE_BACKEND = "inductor"  # torch.compile's default; a module constant so tests can swap it


def resolve_compile(mode: str, device: torch.device) -> bool:
    """``auto`` → compile on CUDA, not on CPU.

    On the project's 2-core CPU, inductor took 5–20 s to compile the generator (and again for
    every new batch size) and then ran slower than the eager prepacked oneDNN path (23–25
    against 27–30 img/s); the convolutions that dominate are the same oneDNN kernels. On GPUs it
    fuses the BatchNorm/activation chains between cuDNN convolutions.
    """
    if mode not in ("auto", "on", "off"):
        raise SarcolorError(f"--compile must be auto, on or off, got {mode!r}")
    return device.type == "cuda" if mode == "auto" else mode == "on"


def compile_in_place(module: torch.nn.Module) -> None:
    """``torch.compile`` ``module``'s calls, keeping its state_dict names (checkpoints unchanged).

    Compilation happens at the first call. Should it fail (no C++ compiler or Triton, an
    unsupported operator), dynamo's ``suppress_errors`` runs that code eagerly instead, with
    a warning, so a run never dies for want of a compiler.
    """
    import torch._dynamo

    torch._dynamo.config.suppress_errors = True
    module.compile(backend=COMPILE_BACKEND)
