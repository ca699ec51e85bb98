"""Reading and writing image files.

:func:`read_image` turns PNG, JPEG and 8/16-bit TIFF files (grey, grey+alpha, RGB, RGBA,
palette, 1-bit) into float arrays in [0, 1]; alpha is dropped. Every failure becomes a
:class:`~sarcolor.errors.SarcolorError` naming the file.

Guards and recoveries:

* the header is checked before any pixel is decoded (:func:`check_header`): an image declaring
  more than :data:`MAX_PIXELS` pixels (decompression-bomb guard; ``SARCOLOR_MAX_PIXELS``
  raises the limit), more than 4 bands, complex or unknown samples, or needing more memory to
  decode than is available (:func:`sarcolor.memory.check_memory`) is refused in one line,
  whatever its size on disk;
* in TIFFs, nodata pixels (GDAL nodata value, NaN, ±Inf, or a band mask) are filled with 0,
  and a file with no valid pixel at all is refused;
* CRS and geotransform (none, or rotated) are ignored: the raster is read as an image.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from sarcolor.data.png import write_png
from sarcolor.errors import SarcolorError, first_line
from sarcolor.memory import available_memory, check_memory, env_size
from sarcolor.outputs import Expected, atomic_write

_MAX_BY_DTYPE = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}
MAX_PIXELS: int = env_size("SARCOLOR_MAX_PIXELS", 20_000 * 20_000, "pixels")  # bad values: one line
Image.MAX_IMAGE_PIXELS = None  # the guard below replaces PIL's warning/error pair


def read_image(path: str | Path, per_pixel: int = 0, overhead: int = 0, pad_to: int = 0) -> np.ndarray:
    """Read an image as float32 in [0, 1].

    Args:
        path: a PNG, JPEG or TIFF file.
        per_pixel: bytes per pixel the caller needs on top of decoding (e.g. colorizing the
            image whole), included in the memory check made from the header.
        overhead: bytes the caller needs besides, whatever the size (tile batches, encoders).
        pad_to: the side the caller pads each dimension to at least (its tile): ``per_pixel``
            is counted on the padded size, plus the padded copy (a 1,500,000×8 strip is
            colorized as 1,500,000×256).

    Returns:
        (H, W, C) float32 array, C = 1 (grey) or 3 (RGB).

    Raises:
        SarcolorError: the file is missing, unreadable, or of an unsupported kind.
    """
    path = Path(path)
    if not path.is_file():
        raise SarcolorError(f"{path}: file not found")
    try:
        array = _read(path, per_pixel, overhead, pad_to)
    except MemoryError:  # an estimate short of what a decoder or library really took
        raise SarcolorError(f"{path}: out of memory while reading it ({_available()}); {_HINT}") from None
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise SarcolorError(f"{path}: image is empty")
    return array


def _read(path: Path, per_pixel: int, overhead: int, pad_to: int) -> np.ndarray:
    if path.suffix.lower() in (".tif", ".tiff"):  # GDAL knows nodata, masks and every TIFF layout
        return _read_with_rasterio(path, per_pixel, overhead, pad_to)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # e.g. corrupt EXIF, which is not used
            with Image.open(path) as img:  # lazy: the header only
                bands, stored = _PIL_MODES.get(img.mode, (0, 0))
                if not bands:
                    raise SarcolorError(f"{path}: unsupported image mode {img.mode}")
                out = 1 if bands <= 2 and img.mode not in ("P", "PA") else 3
                check_header(
                    path,
                    img.width,
                    img.height,
                    bands,
                    out,
                    stored * 2,
                    overhead,
                    _HINT * bool(per_pixel),
                    padded_cost(img.width, img.height, out, per_pixel, pad_to),
                )
                img.load()
                return _from_pil(img)
    except SarcolorError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise SarcolorError(f"{path}: cannot read image ({library_reason(exc, path)})") from None


_HINT = (
    "as a GeoTIFF (gdal_translate IN OUT.tif) a SAR image is colorized by windows, in memory "
    "that grows with its width only"
)


def padded_cost(width: int, height: int, out: int, per_pixel: int, pad_to: int) -> int:
    """Bytes a caller needing ``per_pixel`` bytes per pixel of the image padded to ``pad_to``
    (see :func:`read_image`) takes, the padded float32 copy of ``out`` bands included."""
    padded = max(width, pad_to) * max(height, pad_to)
    copy = 4 * out * padded if padded > width * height else 0
    return per_pixel * padded + copy


def _available() -> str:
    free = available_memory()
    return "memory available unknown" if free is None else f"{free / 1e9:.1f} GB available"


# PIL mode → (bands, bytes per pixel PIL keeps while decoding: 8-bit multi-band modes take 4)
_PIL_MODES: dict[str, tuple[int, int]] = {
    "1": (1, 1), "L": (1, 1), "P": (1, 1), "I;16": (1, 2), "I;16B": (1, 2), "I;16L": (1, 2),
    "I;16N": (1, 2), "I": (1, 4), "F": (1, 4), "LA": (2, 4), "PA": (2, 4), "La": (2, 4),
    "RGB": (3, 4), "YCbCr": (3, 4), "LAB": (3, 4), "HSV": (3, 4), "RGBA": (4, 4), "RGBa": (4, 4),
    "RGBX": (4, 4), "CMYK": (4, 4),
}  # fmt: skip


def _from_pil(img: Image.Image) -> np.ndarray:
    mode = img.mode
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif mode == "1":
        img = img.convert("L")
    elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        img = img.convert("RGB")
    array = np.asarray(img)
    if img.mode in ("LA", "RGBA", "PA"):
        array = array[..., :-1]  # drop alpha
    if array.dtype in _MAX_BY_DTYPE:
        out = array.astype(np.float32) / _MAX_BY_DTYPE[array.dtype]
    elif img.mode == "I":  # PIL's 32-bit int mode holds 16-bit PNG/TIFF grey
        if array.min() < 0 or array.max() > 65535:
            raise SarcolorError(f"{_name(img)}: 32-bit integer image; expected 8 or 16 bit")
        out = array.astype(np.float32) / 65535.0
    elif img.mode.startswith("I;16"):
        out = array.astype(np.float32) / 65535.0
    elif img.mode == "F":
        out = _float_in_unit_range(array, _name(img))
    else:
        raise SarcolorError(f"{_name(img)}: unsupported image mode {img.mode}")
    return out[..., None] if out.ndim == 2 else out


def _name(img: Image.Image) -> str:
    """The file an image was opened from (PIL keeps it on file-backed images)."""
    return str(getattr(img, "filename", "") or "image")


def _read_with_rasterio(path: Path, per_pixel: int = 0, overhead: int = 0, pad_to: int = 0) -> np.ndarray:
    """A TIFF (plain or GeoTIFF, any layout GDAL reads); nodata pixels become 0."""
    try:
        import rasterio
        from rasterio.errors import NotGeoreferencedWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as src:  # the header only
                check_dtypes(path, src.dtypes)
                itemsize = max(np.dtype(d).itemsize for d in src.dtypes)
                out = 1 if src.count <= 2 and _palette(src) is None else 3
                # the masked read: values, a bool mask per band, then the filled copy
                check_header(
                    path,
                    src.width,
                    src.height,
                    src.count,
                    out,
                    (2 * itemsize + 1) * src.count,
                    overhead,
                    extra=padded_cost(src.width, src.height, out, per_pixel, pad_to),
                )
                bands = src.read(masked=True)  # (C, H, W), nodata and band masks as the mask
                palette = _palette(src)
                nbits = int(src.tags(1, "IMAGE_STRUCTURE").get("NBITS", 0) or 0)
    except (SarcolorError, MemoryError):
        raise
    except Exception as exc:
        raise SarcolorError(f"{path}: cannot read image ({library_reason(exc, path)})") from None
    invalid = np.ma.getmaskarray(bands).any(axis=0)
    if bands.dtype.kind == "f":
        invalid |= ~np.isfinite(bands.filled(0)).all(axis=0)
    if invalid.all():
        raise SarcolorError(f"{path}: no valid pixel (all nodata, NaN or Inf)")
    bands = np.where(invalid, 0, bands.filled(0))
    if palette is not None:  # indices → RGB through the colour table
        bands = np.moveaxis(palette[bands[0]], -1, 0)
    elif 0 < nbits < 8:  # e.g. 1-bit: 0/1 → 0/1 after scaling by 2**nbits - 1
        return np.moveaxis(bands, 0, -1).astype(np.float32) / (2**nbits - 1)
    if bands.shape[0] in (2, 4):  # grey+alpha, RGBA
        bands = bands[:-1]
    if bands.shape[0] not in (1, 3):
        raise SarcolorError(f"{path}: {bands.shape[0]} bands; expected 1 (grey) or 3 (RGB)")
    array = np.moveaxis(bands, 0, -1)
    if array.dtype in _MAX_BY_DTYPE:
        return array.astype(np.float32) / _MAX_BY_DTYPE[array.dtype]
    if array.dtype.kind == "f":
        return _float_in_unit_range(array, str(path))
    if array.dtype.kind in "iu" and array.min() >= 0 and array.max() <= 65535:  # 16-bit in a wider type
        return array.astype(np.float32) / 65535.0
    raise SarcolorError(f"{path}: {array.dtype} values outside 0…65535; expected 8 or 16 bit")


def _palette(src) -> np.ndarray | None:
    """(256, 3) uint8 colour table of a palette TIFF, else None."""
    from rasterio.enums import ColorInterp

    if src.count != 1 or src.colorinterp[0] != ColorInterp.palette:
        return None
    table = np.zeros((256, 3), np.uint8)
    for index, rgba in src.colormap(1).items():
        if 0 <= index < 256:
            table[index] = rgba[:3]
    return table


def check_size(path: Path, width: int, height: int) -> None:
    """The decompression-bomb guard: at most :data:`MAX_PIXELS` pixels."""
    if width * height > MAX_PIXELS:
        raise SarcolorError(
            f"{path}: declares {width}×{height} pixels, over the {MAX_PIXELS / 1e6:.0f} MP limit "
            "(decompression-bomb guard; set SARCOLOR_MAX_PIXELS to allow it)"
        )


def check_header(
    path: Path,
    width: int,
    height: int,
    bands: int,
    out: int,
    per_pixel: int,
    overhead: int = 0,
    hint: str = "",
    extra: int = 0,
) -> None:
    """Everything a header tells, checked before any pixel is decoded.

    Args:
        width, height, bands: as declared.
        out: bands of the float32 array :func:`read_image` returns (1 or 3).
        per_pixel: bytes per pixel the decoder and the caller need besides that array (and
            its float32 intermediate).
        overhead: bytes needed besides, whatever the size.
        extra: bytes that grow with the image besides (:func:`padded_cost`).

    Raises:
        SarcolorError: over :data:`MAX_PIXELS`, more than 4 bands (grey, grey+alpha, RGB,
            RGBA), or more memory than is available.
    """
    if width < 1 or height < 1:
        raise SarcolorError(f"{path}: image is empty ({width}×{height})")
    check_size(path, width, height)
    if not 1 <= bands <= 4:
        raise SarcolorError(f"{path}: {bands} bands; expected 1 (grey) or 3 (RGB), with or without alpha")
    pixels = width * height
    need = pixels * (per_pixel + 2 * 4 * out) + extra + overhead
    cost = round((need - overhead) / pixels)
    check_memory(path, need, f"{width}×{height} pixels ({bands} band(s), ~{cost} B each)", hint)


def check_dtypes(path: str | Path, dtypes: Sequence[str]) -> None:
    """Refuse complex samples (SAR single-look complex data) and types numpy does not know."""
    for name in set(dtypes):
        try:
            kind = np.dtype(name).kind
        except TypeError:
            raise SarcolorError(f"{path}: samples of type {name} are not supported") from None
        if kind == "c":
            raise SarcolorError(
                f"{path}: complex samples ({name}, single-look complex SAR?); sarcolor takes detected "
                "intensity, amplitude or dB: take the amplitude first, e.g. "
                "gdal_calc.py -A IN --calc 'abs(A)' --type Float32 --outfile OUT.tif"
            )


def _float_in_unit_range(array: np.ndarray, name: str | None) -> np.ndarray:
    finite = array[np.isfinite(array)]
    if finite.size and (finite.min() < 0 or finite.max() > 1):
        raise SarcolorError(f"{name}: floating-point image outside [0, 1]")
    return np.nan_to_num(array.astype(np.float32), nan=0.0)


def check_image(path: str | Path) -> str | None:
    """Decode the whole image: ``None`` if it reads, else the reason (truncated files fail here)."""
    try:
        read_image(path)
    except SarcolorError as err:
        return str(err).removeprefix(f"{path}: ")
    return None


def to_uint8(image: np.ndarray, overwrite: bool = False) -> np.ndarray:
    """Float in [0, 1] → uint8, rounded: exactly what a written PNG holds (one float temporary;
    none with ``overwrite``, which scales the float array in place)."""
    scaled = np.clip(image, 0.0, 1.0, out=image if overwrite else None)
    scaled *= 255.0
    scaled += 0.5
    return scaled.astype(np.uint8)


def write_rgb_png(
    path: str | Path, rgb: np.ndarray, compress_level: int = 6, expected: Expected | None = None
) -> None:
    """Write (H, W, 3) float in [0, 1] or uint8 as an RGB PNG (or (H, W) as grey), atomically.

    ``compress_level`` is zlib's, 0 (none) to 9; 6 is PIL's default. Decoded pixels are the same
    at every level. Levels 0 and 1 go through :func:`sarcolor.data.png.write_png` (one filter,
    zlib RLE: ~2.5× faster than Pillow's level 1 for files of about its size), 2–9 through
    Pillow's adaptive filters, which make the smaller files (docs/benchmarks.md). ``expected``:
    as in :func:`~sarcolor.outputs.atomic_write`.
    """
    if rgb.dtype != np.uint8:
        rgb = to_uint8(rgb)
    if compress_level <= FAST_PNG_LEVEL:
        atomic_write(path, lambda tmp: _write_fast_png(tmp, rgb, compress_level), expected=expected)
        return
    image = Image.fromarray(rgb, mode="RGB") if rgb.ndim == 3 else Image.fromarray(rgb)
    atomic_write(
        path, lambda tmp: image.save(tmp, format="PNG", compress_level=compress_level), expected=expected
    )


FAST_PNG_LEVEL = 1  # the highest zlib level written by sarcolor's own encoder


def _write_fast_png(tmp: Path, pixels: np.ndarray, level: int) -> None:
    with open(tmp, "wb") as file:
        write_png(file, pixels, level)


def library_reason(exc: BaseException, path: Path | None = None) -> str:
    """The library's message without the file name (the caller puts it first)."""
    text = first_line(exc)
    for name in {str(getattr(exc, "filename", "") or ""), str(path or "")} - {""}:
        text = text.replace(f"'{name}'", "").replace(name, "")
    return text.strip(" :'\"") or first_line(exc)
