"""Colorizing whole georeferenced Sentinel-1 scenes: GeoTIFF in, GeoTIFF out, bounded memory.

A scene is read one row of tiles at a time (a ``tile × width`` strip), never whole. Tiles
overlap (default 64 of 256 pixels, 25 %) and their outputs are blended with the raised-cosine
window of :mod:`sarcolor.tiling`; a ring of ``tile + 2·256`` rows
(:mod:`sarcolor.inference.strips`) accumulates them, and each 256-row block row of the output
GeoTIFF is written, in a worker thread, as soon as no later tile can touch it. Memory therefore
depends on the scene's width, not its height (the ring: 17 bytes per pixel, 130 MB for 10,000
columns).

The output keeps the input's CRS, geotransform, width and height; it is a tiled, compressed
3-band uint8 RGB GeoTIFF (deflate at level 1 by default: ``compress``, ``compress_level``;
BIGTIFF when needed) with an internal nodata mask (or, with ``alpha``, a fourth alpha band)
that is 0 wherever the input was invalid: GDAL nodata, NaN, ±Inf, or a band/dataset mask.
Tiles with no valid pixel are skipped. The file is written under a temporary name and renamed
when complete; ``cog`` rewrites it as a Cloud-Optimized GeoTIFF with overviews.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import get_args

import numpy as np
import torch
from tqdm.auto import tqdm

from sarcolor.data.geotiff import (
    GEOTIFF_SUFFIXES,
    decide_scale,
    open_raster,
    read_window,
    sample_values,
    sar_unit,
    select_bands,
)
from sarcolor.data.preprocess import sar_stats
from sarcolor.errors import SarcolorError
from sarcolor.inference.colorizer import TILE, Colorizer, chunked
from sarcolor.inference.options import MAX_LEVEL, Compression, SceneOptions
from sarcolor.inference.strips import Block, StripBuffer
from sarcolor.memory import available_memory, check_memory
from sarcolor.outputs import Expected, atomic_write, temp_beside
from sarcolor.tiling import tile_starts

BLOCK = 256  # output GeoTIFF block side; rows are written in whole block rows
COMPRESSIONS: tuple[str, ...] = get_args(Compression)
GDAL_CACHE_MB = 256


@dataclass
class SceneReport:
    """What :func:`colorize_scene` did."""

    path: Path
    width: int
    height: int
    bands: list[int]
    scale: str
    scale_reason: str
    source: Path  # the input scene
    tiles: int = 0
    skipped: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def megapixels_per_second(self) -> float:
        return self.width * self.height / 1e6 / max(self.seconds, 1e-9)


def is_geotiff(path: Path) -> bool:
    """``.tif``/``.tiff`` inputs are colorized as georeferenced scenes, into GeoTIFFs."""
    return path.suffix.lower() in GEOTIFF_SUFFIXES


def colorize_scene(
    colorizer: Colorizer,
    source: str | Path,
    target: str | Path,
    options: SceneOptions | None = None,
    *,
    progress: bool | None = None,
    log: Callable[[str], None] = tqdm.write,
    expected: Expected | None = None,
) -> SceneReport:
    """Colorize the GeoTIFF ``source`` into the RGB GeoTIFF ``target`` (see the module docstring).

    ``expected``: what ``target`` held when the run was planned; it is not replaced if another
    process wrote it since (:class:`~sarcolor.outputs.Expected`).
    """
    options = options or SceneOptions()
    source, target = Path(source), Path(target)
    pre = colorizer.config.preprocess
    if pre.input != "sar":
        raise SarcolorError(f"{source}: scenes need a SAR model; this checkpoint takes {pre.input} input")
    if options.compress not in COMPRESSIONS:
        raise SarcolorError(f"--compress must be one of {', '.join(COMPRESSIONS)}, got {options.compress!r}")
    options.validate(str(source))
    start = time.perf_counter()
    with _gdal_env(), open_raster(source) as src, _out_of_memory(source):
        indexes = select_bands(src, pre.bands, options.bands)
        check_scene_memory(
            source, src.width, len(indexes), max(np.dtype(src.dtypes[i - 1]).itemsize for i in indexes)
        )
        scale, reason = decide_scale(src, indexes, options.sar_scale)
        log(f"{source.name}: bands {indexes} as {'+'.join(pre.bands)}; SAR scale {reason}")
        report = SceneReport(target, src.width, src.height, indexes, scale, reason, source=source)
        writer = _SceneWriter(colorizer, src, indexes, scale, options, report, progress)
        if options.cog:
            atomic_write(target, lambda tmp: _as_cog(writer, tmp, options), expected=expected)
        else:
            atomic_write(target, writer.write, expected=expected)
    report.seconds = time.perf_counter() - start
    return report


class _SceneWriter:
    """Reads strips, runs the model on their tiles, blends, and writes whole block rows."""

    def __init__(self, colorizer, src, indexes, scale, options: SceneOptions, report, progress) -> None:
        self.colorizer, self.src, self.indexes, self.scale = colorizer, src, indexes, scale
        self.options, self.report, self.progress = options, report, progress
        pre = colorizer.config.preprocess
        self.ranges = pre.ranges
        self.calibration = options.calibration or pre.calibration
        self.rows = tile_starts(src.height, TILE, colorizer.overlap)
        self.cols = tile_starts(src.width, TILE, colorizer.overlap)
        self.bands = pre.image_bands  # 1 for a grey model: a 1-band GeoTIFF
        self.stats = self._level_stats()

    def _level_stats(self) -> torch.Tensor | None:
        """The scene's (C, 2) level statistics, measured on its sample (:func:`sample_values`),
        that every tile is standardised with (``sar_levels='standardise'``), else None."""
        if not self.colorizer.standardises:  # a terrain router: any of its members
            return None
        found, _ = sample_values(self.src, self.indexes)  # (C, n)
        unit = sar_unit(found[:, None, :], self.scale, self.ranges, self.calibration)  # (C, 1, n)
        return sar_stats(unit[None])[0]

    def profile(self, compress: str) -> dict:
        src, alpha = self.src, self.options.alpha
        profile = {
            "driver": "GTiff",
            "width": src.width,
            "height": src.height,
            "count": self.bands + (1 if alpha else 0),
            "dtype": "uint8",
            "crs": src.crs,
            "transform": src.transform,
            "tiled": True,
            "blockxsize": BLOCK,
            "blockysize": BLOCK,
            "interleave": "pixel",
            "photometric": "RGB" if self.bands == 3 else "MINISBLACK",
            "BIGTIFF": "IF_SAFER",
        }
        if compress != "none":
            profile.update(compress=compress, predictor=2, **_level(compress, self.options.compress_level))
        if alpha:
            profile["ALPHA"] = "YES"
        return profile

    def write(self, path: Path, compress: str | None = None) -> None:
        import rasterio

        src, width, height = self.src, self.src.width, self.src.height
        buffer = StripBuffer(max(width, TILE), TILE + 2 * BLOCK)  # see sarcolor.inference.strips
        bar = tqdm(
            total=len(self.rows) * len(self.cols),
            desc=Path(src.name).name,
            unit="tile",
            disable=None if self.progress is None else not self.progress,
        )
        with (
            rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True),
            rasterio.open(path, "w", **self.profile(compress or self.options.compress)) as dst,
        ):
            if src.descriptions and not self.options.alpha:
                for band, name in enumerate(
                    ("red", "green", "blue") if self.bands == 3 else ("grey",), start=1
                ):
                    dst.set_band_description(band, name)
            dst.update_tags(SARCOLOR_SOURCE=Path(src.name).name, SARCOLOR_SAR_SCALE=self.scale)

            # The next strip is read (GDAL decodes, releasing the GIL) and cut into batches of
            # tiles, and the previous block rows are converted and written (GDAL compresses), in
            # worker threads while the model runs; the model's thread only runs the model and adds
            # its outputs. Each dataset is used by one thread at a time. In flight: one strip read
            # ahead, one block row of output, so memory stays flat.
            with (
                ThreadPoolExecutor(1, "sarcolor-scene-read") as reader,
                ThreadPoolExecutor(1, "sarcolor-scene-write") as writer,
            ):
                writing: Future | None = None

                def flush(upto: int) -> None:
                    nonlocal writing
                    if writing is not None:  # the block before: its rows of the ring are free again
                        writing.result()
                        writing = None
                    block = buffer.take(upto)
                    if block.rows:
                        writing = writer.submit(self._write_rows, dst, block, width)

                reading = reader.submit(self._read_strip, self.rows[0])
                for k in range(len(self.rows)):
                    strip = reading.result()
                    if k + 1 < len(self.rows):
                        reading = reader.submit(self._read_strip, self.rows[k + 1])
                    self._strip(strip, buffer, bar)
                    following = self.rows[k + 1] if k + 1 < len(self.rows) else height
                    flush(height if following >= height else following // BLOCK * BLOCK)
                flush(height)
                if writing is not None:
                    writing.result()
        bar.close()

    def _write_rows(self, dst, block: Block, width: int) -> None:
        """Write the rows of ``block`` (blended, converted and cleared in this thread) to ``dst``."""
        from rasterio.windows import Window

        pixels, valid = block.pixels(width)
        pixels = pixels[..., : self.bands]  # a grey model's output is grey repeated
        window = Window(0, block.top, width, block.rows)
        mask = valid.astype(np.uint8) * 255
        if self.options.alpha:
            dst.write(np.concatenate([pixels, mask[..., None]], axis=-1).transpose(2, 0, 1), window=window)
        else:
            dst.write(pixels.transpose(2, 0, 1), window=window)
            dst.write_mask(mask, window=window)

    def _read_strip(self, top: int) -> _Strip:
        """The strip at row ``top``, read and cut into batches of tiles (in the reader's thread)."""
        from rasterio.windows import Window

        src = self.src
        rows = min(TILE, src.height - top)
        values, valid = read_window(src, self.indexes, Window(0, top, src.width, rows))
        unit = sar_unit(values, self.scale, self.ranges, self.calibration).numpy()
        pad_h, pad_w = TILE - rows, max(0, TILE - src.width)
        padded = valid
        if pad_h or pad_w:  # a scene narrower or shorter than one tile: mirror it to one tile
            unit = np.pad(unit, ((0, 0), (0, pad_h), (0, pad_w)), mode="symmetric")
            padded = np.pad(valid, ((0, pad_h), (0, pad_w)), mode="symmetric")
        strip = _Strip(top, valid)
        tiles: list[tuple[int, np.ndarray]] = []
        for left in self.cols:
            tile_valid = padded[:, left : left + TILE]
            if tile_valid.any():
                tiles.append((left, _fill_invalid(unit[:, :, left : left + TILE], tile_valid)))
            else:
                strip.skipped += 1
        for chunk in chunked(tiles, self.colorizer.batch_size):
            stacked = torch.from_numpy(np.stack([tile for _, tile in chunk]))
            strip.batches.append(([left for left, _ in chunk], stacked))
        return strip

    def _strip(self, strip: _Strip, buffer: StripBuffer, bar) -> None:
        """Colorize the tiles of ``strip`` (:meth:`_read_strip`) into ``buffer``."""
        window = torch.from_numpy(self.colorizer.window)
        buffer.mark_valid(strip.top, strip.valid)
        self.report.skipped += strip.skipped
        bar.update(strip.skipped)
        for lefts, tiles in strip.batches:
            stats = None if self.stats is None else self.stats.expand(len(tiles), -1, -1)
            rgb = torch.from_numpy(self.colorizer.predict(tiles, None, stats))  # (B, T, T, 3)
            rgb.mul_(window[None, :, :, None])  # weighted in place: no temporary per tile
            for left, tile_rgb in zip(lefts, rgb, strict=True):
                buffer.add(strip.top, left, tile_rgb, window)
            self.report.tiles += len(lefts)
            bar.update(len(lefts))


@dataclass
class _Strip:
    """A strip of tile rows, ready for the model: its (rows, W) validity as read, the batches of
    its tiles with any valid pixel (their left columns, (B, C, T, T) network-scale SAR) and how
    many tiles had none."""

    top: int
    valid: np.ndarray
    batches: list[tuple[list[int], torch.Tensor]] = field(default_factory=list)
    skipped: int = 0


def _fill_invalid(tile: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(C, T, T) tile with invalid pixels set to the mean of its valid ones (no dark nodata rim)."""
    if valid.all():
        return tile
    means = tile[:, valid].mean(axis=1)
    return np.where(valid, tile, means[:, None, None]).astype(tile.dtype, copy=False)


def _level(compress: str, level: int) -> dict[str, int]:
    """GDAL's GTiff creation option for ``level`` of ``compress`` (none for codecs without one)."""
    return {"zlevel": level} if compress == "deflate" else {"zstd_level": level} if compress == "zstd" else {}


def scene_memory(width: int, bands: int, itemsize: int) -> int:
    """Bytes colorizing a scene ``width`` pixels wide takes, whatever its height: the blending ring
    (17 B a pixel, :class:`~sarcolor.inference.strips.StripBuffer`), two strips of tile rows in
    flight (each pixel read masked, filled, scaled to [0, 1] and cut into overlapping tiles:
    ``3·itemsize + 1 + 12 + 5.4`` bytes a band, 3 of masks), GDAL's block cache and the rest
    (measured: 256×40,000 float32 peaks 0.5 GB above the model, 1024×40,000 1.2 GB)."""
    width = max(width, TILE)
    ring = (TILE + 2 * BLOCK) * width * 17
    strip = 2 * TILE * width * (bands * (3 * itemsize + 19) + 3)
    return ring + strip + (GDAL_CACHE_MB << 20) + SCENE_OVERHEAD


SCENE_OVERHEAD = 96 << 20  # tile batches, model outputs, the writer's block row


def check_scene_memory(source: Path, width: int, bands: int, itemsize: int) -> None:
    """Refuse, before any strip is read, a scene too wide for the memory available."""
    check_memory(
        source,
        scene_memory(width, bands, itemsize),
        f"scenes {width} pixels wide",
        "a scene's memory grows with its width, not its height: cut it into narrower GeoTIFFs "
        "(gdal_translate -srcwin) or transpose it",
    )


@contextmanager
def _out_of_memory(source: Path) -> Iterator[None]:
    """A ``MemoryError`` while colorizing ``source`` → one line naming it."""
    try:
        yield
    except MemoryError:
        free = available_memory()
        said = "" if free is None else f" ({free / 1e9:.1f} GB available)"
        raise SarcolorError(f"{source}: out of memory while colorizing it{said}") from None


def _gdal_env():
    """GDAL settings for a scene: internal masks, and a block cache of 256 MB (GDAL's default, 5 %
    of the RAM, would let the cache of written blocks dominate memory); ``GDAL_CACHEMAX`` in the
    environment wins."""
    import rasterio

    options: dict[str, object] = {"GDAL_TIFF_INTERNAL_MASK": True}
    if "GDAL_CACHEMAX" not in os.environ:
        options["GDAL_CACHEMAX"] = GDAL_CACHE_MB * 2**20  # rasterio takes bytes
    return rasterio.Env(**options)


def _as_cog(writer: _SceneWriter, path: Path, options: SceneOptions) -> None:
    """Write a plain tiled GeoTIFF beside ``path``, then copy it to ``path`` as a COG with overviews."""
    from rasterio.shutil import copy as gdal_copy

    staging = temp_beside(path)  # named after this process: a killed run's is removed at the next start
    try:
        writer.write(staging, compress="none")  # recompressed once, by the COG driver
        creation = {"BIGTIFF": "IF_SAFER", "OVERVIEWS": "AUTO", "RESAMPLING": "AVERAGE", "BLOCKSIZE": 512}
        if options.compress != "none":
            creation.update(COMPRESS=options.compress.upper(), PREDICTOR="YES")
            if options.compress in MAX_LEVEL:
                creation["LEVEL"] = options.compress_level
        gdal_copy(staging, path, driver="COG", **creation)
    finally:
        staging.unlink(missing_ok=True)
