"""ONNX Runtime against the PyTorch fast path on this machine: speed, and what int8 costs in quality.

    python benchmarks/onnx_speed.py [--ngf 64] [--batch 8] [--repeats 5] [--trained RUN_DIR]

Speed: the generator's forward pass (network input → output, batch ``--batch`` of 256×256
tiles, after warm-up, alternating, median of the repeats) of

* the plain float32 reference (benchmarks/reference_pix2pix.py),
* sarcolor's PyTorch fast path in fp32 and in bf16 (:func:`sarcolor.models.fast.inference_model`),
* the exported model (``sarcolor export``) in ONNX Runtime, fp32,
* that model quantized to int8 by ONNX Runtime (static, QDQ, per-channel int8 weights, uint8
  activations calibrated on 32 real SEN1-2 patches; the CPU's VNNI instructions run it),

for a seeded generator of width ``--ngf`` (speed does not depend on the weights).

Quality (``--trained RUN_DIR``, e.g. the demo's run): the same run's generator through each
backend, colorizing its own test split with ``evaluate`` (PSNR against the Sentinel-2 targets)
and the mean and max difference of the 8-bit outputs from the PyTorch fp32 ones; int8 is
calibrated on the run's training pairs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from machine import cpu_name
from reference_pix2pix import RefGenerator

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real" / "sen1-2-scenes" / "v_2"


def load() -> str:
    return "load average " + " / ".join(f"{v:.2f}" for v in os.getloadavg())


def seeded_checkpoint(path: Path, ngf: int) -> Path:
    from sarcolor.checkpoint import CheckpointMeta, save_checkpoint
    from sarcolor.config import Config
    from sarcolor.models import build_networks

    cfg = Config().replace(model={"ngf": ngf, "ndf": ngf})
    torch.manual_seed(0)
    g, d = build_networks(cfg.validate())
    return save_checkpoint(path, CheckpointMeta(cfg, 0), {"G": g, "D": d})


def calibration_tiles(files: list[Path], count: int = 32) -> list[np.ndarray]:
    """Network inputs ((1, 1, 256, 256) float32 in [-1, 1]) of up to ``count`` SAR PNGs."""
    from sarcolor.data.io import read_image

    return [(read_image(f)[None, None, :256, :256, 0] * 2 - 1).astype(np.float32) for f in files[:count]]


def quantize(fp32: Path, out: Path, tiles: list[np.ndarray]) -> Path:
    """Static int8 quantization (QDQ, per-channel weights) of an exported model; metadata kept."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter([{"input": t} for t in tiles])

        def get_next(self):
            return next(self.items, None)

    quantize_static(
        str(fp32),
        str(out),
        Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        weight_type=QuantType.QInt8,
        activation_type=QuantType.QUInt8,
    )
    model = onnx.load(str(out))
    props = {p.key: p.value for p in onnx.load(str(fp32), load_external_data=False).metadata_props}
    props["sarcolor.precision"] = "int8"
    del model.metadata_props[:]
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(out))
    return out


