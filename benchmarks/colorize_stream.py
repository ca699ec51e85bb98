"""Does colorizing a folder of many small images keep memory flat?

    python benchmarks/colorize_stream.py [--images 10000] [--size 64]

Writes N small grey PNGs (one in 500 corrupted), trains a tiny checkpoint for one step, then
colorizes the folder with ``--on-bad-sample skip`` in slices, printing the resident memory
after each slice beside images/s. Flat memory: the last RSS is close to the first.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from sarcolor.inference.colorizer import Colorizer
from sarcolor.inference.files import colorize_files, plan_outputs
from sarcolor.synthetic import make_synthetic_dataset
from sarcolor.training.trainer import train


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * 4096 / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--slices", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        from sarcolor.config import Config

        root = make_synthetic_dataset(tmp / "syn", scenes_per_terrain=1, patches_per_scene=4)
        cfg = Config().replace(
            data={"root": str(root), "num_workers": 0, "val_fraction": 0.0, "test_fraction": 0.0},
            model={"ngf": 8, "ndf": 8},
            train={"steps": 1, "batch_size": 2},
        )
        ckpt = train(cfg, tmp / "run", progress=False, echo=lambda _: None).checkpoint
        src = tmp / "in"
        src.mkdir()
        rng = np.random.default_rng(0)
        files = []
        for i in range(args.images):
            path = src / f"img{i:05d}.png"
            if i % 500 == 499:
                path.write_bytes(b"not a png")
            else:
                Image.fromarray(rng.integers(0, 256, (args.size, args.size), dtype=np.uint8)).save(path)
            files.append(path)
        targets = plan_outputs(files, tmp / "out")
        colorizer = Colorizer(ckpt, "cpu")
        print(f"{args.images} images of {args.size}×{args.size}, tiny model; RSS after each slice:")
        print(f"{'images done':>12}{'RSS (MB)':>10}{'images/s':>10}{'failed':>8}")
        per = max(1, args.images // args.slices)
        failed = 0
        for start in range(0, args.images, per):
            t0 = time.perf_counter()
            report = colorize_files(
                colorizer,
                files[start : start + per],
                targets[start : start + per],
                on_bad_sample="skip",
                progress=False,
            )
            failed += len(report.failed)
            rate = len(files[start : start + per]) / (time.perf_counter() - t0)
            print(f"{min(start + per, args.images):>12}{rss_mb():>10.0f}{rate:>10.1f}{failed:>8}")


if __name__ == "__main__":
    main()
