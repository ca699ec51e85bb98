"""Reading and writing image files.

:func:`read_image` turns PNG, JPEG and 8/16-bit TIFF files (grey, grey+alpha, RGB, RGBA,
palette, 1-bit) into float arrays in [0, 1]; alpha is dropped. Every failure becomes a
:class:`~sarcolor.errors.SarcolorError` naming the file.

Guards and recoveries:

* an image declaring more than :data:`MAX_PIXELS` pixels is refused before decoding
  (decompression-bomb guard; ``SARCOLOR_MAX_PIXELS`` raises the limit);
* in TIFFs, nodata pixels (GDAL nodata value, NaN, ±Inf, or a band mask) are filled with 0,
  and a file with no valid pixel at all is refused;
* CRS and geotransform (none, or rotated) are ignored: the raster is read as an image.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from sarcolor.errors import SarcolorError, first_line
from sarcolor.outputs import atomic_write

_MAX_BY_DTYPE = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}
MAX_PIXELS: int = int(os.environ.get("SARCOLOR_MAX_PIXELS", 20_000 * 20_000))
Image.MAX_IMAGE_PIXELS = None  # the guard below replaces PIL's warning/error pair


def read_image(path: str | Path) -> np.ndarray:
    """Read an image as float32 in [0, 1].

    Returns:
        (H, W, C) float32 array, C = 1 (grey) or 3 (RGB).

    Raises:
        SarcolorError: the file is missing, unreadable, or of an unsupported kind.
    """
    path = Path(path)
    if not path.is_file():
        raise SarcolorError(f"{path}: file not found")
    if path.suffix.lower() in (".tif", ".tiff"):  # GDAL knows nodata, masks and every TIFF layout
        array = _read_with_rasterio(path)
    else:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # e.g. corrupt EXIF, which is not used
                with Image.open(path) as img:
                    check_size(path, img.width, img.height)
                    img.load()
                    array = _from_pil(img)
        except SarcolorError:
            raise
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
            raise SarcolorError(f"{path}: cannot read image ({library_reason(exc, path)})") from None
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise SarcolorError(f"{path}: image is empty")
    return array


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


def _read_with_rasterio(path: Path) -> np.ndarray:
    """A TIFF (plain or GeoTIFF, any layout GDAL reads); nodata pixels become 0."""
    try:
        import rasterio
        from rasterio.errors import NotGeoreferencedWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                check_size(path, src.width, src.height)
                bands = src.read(masked=True)  # (C, H, W), nodata and band masks as the mask
                palette = _palette(src)
                nbits = int(src.tags(1, "IMAGE_STRUCTURE").get("NBITS", 0) or 0)
    except SarcolorError:
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
    if width * height > MAX_PIXELS:
        raise SarcolorError(
            f"{path}: declares {width}×{height} pixels, over the {MAX_PIXELS / 1e6:.0f} MP limit "
            "(decompression-bomb guard; set SARCOLOR_MAX_PIXELS to allow it)"
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


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Float in [0, 1] → uint8, rounded: exactly what a written PNG holds."""
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def write_rgb_png(path: str | Path, rgb: np.ndarray, compress_level: int = 6) -> None:
    """Write (H, W, 3) float in [0, 1] or uint8 as an RGB PNG, atomically.

    ``compress_level`` is zlib's, 0 (none) to 9; 6 is PIL's default. Decoded pixels are the same
    at every level; on 256×256 Sentinel-2-like images level 1 encodes ~3.5× faster than 6 for
    files ~13 % larger (docs/benchmarks.md).
    """
    if rgb.dtype != np.uint8:
        rgb = to_uint8(rgb)
    image = Image.fromarray(rgb, mode="RGB") if rgb.ndim == 3 else Image.fromarray(rgb)
    atomic_write(path, lambda tmp: image.save(tmp, format="PNG", compress_level=compress_level))


def library_reason(exc: BaseException, path: Path | None = None) -> str:
    """The library's message without the file name (the caller puts it first)."""
    text = first_line(exc)
    for name in {str(getattr(exc, "filename", "") or ""), str(path or "")} - {""}:
        text = text.replace(f"'{name}'", "").replace(name, "")
    return text.strip(" :'\"") or first_line(exc)
