"""What a user sees: ``sarcolor colorize FOLDER`` on real-size 256×256 PNGs, files in → files out,
against the plain float32 reference generator's forward pass, measured side by side in one run.

    python benchmarks/colorize_speed.py [--images 16] [--repeats 3] [--ngf 64] [--source real]
                                        [--checkpoint CKPT] [--extra "--png-compression 6"] [--write]

The inputs are SEN1-2 VV patches (``--source real``: the 73 real patches of
../shared/data/real/sen1-2-scenes, cycled under new names when more are needed) or seeded
synthetic SAR patches (``--source synthetic``, :mod:`sarcolor.synthetic`). The model is a seeded
checkpoint of the default generator (``--ngf`` 64) whose last layer is scaled so that its colours
follow the input's texture, as a trained model's do (an untrained pix2pix generator paints flat
grey, which PNG compresses for free); ``--checkpoint`` uses a real one.

Each repeat runs, alternating: the reference forward pass (``benchmarks/reference_pix2pix.py``,
float32 eager, ``torch.no_grad``, eval mode) over the same images already in memory, at batch 8
and batch 1; sarcolor's own model alone (``Colorizer.predict`` at batch 8 over the same
images in memory: the ceiling for the CLI); then the real CLI in a subprocess
(``python -m sarcolor colorize``) over N and 4N images. Start-up (interpreter, imports, loading
the model) cancels in ``rate = 3N / (t4N − tN)``.
Medians of the repeats are reported, with the load average before the run.

Then one in-process run over the 4N images says where the time goes: the seconds spent inside
``read_image`` (decoding), ``Colorizer.predict`` (the model with its input encoding and output
decoding), ``write_rgb_png`` (PNG encoding and the atomic rename), and the rest (tiling,
blending, the pipeline); with worker threads these overlap, so they may add up to more than the
wall time. Last, the outputs are re-encoded at each PNG compression level (size against time),
with sarcolor's own encoder (levels 0 and 1) and with Pillow.

The machine line names the CPU's ISA flags and its measured GEMM rate (2048² ``torch.mm``, fp32
and, where native, bf16); each rate is also given as a share of it (FLOPs of the reference
network, counted by torch.utils.flop_counter), with the inference form ``--form auto`` chose.

``--write`` puts the result in docs/benchmarks.md between the ``colorize_speed.py`` markers.
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import math
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine, write_section

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
REAL = ROOT.parent / "shared" / "data" / "real" / "sen1-2-scenes" / "v_2"
BEGIN, END = "<!-- colorize_speed.py: begin -->", "<!-- colorize_speed.py: end -->"
RESULT = "COLORIZE_SPEED_RESULT "
GAIN = 3.0  # last-layer scale of the seeded checkpoint: output PNGs as large as real Sentinel-2 ones


def load() -> str:
    return "load average " + " / ".join(f"{v:.2f}" for v in os.getloadavg())


def make_inputs(folder: Path, count: int, source: str, seed: int = 0) -> list[Path]:
    """``count`` 256×256 grey SAR PNGs in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    if source == "real":
        real = sorted(REAL.glob("*/s1/*.png"))
        if not real:
            raise SystemExit(f"{REAL}: no real SEN1-2 patches here; use --source synthetic")
        out = []
        for i in range(count):
            target = folder / f"{i:05d}_{real[i % len(real)].name}"
            shutil.copyfile(real[i % len(real)], target)
            out.append(target)
        return out
    from sarcolor.synthetic import make_synthetic_dataset

    v2 = make_synthetic_dataset(folder.parent / "synthetic", scenes_per_terrain=1, patches_per_scene=16)
    synthetic = sorted(v2.glob("*/s1/*.png"))  # it returns ROOT/v_2 itself
    if not synthetic:
        raise SystemExit(f"{v2}: the synthetic dataset holds no s1 PNGs")
    out = []
    for i in range(count):
        target = folder / f"{i:05d}_{synthetic[i % len(synthetic)].name}"
        shutil.copyfile(synthetic[i % len(synthetic)], target)
        out.append(target)
    return out


def make_checkpoint(path: Path, ngf: int) -> Path:
    """A seeded checkpoint of the default generator whose outputs follow the input (see above)."""
    import torch

    from sarcolor.checkpoint import CheckpointMeta, save_checkpoint
    from sarcolor.config import Config
    from sarcolor.models import build_networks

    cfg = Config().replace(model={"ngf": ngf, "ndf": ngf})
    torch.manual_seed(0)
    g, d = build_networks(cfg.validate())
    with torch.no_grad():
        g.last.weight.mul_(GAIN)
    return save_checkpoint(path, CheckpointMeta(cfg, 0), {"G": g, "D": d})


