"""The training loop: data → steps → logs, samples and checkpoints in a run folder.

RUN_DIR after a run::

    config.yaml          the resolved configuration
    split.json           scene ids and pair names of train / val / test
    metrics.jsonl        one JSON object per logged step: losses, lr, images/s
    samples/step_*.png   input | generated | optical on a fixed held-out batch
    checkpoints/step_*.safetensors
    loss_curve.png
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from sarcolor.checkpoint import (
    CheckpointMeta,
    checkpoint_path,
    list_checkpoints,
    load_modules,
    load_training_state,
    prune_checkpoints,
    read_meta,
    resolve_checkpoint,
    save_checkpoint,
)
from sarcolor.config import Config, TrainConfig
from sarcolor.data.cache import DeviceBatches, PairCache, default_cache_folder, ensure_cache, open_cache
from sarcolor.data.dataset import Augment, EpochBatchSampler, PairDataset, index_seed, loader_options
from sarcolor.data.discovery import Discovery, Pair, discover_pairs
from sarcolor.data.geopairs import resolve_sar_scale
from sarcolor.data.io import atomic_write, ensure_writable
from sarcolor.data.preprocess import decode_output, display_input, input_label
from sarcolor.data.split import select_split, split_for
from sarcolor.data.stats import training_stats
from sarcolor.errors import SarcolorError
from sarcolor.figures import image_grid, plot_losses, read_metrics_log, save_image
from sarcolor.runtime import resolve_compile, resolve_device, resolve_precision
from sarcolor.training import distributed
from sarcolor.training.distributed import DistContext, ShardedBatchSampler, check_replicas
from sarcolor.training.pix2pix import NonFiniteLossError, Pix2Pix, build_networks, masked_l1

DEFAULT_EPOCHS = 10
MAX_NONFINITE_IN_A_ROW = 10
Echo = Callable[[str], None]


@dataclass
class TrainResult:
    run_dir: Path
    checkpoint: Path
    step: int
    total_steps: int
    interrupted: bool = False


def total_steps_for(train: TrainConfig, train_pairs: int) -> int:
    """``--steps`` as given, or ``--epochs`` (default 10) × batches per epoch."""
    if train.steps is not None:
        return train.steps
    epochs = train.epochs if train.epochs is not None else DEFAULT_EPOCHS
    return epochs * max(1, train_pairs // train.batch_size)


def find_data(cfg: Config, echo: Echo = print) -> Discovery:
    """Discover the configured pairs, filtered by terrain, and warn about loose files."""
    if not cfg.data.root:
        raise SarcolorError("no data folder: give --data DIR")
    found = discover_pairs(cfg.data.root).filter_terrains(cfg.data.terrains)
    for problem in found.problems:
        echo(f"warning: {problem}")
    if found.unpaired:
        echo(f"warning: {len(found.unpaired)} unpaired file(s) ignored, e.g. {found.unpaired[0]}")
    if not found.pairs:
        raise SarcolorError(f"{cfg.data.root}: no complete SAR/optical pairs found")
    return found


def default_workers(requested: int) -> int:
    if requested >= 0:
        return requested
    return max(1, min(4, (os.cpu_count() or 1) // 2))


def train(
    cfg: Config,
    run_dir: str | Path,
    *,
    resume: bool = False,
    progress: bool | None = None,
    echo: Echo = print,
) -> TrainResult:
    """Train (or resume) a pix2pix model; see the module docstring for what is written.

    Under ``torchrun`` every process calls this; they share the work as
    :mod:`sarcolor.training.distributed` describes, and rank 0 alone prints and writes.

    Args:
        cfg: the configuration (on resume, the checkpoint's configuration with any changed
            step/epoch budget).
        run_dir: the run folder.
        resume: continue from the latest checkpoint in ``run_dir``.
        progress: show a progress bar (``None``: only on a terminal).
        echo: where status lines go.
    """
    run_dir = Path(run_dir)
    cfg.validate()
    ctx = distributed.from_environment()
    distributed.check_batch_size(cfg.train.batch_size, ctx.world_size)
    device = ctx.device(resolve_device(cfg.train.device))
    distributed.init_process_group(ctx, device)
    try:
        return _train(cfg, run_dir, resume, progress, echo, ctx, device)
    finally:
        distributed.shutdown(ctx)


def _train(
    cfg: Config,
    run_dir: Path,
    resume: bool,
    progress: bool | None,
    echo: Echo,
    ctx: DistContext,
    device: torch.device,
) -> TrainResult:
    if not ctx.is_main:
        echo, progress = (lambda _: None), False
    if cfg.data.root:  # stored absolute, so evaluate/resume work from any folder
        cfg.data.root = str(Path(cfg.data.root).resolve())
    found = find_data(cfg, echo)

    start_step, ckpt = 0, None
    if resume:
        ckpt = resolve_checkpoint(run_dir)
        meta = read_meta(ckpt)
        start_step, split, stats = meta.step, meta.split, meta.stats
        echo(f"resuming from step {start_step} ({ckpt})")
    else:
        split = split_for(found.pairs, cfg.data)
    train_pairs = select_split(found.pairs, split, "train")
    if not train_pairs:
        raise SarcolorError(f"{cfg.data.root}: the train split holds no pairs")
    if cfg.preprocess.input == "sar":  # decided once, stored decided: colorizing reads it back
        decided = resolve_sar_scale(train_pairs, cfg.preprocess) if ctx.is_main else None
        cfg.preprocess.sar_scale, reason = ctx.share(decided)
        echo(f"SAR scale: {cfg.preprocess.sar_scale} — {reason}")
    if ctx.is_main:
        _check_writable(run_dir)
        _check_disk(run_dir, cfg)
    if not resume:  # rank 0 decodes every file once; the others get its findings
        found_stats = training_stats(train_pairs, cfg.preprocess, progress=progress) if ctx.is_main else None
        stats, bad = ctx.share(found_stats)
        train_pairs = _drop_bad(train_pairs, bad, cfg.data.on_bad_sample, echo)
        stats["excluded_pairs"] = sorted(p.name for p, _ in bad)
    else:  # the same pairs as before the interruption, so the batch order continues exactly
        excluded = set(stats.get("excluded_pairs", []))
        train_pairs = [p for p in train_pairs if p.name not in excluded]
    total = total_steps_for(cfg.train, len(train_pairs))
    if start_step >= total:
        raise SarcolorError(f"{ckpt}: already at step {start_step} of {total}; raise --steps to continue")

    if ctx.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        _trim_log(run_dir / "metrics.jsonl", start_step)
        atomic_write(run_dir / "config.yaml", lambda tmp: tmp.write_text(cfg.to_yaml()))
        _write_split(run_dir / "split.json", found.pairs, split)
    echo(_describe(cfg, found, split, total, device, ctx))

    torch.manual_seed(cfg.train.seed)
    model = Pix2Pix(cfg, total, device, ctx)
    if ckpt is not None:
        load_modules(ckpt, {"G": model.G, "D": model.D})
        load_training_state(ckpt, {"G": model.opt_G, "D": model.opt_D}, device)
        model.set_step(start_step)
    if not ctx.is_main:  # dropout masks: each rank its own stream (rank 0 continues the saved one)
        torch.manual_seed(index_seed(cfg.train.seed, ctx.rank, start_step))

    augment = Augment(cfg.data.flip, cfg.data.rotate90, cfg.data.jitter)
    dataset = PairDataset(
        train_pairs, cfg.preprocess, cfg.data.crop_size, augment, skip_bad=cfg.data.on_bad_sample == "skip"
    )
    # every rank walks the same global batches and keeps its slice: independent of the world size
    sampler = ShardedBatchSampler(
        EpochBatchSampler(len(dataset), cfg.train.batch_size, cfg.train.seed, start_step),
        ctx.rank,
        ctx.world_size,
    )
    batches = _batches(cfg, dataset, sampler, device, ctx, progress, echo)
    held_out = select_split(found.pairs, split, "val") or select_split(found.pairs, split, "test")
    sample_batch = _fixed_batch(held_out or train_pairs, cfg) if ctx.is_main else None
    meta = CheckpointMeta(cfg, start_step, split, stats)
    board = _tensorboard(run_dir, echo) if cfg.train.tensorboard and ctx.is_main else None
    log = _RunLog(run_dir, cfg, sample_batch, board) if ctx.is_main else None

    step, saved = start_step, ckpt
    guard = _Guard(cfg.train.on_nonfinite)
    bar = tqdm(
        total=total,
        initial=start_step,
        desc="train",
        unit="step",
        disable=None if progress is None else not progress,
        dynamic_ncols=True,
    )
    with _stop_on_signal(announce=ctx.is_main) as stop:
        try:
            while step < total:
                batch = _next_batch(batches)
                guard.bad_samples(batch["skipped"])
                x = batch["input"].to(device, non_blocking=True)
                y = batch["target"].to(device, non_blocking=True)
                all_valid = batch["all_valid"] if "all_valid" in batch else bool(batch["mask"].all())
                mask = None if all_valid else batch["mask"].to(device, non_blocking=True)
                try:
                    losses = model.train_step(x, y, step, mask)
                    guard.finite()
                except NonFiniteLossError as exc:
                    guard.nonfinite(exc, saved)  # raises unless --on-nonfinite skip
                    losses = None
                    model.set_step(step + 1)
                step += 1
                bar.update(1)
                if losses is not None:
                    bar.set_postfix({k: f"{losses[k]:.3f}" for k in Pix2Pix.SHOWN}, refresh=False)
                last = step == total
                stopping = ctx.any(stop.requested, device)  # every rank stops at the same step
                if log is not None:
                    if losses is not None:
                        log.add(losses, x.shape[0] * ctx.world_size)
                    log.write(step, model, force=last)
                if step % cfg.train.checkpoint_every == 0 or last or stopping:
                    meta.step = step
                    saved = _checkpoint(run_dir, meta, model, cfg.train.keep_checkpoints, ctx)
                if stopping:
                    stop.requested = True
                    break
        finally:
            bar.close()
            if log is not None:
                log.close()
    ctx.barrier()  # the last checkpoint is on disk before any rank returns
    if ctx.is_main:
        plot_losses(read_metrics_log(run_dir / "metrics.jsonl"), run_dir / "loss_curve.png")
    assert saved is not None
    if stop.requested and step < total:
        echo(
            f"interrupted at step {step}/{total}: saved {saved}\n"
            f"continue with: sarcolor train --out {run_dir} --resume"
        )
        return TrainResult(run_dir, saved, step, total, interrupted=True)
    if guard.skipped or guard.nonfinite_steps:
        echo(
            f"note: {guard.skipped} bad sample(s) skipped, "
            f"{guard.nonfinite_steps} non-finite step(s) left out"
        )
    echo(f"done: {step} steps; checkpoint {saved}")
    return TrainResult(run_dir, saved, step, total)


def _batches(
    cfg: Config,
    dataset: PairDataset,
    sampler: torch.utils.data.Sampler,
    device: torch.device,
    ctx: DistContext,
    progress: bool | None,
    echo: Echo,
) -> Iterator[dict]:
    """Training batches: cut on the device from the decoded uint8 cache when it is used, else
    from a DataLoader over the files."""
    cache = _cache(cfg, dataset, device, ctx, progress, echo)
    if cache is not None:
        cut = DeviceBatches(cache, dataset.pairs, cfg.preprocess, dataset.crop_size, dataset.augment, device)
        return cut.iterate(sampler)
    loader = DataLoader(
        dataset,
        batch_sampler=sampler,
        # Its own generator: creating the iterator must not draw from the global RNG, whose
        # state (dropout masks) is restored on resume.
        generator=torch.Generator().manual_seed(cfg.train.seed),
        **loader_options(default_workers(cfg.data.num_workers), device),
    )
    return iter(loader)


def _cache(
    cfg: Config,
    dataset: PairDataset,
    device: torch.device,
    ctx: DistContext,
    progress: bool | None,
    echo: Echo,
) -> PairCache | None:
    """The decoded-pair cache of the training pairs, ready, or ``None`` to read files.

    ``auto`` uses the cache on CUDA only (on a CPU the model, not decoding, sets the pace) and
    reads files when the data cannot be cached (16-bit or GeoTIFF pairs, a read-only folder);
    ``on`` or a folder make those an error. Rank 0 builds; the others wait, then open it.
    """
    mode = cfg.data.cache
    if mode == "off" or (mode == "auto" and device.type != "cuda") or not cfg.data.root:
        return None
    folder = default_cache_folder(cfg.data.root) if mode in ("auto", "on") else Path(mode)
    cache, problem = None, None
    if ctx.is_main:
        try:
            cache = ensure_cache(dataset.pairs, cfg.preprocess, folder, progress=progress, echo=echo)
        except (SarcolorError, OSError) as exc:
            problem = str(exc)
    problem = ctx.share(problem)
    if problem is None:
        echo(f"decoded-pair cache: {folder}")
        return cache if cache is not None else open_cache(folder, dataset.pairs, cfg.preprocess)
    if mode != "auto":
        raise SarcolorError(f"--cache {mode}: {problem}")
    echo(f"decoded-pair cache not used ({problem}); reading the files")
    return None


class _RunLog:
    """Averages losses between log lines and writes metrics.jsonl, samples and TensorBoard."""

    def __init__(self, run_dir: Path, cfg: Config, sample_batch: dict | None, writer) -> None:
        self.run_dir, self.cfg, self.sample_batch, self.writer = run_dir, cfg, sample_batch, writer
        self.window: dict[str, list[float]] = {}
        self.images, self.started = 0, time.perf_counter()

    def add(self, losses: dict[str, float], images: int) -> None:
        for k, v in losses.items():
            self.window.setdefault(k, []).append(v)
        self.images += images

    def write(self, step: int, model: Pix2Pix, force: bool = False) -> None:
        t = self.cfg.train
        record: dict = {}
        if step % t.log_every == 0 or force:
            elapsed = max(time.perf_counter() - self.started, 1e-9)
            record = {k: float(np.mean(v)) for k, v in self.window.items()}
            record.update(lr=model.lr, images_per_s=self.images / elapsed)
            self.window, self.images, self.started = {}, 0, time.perf_counter()
        if self.sample_batch is not None and (step % t.sample_every == 0 or force):
            path = self.run_dir / "samples" / f"step_{step:07d}.png"
            record["val_L1"] = _write_samples(model, self.sample_batch, self.cfg, path)
        if not record:
            return
        _append_jsonl(self.run_dir / "metrics.jsonl", {"step": step, **record})
        if self.writer is not None:
            for k, v in record.items():
                self.writer.add_scalar(k, v, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class _Guard:
    """Counts bad samples and non-finite steps, and decides whether training goes on."""

    def __init__(self, on_nonfinite: str) -> None:
        self.on_nonfinite = on_nonfinite
        self.skipped = self.nonfinite_steps = self.in_a_row = 0

    def bad_samples(self, problems: list[str]) -> None:
        for problem in filter(None, problems):
            self.skipped += 1
            tqdm.write(f"warning: skipped a bad sample: {problem}")

    def finite(self) -> None:
        self.in_a_row = 0

    def nonfinite(self, exc: NonFiniteLossError, saved: Path | None) -> None:
        intact = f"the last checkpoint ({saved or 'none yet'}) is intact"
        if self.on_nonfinite == "stop":
            raise SarcolorError(
                f"{exc}; training stopped, {intact}. Lower --lr, check the data, or pass --on-nonfinite skip"
            )
        self.nonfinite_steps += 1
        self.in_a_row += 1
        tqdm.write(f"warning: {exc}")
        if self.in_a_row >= MAX_NONFINITE_IN_A_ROW:
            raise SarcolorError(f"{self.in_a_row} non-finite steps in a row; training stopped, {intact}")


def _drop_bad(pairs: list[Pair], bad: list[tuple[Pair, str]], policy: str, echo: Echo) -> list[Pair]:
    """All unreadable training pairs at once: an error listing them, or (skip) left out."""
    if not bad:
        return pairs
    for _, problem in bad:
        echo(f"bad sample: {problem}")
    if policy == "error":
        raise SarcolorError(
            f"{len(bad)} training pair(s) cannot be read (listed above); fix or remove them, "
            "or pass --on-bad-sample skip"
        )
    echo(f"warning: leaving out {len(bad)} unreadable training pair(s) (--on-bad-sample skip)")
    names = {p.name for p, _ in bad}
    kept = [p for p in pairs if p.name not in names]
    if not kept:
        raise SarcolorError("no readable training pair left")
    return kept


def _check_writable(run_dir: Path) -> None:
    """Create the run folder, prove it is writable, and clear temp files a killed writer left."""
    ensure_writable(run_dir)
    for stale in (run_dir / "checkpoints").glob(".*.tmp"):
        stale.unlink(missing_ok=True)


def _check_disk(run_dir: Path, cfg: Config) -> None:
    """Refuse to start when the checkpoints (weights + Adam moments, kept + one being written) won't fit."""
    with torch.device("meta"):  # shapes only: nothing is allocated
        numel = sum(p.numel() for net in build_networks(cfg) for p in net.parameters())
    keep = cfg.train.keep_checkpoints
    need = numel * 4 * 3 * (keep + 1)
    free = shutil.disk_usage(run_dir).free
    if free < need:
        raise SarcolorError(
            f"{run_dir}: {free / 1e9:.2f} GB free, but {keep + 1} checkpoints need about {need / 1e9:.2f} GB"
        )


