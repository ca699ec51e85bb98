"""Colorizing an archive: many processes under ``torchrun``, resumable runs, a JSON manifest.

``torchrun --nproc_per_node N [--nnodes …] -m sarcolor colorize INPUTS --out DIR`` starts N
copies of the command; torchrun's environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``) tells
each which share of the inputs is its own. Without torchrun, one process does everything, as
before.

* Rank 0 expands the inputs and plans every output (:func:`~sarcolor.inference.files.plan_colorize`)
  and shares the plan, so all ranks agree even while outputs appear.
* The inputs to do are dealt out by size, largest first, each to the rank with the least work so
  far (:func:`shard`): every input is handled by exactly one rank; a GeoTIFF scene counts by its
  file size, not as one image.
* Each rank runs on its own device: ``cuda:LOCAL_RANK`` on GPUs, else a CPU process (torchrun
  sets ``OMP_NUM_THREADS=1`` per process unless told otherwise).
* Rank 0 prints one progress bar for all: a side thread of every rank all-reduces the counts
  over gloo twice a second until every rank is done, so no rank ever waits for another's work.
  With ``--on-bad-sample error`` the first failure on any rank stops them all.
* Outputs are written atomically, so ``--skip-existing`` resumes an interrupted run: inputs
  whose output exists are left alone (and listed as ``skipped``).
* Rank 0 gathers what every rank did and writes the manifest atomically (``--manifest``,
  default ``DIR/sarcolor-manifest.json`` under torchrun): every input with its output and its
  status (``written``, ``skipped``, ``failed`` with the error, or ``not done`` when the run
  stopped first).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from sarcolor.errors import SarcolorError
from sarcolor.inference.files import ColorizeReport, Job, colorize_paths, plan_colorize
from sarcolor.inference.options import InferenceOptions, OutputOptions, SceneOptions
from sarcolor.outputs import atomic_write
from sarcolor.parallel import DistContext, from_environment

MANIFEST_FORMAT = "sarcolor-manifest/1"
MANIFEST_NAME = "sarcolor-manifest.json"
SYNC_SECONDS = 0.5  # how often the ranks exchange their counts


class _Stopped(Exception):
    """Another rank failed with ``--on-bad-sample error``: this one stops too."""


@dataclass
class ArchiveResult:
    """What a (possibly distributed) colorize run did, as every rank knows it after gathering."""

    items: list[dict[str, Any]] = field(default_factory=list)  # the manifest's entries, in input order
    report: ColorizeReport = field(default_factory=ColorizeReport)  # this rank's own work
    error: str | None = None  # the first error that stopped the run (``--on-bad-sample error``)
    manifest: Path | None = None
    world_size: int = 1
    notes: list[str] = field(default_factory=list)
    summary: str | None = None  # a terrain router's tiles per terrain (this rank's)

    def count(self, status: str) -> int:
        return sum(1 for item in self.items if item["status"] == status)


def shard(jobs: Sequence[Job], rank: int, world: int, sizes: Sequence[int]) -> list[Job]:
    """The jobs of ``rank``: largest first, each to the least loaded rank (ties: the lowest rank).

    Deterministic, so every rank computes the same split from the same plan; returned in plan order.

    Example:
        >>> jobs = [Job(Path(f"{i}.png"), Path(f"out/{i}.png")) for i in range(5)]
        >>> [j.source.name for j in shard(jobs, 1, 2, [5, 1, 1, 1, 4])]
        ['1.png', '3.png', '4.png']
    """
    load = [0] * world
    mine = []
    for index in sorted(range(len(jobs)), key=lambda i: (-sizes[i], i)):
        owner = min(range(world), key=lambda r: (load[r], r))
        load[owner] += max(sizes[index], 1)
        if owner == rank:
            mine.append(index)
    return [jobs[i] for i in sorted(mine)]


def colorize_archive(
    inputs: Sequence[str | Path],
    out: str | Path,
    checkpoint: str | Path,
    *,
    options: InferenceOptions,
    scene: SceneOptions,
    output: OutputOptions,
    manifest: str | Path | None = None,
    progress: bool | None = None,
    log: Callable[[str], None] = tqdm.write,
    load: Callable[[InferenceOptions], Any] | None = None,
) -> ArchiveResult:
    """Plan, shard, colorize and report ``inputs`` into ``out`` (see the module docstring).

    ``load`` builds the colorizer from the options with this rank's device (default:
    ``Colorizer(checkpoint)``; the CLI passes one that opens model sets and routes terrains).
    Every rank calls this with the same arguments. Raises what planning raises (on every rank);
    a failure while colorizing with ``--on-bad-sample error`` is returned in ``error``.
    """
    ctx = from_environment()
    _join(ctx)
    try:
        return _run(ctx, inputs, Path(out), checkpoint, options, scene, output, manifest, progress, log, load)
    finally:
        _leave(ctx)


def _run(
    ctx, inputs, out, checkpoint, options, scene, output, manifest, progress, log, load
) -> ArchiveResult:
    from sarcolor.inference.colorizer import Colorizer

    plan: list[Job] | str = []
    if ctx.is_main:
        try:
            plan = plan_colorize(inputs, out, overwrite=output.overwrite, skip_existing=output.skip_existing)
        except SarcolorError as exc:
            plan = str(exc)
    plan = ctx.share(plan)
    if isinstance(plan, str):
        raise SarcolorError(plan)
    manifest_path = Path(manifest) if manifest else (out / MANIFEST_NAME if ctx.enabled else None)
    if manifest_path is not None and manifest_path.suffix.lower() != ".json":
        raise SarcolorError(f"{manifest_path}: the manifest is a JSON file; name it .json")
    skipped = {j.source for j in plan if output.skip_existing and j.target.exists()}
    todo = [j for j in plan if j.source not in skipped]
    mine = shard(todo, ctx.rank, ctx.world_size, [_size(j.source) for j in todo])
    result = ArchiveResult(manifest=manifest_path, world_size=ctx.world_size)
    if skipped and ctx.is_main:
        log(f"--skip-existing: {len(skipped)} of {len(plan)} input(s) already have their output")
    mine_options = _device_of(ctx, options)
    colorizer = load(mine_options) if load is not None else Colorizer(checkpoint, **vars(mine_options))
    if colorizer.despeckle_note:
        result.notes.append(colorizer.despeckle_note)
    sync = _Progress(ctx, len(todo), progress) if ctx.enabled else None
    failure: Exception | None = None
    started = time.time()
    try:
        result.report = colorize_paths(
            colorizer,
            mine,
            scene=scene,
            on_bad_sample=output.on_bad_sample,
            progress=False if ctx.enabled else progress,
            log=log if ctx.is_main else (lambda _: None),
            png_compression=output.png_compression,
            on_done=sync.add if sync else None,
        )
    except _Stopped:
        result.report = _found(mine, started)
    except Exception as exc:  # stop every rank; the error is reported once all have stopped
        failure = exc
        result.report = _found(mine, started)
        if sync is not None:
            sync.fail()
    finally:
        if sync is not None:
            sync.finish()
    error = None
    if failure is not None:
        error = str(failure) if isinstance(failure, SarcolorError) else f"{type(failure).__name__}: {failure}"
    gathered = ctx.gather(
        {
            "written": [str(p) for p in result.report.written],
            "failed": [(str(p), reason) for p, reason in result.report.failed],
            "error": error,
        }
    )
    if hasattr(colorizer, "summary"):
        result.summary = colorizer.summary()
    errors = [g["error"] for g in gathered if g["error"]]
    result.error = errors[0] if errors else None
    result.items = _items(plan, skipped, gathered)
    if ctx.is_main and manifest_path is not None:
        _write_manifest(manifest_path, result, checkpoint)
    if failure is not None and not isinstance(failure, SarcolorError):
        raise failure  # a bug or an OSError: the CLI reports it as such
    return result


def _found(jobs: Sequence[Job], since: float) -> ColorizeReport:
    """What a run that stopped early wrote: outputs renamed into place since it started."""
    report = ColorizeReport()
    for job in jobs:
        try:
            if job.target.stat().st_mtime >= since:
                report.written.append(job.target)
        except OSError:
            continue
    return report


def _items(plan: list[Job], skipped: set[Path], gathered: list[dict]) -> list[dict[str, Any]]:
    written = {p: rank for rank, g in enumerate(gathered) for p in g["written"]}
    failed = {p: (rank, reason) for rank, g in enumerate(gathered) for p, reason in g["failed"]}
    for rank, g in enumerate(gathered):  # the input that stopped a run: "PATH: reason"
        for job in plan:
            if g["error"] and g["error"].startswith(f"{job.source}: "):
                failed[str(job.source)] = (rank, g["error"].removeprefix(f"{job.source}: "))
    items = []
    for job in plan:
        item: dict[str, Any] = {"input": str(job.source), "output": str(job.target)}
        if job.source in skipped:
            item["status"] = "skipped"
        elif str(job.target) in written:
            item.update(status="written", rank=written[str(job.target)])
        elif str(job.source) in failed:
            rank, reason = failed[str(job.source)]
            item.update(status="failed", output=None, rank=rank, error=reason)
        else:
            item.update(status="not done", output=None)
        items.append(item)
    return items


def _write_manifest(path: Path, result: ArchiveResult, checkpoint: str | Path) -> None:
    statuses = ("written", "skipped", "failed", "not done")
    document = {
        "format": MANIFEST_FORMAT,
        "checkpoint": str(checkpoint),
        "world_size": result.world_size,
        "counts": {s: result.count(s) for s in statuses},
        "error": result.error,
        "items": result.items,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(document, indent=1, ensure_ascii=False)))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _device_of(ctx: DistContext, options: InferenceOptions) -> InferenceOptions:
    """On GPUs each rank takes ``cuda:LOCAL_RANK`` (as the current device, which ``cuda`` means)."""
    import torch

    if ctx.enabled and options.device != "cpu" and torch.cuda.is_available():
        torch.cuda.set_device(ctx.local_rank % torch.cuda.device_count())
    return options


def _join(ctx: DistContext) -> None:
    """Join torchrun's process group over gloo: only small objects and counts are exchanged."""
    if not ctx.enabled:
        return
    import torch.distributed as dist

    if not dist.is_available():
        raise SarcolorError("this PyTorch build has no torch.distributed; run without torchrun")
    if not dist.is_initialized():
        dist.init_process_group(backend="gloo")


