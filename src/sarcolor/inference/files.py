"""Colorizing many files: input expansion, output planning, safety checks, streaming, dispatch.

:func:`plan_colorize` then :func:`colorize_paths` is what ``sarcolor colorize`` runs: files,
folders and glob patterns in;
PNG/JPEG images become PNGs (:func:`colorize_files`, a few at a time, so memory stays flat),
GeoTIFFs become georeferenced GeoTIFFs (:func:`~sarcolor.inference.scene.colorize_scene`).
"""

from __future__ import annotations

import glob
from collections import Counter, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from sarcolor.data.geotiff import open_raster
from sarcolor.data.io import read_image, write_rgb_png
from sarcolor.data.sources import IMAGE_SUFFIXES
from sarcolor.errors import SarcolorError, one_line
from sarcolor.inference.colorizer import TILE, Colorizer, chunked, file_pixels
from sarcolor.inference.options import OutputOptions, SceneOptions
from sarcolor.inference.scene import SceneReport, colorize_scene, is_geotiff
from sarcolor.outputs import Expected, WrittenMeanwhile, check_free_space, ensure_writable, remove_stale_temps

OUTPUT_SUFFIXES: frozenset[str] = frozenset({".png", ".tif", ".tiff"})
# Colorizing a PNG/JPEG whole costs, besides its decoded float32 pixels, the blended output
# (16 B), its uint8 conversion and the PNG encoder: measured 29.5 B/px in all for grey, 39 for
# RGB, plus about 70 MB whatever the size (tile batches, buffers; benchmarks/colorize_memory.py).
# read_image refuses from the header what would not fit.
COLORIZE_BYTES_PER_PIXEL = 28
COLORIZE_OVERHEAD_BYTES = 96 << 20


@dataclass(frozen=True)
class Job:
    """One input and the output it is colorized into (and what that held when it was planned)."""

    source: Path
    target: Path
    expected: Expected | None = None


@dataclass
class ColorizeReport:
    """What a run over many files did."""

    written: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    scenes: list[SceneReport] = field(default_factory=list)


def expand_inputs(inputs: Sequence[str | Path], skip: Path | None = None) -> list[Path]:
    """Files, folders (their images, recursively) and glob patterns → sorted image paths.

    Hidden files and folders, and anything inside ``skip`` (the output folder), are left out.

    Raises:
        SarcolorError: a path that does not exist, a pattern that matches nothing, no images.
    """
    files: list[Path] = []
    skip = skip.resolve() if skip is not None else None
    skipped_inside = False
    for item in map(str, inputs):
        path = Path(item)
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.suffix.lower() in IMAGE_SUFFIXES
                and p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            kept = [p for p in found if skip is None or skip not in p.resolve().parents]
            skipped_inside |= len(kept) < len(found)
            files += kept
        elif path.is_file():
            files.append(path)
        elif any(ch in item for ch in "*?["):
            matches = sorted(Path(m) for m in glob.glob(item, recursive=True))
            if not matches:
                raise SarcolorError(f"{item}: no file matches this pattern")
            files += [m for m in matches if m.is_file()]
        else:
            raise SarcolorError(f"{item}: no such file or folder")
    if not files:
        if skipped_inside:
            raise SarcolorError(
                f"{', '.join(map(str, inputs))}: the only images are inside the output folder {skip}; "
                "choose an --out outside the inputs"
            )
        raise SarcolorError(f"no images found in {', '.join(map(str, inputs))}")
    return files


