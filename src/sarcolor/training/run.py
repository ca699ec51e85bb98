"""Setting a training run up: data, split, SAR scale, baselines, the run folder — before step one.

:func:`prepare` does, in order, everything a run needs before its first step and returns it
as a :class:`Run`; :func:`sarcolor.training.trainer.train` then builds the networks and runs
the loop. Under ``torchrun`` rank 0 alone decodes files and writes; the others receive its
findings (:meth:`~sarcolor.parallel.DistContext.share`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from sarcolor.checkpoint import CheckpointMeta, TrainingPairs, read_meta, resolve_checkpoint
from sarcolor.config import DEFAULT_EPOCHS, Config, TrainConfig
from sarcolor.data.pairs import Discovery, Pair
from sarcolor.data.preprocess import tint_of
from sarcolor.data.sources import discover_pairs, source_of
from sarcolor.data.split import Split, split_for
from sarcolor.errors import SarcolorError, quote
from sarcolor.evaluation.baselines import fit_baselines
from sarcolor.models.build import build_networks
from sarcolor.models.terrain_condition import decide_terrains
from sarcolor.models.weights import check_fits
from sarcolor.outputs import atomic_write, check_free_space, ensure_writable
from sarcolor.parallel import DistContext
from sarcolor.training.runlog import trim_log, write_split

Echo = Callable[[str], None]


@dataclass(frozen=True)
class Run:
    """A training run, ready for its first step.

    Attributes:
        cfg: the resolved configuration (data root absolute, SAR scale decided).
        run_dir: the run folder.
        found: every pair of the dataset.
        train_pairs: the readable pairs of the train split, in a stable order.
        meta: the checkpoint metadata to save (split, baselines, training pairs), at the start step.
        total: the last step.
        resume_from: the checkpoint being resumed, or ``None``.
    """

    cfg: Config
    run_dir: Path
    found: Discovery
    train_pairs: list[Pair]
    meta: CheckpointMeta
    total: int
    resume_from: Path | None

    @property
    def start_step(self) -> int:
        return self.meta.step

    @property
    def split(self) -> Split:
        return self.meta.split


def prepare(
    cfg: Config,
    run_dir: Path,
    *,
    resume: bool,
    ctx: DistContext,
    device: torch.device,
    progress: bool | None,
    echo: Echo,
) -> Run:
    """Everything before the first step (see the module docstring)."""
    if resume:
        refuse_imported(resolve_checkpoint(run_dir))
    else:
        check_run_folder(run_dir)
    if cfg.data.root:  # stored absolute, so evaluate/resume work from any folder
        cfg = cfg.replace(data={"root": str(Path(cfg.data.root).resolve())})
    if resume:
        resumed = resolve_checkpoint(run_dir)
        ckpt: Path | None = resumed
        meta = read_meta(resumed)
        check_fits(resumed, meta.config, ("G", "D"))  # before building anything of its size
    found = find_data(cfg, echo)
    if resume:
        echo(f"resuming from step {meta.step} ({ckpt})")
    else:
        ckpt, meta = None, CheckpointMeta(cfg, 0, split_for(found.pairs, cfg.data))
    train_pairs = meta.split.select(found.pairs, "train")
    if not train_pairs:
        raise SarcolorError(f"{cfg.data.root}: the train split holds no pairs")
    if cfg.preprocess.input == "sar":  # decided once, stored decided: colorizing reads it back
        first = train_pairs[0]
        decided = source_of(first).sar_scale(first, cfg.preprocess) if ctx.is_main else None
        scale, reason = ctx.share(decided)
        cfg = cfg.replace(preprocess={"sar_scale": scale})
        echo(f"SAR scale: {scale} — {reason}")
    cfg = decide_terrains(cfg, [p.terrain for p in found.pairs], cfg.data.root)  # --condition terrain
    if ctx.is_main:
        _check_writable(run_dir)
        _check_disk(run_dir, cfg)
    if resume:  # the same pairs as before the interruption, so the batch order continues exactly
        excluded = set(meta.training.excluded)
        train_pairs = [p for p in train_pairs if p.name not in excluded]
    else:  # rank 0 decodes every file once; the others get its findings
        fit = ctx.share(
            fit_baselines(train_pairs, cfg.preprocess, progress=progress) if ctx.is_main else None
        )
        train_pairs = _drop_bad(train_pairs, fit.bad, cfg.data.on_bad_sample, echo)
        training = TrainingPairs(fit.pairs, sorted(p.name for p, _ in fit.bad))
        meta = replace(meta, baselines=fit.baselines.to_json(), training=training)
        if cfg.preprocess.target == "tinted" and not cfg.preprocess.tint:
            cfg = cfg.replace(preprocess={"tint": tint_of(fit.baselines.mean_rgb)})
            echo(f"tint (the training pairs' mean colour at luma 1): {cfg.preprocess.tint}")
    meta = replace(meta, config=cfg, run={})
    total = total_steps_for(cfg.train, len(train_pairs))
    if meta.step >= total:
        raise SarcolorError(f"{ckpt}: already at step {meta.step} of {total}; raise --steps to continue")

    if ctx.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        trim_log(run_dir / "metrics.jsonl", meta.step)
        atomic_write(run_dir / "config.yaml", lambda tmp: tmp.write_text(cfg.to_yaml()))
        write_split(run_dir / "split.json", found.pairs, meta.split)
    run = Run(cfg, run_dir, found, train_pairs, meta, total, ckpt)
    echo(describe(run, device, ctx))
    return run


RUN_MARKERS = ("config.yaml", "split.json")  # what every run folder holds from its start on


def check_run_folder(run_dir: str | Path, config: str | Path | None = None) -> None:
    """Refuse, before anything is written, a fresh run's ``--out`` that is not a run folder.

    It must be new, empty (sarcolor's own hidden ``.sarcolor-*`` files aside) or a run folder
    (it holds :data:`RUN_MARKERS`), and the ``--config`` file must not be the ``config.yaml`` the
    run writes. A run folder that has checkpoints is refused under its lock
    (:mod:`sarcolor.training.runlock`).
    """
    run_dir = Path(run_dir)
    if config is not None and os.path.realpath(config) == os.path.realpath(run_dir / "config.yaml"):
        raise SarcolorError(
            f"{quote(config)}: --config is the config.yaml the run writes in {quote(run_dir)}; "
            "copy it elsewhere or choose another --out"
        )
    if not run_dir.is_dir() or all((run_dir / name).is_file() for name in RUN_MARKERS):
        return
    foreign = sorted(p.name for p in run_dir.iterdir() if not p.name.startswith(".sarcolor-"))
    if foreign:
        more = f" and {len(foreign) - 1} more" if len(foreign) > 1 else ""
        raise SarcolorError(
            f"{quote(run_dir)}: not a run folder (it holds {quote(foreign[0])}{more}, but no "
            f"{' and '.join(RUN_MARKERS)}); choose a new or empty --out"
        )


def refuse_imported(checkpoint: Path) -> None:
    """An imported generator (``sarcolor import``) has nothing to resume: say what to do instead."""
    imported = read_meta(checkpoint).imported
    if imported is not None:
        raise SarcolorError(
            f"{checkpoint}: an imported {imported.get('from', 'foreign')} generator cannot be resumed: it "
            "has no discriminator and no optimizer state; fine-tune it in a new run with "
            f"sarcolor train --init-from {checkpoint} --data DIR --out NEW_RUN"
        )


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


def total_steps_for(train: TrainConfig, train_pairs: int) -> int:
    """``--steps`` as given, or ``--epochs`` (default 10) × batches per epoch."""
    if train.steps is not None:
        return train.steps
    epochs = train.epochs if train.epochs is not None else DEFAULT_EPOCHS
    return epochs * max(1, train_pairs // train.batch_size)


def default_workers(requested: int) -> int:
    """Data-loading processes: as requested, or half the CPUs (1–4) for ``-1``."""
    if requested >= 0:
        return requested
    return max(1, min(4, (os.cpu_count() or 1) // 2))


def describe(run: Run, device: torch.device, ctx: DistContext) -> str:
    """The configuration and the plan, printed when training starts."""
    cfg, split, found = run.cfg, run.split, run.found
    counts = {k: len(split.select(found.pairs, k)) for k in split}
    distributed = ""
    if ctx.enabled:
        distributed = (
            f"; {ctx.world_size} processes (torchrun), {cfg.train.batch_size // ctx.world_size} pairs "
            f"each of the global batch of {cfg.train.batch_size}"
            + ("; BatchNorm synchronised" if cfg.train.sync_bn else "")
        )
    lines = [
        "sarcolor train — resolved configuration:",
        *("  " + line for line in cfg.to_yaml().rstrip().splitlines()),
        f"data: {len(found.pairs)} pairs ({found.layout} layout); "
        + ", ".join(f"{k} {v} pairs / {len(split[k])} scenes" for k, v in counts.items()),
        f"device: {device}; steps: {run.total}" + distributed,  # then the training path (autotune)
    ]
    return "\n".join(lines)


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
    """Prove the run folder is writable (it is held: :mod:`sarcolor.training.runlock`, which also
    clears the temp files killed writers left)."""
    ensure_writable(run_dir)


def _check_disk(run_dir: Path, cfg: Config) -> None:
    """Refuse to start when the checkpoints (weights + Adam moments, kept + one being written) won't fit."""
    with torch.device("meta"):  # shapes only: nothing is allocated
        numel = sum(p.numel() for net in build_networks(cfg) for p in net.parameters())
    keep = cfg.train.keep_checkpoints
    check_free_space(run_dir, numel * 4 * 3 * (keep + 1), f"but {keep + 1} checkpoints need about")
