"""Training: set the run up, then the loop, top to bottom.

RUN_DIR after a run::

    config.yaml          the resolved configuration
    split.json           split group ids and pair names of train / val / test
    metrics.jsonl        one JSON object per logged step: losses, lr, images/s, held-out L1
    samples/step_*.png   input | generated | optical on a fixed held-out batch
    checkpoints/step_*.safetensors
    loss_curve.png

:func:`train` is the whole story: :func:`~sarcolor.training.run.prepare` (data, split,
baselines, run folder), the networks (:class:`~sarcolor.training.pix2pix.Pix2Pix`, resumed
from a checkpoint when asked), the batches (:func:`training_batches`), then :func:`run_loop`.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from sarcolor import parallel
from sarcolor.checkpoint import (
    CheckpointMeta,
    checkpoint_path,
    list_checkpoints,
    load_training_state,
    prune_checkpoints,
    save_checkpoint,
)
from sarcolor.config import Config
from sarcolor.data.augment import Augment
from sarcolor.data.cache import DeviceBatches, PairCache, default_cache_folder, ensure_cache, open_cache
from sarcolor.data.dataset import EpochBatchSampler, PairDataset, index_seed, loader_options
from sarcolor.data.records import Batch
from sarcolor.errors import SarcolorError
from sarcolor.figures import plot_losses, read_metrics_log
from sarcolor.models.terrain_condition import condition_input
from sarcolor.models.weights import load_modules
from sarcolor.parallel import DistContext
from sarcolor.runtime import resolve_device
from sarcolor.training import distributed
from sarcolor.training.autotune import choose_training_path
from sarcolor.training.distributed import ShardedBatchSampler, check_replicas
from sarcolor.training.pix2pix import NonFiniteLossError, Pix2Pix
from sarcolor.training.run import Run, default_workers, prepare
from sarcolor.training.runlock import claim_run_folder
from sarcolor.training.runlog import Echo, RunLog, fixed_batch, tensorboard

MAX_NONFINITE_IN_A_ROW = 10


@dataclass
class TrainResult:
    run_dir: Path
    checkpoint: Path
    step: int
    total_steps: int
    interrupted: bool = False


def train(
    cfg: Config,
    run_dir: str | Path,
    *,
    resume: bool = False,
    init_from: str | Path | None = None,
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
        init_from: a new run's generator starts from this checkpoint's weights (``cfg`` from
            :func:`~sarcolor.training.init_from.init_config`); D and the optimizers start fresh.
        progress: show a progress bar (``None``: only on a terminal).
        echo: where status lines go.
    """
    cfg = cfg.validate()
    ctx = parallel.from_environment()
    distributed.check_batch_size(cfg.train.batch_size, ctx.world_size)
    device = ctx.device(resolve_device(cfg.train.device))
    parallel.init_process_group(ctx, device)
    if not ctx.is_main:
        echo, progress = (lambda _: None), False
    try:
        with claim_run_folder(Path(run_dir), cfg.data.root, resume=resume, ctx=ctx):  # one run per folder
            return _train(cfg, Path(run_dir), resume, init_from, ctx, device, progress, echo)
    finally:
        parallel.shutdown(ctx)


def _train(
    cfg: Config,
    run_dir: Path,
    resume: bool,
    init_from: str | Path | None,
    ctx: DistContext,
    device: torch.device,
    progress: bool | None,
    echo: Echo,
) -> TrainResult:
    """:func:`train` once the run folder is held."""
    if init_from is not None:  # its header against the generator, before building one of its size
        from sarcolor.training.init_from import check_init_fits

        check_init_fits(init_from, cfg)
    run = prepare(cfg, run_dir, resume=resume, ctx=ctx, device=device, progress=progress, echo=echo)
    cfg = run.cfg

    path = choose_training_path(cfg, device, measured=not ctx.enabled, echo=echo)
    echo(path.describe())  # right under the resolved configuration that prepare() printed
    torch.manual_seed(cfg.train.seed)
    model = Pix2Pix(cfg, run.total, device, ctx, path)
    if run.resume_from is not None:
        load_modules(run.resume_from, {"G": model.G, "D": model.D})
        load_training_state(run.resume_from, {"G": model.opt_G, "D": model.opt_D}, device)
        model.set_step(run.start_step)
    elif init_from is not None:
        from sarcolor.training.init_from import describe_init, load_generator

        load_generator(init_from, model.G, cfg)
        echo(describe_init(init_from))
    if not ctx.is_main:  # dropout masks: each rank its own stream (rank 0 continues the saved one)
        torch.manual_seed(index_seed(cfg.train.seed, ctx.rank, run.start_step))

    batches = training_batches(run, device, ctx, progress, echo)
    log = None
    if ctx.is_main:
        held_out = run.split.select(run.found.pairs, "val") or run.split.select(run.found.pairs, "test")
        board = tensorboard(run.run_dir, echo) if cfg.train.tensorboard else None
        log = RunLog(run.run_dir, cfg, fixed_batch(held_out or run.train_pairs, cfg), board)
    return run_loop(run, model, batches, log, ctx, progress, echo)