def plan_outputs(
    files: Sequence[Path], out: Path, overwrite: bool = False, skip_existing: bool = False
) -> list[Path]:
    """The output path of every input, checked before any work starts.

    ``out`` is a folder (outputs keep the inputs' base names: GeoTIFF scenes as .tif, other
    images as .png) or, for one input, a file of that kind. Refused: two inputs with one output
    name, an output that is an input, existing outputs unless ``overwrite``, an unwritable
    folder, and too little free disk. With ``skip_existing`` existing outputs are fine (the caller
    leaves their inputs alone).
    """
    if overwrite and skip_existing:
        raise SarcolorError("--overwrite and --skip-existing exclude each other; choose one")
    single_file = out.suffix.lower() in OUTPUT_SUFFIXES
    if single_file and len(files) > 1:
        raise SarcolorError(f"{out}: a {out.suffix} output takes one input, got {len(files)}; give a folder")
    if single_file and is_geotiff(out) != is_geotiff(files[0]):
        kind = "GeoTIFF scene (.tif)" if is_geotiff(files[0]) else "image (.png)"
        raise SarcolorError(f"{out}: {files[0].name} is colorized into a {kind}; name the output so")
    targets = (
        [out] if single_file else [out / f"{f.stem}{'.tif' if is_geotiff(f) else '.png'}" for f in files]
    )
    dupes = [t for t, n in Counter(targets).items() if n > 1]
    if dupes:
        raise SarcolorError(f"two inputs would both be written to {dupes[0]}; colorize them separately")
    inputs = {f.resolve() for f in files}
    clobbered = [t for t in targets if t.resolve() in inputs]
    if clobbered:
        raise SarcolorError(f"{clobbered[0]}: output would overwrite an input; choose another --out")
    existing = [t for t in targets if t.exists()]
    if existing and not overwrite and not skip_existing:
        raise SarcolorError(
            f"{existing[0]}: exists ({len(existing)} output(s) would be replaced); pass --overwrite"
        )
    folder = ensure_writable(out.parent if single_file else out)
    remove_stale_temps(folder)  # of colorize runs killed before their cleanup
    todo = [f for f, t in zip(files, targets, strict=True) if not (skip_existing and t.exists())]
    need = sum(_raw_size(f) for f in todo)  # uncompressed RGB: an upper bound for the PNGs
    check_free_space(folder, need, "the outputs may need")
    return targets


def plan_colorize(
    inputs: Sequence[str | Path], out: str | Path, *, overwrite: bool = False, skip_existing: bool = False
) -> list[Job]:
    """Every input of ``colorize`` with its output, checked before a model is loaded.

    Files, folders and glob patterns are expanded (:func:`expand_inputs`) and every output is
    planned and checked (:func:`plan_outputs`); with ``skip_existing`` the jobs whose output
    exists are kept in the plan (the caller leaves them alone). Each job records what its output
    held now: an output another process writes meanwhile is not replaced, and stops the run.
    """
    out = Path(out)
    files = expand_inputs(inputs, skip=out)
    targets = plan_outputs(files, out, overwrite=overwrite, skip_existing=skip_existing)
    return [Job(f, t, Expected.at(t)) for f, t in zip(files, targets, strict=True)]


def colorize_paths(
    colorizer: Colorizer,
    jobs: Sequence[Job],
    *,
    scene: SceneOptions | None = None,
    on_bad_sample: str = "error",
    progress: bool | None = None,
    log: Callable[[str], None] = tqdm.write,
    png_compression: int | None = None,
    on_done: Callable[[int], None] | None = None,
) -> ColorizeReport:
    """Colorize planned jobs (:func:`plan_colorize`): images into PNGs, GeoTIFFs into GeoTIFFs.

    With ``on_bad_sample='skip'`` unreadable inputs are listed in the report's ``failed`` and
    the rest go on; with ``'error'`` the first one stops the run. ``on_done(n)`` is called
    whenever ``n`` more inputs are finished (written or failed); an exception it raises stops
    the run there.
    """
    scene = scene or SceneOptions()
    images = [j for j in jobs if not is_geotiff(j.source)]
    report = colorize_files(
        colorizer,
        [j.source for j in images],
        [j.target for j in images],
        expected=[j.expected for j in images],
        on_bad_sample=on_bad_sample,
        chunk=colorizer.batch_size,
        progress=progress,
        png_compression=png_compression,
        on_done=on_done,
    )
    for job in (j for j in jobs if is_geotiff(j.source)):
        try:
            done = colorize_scene(
                colorizer, job.source, job.target, scene, progress=progress, log=log, expected=job.expected
            )
        except SarcolorError as exc:
            if on_bad_sample != "skip" or isinstance(exc, WrittenMeanwhile):
                raise
            report.failed.append((job.source, str(exc).removeprefix(f"{job.source}: ")))
        else:
            report.written.append(job.target)
            report.scenes.append(done)
        if on_done is not None:
            on_done(1)
    return report


