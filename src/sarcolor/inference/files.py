"""Colorizing many files: output planning, safety checks, streaming, bad-file policy."""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image
from tqdm.auto import tqdm

from sarcolor.data.geotiff import open_raster
from sarcolor.data.io import ensure_writable, read_image, write_rgb_png
from sarcolor.errors import SarcolorError
from sarcolor.inference.colorizer import Colorizer, chunked
from sarcolor.inference.scene import is_scene

OUTPUT_SUFFIXES: frozenset[str] = frozenset({".png", ".tif", ".tiff"})


@dataclass
class ColorizeReport:
    """What a run over many files did."""

    written: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)


def plan_outputs(files: Sequence[Path], out: Path, overwrite: bool = False) -> list[Path]:
    """The output path of every input, checked before any work starts.

    ``out`` is a folder (outputs keep the inputs' base names: GeoTIFF scenes as .tif, other
    images as .png) or, for one input, a file of that kind. Refused: two inputs with one output
    name, an output that is an input, existing outputs unless ``overwrite``, an unwritable
    folder, and too little free disk.
    """
    single_file = out.suffix.lower() in OUTPUT_SUFFIXES
    if single_file and len(files) > 1:
        raise SarcolorError(f"{out}: a {out.suffix} output takes one input, got {len(files)}; give a folder")
    if single_file and is_scene(out) != is_scene(files[0]):
        kind = "GeoTIFF scene (.tif)" if is_scene(files[0]) else "image (.png)"
        raise SarcolorError(f"{out}: {files[0].name} is colorized into a {kind}; name the output so")
    targets = [out] if single_file else [out / f"{f.stem}{'.tif' if is_scene(f) else '.png'}" for f in files]
    dupes = [t for t, n in Counter(targets).items() if n > 1]
    if dupes:
        raise SarcolorError(f"two inputs would both be written to {dupes[0]}; colorize them separately")
    inputs = {f.resolve() for f in files}
    clobbered = [t for t in targets if t.resolve() in inputs]
    if clobbered:
        raise SarcolorError(f"{clobbered[0]}: output would overwrite an input; choose another --out")
    existing = [t for t in targets if t.exists()]
    if existing and not overwrite:
        raise SarcolorError(
            f"{existing[0]}: exists ({len(existing)} output(s) would be replaced); pass --overwrite"
        )
    folder = ensure_writable(out.parent if single_file else out)
    need = sum(_raw_size(f) for f in files)  # uncompressed RGB: an upper bound for the PNGs
    free = shutil.disk_usage(folder).free
    if need > free:
        raise SarcolorError(f"{folder}: {free / 1e9:.2f} GB free, the outputs may need {need / 1e9:.2f} GB")
    return targets


def colorize_files(
    colorizer: Colorizer,
    files: Sequence[Path],
    targets: Sequence[Path],
    *,
    on_bad_sample: str = "error",
    chunk: int = 8,
    progress: bool | None = None,
) -> ColorizeReport:
    """Colorize ``files`` into ``targets``, ``chunk`` files at a time (memory stays flat).

    With ``on_bad_sample='skip'`` an unreadable input is reported and the rest go on;
    with ``'error'`` the first one stops the run (outputs written so far stay).
    """
    report = ColorizeReport()
    bar = tqdm(
        total=len(files), desc="colorize", unit="img", disable=None if progress is None else not progress
    )
    for group in chunked(list(zip(files, targets, strict=True)), chunk):
        images, kept = [], []
        for src, dst in group:
            try:
                images.append(read_image(src))
                kept.append(dst)
            except SarcolorError as exc:
                if on_bad_sample != "skip":
                    raise
                report.failed.append((src, str(exc).removeprefix(f"{src}: ")))
                tqdm.write(f"warning: skipped {exc}")
        for dst, rgb in zip(kept, colorizer.colorize_many(images), strict=True):
            write_rgb_png(dst, rgb)
            report.written.append(dst)
        bar.update(len(group))
    bar.close()
    return report


def _raw_size(path: Path) -> int:
    if is_scene(path):
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