def parse_variant(text: str) -> tuple[str, list[str], str | None, dict[str, str]]:
    """``LABEL|FLAGS|SRC`` → (label, colorize flags, another source tree to run or None, and the
    environment variables given as leading ``NAME=VALUE`` words of FLAGS).

    >>> parse_variant("nice|OMP_NUM_THREADS=1 --png-compression 6")
    ('nice', ['--png-compression', '6'], None, {'OMP_NUM_THREADS': '1'})
    """
    label, flags, src = ([*text.split("|"), "", ""])[:3]
    words, env = shlex.split(flags), {}
    while words and "=" in words[0] and not words[0].startswith("-"):
        name, value = words.pop(0).split("=", 1)
        env[name] = value
    return label, words, src or None, env


def cli_seconds(inputs: Path, out: Path, checkpoint: Path, extra: list[str], env: dict) -> float:
    """Wall seconds of ``python -m sarcolor colorize inputs --out out`` in a fresh process."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "sarcolor", "colorize", str(inputs), "--checkpoint", str(checkpoint)]
    cmd += ["--out", str(out), "--no-progress", *extra]
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"colorize failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return seconds


class Reference:
    """The plain float32 reference generator over the images, in memory (no reading, no writing)."""

    def __init__(self, files: list[Path], ngf: int) -> None:
        import torch
        from torch.utils.flop_counter import FlopCounterMode

        from reference_pix2pix import RefGenerator

        torch.manual_seed(0)
        self.net = RefGenerator(ngf=ngf).eval()
        grey = np.stack([np.asarray(Image.open(f).convert("L"), np.float32) / 255.0 for f in files])
        self.images = torch.from_numpy(grey)[:, None] * 2 - 1
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            self.net(self.images[:1])
        self.gflop_per_image = counter.get_total_flops() / 1e9

    def images_per_second(self, batch: int) -> float:
        import torch

        with torch.no_grad():
            self.net(self.images[:batch])  # warm-up of this batch size
            start = time.perf_counter()
            for i in range(0, len(self.images), batch):
                self.net(self.images[i : i + batch])
            return len(self.images) / (time.perf_counter() - start)


class FastPath:
    """sarcolor's own model alone (``Colorizer.predict``, batches of 8 tiles in memory): the rate
    the file pipeline would reach if reading and writing cost nothing."""

    def __init__(self, files: list[Path], checkpoint: Path) -> None:
        import torch

        from sarcolor.inference.colorizer import Colorizer

        self.colorizer = Colorizer(checkpoint)
        grey = np.stack([np.asarray(Image.open(f).convert("L"), np.float32) / 255.0 for f in files])
        self.tiles = torch.from_numpy(grey)[:, None]

    def images_per_second(self, batch: int = 8) -> float:
        self.colorizer.predict(self.tiles[:batch])  # warm-up
        start = time.perf_counter()
        for i in range(0, len(self.tiles), batch):
            self.colorizer.predict(self.tiles[i : i + batch])
        return len(self.tiles) / (time.perf_counter() - start)


class Busy:
    """Seconds spent inside wrapped functions, summed over threads."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.lock = threading.Lock()

    def wrap(self, name: str, fn):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                with self.lock:
                    self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

        return timed


def child(job: dict) -> None:
    """One in-process ``colorize`` run with the phases timed; prints one JSON line."""
    start = time.perf_counter()
    import sarcolor.inference.files as files
    from sarcolor.cli.main import main
    from sarcolor.inference.colorizer import Colorizer

    imported = time.perf_counter() - start
    busy = Busy()
    files.read_image = busy.wrap("read", files.read_image)
    files.write_rgb_png = busy.wrap("write", files.write_rgb_png)
    Colorizer.predict = busy.wrap("model", Colorizer.predict)
    Colorizer.__init__ = busy.wrap("load", Colorizer.__init__)
    start = time.perf_counter()
    status = main(
        ["colorize", job["inputs"], "--checkpoint", job["checkpoint"], "--out", job["out"]] + job["extra"]
    )
    wall = time.perf_counter() - start
    assert status == 0, status
    sizes = [p.stat().st_size for p in Path(job["out"]).glob("*.png")]
    print(
        RESULT + json.dumps({"import": imported, "wall": wall, **busy.seconds, "kib": np.mean(sizes) / 1024})
    )


def run_child(job: dict, env: dict) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(job)], env=env, capture_output=True, text=True
    )
    lines = [x for x in done.stdout.splitlines() if x.startswith(RESULT)]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"profile run failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(lines[-1][len(RESULT) :])