def colorize_files(
    colorizer: Colorizer,
    files: Sequence[Path],
    targets: Sequence[Path],
    *,
    expected: Sequence[Expected | None] | None = None,
    on_bad_sample: str = "error",
    chunk: int = 8,
    progress: bool | None = None,
    png_compression: int | None = None,
    on_done: Callable[[int], None] | None = None,
) -> ColorizeReport:
    """Colorize image ``files`` into PNG ``targets``, ``chunk`` files at a time (memory stays flat).

    Decoding and PNG encoding run in worker threads (PIL releases the GIL) while the model
    works: the next group is read, and the previous group written, during the current group's
    forward passes; at most one group is read ahead and two are waiting to be written.
    ``png_compression`` is the zlib level of the outputs (0-9; ``None``: the option's default,
    :attr:`~sarcolor.inference.options.OutputOptions.png_compression`). ``on_done(n)``: as in
    :func:`colorize_paths`. ``expected``: what each target held when it was planned (see
    :class:`~sarcolor.outputs.Expected`).

    With ``on_bad_sample='skip'`` an unreadable input is reported and the rest go on;
    with ``'error'`` the first one stops the run (outputs written so far stay).
    """
    report = ColorizeReport()
    level = OutputOptions().png_compression if png_compression is None else png_compression
    bar = tqdm(
        total=len(files), desc="colorize", unit="img", disable=None if progress is None else not progress
    )
    states = dict(zip(targets, expected, strict=True)) if expected is not None else {}
    groups = list(chunked(list(zip(files, targets, strict=True)), chunk))
    writes: deque[tuple[Future, Path, int]] = deque()  # (write, target, images of its group)

    def advance(n: int) -> None:
        bar.update(n)
        if on_done is not None and n:
            on_done(n)

    def finish_write() -> None:
        future, target, last_of_group = writes.popleft()
        future.result()  # an OSError (full disk, …) of the writer surfaces here
        report.written.append(target)
        advance(last_of_group)

    with (
        ThreadPoolExecutor(READ_THREADS, "sarcolor-read") as readers,
        ThreadPoolExecutor(WRITE_THREADS, "sarcolor-write") as writers,
    ):
        reads = deque(readers.submit(_read_group, g) for g in groups[:READ_AHEAD])
        for k, group in enumerate(groups):
            read = reads.popleft().result()
            if k + READ_AHEAD < len(groups):
                reads.append(readers.submit(_read_group, groups[k + READ_AHEAD]))
            images, kept = [], []
            for (src, dst), image in zip(group, read, strict=True):
                if isinstance(image, SarcolorError):
                    if on_bad_sample != "skip":
                        while writes:
                            finish_write()
                        raise image
                    report.failed.append((src, str(image).removeprefix(f"{src}: ")))
                    tqdm.write(f"warning: skipped {one_line(str(image))}")
                else:
                    images.append(image)
                    kept.append(dst)
            if not kept:
                advance(len(group))
            for i, (dst, rgb) in enumerate(zip(kept, _colorized(colorizer, images, group), strict=True)):
                pixels = file_pixels(rgb, colorizer.config)
                future = writers.submit(write_rgb_png, dst, pixels, level, states.get(dst))
                writes.append((future, dst, len(group) if i == len(kept) - 1 else 0))
            while len(writes) > WRITE_BEHIND * chunk:
                finish_write()
        while writes:
            finish_write()
    bar.close()
    return report


READ_THREADS = 1  # decoding threads (a group at a time)
WRITE_THREADS = 2  # PNG encoding threads
READ_AHEAD = 1  # groups decoded ahead of the model
WRITE_BEHIND = 2  # groups of outputs that may wait to be encoded


def _colorized(colorizer: Colorizer, images: list[np.ndarray], group: Sequence[tuple[Path, Path]]) -> list:
    """``colorize_many``; running out of memory (an estimate short of the truth) is one line naming
    the files, not an internal error."""
    try:
        return colorizer.colorize_many(images)
    except MemoryError:
        names = ", ".join(str(src) for src, _ in group)
        raise SarcolorError(
            f"{names}: out of memory while colorizing (SARCOLOR_MEMORY_LIMIT sets the budget)"
        ) from None


def _read_group(group: Sequence[tuple[Path, Path]]) -> list[np.ndarray | SarcolorError]:
    """Decode the sources of one group in this worker thread; failures are returned, not raised."""
    out: list[np.ndarray | SarcolorError] = []
    for src, _ in group:
        try:
            out.append(read_image(src, COLORIZE_BYTES_PER_PIXEL, COLORIZE_OVERHEAD_BYTES, pad_to=TILE))
        except SarcolorError as exc:
            out.append(exc)
    return out


def _raw_size(path: Path) -> int:
    if is_geotiff(path):
        try:
            with open_raster(path) as src:
                return src.width * src.height * 4
        except SarcolorError:
            return 0
    try:
        with Image.open(path) as img:
            return img.width * img.height * 3
    except Exception:  # unreadable files are dealt with when they are read
        return 0
