"""A decoded uint8 cache of image pairs, and training batches cut from it on the device.

Decoding PNGs costs about 7 ms a pair per CPU core, so a GPU that trains 1300 images/s would
wait for a dozen busy worker processes. The cache decodes every pair once, with
:func:`~sarcolor.data.dataset.load_sample`, and keeps the result as one memory-mapped array;
:class:`DeviceBatches` then copies a batch's raw bytes to the device and does everything
after decoding there — uint8 → float, pad, jitter, crop, flips, quarter turns and
:func:`~sarcolor.data.preprocess.encode_input` / ``encode_target`` — with the augmentation
decisions drawn from the same per-sample seeds, by the same code
(:func:`~sarcolor.data.dataset.draw_view`, :func:`~sarcolor.data.dataset.apply_view`), as the
:class:`~sarcolor.data.dataset.PairDataset`. Batches are equal to the DataLoader's.

What is cached: for every pair, the stack the dataset transforms — source channels, optical
RGB, valid mask — as ``(N, C+3+1, H, W)`` uint8 in ``<folder>/<sensor>/pixels.npy``, value
``k`` standing for ``k/255`` (the mask as 0 or 255). Only what uint8 holds exactly is cached:
8-bit image pairs of one size and channel count (the Kaggle and SEN1-2 PNGs). A 16-bit or
float file, GeoTIFF pairs (dB and reflectance as floats; scene windows also depend on the
crop size) and mixed sizes are refused with a :class:`~sarcolor.errors.SarcolorError` naming
the file; those datasets use the DataLoader.

Staleness: ``manifest.json`` beside the array records a format version, what
``load_sample`` depends on (which sensor feeds the generator), the array's shape, and every
pair's two files with size and modification time. :func:`open_cache` refuses
(:class:`CacheMismatch`) a cache that lacks one of the requested pairs or where any of their
files changed; :func:`ensure_cache` rebuilds it then. Speckle filtering, target mode and
crop size act after the cache, so they do not invalidate it.

Atomicity: a cache is built in a hidden ``.building-…`` folder beside its final name and
renamed into place when complete, so an interrupted build (error, Ctrl-C) never leaves a
partial cache under the final name.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from sarcolor.config import PreprocessConfig
from sarcolor.data.augment import Augment, apply_view, draw_view, sample_stack, split_stack
from sarcolor.data.pairs import Pair
from sarcolor.data.preprocess import encode_input, encode_target, source_sensor
from sarcolor.data.records import Batch
from sarcolor.data.sources import load_sample, source_of
from sarcolor.errors import SarcolorError, first_line
from sarcolor.outputs import remove_dead_writers
from sarcolor.textfiles import loads_json

CACHE_VERSION = 1  # bump when load_sample or the layout changes what a cached row means
CACHE_FOLDER = ".sarcolor-cache"  # discovery skips dot-folders, so it may live in the data root
PIXELS, MANIFEST = "pixels.npy", "manifest.json"


class CacheMismatch(SarcolorError):
    """The cache on disk is absent, from another version or configuration, or stale."""


@dataclass
class PairCache:
    """An open cache: the memory-mapped pixels and which row holds which pair.

    Attributes:
        path: the cache's folder (``<folder>/<sensor>``).
        pixels: (N, C+3+1, H, W) uint8, read-only memory map; ``k`` stands for ``k/255``.
        rows: the row of each pair, by its s1 file (absolute path).
    """

    path: Path
    pixels: np.ndarray
    rows: dict[str, int]

    def rows_of(self, pairs: Sequence[Pair]) -> np.ndarray:
        """The rows of ``pairs``, in order: (len(pairs),) int64."""
        try:
            return np.array([self.rows[_key(p)] for p in pairs], dtype=np.int64)
        except KeyError as exc:
            raise CacheMismatch(f"{self.path}: pair {exc.args[0]} is not in the cache") from None

    @property
    def nbytes(self) -> int:
        return int(self.pixels.nbytes)


def default_cache_folder(data_root: str | Path) -> Path:
    """Where a dataset's cache lives unless told otherwise: ``<data root>/.sarcolor-cache``."""
    return Path(data_root) / CACHE_FOLDER


