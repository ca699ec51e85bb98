"""Is data loading ever the bottleneck? Decoded pairs/s against training images/s, one run.

    python benchmarks/data_speed.py [--pairs 192] [--batch-size 8] [--ngf 64] [--steps 3]

Prints, side by side: pairs/s delivered by the training DataLoader (default worker count,
augmentation on) and images/s of training steps of the configured generator width, and their
ratio. Loading keeps up when the ratio is well above 1.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from sarcolor.config import Config
from sarcolor.data.dataset import Augment, EpochBatchSampler, PairDataset
from sarcolor.data.discovery import discover_pairs
from sarcolor.data.synthetic import make_synthetic_dataset
from sarcolor.training.pix2pix import Pix2Pix
from sarcolor.training.trainer import default_workers


def loader_rate(root: Path, batch_size: int, workers: int, batches: int) -> float:
    pairs = discover_pairs(root).pairs
    dataset = PairDataset(pairs, Config().preprocess, augment=Augment())
    loader = DataLoader(
        dataset, batch_sampler=EpochBatchSampler(len(dataset), batch_size, 0), num_workers=workers
    )
    it = iter(loader)
    next(it)  # start-up of the workers is not counted
    start = time.perf_counter()
    for _ in range(batches):
        next(it)
    return batches * batch_size / (time.perf_counter() - start)


def train_rate(ngf: int, batch_size: int, steps: int) -> float:
    cfg = Config()
    cfg.model.ngf = cfg.model.ndf = ngf
    model = Pix2Pix(cfg, steps + 1, torch.device("cpu"))
    x = torch.rand(batch_size, 1, 256, 256) * 2 - 1
    y = torch.rand(batch_size, 3, 256, 256) * 2 - 1
    model.train_step(x, y, 0)  # warm-up
    start = time.perf_counter()
    for step in range(steps):
        model.train_step(x, y, step)
    return steps * batch_size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=int, default=192, help="synthetic pairs to decode (default 192)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--ngf", type=int, nargs="+", default=[64, 16], help="generator widths to time")
    parser.add_argument("--steps", type=int, default=3, help="timed training steps per width")
    args = parser.parse_args()
    workers = default_workers(-1)
    with tempfile.TemporaryDirectory() as tmp:
        per_scene = 16
        scenes = max(1, args.pairs // (4 * per_scene))
        root = make_synthetic_dataset(tmp, scenes_per_terrain=scenes, patches_per_scene=per_scene)
        batches = max(4, scenes * 4 * per_scene // args.batch_size - 1)
        load = loader_rate(root, args.batch_size, workers, batches)
    print(f"machine: {os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"data loading ({workers} worker(s), augmentation on): {load:8.1f} pairs/s")
    print(f"{'generator':<12}{'train img/s':>12}{'load / train':>14}")
    for ngf in args.ngf:
        rate = train_rate(ngf, args.batch_size, args.steps)
        print(f"ngf={ngf:<8}{rate:>12.2f}{load / rate:>13.1f}×")


if __name__ == "__main__":
    main()
