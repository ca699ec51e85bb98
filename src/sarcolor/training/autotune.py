"""Training's speed choices on CPU — precision and memory layout — chosen by measuring them.

Which training step runs fastest depends on the CPU: with bf16 instructions (AVX-512-BF16, AMX)
a bf16 step at batch 8 ran 1.9× the fp32 one on a 2-core Zen 5, and channels_last paid with it;
on an AVX2-only EPYC bf16 is emulated (~70× slower) and channels_last made the fp32 backward
slower. So where ``train.precision`` or ``train.channels_last`` is ``auto``, on CPU, the first
run on a machine times one training step (after a warm-up one) of each candidate on random
tensors of the run's batch and crop size, and keeps the fastest. The candidates are plain fp32
with the contiguous layout (always, when both are auto), channels_last, and bf16 only where
:func:`~sarcolor.runtime.resolve_precision` gives it for ``auto`` (bf16 native here, see
:func:`~sarcolor.runtime.bf16_is_native`). Another path is kept only when it beats the first
candidate by :data:`MARGIN`, so the choice is never slower than plain fp32, up to timing noise.

The decision is cached beside ``--form auto``'s (:mod:`sarcolor.inference.autotune`), under a
key starting with ``train``; ``SARCOLOR_TRAIN_TUNE=0`` (the test suite's setting) skips the
measurement and takes the fixed rule (:func:`rule_path`). ``train.compile`` is not measured:
``auto`` is on CUDA, off on CPU (:func:`~sarcolor.runtime.resolve_compile`: inductor compiled
for 5–20 s per batch size on a 2-core CPU and then ran slower than eager).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from sarcolor.config import Config
from sarcolor.inference.autotune import REPEATS, machine_prefix, numbers, recall, remember
from sarcolor.runtime import resolve_compile, resolve_precision

TUNE_ENV = "SARCOLOR_TRAIN_TUNE"
MARGIN = 1.03  # another path must beat plain fp32 by 3 % (timing noise) to be chosen


@dataclass(frozen=True)
class TrainPath:
    """How training runs, and why.

    Attributes:
        precision: fp32, bf16 or fp16.
        channels_last: whether the networks and batches use the channels_last layout.
        compiled: whether the networks are ``torch.compile``-d.
        reason: ``configured`` (nothing auto, or not measured: CUDA, torchrun, ``SARCOLOR_TRAIN_TUNE=0``),
            ``measured`` (timed now) or ``cached`` (timed earlier on this machine).
        rates: pairs per second of each candidate's training step (when measured or cached).
        cache: the cache file (``None`` when it was not used).
    """

    precision: str
    channels_last: bool
    compiled: bool
    reason: str
    rates: dict[str, float] = field(default_factory=dict)
    cache: Path | None = None

    @property
    def name(self) -> str:
        return path_name(self.precision, self.channels_last)

    def describe(self) -> str:
        """One line for the resolved configuration: the path, and what chose it."""
        line = f"training path: {self.name}, torch.compile {'on' if self.compiled else 'off'} ({self.reason}"
        if self.rates:
            where = f" in {self.cache}" if self.cache is not None else ""
            rates = ", ".join(f"{name} {rate:.2f}" for name, rate in self.rates.items())
            line += f"{where}; pairs/s of one step: {rates}"
        return line + ")"


def path_name(precision: str, channels_last: bool) -> str:
    return f"{precision}/{'channels_last' if channels_last else 'contiguous'}"


def rule_path(cfg: Config, device: torch.device, reason: str = "configured") -> TrainPath:
    """The path without measuring: what is set, ``auto`` resolved by rule (precision: bf16 where
    native, :func:`~sarcolor.runtime.resolve_precision`; channels_last on CUDA and with bf16)."""
    t = cfg.train
    precision = resolve_precision(t.precision, device)
    layout = t.channels_last if t.channels_last is not None else device.type == "cuda" or precision == "bf16"
    return TrainPath(precision, layout, resolve_compile(t.compile, device), reason)


def choose_training_path(
    cfg: Config, device: torch.device, measured: bool = True, echo: Callable[[str], None] = print
) -> TrainPath:
    """The path a run takes: by measurement (cached per machine) where precision or layout is
    ``auto`` on CPU and ``measured`` (False under torchrun: the ranks must agree), else by rule."""
    t = cfg.train
    rule = rule_path(cfg, device)
    auto = t.precision == "auto" or t.channels_last is None
    if not auto or device.type != "cpu" or not measured or os.environ.get(TUNE_ENV) == "0":
        return rule
    precisions = ["fp32", "bf16"] if t.precision == "auto" and rule.precision == "bf16" else [rule.precision]
    layouts = [False, True] if t.channels_last is None else [t.channels_last]
    candidates = [(p, layout) for p in precisions for layout in layouts]
    if len(candidates) == 1:
        return rule
    names = [path_name(*c) for c in candidates]
    key = f"train | {machine_prefix()} | {_model_key(cfg)} | {' '.join(names)}"
    known, cache = recall(key)
    if known is not None and known.get("path") in names:
        chosen = candidates[names.index(known["path"])]
        return TrainPath(*chosen, rule.compiled, "cached", numbers(known.get("rates")), cache)
    echo(f"measuring one training step of each of {', '.join(names)} (once on this machine)")
    rates = measure_steps(cfg, device, candidates)
    best = _fastest(names, rates)
    written = remember(key, {"path": best, "rates": rates})
    return TrainPath(*candidates[names.index(best)], rule.compiled, "measured", rates, written)


def measure_steps(cfg: Config, device: torch.device, candidates: list[tuple[str, bool]]) -> dict[str, float]:
    """Pairs per second of one training step of each (precision, channels_last) candidate on
    random tensors of the run's batch and crop size: a warm-up step, then the best of
    :data:`REPEATS`. The global random state is left as it was (the run's weights and batch
    order do not depend on having measured); a candidate that fails to run is left out."""
    from sarcolor.training.pix2pix import Pix2Pix  # it builds on this module's rule

    batch, side = cfg.train.batch_size, cfg.data.crop_size
    channels = cfg.preprocess.in_channels + cfg.model.condition_channels
    seeded = torch.Generator().manual_seed(0)
    x = torch.rand(batch, channels, side, side, generator=seeded) * 2 - 1
    y = torch.rand(batch, cfg.preprocess.out_channels, side, side, generator=seeded) * 2 - 1
    rates: dict[str, float] = {}
    with torch.random.fork_rng(devices=[]):
        for precision, layout in candidates:
            fixed = cfg.replace(train={"precision": precision, "channels_last": layout, "compile": "off"})
            try:
                model = Pix2Pix(fixed, 2 + REPEATS, device, path=rule_path(fixed, device))
                model.train_step(x.to(device), y.to(device), 0)
                best = float("inf")
                for step in range(1, REPEATS + 1):
                    start = time.perf_counter()
                    model.train_step(x.to(device), y.to(device), step)
                    best = min(best, time.perf_counter() - start)
            except (RuntimeError, ValueError):  # e.g. an op this PyTorch lacks in bf16
                continue
            rates[path_name(precision, layout)] = round(batch / best, 3)
            del model
    return rates


def _fastest(names: list[str], rates: dict[str, float]) -> str:
    """The fastest measured path; the first (plain) one unless another beats it by :data:`MARGIN`."""
    if not rates:
        return names[0]
    best = max(rates, key=rates.__getitem__)
    plain = rates.get(names[0])
    return names[0] if plain is not None and rates[best] < plain * MARGIN else best


def _model_key(cfg: Config) -> str:
    """What the step's speed depends on in the run's configuration."""
    from sarcolor.models import build_networks

    with torch.random.fork_rng(devices=[]), torch.device("meta"):  # shapes only: nothing allocated
        g, d = build_networks(cfg)
    count = lambda net: sum(p.numel() for p in net.parameters())  # noqa: E731
    return (
        f"{type(g).__name__} {count(g)} params, {type(d).__name__} {count(d)} params "
        f"| batch {cfg.train.batch_size} crop {cfg.data.crop_size}"
    )
