"""Is data loading ever the bottleneck? Decoded pairs/s against training images/s, one run.

    python benchmarks/data_speed.py [--pairs 192] [--batch-size 8] [--ngf 64 16] [--steps 3] [--device cpu]

Prints, side by side, on synthetic Kaggle-layout PNG pairs (256×256, augmentation on):

* ``PNG DataLoader``: pairs/s of the training DataLoader with its default settings
  (:func:`~sarcolor.training.trainer.default_workers` processes,
  :func:`~sarcolor.data.dataset.loader_options`);
* ``uint8 cache, host reads``: batches gathered from the memory-mapped cache
  (:mod:`sarcolor.data.cache`), the part that runs on the CPU when training on a GPU;
* ``uint8 cache, full path``: reads plus float conversion, augmentation and encoding on
  ``--device`` (:class:`~sarcolor.data.cache.DeviceBatches`);

and images/s of training steps of each generator width on ``--device``, with the ratio
load / train. Loading keeps up when the ratio is well above 1 (the project asks for 5×).
The cache is read warm (just built, in the page cache), as it is after the first epoch.
"""

from __future__ import annotations

import argparse
import itertools
import os
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from sarcolor.config import Config
from sarcolor.data.augment import Augment
from sarcolor.data.cache import DeviceBatches, build_cache
from sarcolor.data.dataset import EpochBatchSampler, PairDataset, loader_options
from sarcolor.data.records import Batch
from sarcolor.data.sources import discover_pairs
from sarcolor.synthetic import make_synthetic_dataset
from sarcolor.training.pix2pix import Pix2Pix
from sarcolor.training.trainer import default_workers


def loader_rate(root: Path, batch_size: int, workers: int, batches: int, device: torch.device) -> float:
    """Pairs/s of the PNG DataLoader, after the workers' start-up."""
    pairs = discover_pairs(root).pairs
    dataset = PairDataset(pairs, Config().preprocess, augment=Augment())
    sampler = EpochBatchSampler(len(dataset), batch_size, 0)
    loader = DataLoader(
        dataset, batch_sampler=sampler, collate_fn=Batch.collate, **loader_options(workers, device)
    )
    it = iter(loader)
    next(it)  # start-up of the workers is not counted
    start = time.perf_counter()
    for _ in range(batches):
        next(it)
    return batches * batch_size / (time.perf_counter() - start)


def cache_rates(
    root: Path, folder: Path, batch_size: int, batches: int, device: torch.device
) -> tuple[float, float, float]:
    """(build s, host-read pairs/s, full-path pairs/s) of the uint8 cache."""
    pairs = discover_pairs(root).pairs
    preprocess = Config().preprocess
    start = time.perf_counter()
    cache = build_cache(pairs, preprocess, folder, progress=False)
    build = time.perf_counter() - start
    source = DeviceBatches(cache, pairs, preprocess, 256, Augment(), device)
    sampler = EpochBatchSampler(len(pairs), batch_size, 0)

    items = list(itertools.islice(sampler, batches))
    start = time.perf_counter()
    for chunk in items:
        source._gather(chunk)
    host = batches * batch_size / (time.perf_counter() - start)

    stream = source.iterate(sampler)
    next(stream)
    _sync(device)
    start = time.perf_counter()
    for _ in range(batches):
        batch = next(stream)
    float(batch.input.sum())  # waits for the device
    full = batches * batch_size / (time.perf_counter() - start)
    stream.close()
    return build, host, full


def train_rate(ngf: int, batch_size: int, steps: int, device: torch.device) -> float:
    cfg = Config().replace(model={"ngf": ngf, "ndf": ngf})
    model = Pix2Pix(cfg, steps + 1, device)
    x = torch.rand(batch_size, 1, 256, 256, device=device) * 2 - 1
    y = torch.rand(batch_size, 3, 256, 256, device=device) * 2 - 1
    model.train_step(x, y, 0)  # warm-up
    _sync(device)
    start = time.perf_counter()
    for step in range(steps):
        model.train_step(x, y, step)
    _sync(device)
    return steps * batch_size / (time.perf_counter() - start)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=int, default=192, help="synthetic pairs to decode (default 192)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--ngf", type=int, nargs="+", default=[64, 16], help="generator widths to time")
    parser.add_argument("--steps", type=int, default=3, help="timed training steps per width")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    workers = default_workers(-1)
    with tempfile.TemporaryDirectory() as tmp:
        per_scene = 16
        scenes = max(1, args.pairs // (4 * per_scene))
        root = make_synthetic_dataset(tmp, scenes_per_terrain=scenes, patches_per_scene=per_scene)
        batches = max(4, scenes * 4 * per_scene // args.batch_size - 1)
        load = loader_rate(root, args.batch_size, workers, batches, device)
        build, host, full = cache_rates(root, Path(tmp) / "cache", args.batch_size, 2 * batches, device)
        pairs = scenes * 4 * per_scene
    threads = torch.get_num_threads()
    print(f"machine: {os.cpu_count()} CPUs, torch {torch.__version__}, {threads} threads, device {device}")
    print(
        f"uint8 cache build: {pairs} pairs in {build:.2f} s ({pairs / build:.0f} pairs/s, once per dataset)"
    )
    sources = {
        f"PNG DataLoader ({workers} worker(s))": load,
        "uint8 cache, host reads": host,
        f"uint8 cache, full path on {device.type}": full,
    }
    rates = {ngf: train_rate(ngf, args.batch_size, args.steps, device) for ngf in args.ngf}
    header = "".join(f"{f'/ ngf={ngf} train':>18}" for ngf in rates)
    print(f"{'source (augmentation on)':<34}{'pairs/s':>10}{header}")
    for name, rate in sources.items():
        print(f"{name:<34}{rate:>10.1f}" + "".join(f"{rate / train:>17.1f}×" for train in rates.values()))
    for ngf, train in rates.items():
        print(f"training ngf={ngf}, batch {args.batch_size}: {train:.2f} images/s")


if __name__ == "__main__":
    main()