def ensure_cache(
    pairs: Sequence[Pair],
    preprocess: PreprocessConfig,
    folder: str | Path,
    *,
    progress: bool | None = None,
    echo: Callable[[str], None] = print,
) -> PairCache:
    """Open the cache of ``pairs`` in ``folder``, building (or rebuilding) it when needed.

    Raises:
        SarcolorError: a pair cannot be cached (see the module docstring) or read.
    """
    try:
        return open_cache(folder, pairs, preprocess)
    except CacheMismatch as exc:
        if (_entry(folder, preprocess) / MANIFEST).exists():
            echo(f"rebuilding the decoded-pair cache: {exc}")
        return build_cache(pairs, preprocess, folder, progress=progress)


def open_cache(folder: str | Path, pairs: Sequence[Pair], preprocess: PreprocessConfig) -> PairCache:
    """Open the cache in ``folder`` after checking it holds ``pairs`` exactly as they are on disk.

    A cache of more pairs serves any subset of them (another split of the same data).

    Raises:
        CacheMismatch: absent, unreadable, another version or source, or stale for a pair.
    """
    path = _entry(folder, preprocess)
    try:
        manifest = loads_json((path / MANIFEST).read_text(), path / MANIFEST)
    except FileNotFoundError:
        raise CacheMismatch(f"{path}: no cache") from None
    except (OSError, ValueError, SarcolorError) as exc:  # SarcolorError: nested too deeply
        raise CacheMismatch(f"{path / MANIFEST}: unreadable ({first_line(exc)})") from None
    if manifest.get("version") != CACHE_VERSION:
        raise CacheMismatch(
            f"{path}: cache format {manifest.get('version')}, this sarcolor uses {CACHE_VERSION}"
        )
    if manifest.get("loading") != _loading_key(preprocess):
        raise CacheMismatch(f"{path}: built for {manifest.get('loading')}, needed {_loading_key(preprocess)}")
    recorded = {entry["s1"]: entry for entry in manifest["pairs"]}
    for pair in pairs:
        entry = recorded.get(_key(pair))
        if entry is None:
            raise CacheMismatch(f"{path}: pair {pair.name} ({pair.s1}) is not in the cache")
        if entry["s2"] != _abspath(pair.s2) or entry["stat"] != _stat(pair):
            raise CacheMismatch(f"{pair.s1}: changed since the cache was built (size, time or partner)")
    try:
        pixels = np.load(path / PIXELS, mmap_mode="r")
    except (OSError, ValueError) as exc:
        raise CacheMismatch(f"{path / PIXELS}: unreadable ({first_line(exc)})") from None
    if list(pixels.shape) != manifest["shape"] or pixels.dtype != np.uint8:
        raise CacheMismatch(
            f"{path / PIXELS}: shape {pixels.shape} {pixels.dtype}, manifest {manifest['shape']}"
        )
    return PairCache(path, pixels, {entry["s1"]: row for row, entry in enumerate(manifest["pairs"])})


def build_cache(
    pairs: Sequence[Pair],
    preprocess: PreprocessConfig,
    folder: str | Path,
    *,
    progress: bool | None = None,
    workers: int | None = None,
) -> PairCache:
    """Decode every pair once into a new cache in ``folder``, replacing any previous one.

    Files are decoded by ``workers`` threads (default: twice the CPU count, at most 8) and
    written in order; the cache appears under its final name only when complete.

    Raises:
        SarcolorError: a pair that cannot be cached (GeoTIFF, not 8-bit, another size or
            channel count than the first pair) or read, or too little disk space; the message
            names the file.
    """
    if not pairs:
        raise SarcolorError("no pairs to cache")
    for pair in pairs:
        if not source_of(pair).cacheable:
            raise SarcolorError(
                f"{pair.s1}: {pair.source} GeoTIFF pairs are not cached (their values are not 8-bit); "
                "they are read by the DataLoader"
            )
    final = _entry(folder, preprocess)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_dead_writers(final.parent, (".building-*", ".old-*"), pid_field=2)
    stats = [_stat(pair) for pair in pairs]  # before reading: a file changed meanwhile looks stale
    first = _row(pairs[0], preprocess)
    shape = (len(pairs), *first.shape)
    _check_space(final.parent, int(np.prod(shape)))
    building = Path(tempfile.mkdtemp(prefix=f".building-{final.name}-{os.getpid()}-", dir=final.parent))
    pool = ThreadPoolExecutor(max_workers=workers or min(8, (os.cpu_count() or 1) * 2))
    try:
        pixels = np.lib.format.open_memmap(building / PIXELS, mode="w+", dtype=np.uint8, shape=shape)
        rows = pool.map(lambda pair: _row(pair, preprocess, first.shape), pairs[1:])
        pixels[0] = first
        bar = tqdm(
            rows,
            total=len(pairs),
            initial=1,
            desc="caching decoded pairs",
            unit="pair",
            disable=None if progress is None else not progress,
            leave=False,
        )
        for index, row in enumerate(bar, start=1):
            pixels[index] = row
        pixels.flush()
        del pixels  # unmap before the rename
        manifest = {
            "version": CACHE_VERSION,
            "loading": _loading_key(preprocess),
            "shape": list(shape),
            "dtype": "uint8",
            "channels": {"source": shape[1] - 4, "rgb": 3, "valid": 1},
            "pairs": [
                {"name": p.name, "s1": _key(p), "s2": _abspath(p.s2), "stat": s}
                for p, s in zip(pairs, stats, strict=True)
            ],
        }
        (building / MANIFEST).write_text(json.dumps(manifest))
        _replace_folder(building, final)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # Ctrl-C: stop decoding the queued pairs
        shutil.rmtree(building, ignore_errors=True)
    return open_cache(folder, pairs, preprocess)