def png_levels(outputs: list[Path], levels: list[int]) -> list[tuple[int, str, float, float]]:
    """(level, encoder, ms per image, KiB per image) re-encoding ``outputs`` on one thread: with
    the encoder ``--png-compression LEVEL`` uses (``write_rgb_png``), and with Pillow where that
    is sarcolor's own."""
    from sarcolor.data.io import FAST_PNG_LEVEL
    from sarcolor.data.png import write_png

    images = [np.asarray(Image.open(p).convert("RGB")) for p in outputs]

    def pillow(buf: io.BytesIO, rgb: np.ndarray, level: int) -> None:
        Image.fromarray(rgb).save(buf, format="PNG", compress_level=level)

    rows = []
    for level in levels:
        ours = level <= FAST_PNG_LEVEL  # the level sarcolor writes with its own encoder
        encoders = [("**sarcolor**", write_png), ("Pillow", pillow)] if ours else [("Pillow", pillow)]
        for name, encode in encoders:
            sizes, start = [], time.perf_counter()
            for rgb in images:
                buf = io.BytesIO()
                encode(buf, rgb, level)
                sizes.append(buf.tell())
            ms = 1000 * (time.perf_counter() - start) / len(images)
            rows.append((level, name, ms, float(np.mean(sizes)) / 1024))
    return rows


INTRO = (
    "Produced by `python benchmarks/colorize_speed.py --write`: `sarcolor colorize` through the real CLI "
    "in a subprocess over N and 4N 256×256 PNGs (start-up cancels in 3N / (t4N − tN)), against the plain "
    "float32 reference generator's forward pass over the same images in memory, alternating in one run; "
    "medians of the repeats. The seeded model's outputs are PNGs as large as real Sentinel-2 ones."
)


