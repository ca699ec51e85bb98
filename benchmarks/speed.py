"""Training and inference speed: sarcolor's default fast path against the plain float32 eager
reference (benchmarks/reference_pix2pix.py), measured in one run, alternating, after warm-up.

    python benchmarks/speed.py [--device auto] [--batch-sizes 1 8 16] [--repeats 5] [--write]

``train`` times ``Pix2Pix.train_step``; ``infer`` times the generator in each of its inference
forms (``--forms``, default all of :data:`sarcolor.inference.forms.FORMS`: eager, channels_last,
folded, prepacked, onnxruntime), built by :func:`sarcolor.inference.forms.build_form` as
``Colorizer`` builds them, under ``torch.inference_mode``; ``--form auto`` picks the fastest of
them on the machine.

First the machine: the CPU, its ISA flags (avx2, avx512f, VNNI, avx512_bf16, AMX) and its measured
GEMM rate (2048² ``torch.mm``, fp32, and bf16 where the CPU has it natively). Then per row the
images/s (median of the repeats) of both, their ratio, the achieved GFLOP/s of the fast path
(FLOPs of one step counted by torch.utils.flop_counter on the reference, the same network: the
fused oneDNN ops of the fast path are invisible to the counter), that rate as a share of the GEMM
rate in the row's precision, and the peak memory; ``--write`` appends the table to
docs/benchmarks.md with the machine, torch version and date.
"""

from __future__ import annotations

import argparse
import datetime
import resource
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).parent))
from machine import Machine, machine
from reference_pix2pix import RefPix2Pix
from sarcolor.config import Config
from sarcolor.inference.forms import FORMS, build_form
from sarcolor.models import build_networks
from sarcolor.runtime import resolve_device, resolve_precision
from sarcolor.training.pix2pix import Pix2Pix


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device: torch.device, steps: int) -> float:
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    sync(device)
    return time.perf_counter() - start


def flops_of(fn) -> float:
    with FlopCounterMode(display=False) as counter:
        fn()
    return float(counter.get_total_flops())


def measure(
    mode: str,
    device: torch.device,
    batch: int,
    ngf: int,
    repeats: int,
    steps: int,
    precision: str,
    form: str = "prepacked",
) -> dict:
    a = torch.rand(batch, 1, 256, 256, device=device) * 2 - 1
    b = torch.rand(batch, 3, 256, 256, device=device) * 2 - 1
    ref = RefPix2Pix(device, ngf)
    cfg = Config().replace(model={"ngf": ngf, "ndf": ngf}, train={"precision": precision})
    if mode == "train":
        fast = Pix2Pix(cfg, 10**6, device)
        ref_fn = lambda: ref.train_step(a, b)  # noqa: E731
        fast_fn = lambda: fast.train_step(a, b, 0)  # noqa: E731
        resolved = fast.precision
    else:
        resolved = resolve_precision(precision, device)
        model = build_form(build_networks(cfg)[0].to(device), device, resolved, form)

        def fast_fn() -> torch.Tensor:
            with torch.inference_mode():
                return model(a)

        ref_fn = lambda: ref.infer(a)  # noqa: E731
    for fn in (ref_fn, fast_fn, ref_fn, fast_fn):  # warm-up (cuDNN autotuning, allocator)
        fn()
    flops = flops_of(ref_fn) / batch
    ref_t, fast_t = [], []
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for _ in range(repeats):  # alternating, so drift hits both alike
        ref_t.append(timed(ref_fn, device, steps))
        fast_t.append(timed(fast_fn, device, steps))
    ref_ips = batch * steps / statistics.median(ref_t)
    fast_ips = batch * steps / statistics.median(fast_t)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**30
    else:  # the process's peak RSS so far (both paths, all batch sizes up to this one)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return {
        "mode": mode, "batch": batch, "ref": ref_ips, "fast": fast_ips, "ratio": fast_ips / ref_ips,
        "gflops": flops * fast_ips / 1e9, "gflop_per_image": flops / 1e9, "peak_gib": peak,
        "precision": resolved,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 16])
    parser.add_argument("--modes", nargs="+", default=["train", "infer"])
    parser.add_argument("--ngf", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=3, help="steps per timed repeat")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"])
    parser.add_argument("--forms", nargs="+", default=list(FORMS), choices=FORMS, help="infer: forms to time")
    parser.add_argument("--write", action="store_true", help="append the table to docs/benchmarks.md")
    args = parser.parse_args()
    device = resolve_device(args.device)
    cpu: Machine | None = None if device.type == "cuda" else machine()
    name = torch.cuda.get_device_name() if cpu is None else cpu.describe()
    print(name, flush=True)
    head = (
        "| mode | batch | reference img/s | sarcolor img/s | ratio | sarcolor GFLOP/s | share of GEMM "
        "| GFLOP/img | precision | peak GiB |"
    )
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
    for mode in args.modes:
        for batch in args.batch_sizes:
            for form in args.forms if mode == "infer" and cpu is not None else ["prepacked"]:
                r = measure(mode, device, batch, args.ngf, args.repeats, args.steps, args.precision, form)
                label = f"infer {form}" if mode == "infer" and cpu is not None else mode
                share = cpu.share(r["gflops"], r["precision"]) if cpu is not None else "–"
                lines.append(
                    f"| {label} | {batch} | {r['ref']:.2f} | {r['fast']:.2f} | {r['ratio']:.2f}× "
                    f"| {r['gflops']:.0f} | {share} | {r['gflop_per_image']:.1f} | {r['precision']} "
                    f"| {r['peak_gib']:.2f} |"
                )
                print(lines[-1], flush=True)
    stamp = f"{datetime.date.today()}, {name} ({device}), torch {torch.__version__}, ngf={args.ngf}"
    table = "\n".join([f"### {stamp}", "", *lines, ""])
    print("\n" + table)
    if args.write:
        path = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
        text = (
            path.read_text()
            if path.exists()
            else "# Benchmarks\n\nWritten by `python benchmarks/speed.py --write`.\n\n"
        )
        path.write_text(text + table + "\n")


if __name__ == "__main__":
    main()