def _next_batch(batches: Iterator[dict]) -> dict:
    """The next batch; a loader worker's SarcolorError comes back as its own one-line message."""
    try:
        return next(batches)
    except SarcolorError as exc:
        # torch re-raises worker errors with the worker's traceback in the message
        last = str(exc).strip().splitlines()[-1]
        raise SarcolorError(last.removeprefix("sarcolor.errors.SarcolorError: ")) from None


def _trim_log(path: Path, start_step: int) -> None:
    """A fresh run starts a new log; a resumed one drops records past its checkpoint."""
    if not path.exists():
        return
    keep = [r for r in read_metrics_log(path) if start_step and r.get("step", 0) <= start_step]
    atomic_write(path, lambda tmp: tmp.write_text("".join(json.dumps(r) + "\n" for r in keep)))


def _checkpoint(run_dir: Path, meta: CheckpointMeta, model: Pix2Pix, keep: int, ctx: DistContext) -> Path:
    """Rank 0 writes the checkpoint; every rank returns its path."""
    # never replace good checkpoints with a broken model
    if ctx.any(not model.weights_finite(), model.device):
        last = list_checkpoints(run_dir)
        raise SarcolorError(
            f"the model's weights became non-finite by step {meta.step}; nothing saved, the last "
            f"checkpoint ({last[-1] if last else 'none'}) is intact. Lower --lr or check the data"
        )
    if ctx.enabled:
        prints = check_replicas(ctx, model.G, model.D)
        meta.run = {"world_size": ctx.world_size, "replica_fingerprints": prints}
    if not ctx.is_main:
        return checkpoint_path(run_dir, meta.step)
    path = save_checkpoint(
        checkpoint_path(run_dir, meta.step),
        meta,
        {"G": model.G, "D": model.D},
        {"G": model.opt_G, "D": model.opt_D},
    )
    prune_checkpoints(run_dir, keep)
    plot_losses(read_metrics_log(run_dir / "metrics.jsonl"), run_dir / "loss_curve.png")
    return path