def _median(values: list[float]) -> float:
    """The median of the repeats that gave a rate (a stalled run gives none), NaN if none did."""
    kept = [v for v in values if not math.isnan(v)]
    return statistics.median(kept) if kept else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=16, help="N: the runs colorize N and 4N images")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ngf", type=int, default=64)
    parser.add_argument("--source", choices=["real", "synthetic"], default="real")
    parser.add_argument("--checkpoint", type=Path, help="a real checkpoint (default: a seeded one)")
    parser.add_argument("--extra", default="", help="more colorize flags, e.g. '--png-compression 6'")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="LABEL|FLAGS|SRC",
        help="also time this: colorize with FLAGS, from the source tree SRC (e.g. another checkout's "
        "src/; default this one); repeat to compare levers side by side",
    )
    parser.add_argument(
        "--levels", type=int, nargs="*", default=[0, 1, 3, 6, 9], help="PNG levels to compare"
    )
    parser.add_argument("--no-profile", action="store_true", help="skip the in-process breakdown")
    parser.add_argument("--write", action="store_true", help="write the section in docs/benchmarks.md")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    import torch

    cpu = machine()  # before the load of the run: the GEMM rate is measured here
    print(cpu.describe(), flush=True)
    before = load()
    extra = shlex.split(args.extra)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    work = Path(tempfile.mkdtemp(prefix="colorize_speed."))
    try:
        n = args.images
        make_inputs(work / "small", n, args.source)
        large = make_inputs(work / "large", 4 * n, args.source)
        checkpoint = args.checkpoint or make_checkpoint(work / "seeded.safetensors", args.ngf)
        reference = Reference(large, args.ngf)
        fast = FastPath(large, checkpoint)
        form = fast.colorizer.form.describe()
        print(form, flush=True)
        cli_seconds(work / "small", work / "out", checkpoint, extra, env)  # warm the file cache
        variants = [("sarcolor colorize", extra, None, {})] + [parse_variant(v) for v in args.variant]
        runs: dict[str, list[float]] = {"ref8": [], "ref1": [], "model": []}
        for r in range(args.repeats):
            runs["ref8"].append(reference.images_per_second(8))
            runs["ref1"].append(reference.images_per_second(1))
            runs["model"].append(fast.images_per_second(8))
            print(
                f"repeat {r + 1}: reference {runs['ref8'][-1]:.1f} img/s (batch 8), {runs['ref1'][-1]:.1f} "
                f"(batch 1); sarcolor's model alone {runs['model'][-1]:.1f}; {load()}",
                flush=True,
            )
            for label, flags, src, more in variants:
                venv = {**env, **more, **({"PYTHONPATH": src} if src else {})}
                t_small = cli_seconds(work / "small", work / "out", checkpoint, flags, venv)
                t_large = cli_seconds(work / "large", work / "out", checkpoint, flags, venv)
                # with few images the start-up's noise can exceed the work: no rate then, not a negative one
                rate = 3 * n / (t_large - t_small) if t_large > t_small else float("nan")
                if math.isnan(rate):
                    print(f"  {label}: {4 * n} images took no longer than {n}: raise --images", flush=True)
                runs.setdefault(label, []).append(rate)
                runs.setdefault(label + " start", []).append(t_small - n / rate)
                print(
                    f"  {label}: {n} in {t_small:.2f} s, {4 * n} in {t_large:.2f} s → {rate:.1f} img/s",
                    flush=True,
                )
        med = {k: _median(v) for k, v in runs.items()}
        profile = None
        if not args.no_profile:
            job = {"inputs": str(work / "large"), "checkpoint": str(checkpoint), "out": str(work / "prof")}
            profile = run_child({**job, "extra": [*extra, "--no-progress"]}, env)
            print("profile:", json.dumps(profile), flush=True)
        levels = png_levels(sorted((work / "out").glob("*.png")), args.levels) if args.levels else []
    finally:
        shutil.rmtree(work, ignore_errors=True)
    after = load()

    argv = " ".join(shlex.quote(a) for a in sys.argv[1:])
    stamp = f"{datetime.date.today()}, {cpu.describe()}, torch {torch.__version__}, ngf={args.ngf}"
    precision = fast.colorizer.precision

    def share(rate: float) -> str:
        return cpu.share(rate * reference.gflop_per_image, precision)

    lines = [
        f"Inputs: {args.source} 256×256 SAR PNGs, {n} and {4 * n} per run. Reference forward pass: "
        f"{med['ref8']:.1f} img/s at batch 8 ({share(med['ref8'])} of the fp32 GEMM rate), "
        f"{med['ref1']:.1f} img/s at batch 1. sarcolor's {form} ({precision}).",
        "",
        "| what | img/s | ÷ reference batch 8 | ÷ reference batch 1 | ÷ model alone | share of GEMM "
        "| start-up s |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| sarcolor's model alone (`Colorizer.predict`, batch 8, in memory) | {med['model']:.1f} "
        f"| {med['model'] / med['ref8']:.2f}× | {med['model'] / med['ref1']:.2f}× | 1.00× "
        f"| {share(med['model'])} | – |",
    ]
    for label, flags, _, more in variants:
        words = [f"{k}={v}" for k, v in more.items()] + flags
        name = " ".join([label, *([f"`{shlex.join(words)}`"] if words else [])])
        rate = med[label]
        lines.append(
            f"| {name} | {rate:.1f} | {rate / med['ref8']:.2f}× | {rate / med['ref1']:.2f}× "
            f"| {rate / med['model']:.2f}× | {share(rate)} | {med[label + ' start']:.2f} |"
        )
    if profile:
        wall = profile["wall"]
        phases = ["read", "model", "write"]
        rest = wall - profile.get("load", 0.0)
        lines += [
            "",
            f"Where the time goes, one in-process run over {4 * n} images ({wall:.2f} s wall, "
            f"{4 * n / rest:.1f} img/s after loading; importing the package took {profile['import']:.2f} s):",
            "",
            "| phase | seconds | per image ms | share of the wall time after loading |",
            "|---|---:|---:|---:|",
            f"| load the model | {profile.get('load', 0.0):.2f} | – | – |",
        ]
        for phase in phases:
            s = profile.get(phase, 0.0)
            lines.append(f"| {phase} | {s:.2f} | {1000 * s / (4 * n):.1f} | {100 * s / rest:.0f} % |")
        lines.append(f"\nOutput PNGs: {profile['kib']:.0f} KiB per image on average.")
    if levels:
        lines += [
            "",
            "PNG compression level (one thread, re-encoding these outputs; in bold the encoder "
            "`--png-compression` uses where there are two):",
            "",
            "| level | encoder | ms per image | KiB per image |",
            "|---:|---|---:|---:|",
            *[f"| {lv} | {name} | {ms:.1f} | {kib:.0f} |" for lv, name, ms, kib in levels],
        ]
    text = "\n".join(lines)
    print(f"\n{stamp}; {before} before, {after} after\n\n{text}")
    if args.write:
        section = "\n".join(
            [
                "## Colorizing files (what a user sees)",
                "",
                textwrap.fill(INTRO, 95, break_on_hyphens=False),
                "",
                f"### {stamp}",
                "",
                f"Command: `python benchmarks/colorize_speed.py {argv}` ({before} before, {after} after)",
                "",
                text,
                "",
            ]
        )
        write_section(DOC, BEGIN, END, section)
        print(f"\nwrote the section to {DOC}")


if __name__ == "__main__":
    main()