def _row(pair: Pair, preprocess: PreprocessConfig, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """One pair as a (C+3+1, H, W) uint8 stack, checked to decode back to load_sample's floats."""
    try:
        stack = sample_stack(load_sample(pair, preprocess)).numpy()
    except SarcolorError:
        raise
    except Exception as exc:  # anything the decoders let through still names the file
        raise SarcolorError(f"{pair.s1}: cannot read pair ({first_line(exc)})") from None
    row = np.rint(stack * 255.0).clip(0, 255).astype(np.uint8)
    if not np.array_equal(row.astype(np.float32) / np.float32(255.0), stack):
        source_ok = np.array_equal(row[:-4].astype(np.float32) / np.float32(255.0), stack[:-4])
        path = pair.s2 if source_ok or source_sensor(preprocess) == "s2" else pair.s1
        raise SarcolorError(
            f"{path}: values are not 8-bit (k/255), so a uint8 cache would change them; "
            "16-bit and float images are read by the DataLoader"
        )
    if shape is not None and row.shape != shape:
        raise SarcolorError(
            f"{pair.s1}: {row.shape[0] - 4} source channel(s) of {row.shape[2]}×{row.shape[1]}, "
            f"the cache holds {shape[0] - 4} of {shape[2]}×{shape[1]} (the first pair's); "
            "mixed sizes are read by the DataLoader"
        )
    return row


class DeviceBatches:
    """Training batches cut on ``device`` from a :class:`PairCache`: the cached DataLoader.

    ``batch(items)`` for a list of ``(index, seed)`` (indices into ``pairs``, as
    :class:`~sarcolor.data.dataset.EpochBatchSampler` yields them) returns what
    ``DataLoader(PairDataset(pairs, preprocess, crop_size, augment))`` collates for the same
    items, as the same :class:`~sarcolor.data.records.Batch`, on ``device`` (``index`` stays on
    the CPU; ``skipped`` is all empty: a cache holds no bad pair). On the CPU the values are
    identical; on a GPU they may differ in the last bit of float arithmetic (bilinear jitter,
    L*a*b* conversion), never in the crop or turn.

    Only the raw bytes cross to the device (4 bytes a pixel for one SAR band, a quarter of the
    float batch); :meth:`iterate` reads the next batches from the memory map in a thread, into
    page-locked memory on CUDA, while the device works on the current one.

    Usage::

        batches = DeviceBatches(cache, pairs, cfg.preprocess, 256, Augment(), device)
        for batch in batches.iterate(EpochBatchSampler(len(pairs), 8, seed=0)):
            ...
    """

    def __init__(
        self,
        cache: PairCache,
        pairs: Sequence[Pair],
        preprocess: PreprocessConfig,
        crop_size: int = 256,
        augment: Augment | None = None,
        device: torch.device | str = "cpu",
        prefetch: int = 2,
    ) -> None:
        self.pairs = list(pairs)
        self.pixels = cache.pixels
        self.rows = cache.rows_of(self.pairs)
        self.preprocess, self.crop_size, self.augment = preprocess, crop_size, augment
        self.device = torch.device(device)
        self.prefetch = max(1, prefetch)

    def __len__(self) -> int:
        return len(self.pairs)

    def batch(self, items: Sequence[tuple[int, int]]) -> Batch:
        """The batch of ``items`` (``(index, seed)`` pairs), assembled on the device."""
        return self._assemble(self._gather(items), items)

    def iterate(self, batches: Iterable[Sequence[tuple[int, int]]]) -> Iterator[Batch]:
        """One batch for each list of items in ``batches``, reading ``prefetch`` batches ahead."""
        source = iter(batches)
        reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sarcolor-cache")
        pending: deque[tuple[Sequence[tuple[int, int]], Future[torch.Tensor]]] = deque()
        try:
            for items in source:
                pending.append((items, reader.submit(self._gather, items)))
                if len(pending) > self.prefetch:
                    done, future = pending.popleft()
                    yield self._assemble(future.result(), done)
            while pending:
                done, future = pending.popleft()
                yield self._assemble(future.result(), done)
        finally:
            reader.shutdown(wait=False, cancel_futures=True)

    def _gather(self, items: Sequence[tuple[int, int]]) -> torch.Tensor:
        """The raw rows of ``items``: (B, C+4, H, W) uint8, page-locked when bound for CUDA."""
        rows = torch.from_numpy(self.pixels[self.rows[[index for index, _ in items]]])
        return rows.pin_memory() if self.device.type == "cuda" else rows

    def _assemble(self, rows: torch.Tensor, items: Sequence[tuple[int, int]]) -> Batch:
        # Division, not multiplication by 1/255: k/255 rounds exactly as read_image's floats do.
        stack = rows.to(self.device, non_blocking=True).float() / 255.0
        height, width = stack.shape[-2:]
        views = [draw_view(seed, height, width, self.crop_size, self.augment) for _, seed in items]
        # One sample at a time: each has its own view, and B is small next to a training step.
        stack = torch.stack([apply_view(one, view) for one, view in zip(stack, views, strict=True)])
        source, rgb, mask = split_stack(stack)
        pairs = [self.pairs[index] for index, _ in items]
        return Batch(
            input=encode_input(source, self.preprocess),
            target=encode_target(rgb, self.preprocess),
            rgb=rgb,
            mask=mask,
            name=[p.name for p in pairs],
            terrain=[p.terrain or "-" for p in pairs],
            index=torch.tensor([index for index, _ in items], dtype=torch.int64),
            skipped=[""] * len(items),
            # decided on the host (no device sync): cached images are whole, so only a crop
            # larger than the image pads
            all_valid=self.crop_size <= min(height, width),
        )


def _loading_key(preprocess: PreprocessConfig) -> dict[str, object]:
    """What ``load_sample`` returns for an image pair depends on: which file feeds the generator.

    SAR scaling, calibration and reflectance settings only act on GeoTIFF pairs, which are not
    cached; including them would rebuild an identical cache.
    """
    return {"kind": "image", "source": source_sensor(preprocess)}


def _entry(folder: str | Path, preprocess: PreprocessConfig) -> Path:
    """One cache per source sensor, so SAR and L* runs on the same data keep theirs."""
    return Path(folder) / source_sensor(preprocess)


def _abspath(path: Path) -> str:
    return os.path.abspath(path)


def _key(pair: Pair) -> str:
    return _abspath(pair.s1)


def _stat(pair: Pair) -> list[int]:
    """Size and modification time (ns) of both files of a pair."""
    out: list[int] = []
    for path in (pair.s1, pair.s2):
        try:
            info = path.stat()
        except OSError as exc:
            raise SarcolorError(f"{path}: cannot read ({first_line(exc)})") from None
        out += [info.st_size, info.st_mtime_ns]
    return out


def _check_space(folder: Path, nbytes: int) -> None:
    free = shutil.disk_usage(folder).free
    if nbytes > free * 0.95:  # leave room for checkpoints and logs
        raise SarcolorError(
            f"{folder}: the decoded-pair cache needs {nbytes / 1e9:.1f} GB, {free / 1e9:.1f} GB free"
        )


def _replace_folder(new: Path, final: Path) -> None:
    """Put the complete folder ``new`` under ``final``; a crash in between leaves no cache, never a mix."""
    if final.exists():
        old = Path(tempfile.mkdtemp(prefix=f".old-{final.name}-{os.getpid()}-", dir=final.parent))
        old.rmdir()  # only its unique name is wanted
        os.replace(final, old)
        os.replace(new, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(new, final)