def timed(fn, x: torch.Tensor, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        fn(x)
    return time.perf_counter() - start


def speed(args, work: Path) -> list[tuple[str, float]]:
    from sarcolor.inference.colorizer import Colorizer
    from sarcolor.inference.onnx_export import export_onnx

    ckpt = seeded_checkpoint(work / "seeded.safetensors", args.ngf)
    onnx_fp32 = export_onnx(ckpt, work / "seeded.onnx", log=lambda _: None).path
    real = sorted(REAL.glob("*/s1/*.png"))
    onnx_int8 = quantize(onnx_fp32, work / "seeded_int8.onnx", calibration_tiles(real))
    ref = RefGenerator(ngf=args.ngf).eval()
    backends = {
        "reference fp32 (eager)": lambda x: ref(x),
        "PyTorch fast path fp32": Colorizer(ckpt, "cpu", precision="fp32").model,
        "PyTorch fast path bf16": Colorizer(ckpt, "cpu", precision="bf16").model,
        "ONNX Runtime fp32": Colorizer(onnx_fp32, "cpu").model,
        "ONNX Runtime int8 (static, QDQ)": Colorizer(onnx_int8, "cpu").model,
    }
    x = torch.rand(args.batch, 1, 256, 256) * 2 - 1
    times: dict[str, list[float]] = {name: [] for name in backends}
    with torch.inference_mode():
        for fn in backends.values():
            fn(x)  # warm-up
        for r in range(args.repeats):
            for name, fn in backends.items():
                times[name].append(timed(fn, x, args.steps))
            print(f"repeat {r + 1}: {load()}", flush=True)
    return [(n, args.batch * args.steps / statistics.median(t)) for n, t in times.items()]


def quality(run: Path, work: Path) -> list[str]:
    from sarcolor.checkpoint import resolve_checkpoint
    from sarcolor.data.io import read_image, to_uint8
    from sarcolor.data.sources import discover_pairs
    from sarcolor.evaluation.evaluate import evaluate
    from sarcolor.inference.colorizer import Colorizer
    from sarcolor.inference.onnx_export import export_onnx

    ckpt = resolve_checkpoint(run)
    fp32 = export_onnx(ckpt, work / "trained.onnx", log=lambda _: None).path
    meta = Colorizer(fp32, "cpu").meta
    pairs = discover_pairs(Path(meta.config.data.root)).pairs
    train = meta.split.select(pairs, "train")
    int8 = quantize(fp32, work / "trained_int8.onnx", calibration_tiles([p.s1 for p in train]))
    test = meta.split.select(pairs, "test")
    images = [read_image(p.s1) for p in test]
    variants = [("PyTorch fp32", ckpt, "fp32"), ("PyTorch bf16", ckpt, "bf16"),
                ("ONNX Runtime fp32", fp32, "auto"), ("ONNX Runtime int8", int8, "auto")]  # fmt: skip
    outputs, lines = {}, []
    lines.append("| backend | PSNR dB (test split) | mean level difference | max level difference |")
    lines.append("|---|---:|---:|---:|")
    for name, path, precision in variants:
        colorizer = Colorizer(path, "cpu", precision=precision)
        outputs[name] = np.stack([to_uint8(o) for o in colorizer.colorize_many(images)]).astype(int)
        psnr = evaluate(
            path, split="test", device="cpu", precision=precision, perceptual=False, progress=False
        )
        diff = np.abs(outputs[name] - outputs["PyTorch fp32"])
        lines.append(
            f"| {name} | {psnr.summary()['all']['model']['psnr']:.2f} | {diff.mean():.3f} | {diff.max()} |"
        )
        print(lines[-1], flush=True)
    return [f"{len(test)} test images of {run}:", "", *lines]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ngf", type=int, default=64)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=2, help="forward passes per timed repeat")
    parser.add_argument("--trained", type=Path, help="a trained run for the quality table (e.g. the demo's)")
    parser.add_argument("--no-speed", action="store_true")
    args = parser.parse_args()
    import onnxruntime

    before = load()
    with tempfile.TemporaryDirectory(prefix="onnx_speed.") as tmp:
        rows = [] if args.no_speed else speed(args, Path(tmp))
        table = quality(args.trained, Path(tmp)) if args.trained else []
    print(
        f"\n{cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__}, onnxruntime "
        f"{onnxruntime.__version__}, ngf={args.ngf}, batch {args.batch}; {before} before, {load()} after\n"
    )
    if rows:
        base = rows[0][1]
        print("| backend | img/s | ÷ reference |\n|---|---:|---:|")
        for name, ips in rows:
            print(f"| {name} | {ips:.1f} | {ips / base:.2f}× |")
    if table:
        print("\n" + "\n".join(table))


if __name__ == "__main__":
    main()