def _fixed_batch(pairs: list[Pair], cfg: Config, size: int = 4) -> dict | None:
    if not pairs:
        return None
    dataset = PairDataset(pairs[:: max(1, len(pairs) // size)][:size], cfg.preprocess, cfg.data.crop_size)
    items = [dataset[i] for i in range(len(dataset))]
    return {k: torch.stack([it[k] for it in items]) for k in ("input", "target", "rgb", "mask")}


@torch.no_grad()
def _write_samples(model: Pix2Pix, batch: dict, cfg: Config, path: Path) -> float:
    """Save input | generated | optical for the fixed batch; return its L1 (valid pixels) in eval mode."""
    model.G.eval()
    x = batch["input"].to(model.device)
    out = model.G.forward(x)  # eager: compiling an eval-mode graph for 4 images would cost more
    target = batch["target"].to(model.device)
    if batch["mask"].all():
        l1 = float((out - target).abs().mean())
    else:
        l1 = float(masked_l1(out, target, batch["mask"].to(model.device)))
    rgb = decode_output(out, x, cfg.preprocess).cpu().numpy().transpose(0, 2, 3, 1)
    inputs = display_input(batch["input"][:, :1]).numpy().transpose(0, 2, 3, 1)
    truth = batch["rgb"].numpy().transpose(0, 2, 3, 1)
    rows = [[inputs[i], rgb[i], truth[i]] for i in range(len(rgb))]
    save_image(image_grid(rows, (input_label(cfg.preprocess), "generated", "optical")), path)
    model.G.train()
    return l1


def _write_split(path: Path, pairs: list[Pair], split: dict[str, list[str]]) -> None:
    body = {
        name: {"scenes": scenes, "pairs": [p.name for p in select_split(pairs, split, name)]}
        for name, scenes in split.items()
    }
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(body, indent=1)))


def _append_jsonl(path: Path, record: dict) -> None:
    with open(path, "a") as fh:
        fh.write(json.dumps(record) + "\n")


def _describe(
    cfg: Config,
    found: Discovery,
    split: dict[str, list[str]],
    total: int,
    device: torch.device,
    ctx: DistContext,
) -> str:
    counts = {k: len(select_split(found.pairs, split, k)) for k in split}
    lines = [
        "sarcolor train — resolved configuration:",
        *("  " + line for line in cfg.to_yaml().rstrip().splitlines()),
        f"data: {len(found.pairs)} pairs ({found.layout} layout); "
        + ", ".join(f"{k} {v} pairs / {len(split[k])} scenes" for k, v in counts.items()),
        f"device: {device}; precision: {resolve_precision(cfg.train.precision, device)}; "
        f"torch.compile: {'on' if resolve_compile(cfg.train.compile, device) else 'off'}; steps: {total}"
        + (
            f"; {ctx.world_size} processes (torchrun), {cfg.train.batch_size // ctx.world_size} pairs "
            f"each of the global batch of {cfg.train.batch_size}"
            + ("; BatchNorm synchronised" if cfg.train.sync_bn else "")
            if ctx.enabled
            else ""
        ),
    ]
    return "\n".join(lines)


def _tensorboard(run_dir: Path, echo: Echo):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        echo("warning: --tensorboard given but the tensorboard package is not installed; skipping")
        return None
    return SummaryWriter(str(run_dir / "tensorboard"))


class _StopFlag:
    requested = False


@contextmanager
def _stop_on_signal(announce: bool = True) -> Iterator[_StopFlag]:
    """First Ctrl-C / SIGTERM: finish the step, checkpoint, stop. A second one aborts at once.

    Under torchrun every process gets the signal; ``announce`` is off for all but rank 0.
    """
    flag = _StopFlag()

    def handler(signum: int, frame: object) -> None:
        if flag.requested:
            raise KeyboardInterrupt
        flag.requested = True
        if announce:
            tqdm.write(f"{signal.Signals(signum).name}: saving a checkpoint after this step (again to abort)")

    try:
        previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread: leave signals alone
        yield flag
        return
    try:
        yield flag
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