def run_loop(
    run: Run,
    model: Pix2Pix,
    batches: Iterator[Batch],
    log: RunLog | None,
    ctx: DistContext,
    progress: bool | None,
    echo: Echo,
) -> TrainResult:
    """Steps from ``run.start_step`` to ``run.total``: one pix2pix step, logs, checkpoints.

    Ctrl-C or SIGTERM finishes the step, saves a checkpoint and returns ``interrupted``; a
    non-finite loss stops the run or (``--on-nonfinite skip``) leaves the update out.
    """
    cfg, device = run.cfg, model.device
    step, saved, meta = run.start_step, run.resume_from, run.meta
    guard = _Guard(cfg.train.on_nonfinite)
    bar = tqdm(
        total=run.total,
        initial=step,
        desc="train",
        unit="step",
        disable=None if progress is None else not progress,
        dynamic_ncols=True,
    )
    with _stop_on_signal(announce=ctx.is_main) as stop:
        try:
            while step < run.total:
                batch = _next_batch(batches)
                guard.bad_samples(batch.skipped)
                x = condition_input(batch.input, batch.terrain, cfg).to(device, non_blocking=True)
                y = batch.target.to(device, non_blocking=True)
                mask = None if batch.all_valid else batch.mask.to(device, non_blocking=True)
                try:
                    losses: dict[str, float] | None = model.train_step(x, y, step, mask)
                    guard.finite()
                except NonFiniteLossError as exc:
                    guard.nonfinite(exc, saved)  # raises unless --on-nonfinite skip
                    losses = None
                    model.set_step(step + 1)
                step += 1
                bar.update(1)
                if losses is not None:
                    bar.set_postfix({k: f"{losses[k]:.3f}" for k in Pix2Pix.SHOWN}, refresh=False)
                last = step == run.total
                stopping = ctx.any(stop.requested, device)  # every rank stops at the same step
                if log is not None:
                    if losses is not None:
                        log.add(losses, x.shape[0] * ctx.world_size)
                    log.write(step, model, force=last)
                if step % cfg.train.checkpoint_every == 0 or last or stopping:
                    meta = replace(meta, step=step)
                    saved = _checkpoint(run.run_dir, meta, model, cfg.train.keep_checkpoints, ctx)
                if stopping:
                    stop.requested = True
                    break
        finally:
            bar.close()
            if log is not None:
                log.close()
    ctx.barrier()  # the last checkpoint is on disk before any rank returns
    if ctx.is_main:
        plot_losses(read_metrics_log(run.run_dir / "metrics.jsonl"), run.run_dir / "loss_curve.png")
    assert saved is not None
    if stop.requested and step < run.total:
        echo(
            f"interrupted at step {step}/{run.total}: saved {saved}\n"
            f"continue with: sarcolor train --out {run.run_dir} --resume"
        )
        return TrainResult(run.run_dir, saved, step, run.total, interrupted=True)
    if guard.skipped or guard.nonfinite_steps:
        echo(
            f"note: {guard.skipped} bad sample(s) skipped, "
            f"{guard.nonfinite_steps} non-finite step(s) left out"
        )
    echo(f"done: {step} steps; checkpoint {saved}")
    return TrainResult(run.run_dir, saved, step, run.total)


def training_batches(
    run: Run, device: torch.device, ctx: DistContext, progress: bool | None, echo: Echo
) -> Iterator[Batch]:
    """This rank's training batches from ``run.start_step`` on: cut on the device from the
    decoded uint8 cache when it is used, else from a DataLoader over the files.

    Every rank walks the same global batches and keeps its slice, so a step means the same
    data whatever the number of processes.
    """
    cfg = run.cfg
    augment = Augment(cfg.data.flip, cfg.data.rotate90, cfg.data.jitter)
    skip_bad = cfg.data.on_bad_sample == "skip"
    dataset = PairDataset(run.train_pairs, cfg.preprocess, cfg.data.crop_size, augment, skip_bad=skip_bad)
    sampler = ShardedBatchSampler(
        EpochBatchSampler(len(dataset), cfg.train.batch_size, cfg.train.seed, run.start_step),
        ctx.rank,
        ctx.world_size,
    )
    cache = _cache(cfg, dataset, device, ctx, progress, echo)
    if cache is not None:
        cut = DeviceBatches(cache, dataset.pairs, cfg.preprocess, dataset.crop_size, dataset.augment, device)
        return cut.iterate(sampler)
    loader = DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=Batch.collate,
        # Its own generator: creating the iterator must not draw from the global RNG, whose
        # state (dropout masks) is restored on resume.
        generator=torch.Generator().manual_seed(cfg.train.seed),
        **loader_options(default_workers(cfg.data.num_workers), device),  # type: ignore[arg-type]
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


def _next_batch(batches: Iterator[Batch]) -> Batch:
    """The next batch; a loader worker's SarcolorError comes back as its own one-line message."""
    try:
        return next(batches)
    except SarcolorError as exc:
        # torch re-raises worker errors with the worker's traceback in the message
        last = str(exc).strip().splitlines()[-1]
        raise SarcolorError(last.removeprefix("sarcolor.errors.SarcolorError: ")) from None


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
        meta = replace(meta, run={"world_size": ctx.world_size, "replica_fingerprints": prints})
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
