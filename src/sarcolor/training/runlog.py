"""What a run writes while it trains: metrics.jsonl, sample grids, TensorBoard, split.json."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sarcolor.config import Config
from sarcolor.data.dataset import PairDataset
from sarcolor.data.pairs import Pair
from sarcolor.data.preprocess import decode_output, display_input, input_label
from sarcolor.data.records import Batch
from sarcolor.data.split import Split
from sarcolor.figures import image_grid, read_metrics_log, save_image
from sarcolor.models.terrain_condition import condition_input
from sarcolor.outputs import atomic_write
from sarcolor.training.pix2pix import Pix2Pix, masked_l1

Echo = Callable[[str], None]


class RunLog:
    """Averages losses between log lines and writes metrics.jsonl, samples and TensorBoard."""

    def __init__(self, run_dir: Path, cfg: Config, sample_batch: Batch | None, writer: Any) -> None:
        self.run_dir, self.cfg, self.sample_batch, self.writer = run_dir, cfg, sample_batch, writer
        self.window: dict[str, list[float]] = {}
        self.images, self.started = 0, time.perf_counter()

    def add(self, losses: dict[str, float], images: int) -> None:
        for k, v in losses.items():
            self.window.setdefault(k, []).append(v)
        self.images += images

    def write(self, step: int, model: Pix2Pix, force: bool = False) -> None:
        t = self.cfg.train
        record: dict[str, float] = {}
        if step % t.log_every == 0 or force:
            elapsed = max(time.perf_counter() - self.started, 1e-9)
            record = {k: float(np.mean(v)) for k, v in self.window.items()}
            record.update(lr=model.lr, images_per_s=self.images / elapsed)
            self.window, self.images, self.started = {}, 0, time.perf_counter()
        if self.sample_batch is not None and (step % t.sample_every == 0 or force):
            path = self.run_dir / "samples" / f"step_{step:07d}.png"
            record["val_L1"] = write_samples(model, self.sample_batch, self.cfg, path)
        if not record:
            return
        append_jsonl(self.run_dir / "metrics.jsonl", {"step": step, **record})
        if self.writer is not None:
            for k, v in record.items():
                self.writer.add_scalar(k, v, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def fixed_batch(pairs: list[Pair], cfg: Config, size: int = 4) -> Batch | None:
    """A few held-out pairs, evenly spread, un-augmented: the samples every log shows."""
    if not pairs:
        return None
    dataset = PairDataset(pairs[:: max(1, len(pairs) // size)][:size], cfg.preprocess, cfg.data.crop_size)
    return dataset.batch(range(len(dataset)))


@torch.no_grad()
def write_samples(model: Pix2Pix, batch: Batch, cfg: Config, path: Path) -> float:
    """Save input | generated | optical for the fixed batch; return its L1 (valid pixels) in eval mode."""
    model.G.eval()
    x = condition_input(batch.input, batch.terrain, cfg).to(model.device)
    out = model.G.forward(x)  # eager: compiling an eval-mode graph for 4 images would cost more
    target = batch.target.to(model.device)
    if batch.all_valid:
        l1 = float((out - target).abs().mean())
    else:
        l1 = float(masked_l1(out, target, batch.mask.to(model.device)))
    rgb = decode_output(out, x, cfg.preprocess).cpu().numpy().transpose(0, 2, 3, 1)
    inputs = display_input(batch.input[:, :1]).numpy().transpose(0, 2, 3, 1)
    truth = batch.rgb.numpy().transpose(0, 2, 3, 1)
    rows = [[inputs[i], rgb[i], truth[i]] for i in range(len(rgb))]
    save_image(image_grid(rows, (input_label(cfg.preprocess), "generated", "optical")), path)
    model.G.train()
    return l1


def write_split(path: Path, pairs: list[Pair], split: Split) -> None:
    """``split.json``: the split group ids and the pair names of every split."""
    body = {
        name: {"scenes": split[name], "pairs": [p.name for p in split.select(pairs, name)]} for name in split
    }
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(body, indent=1)))


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    with open(path, "a") as fh:
        fh.write(json.dumps(record) + "\n")


def trim_log(path: Path, start_step: int) -> None:
    """A fresh run starts a new log; a resumed one drops records past its checkpoint."""
    if not path.exists():
        return
    keep = [r for r in read_metrics_log(path) if start_step and r.get("step", 0) <= start_step]
    atomic_write(path, lambda tmp: tmp.write_text("".join(json.dumps(r) + "\n" for r in keep)))


def tensorboard(run_dir: Path, echo: Echo) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        echo("warning: --tensorboard given but the tensorboard package is not installed; skipping")
        return None
    return SummaryWriter(str(run_dir / "tensorboard"))
