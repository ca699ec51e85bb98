"""Colorizing whole GeoTIFF scenes: megapixels per second and peak memory as the scene grows.

    python benchmarks/scene_speed.py [--sizes 2048 4096 10000] [--device auto] [--batch-size 8]
                                     [--ngf 64] [--compress-levels 1 6] [--workdir DIR] [--keep] [--write]

Writes synthetic Sentinel-1-like float32 dB GeoTIFFs (UTM 31N, 10 m pixels, tiled and
deflate-compressed, one VV band, a NaN-nodata swath border covering 5-15 % of the width so that
empty tiles are skipped) of each size, window by window, so that the generator never holds a
whole scene. A seeded untrained checkpoint of the default generator (``--ngf``, 64 by default)
colorizes each scene with :func:`sarcolor.inference.scene.colorize_scene` in a fresh
subprocess, which reports its own peak resident memory (``ru_maxrss``) and, on CUDA, the peak
GPU memory allocated by PyTorch; peaks are therefore per scene.

The table gives megapixels, tiles run and skipped, seconds (``SceneReport.seconds``: reading,
model, blending and writing, but not loading the model), Mpx/s, the share of those seconds spent
in ``Colorizer.predict`` (the model, with its input encoding and output decoding), and the peak
memory; then the ratio of the largest scene's peak RSS to the smallest's ("memory flat") and
whether the 10,000² scene stays under 2 GiB. ``--write`` puts the result in
``docs/benchmarks.md`` as the section "Scene colorizing (GeoTIFF)" (replaced when present).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from machine import cpu_name, write_section

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- scene_speed.py: begin -->", "<!-- scene_speed.py: end -->"
RESULT = "SCENE_SPEED_RESULT "
STRIP = 512  # rows generated and written at a time
GIB = 2**30


def make_scene(path: Path, size: int, seed: int = 0) -> Path:
    """A ``size × size`` float32 dB scene written in ``STRIP``-row windows (never whole in memory)."""
    import rasterio
    from rasterio.transform import Affine
    from rasterio.windows import Window

    profile = dict(
        driver="GTiff",
        width=size,
        height=size,
        count=1,
        dtype="float32",
        nodata=float("nan"),
        crs="EPSG:32631",
        transform=Affine(10, 0, 500000, 0, -10, 5000000),
        tiled=True,
        blockxsize=512,
        blockysize=512,
        compress="deflate",
        predictor=3,
        BIGTIFF="IF_SAFER",
    )
    rng = np.random.default_rng(seed)
    x = np.arange(size, dtype=np.float32)
    with rasterio.open(path, "w", **profile) as dst:
        dst.set_band_description(1, "VV")
        for top in range(0, size, STRIP):
            rows = min(STRIP, size - top)
            y = np.arange(top, top + rows, dtype=np.float32)[:, None]
            # smooth "terrain" backscatter around -12 dB, multi-look (L = 4) speckle on top
            terrain = -12 + 5 * np.sin(x / 700 + y / 1100) + 3 * np.cos(x / 230 - y / 410)
            speckle = 10 * np.log10(rng.gamma(4.0, 0.25, (rows, size)).astype(np.float32) + 1e-6)
            db = (terrain + speckle).astype(np.float32)
            # a slanted swath edge: nodata left of 5 % of the width at the top, 15 % at the bottom
            edge = (size * (0.05 + 0.10 * y / size)).astype(np.int64)
            db[x[None, :] < edge] = np.nan
            dst.write(db[None], window=Window(0, top, size, rows))
    return path


def make_checkpoint(path: Path, ngf: int) -> Path:
    """A seeded, untrained checkpoint of the generator at width ``ngf`` taking VV in dB."""
    import torch

    from sarcolor.checkpoint import CheckpointMeta, save_checkpoint
    from sarcolor.config import Config
    from sarcolor.models import build_networks

    cfg = Config().replace(preprocess={"bands": ["VV"], "sar_scale": "db"}, model={"ngf": ngf, "ndf": ngf})
    torch.manual_seed(0)
    g, d = build_networks(cfg.validate())
    return save_checkpoint(path, CheckpointMeta(cfg, 0), {"G": g, "D": d})


def child(job: dict) -> None:
    """Colorize one scene (in its own process) and print the figures as one JSON line."""
    import resource

    import torch

    from sarcolor.inference.colorizer import Colorizer
    from sarcolor.inference.options import SceneOptions
    from sarcolor.inference.scene import colorize_scene

    colorizer = Colorizer(job["checkpoint"], job["device"], batch_size=job["batch_size"])
    model_seconds = 0.0
    predict = colorizer.predict

    saved: list[torch.Tensor] = []  # the scene's first full batch of tiles, for the model-only rate

    def timed_predict(tiles):
        nonlocal model_seconds
        if not saved and len(tiles) == colorizer.batch_size:
            saved.append(tiles.clone())
        start = time.perf_counter()
        try:
            return predict(tiles)  # ends in .cpu(): synchronised on CUDA
        finally:
            model_seconds += time.perf_counter() - start

    def model_only_rate(tiles: torch.Tensor, seconds: float = 3.0) -> float:
        """Tiles/s of ``Colorizer.predict`` alone, again and again on one batch of ``tiles``."""
        predict(tiles)  # warm
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            predict(tiles)
            done += len(tiles)
        return done / (time.perf_counter() - start)

    # The model alone before the scene (on random tiles: a dense network's cost does not depend on
    # the values), during it (see Interleaved) and after it (on the scene's first batch).
    channels = len(colorizer.config.preprocess.bands)
    before = model_only_rate(torch.rand(colorizer.batch_size, channels, 256, 256))

    colorizer.predict = timed_predict
    during = Interleaved(lambda: model_only_rate(saved[0], 1.0) if saved else None)
    cuda = colorizer.device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    with during:
        report = colorize_scene(
            colorizer,
            job["source"],
            job["target"],
            SceneOptions(compress_level=job.get("compress_level", SceneOptions().compress_level)),
            progress=False,
            log=lambda line: print(line, file=sys.stderr),
        )
    after = model_only_rate(saved[0])
    rates = [before, *during.rates, after]
    result = {
        "width": report.width,
        "height": report.height,
        "tiles": report.tiles,
        "skipped": report.skipped,
        "seconds": report.seconds - during.paused,
        "mpx_s": report.width * report.height / 1e6 / (report.seconds - during.paused),
        "model_seconds": model_seconds,
        "model_only_before": before,
        "model_only_during": during.rates,
        "model_only_after": after,
        "model_only_tiles_s": sum(rates) / len(rates),
        "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # KiB on Linux
        "gpu_mib": torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
        "device": str(colorizer.device),
        "gpu": torch.cuda.get_device_name() if cuda else None,
        "threads": torch.get_num_threads(),
        "scale": report.scale_reason,
        "output_mib": Path(job["target"]).stat().st_size / 2**20,
    }
    print(RESULT + json.dumps(result), flush=True)


class Interleaved:
    """The model-only rate sampled during a scene, between two strips, every ``EVERY`` seconds.

    The host's speed drifts by up to ±20 % within a minute, more than the effect measured, so
    a rate taken only before and after the scene can sit well above or below the scene's own.
    Here, between two strips, the scene's reader and writer threads are first let finish what
    they hold (that wait counts as the scene's time: work that would otherwise overlap the
    model), then ``sample()`` runs the model alone for 1 s, which is taken off the scene's time
    (``paused``). While active (``with``), it wraps the scene writer's methods.
    """

    EVERY = 5.0

    def __init__(self, sample) -> None:
        import threading

        self.sample, self.rates, self.paused = sample, [], 0.0
        self.busy, self.idle = 0, threading.Condition()
        self.last = time.perf_counter()
        self.saved: dict[str, object] = {}

    def __enter__(self) -> Interleaved:
        from sarcolor.inference.scene import _SceneWriter

        for name in ("_read_strip", "_write_rows"):
            self.saved[name] = getattr(_SceneWriter, name)
            setattr(_SceneWriter, name, self._counted(self.saved[name]))
        self.saved["_strip"] = real = _SceneWriter._strip

        def strip(writer, *args, **kwargs):
            if time.perf_counter() - self.last >= self.EVERY:
                with self.idle:  # the threads' work in flight finishes first (scene time)
                    self.idle.wait_for(lambda: self.busy == 0)
                start = time.perf_counter()
                rate = self.sample()
                if rate is not None:
                    self.rates.append(rate)
                self.last = time.perf_counter()
                self.paused += self.last - start
            return real(writer, *args, **kwargs)

        _SceneWriter._strip = strip
        return self

    def __exit__(self, *exc) -> None:
        from sarcolor.inference.scene import _SceneWriter

        for name, method in self.saved.items():
            setattr(_SceneWriter, name, method)

    def _counted(self, method):
        def counted(*args, **kwargs):
            with self.idle:
                self.busy += 1
            try:
                return method(*args, **kwargs)
            finally:
                with self.idle:
                    self.busy -= 1
                    self.idle.notify_all()

        return counted


def run_child(job: dict) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(job)],
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT)]
    return json.loads(lines[-1][len(RESULT) :])


def table(results: list[tuple[int, dict]], cuda: bool) -> list[str]:
    head = (
        "| scene | deflate level | output MiB | Mpx | tiles | skipped | seconds | Mpx/s | model % | tiles/s "
        "| model-only tiles/s | ÷ model-only | peak RSS MiB |"
    )
    rule = "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    if cuda:
        head, rule = head + " peak GPU MiB |", rule + "---:|"
    lines = [head, rule]
    for size, r in results:
        line = (
            f"| {size:,}² | {r['compress_level']} | {r['output_mib']:.0f} "
            f"| {r['width'] * r['height'] / 1e6:.1f} | {r['tiles']} | {r['skipped']} "
            f"| {r['seconds']:.1f} | {r['mpx_s']:.3f} | {100 * r['model_seconds'] / r['seconds']:.0f} "
            f"| {r['tiles'] / r['seconds']:.1f} | {r['model_only_tiles_s']:.1f} "
            f"({r['model_only_before']:.0f} / {_spread(r['model_only_during'])} "
            f"/ {r['model_only_after']:.0f}) "
            f"| {100 * r['tiles'] / r['seconds'] / r['model_only_tiles_s']:.0f} % | {r['rss_mib']:.0f} |"
        )
        lines.append(line + (f" {r['gpu_mib']:.0f} |" if cuda else ""))
    return lines


def _spread(rates: list[float]) -> str:
    """``lo–hi ×n`` of the rates sampled during a scene (``–`` when the scene was too short)."""
    return f"{min(rates):.0f}–{max(rates):.0f} ×{len(rates)}" if rates else "–"


def verdicts(results: list[tuple[int, dict]]) -> list[str]:
    out = []
    if len(results) > 1:
        (small, first), (large, last) = (f(results, key=lambda sr: sr[0]) for f in (min, max))
        area = (large / small) ** 2
        out.append(
            f"Memory flat: peak RSS of the {large:,}² scene is {last['rss_mib'] / first['rss_mib']:.2f}× "
            f"that of the {small:,}² scene ({area:.0f}× the pixels)."
        )
    for size, r in results:
        if size >= 10_000:
            under = r["rss_mib"] * 2**20 < 2 * GIB
            out.append(
                f"Peak RSS for the {size:,}² scene: {r['rss_mib']:.0f} MiB, "
                f"{'under' if under else 'NOT under'} 2 GiB ({'pass' if under else 'FAIL'})."
            )
    return out


INTRO = (
    "Produced by `python benchmarks/scene_speed.py --write`: synthetic float32 dB Sentinel-1 scenes "
    "(one VV band, tiled, deflate, a NaN swath border of 5–15 % of the width), colorized by "
    "`colorize_scene` (tile 256, overlap 64, default options) with a seeded untrained checkpoint, "
    "each scene in a fresh process. *Seconds* cover reading, model, blending and writing (not "
    "loading the model); *model %* is the share spent in `Colorizer.predict` (with its input "
    "encoding and output decoding; reading and writing now overlap it in threads); *model-only "
    "tiles/s* is `Colorizer.predict` alone in the same process, the mean of 3 s before the scene "
    "(random tiles), 1 s every 5 s during it (between two strips, once the reader and writer threads "
    "are idle; the wait counts as the scene's time, the samples do not) and 3 s after it (the "
    "scene's first batch); in parentheses: before / the range of the samples during ×their number "
    "/ after. *÷ model-only* is the scene's tiles/s over it; *peak RSS* is the "
    "process's `ru_maxrss` (PyTorch, GDAL's block cache and the model's weights included)."
)


def render_section(stamp: str, command: str, lines: list[str], summary: list[str]) -> str:
    return "\n".join(
        [
            "## Scene colorizing (GeoTIFF)",
            "",
            textwrap.fill(INTRO, 95, break_on_hyphens=False, break_long_words=False),
            "",
            f"### {stamp}",
            "",
            f"Command: `{command}`",
            "",
            *lines,
            "",
            *[f"- {line}" for line in summary],
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[2048, 4096, 10_000], help="scene sides")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--batch-size", type=int, default=8, help="tiles per forward pass (default 8)")
    parser.add_argument(
        "--compress-levels",
        type=int,
        nargs="+",
        default=[1],
        help="deflate levels of the output to compare on each scene (default 1, the default)",
    )
    parser.add_argument("--ngf", type=int, default=64, help="generator width (default 64, the default model)")
    parser.add_argument("--workdir", type=Path, help="where scenes are written (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the scenes and outputs")
    parser.add_argument("--write", action="store_true", help="write the section in docs/benchmarks.md")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return

    import rasterio
    import torch

    from sarcolor.runtime import resolve_device

    device = resolve_device(args.device)
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=args.workdir, prefix="scene_speed."))
    try:
        checkpoint = make_checkpoint(work / "untrained.pt", args.ngf)
        results = []
        for size in sorted(args.sizes):
            start = time.perf_counter()
            source = make_scene(work / f"scene_{size}.tif", size)
            made = time.perf_counter() - start
            print(
                f"{size:,}²: scene written in {made:.1f} s ({source.stat().st_size / 2**20:.0f} MiB); "
                "colorizing…",
                flush=True,
            )
            for level in args.compress_levels:
                job = {
                    "checkpoint": str(checkpoint),
                    "device": device.type,
                    "batch_size": args.batch_size,
                    "source": str(source),
                    "target": str(work / f"scene_{size}_rgb.tif"),
                    "compress_level": level,
                }
                r = {**run_child(job), "compress_level": level}
                results.append((size, r))
                print(
                    f"{size:,}², deflate level {level}: {r['tiles']} tiles ({r['skipped']} skipped) in "
                    f"{r['seconds']:.1f} s, {r['mpx_s']:.3f} Mpx/s, model {r['model_seconds']:.1f} s, "
                    f"peak RSS {r['rss_mib']:.0f} MiB, output {r['output_mib']:.0f} MiB"
                    + (f", peak GPU {r['gpu_mib']:.0f} MiB" if r["gpu_mib"] is not None else ""),
                    flush=True,
                )
            if not args.keep:
                source.unlink()
                Path(job["target"]).unlink(missing_ok=True)
    finally:
        if args.keep:
            print(f"scenes kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    cuda = device.type == "cuda"
    first = results[0][1]
    machine = (
        f"{first['gpu']} (cuda) on {os.cpu_count()}-core {cpu_name()}"
        if cuda
        else f"{os.cpu_count()}-core {cpu_name()} (cpu, {first['threads']} torch threads)"
    )
    argv = " ".join(shlex.quote(a) for a in sys.argv[1:])
    cache = f", GDAL_CACHEMAX={os.environ['GDAL_CACHEMAX']}" if "GDAL_CACHEMAX" in os.environ else ""
    stamp = (
        f"{datetime.date.today()}, {machine}, torch {torch.__version__}, "
        f"GDAL {rasterio.__gdal_version__}{cache}, ngf={args.ngf}"
    )
    lines = table(results, cuda)
    summary = verdicts(results)
    print("\n" + "\n".join(lines) + "\n\n" + "\n".join(summary))
    if args.write:
        section = render_section(stamp, f"python benchmarks/scene_speed.py {argv}", lines, summary)
        write_section(DOC, BEGIN, END, section)
        print(f"\nwrote the section to {DOC}")


if __name__ == "__main__":
    main()
