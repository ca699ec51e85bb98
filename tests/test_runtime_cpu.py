"""What sarcolor knows of the CPU: native bf16 or emulated, and the ISA flags that key its measured
choices. ``ONEDNN_MAX_CPU_ISA=AVX2`` imitates an AVX2-only CPU on any x86 machine."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sarcolor.runtime import ISA_FLAGS, bf16_is_native, cpu_has_bf16, cpu_isa_flags, resolve_precision

CPUINFO = Path("/proc/cpuinfo")


def _kernel_flags() -> set[str]:
    line = next((ln for ln in CPUINFO.read_text().splitlines() if ln.startswith("flags")), "")
    return set(line.partition(":")[2].split())


@pytest.mark.parametrize("cap", ["AVX2", "avx512_core", "AVX512_CORE_VNNI"])
def test_a_onednn_cap_below_bf16_means_emulated_bf16_and_auto_fp32(monkeypatch: pytest.MonkeyPatch, cap: str):
    monkeypatch.delenv("SARCOLOR_CPU_BF16", raising=False)  # the suite's fp32 setting: off
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", cap)
    assert not bf16_is_native() and not cpu_has_bf16()
    assert resolve_precision("auto", torch.device("cpu")) == "fp32"
    assert f"onednn<={cap.upper()}" in cpu_isa_flags()


@pytest.mark.skipif(not CPUINFO.exists(), reason="no /proc/cpuinfo to compare with")
def test_without_a_cap_the_hardware_decides(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    flags = _kernel_flags()
    assert bf16_is_native() == bool(flags & {"avx512_bf16", "amx_bf16"})
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "ALL")  # a cap that caps nothing
    assert bf16_is_native() == bool(flags & {"avx512_bf16", "amx_bf16"})
    assert cpu_isa_flags() == [f for f in ISA_FLAGS if f in flags]


def test_the_override_still_wins_over_the_hardware(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    monkeypatch.setenv("SARCOLOR_CPU_BF16", "1")
    assert cpu_has_bf16() and not bf16_is_native()
