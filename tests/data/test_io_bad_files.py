"""Bad and unusual image files: each refused in one line naming the file, or read correctly."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from rasterio.transform import Affine

from conftest import write_geotiff
from sarcolor.data.io import read_image
from sarcolor.errors import SarcolorError


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG that declares width × height but holds almost no data (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )
    return path


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_bad_and_unusual_image_files(tmp_path: Path):
    bomb = png_header_only(tmp_path / "bomb.png", 100_000, 100_000)
    with pytest.raises(SarcolorError, match="decompression-bomb guard"):
        read_image(bomb)
    fine = np.linspace(0, 1, 64 * 48, dtype=np.float32).reshape(48, 64)
    all_nodata = write_geotiff(tmp_path / "nodata.tif", np.full((48, 64), -99, np.float32), nodata=-99)
    with pytest.raises(SarcolorError, match="no valid pixel"):
        read_image(all_nodata)
    with pytest.raises(SarcolorError, match="no valid pixel"):
        read_image(write_geotiff(tmp_path / "nan.tif", np.full((48, 64), np.nan, np.float32)))
    holes = fine.copy()
    holes[:5] = np.nan
    holes[6, :3] = np.inf
    out = read_image(write_geotiff(tmp_path / "holes.tif", holes))
    assert (
        out.shape == (48, 64, 1) and np.isfinite(out).all() and out[:5].max() == 0 and out[6, :3].max() == 0
    )
    np.testing.assert_allclose(out[10:, :, 0], fine[10:], atol=1e-6)
    rotated = Affine.rotation(30) @ Affine(10, 0, 500000, 0, -10, 5000000)
    for name, kwargs in (("nocrs.tif", {"crs": None}), ("rotated.tif", {"transform": rotated})):
        np.testing.assert_allclose(
            read_image(write_geotiff(tmp_path / name, fine, **kwargs))[..., 0], fine, atol=1e-6
        )
    db = write_geotiff(tmp_path / "db.tif", fine * 30 - 25)  # float dB: not an image in [0, 1]
    with pytest.raises(SarcolorError, match="outside \\[0, 1\\]"):
        read_image(db)
    cut_tif = write_geotiff(tmp_path / "cut.tif", np.ones((400, 300), np.uint16))
    cut_tif.write_bytes(cut_tif.read_bytes()[:3000])
    with pytest.raises(SarcolorError, match=r"cut\.tif: cannot read image"):
        read_image(cut_tif)
    Image.fromarray(np.zeros((8, 8), np.int32) + 70_000, mode="I").save(tmp_path / "i32.tif")
    with pytest.raises(SarcolorError, match="int32 values outside 0…65535; expected 8 or 16 bit"):
        read_image(tmp_path / "i32.tif")