def _leave(ctx: DistContext) -> None:
    if ctx.enabled:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


class _Progress:
    """Counts of every rank, all-reduced by a side thread twice a second; rank 0 shows the bar.

    The thread has its own gloo group, so its collectives never meet the main thread's. Each
    round all-reduces ``[done, finished ranks, failed ranks]``; all ranks leave the loop in the
    same round (when every rank has finished), so no collective is left waiting.
    """

    def __init__(self, ctx: DistContext, total: int, progress: bool | None) -> None:
        import torch.distributed as dist

        self.group = dist.new_group(backend="gloo")
        self.done, self.finished, self.failed = 0, False, False
        self.stop = threading.Event()  # set when another rank failed (--on-bad-sample error)
        self.lock = threading.Lock()
        hidden = not ctx.is_main or progress is False
        self.bar = tqdm(total=total, desc="colorize", unit="input", disable=True if hidden else None)
        self.thread = threading.Thread(target=self._loop, name="sarcolor-progress", daemon=True)
        self.thread.start()

    def add(self, n: int) -> None:
        """``on_done`` of :func:`colorize_paths`: n more inputs finished here."""
        with self.lock:
            self.done += n
        if self.stop.is_set():
            raise _Stopped

    def fail(self) -> None:
        with self.lock:
            self.failed = True

    def finish(self) -> None:
        with self.lock:
            self.finished = True
        self.thread.join()
        self.bar.close()

    def _loop(self) -> None:
        import torch
        import torch.distributed as dist

        while True:
            with self.lock:
                mine = torch.tensor([self.done, int(self.finished), int(self.failed)], dtype=torch.int64)
            dist.all_reduce(mine, group=self.group)
            done, finished, failed = (int(v) for v in mine)
            self.bar.n = done
            self.bar.refresh()
            if failed:
                self.stop.set()
            if finished == dist.get_world_size(self.group):
                return
            time.sleep(SYNC_SECONDS)
