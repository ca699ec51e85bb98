"""sarcolor's own PNG encoder (data/png.py): decoders read back exactly the pixels written."""

from __future__ import annotations

import io
import zlib

import numpy as np
import pytest
from PIL import Image

from conftest import shared_path
from sarcolor.data import png
from sarcolor.data.io import write_rgb_png


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, data) of every chunk, each CRC checked."""
    assert data[:8] == png.SIGNATURE
    out, pos = [], 8
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        assert int.from_bytes(data[pos + 8 + length : pos + 12 + length], "big") == zlib.crc32(kind + body)
        out.append((kind, body))
        pos += 12 + length
    return out


def _encode(pixels: np.ndarray, level: int = 1) -> bytes:
    buf = io.BytesIO()
    png.write_png(buf, pixels, level)
    return buf.getvalue()


@pytest.mark.parametrize("shape", [(1, 1), (7, 13), (1, 300, 3), (64, 1, 3), (33, 47, 3), (5, 9, 4)])
@pytest.mark.parametrize("level", [0, 1, 6])
def test_pillow_decodes_the_pixels_written(shape: tuple[int, ...], level: int) -> None:
    rng = np.random.default_rng(sum(shape) + level)
    pixels = rng.integers(0, 256, shape, dtype=np.uint8)
    data = _encode(pixels, level)
    decoded = np.asarray(Image.open(io.BytesIO(data)))
    assert decoded.shape == pixels.shape
    np.testing.assert_array_equal(decoded, pixels)
    kinds = [kind for kind, _ in _chunks(data)]
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and set(kinds[1:-1]) == {b"IDAT"}


def test_a_large_image_is_written_in_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(png, "BLOCK_BYTES", 3 * 40 * 16)  # 16 rows of a 40-pixel RGB image
    rows = np.linspace(0, 255, 100 * 40 * 3).astype(np.uint8).reshape(100, 40, 3)
    noisy = rows ^ np.random.default_rng(0).integers(0, 256, rows.shape, dtype=np.uint8)
    data = _encode(noisy)
    assert sum(kind == b"IDAT" for kind, _ in _chunks(data)) > 1
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data))), noisy)


def test_a_view_with_strides_is_written_as_its_pixels() -> None:
    base = np.random.default_rng(1).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    view = base[::2, ::3]  # not contiguous
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(_encode(view)))), view)


@pytest.mark.parametrize(
    ("pixels", "message"),
    [
        (np.zeros((4, 4, 3), np.float32), "uint8"),
        (np.zeros((4, 4, 2), np.uint8), r"\(H, W, 3\)"),
        (np.zeros((2, 4, 4, 3), np.uint8), r"\(H, W, 3\)"),
    ],
)
def test_what_png_cannot_hold_is_refused(pixels: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _encode(pixels)


def test_outputs_of_every_level_hold_the_same_pixels(tmp_path) -> None:
    rgb = np.random.default_rng(2).random((48, 40, 3)).astype(np.float32)
    decoded = {}
    for level in (0, 1, 2, 9):
        write_rgb_png(tmp_path / f"{level}.png", rgb, level)
        decoded[level] = np.asarray(Image.open(tmp_path / f"{level}.png"))
    for level in (1, 2, 9):
        np.testing.assert_array_equal(decoded[level], decoded[0])


def test_real_optical_patches_compress_about_as_well_as_pillow_level_1() -> None:
    folder = shared_path("real", "sen1-2-scenes", "v_2", "agri", "s2")
    files = sorted(folder.glob("*.png"))[:6]
    ours = theirs = 0
    for file in files:
        rgb = np.asarray(Image.open(file).convert("RGB"))
        ours += len(_encode(rgb, 1))
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format="PNG", compress_level=1)
        theirs += len(buf.getvalue())
    assert ours < 1.1 * theirs, (ours, theirs)
    assert ours < 0.8 * sum(np.asarray(Image.open(f)).size for f in files)  # it does compress
