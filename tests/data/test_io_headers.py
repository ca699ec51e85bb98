"""Headers are checked before pixels are decoded: shape, bands, sample type and the memory it takes.

Each case runs the real CLI in a subprocess whose peak resident memory (VmHWM) is compared
with a stated ceiling; before these checks the first case reached 7.8 GB.
"""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from conftest import assert_clean_exit, run_cli_cases, untrained_checkpoint, write_geotiff

FP32 = ["--no-progress", "--precision", "fp32"]
CEILING = 600e6  # bytes: the CLI with torch, rasterio and a model loaded peaks at ≈ 300 MB


def crafted_png(path: Path, width: int, height: int, color_type: int = 0, depth: int = 8) -> Path:
    """A PNG whose header declares ``width × height`` and whose data is 1 kB: tiny on disk."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1000)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )
    return path


def crafted_jpeg(path: Path, width: int, height: int, components: int = 3) -> Path:
    """A JPEG of a start-of-frame header only (``width × height``), 23 bytes for 3 components."""
    sof = struct.pack(">BHHB", 8, height, width, components)
    sof += b"".join(bytes([i + 1, 0x11, 0]) for i in range(components))
    path.write_bytes(b"\xff\xd8\xff\xc0" + struct.pack(">H", len(sof) + 2) + sof + b"\xff\xd9")
    return path


def sparse_tiff(path: Path, width: int, height: int, bands: int, dtype: str = "uint8") -> Path:
    """A tiled, compressed TIFF declaring ``width × height × bands`` with no block written (reads as 0)."""
    import rasterio

    profile = dict(driver="GTiff", width=width, height=height, count=bands, dtype=dtype, tiled=True)
    profile.update(compress="deflate", sparse_ok=True, interleave="band", blockxsize=512, blockysize=512)
    with rasterio.open(path, "w", **profile):
        pass
    return path


def test_a_tiny_file_declaring_200_bands_is_refused_before_decoding(tmp_path: Path):
    """Defect 2: a 4000×4000×200 TIFF of 100 kB in a dataset (``sarcolor data`` reached 7.8 GB)."""
    data = tmp_path / "data"
    (data / "A").mkdir(parents=True)
    (data / "B").mkdir()
    bomb = sparse_tiff(data / "A" / "x.tif", 4000, 4000, 200)
    Image.fromarray(np.zeros((256, 256, 3), np.uint8)).save(data / "B" / "x.png")
    assert bomb.stat().st_size < 200_000
    (result,) = run_cli_cases([["data", data]])
    assert result["rc"] == 1 and "Traceback" not in result["err"]  # 1: unreadable files listed
    assert "x.tif: 200 bands; expected 1 (grey) or 3 (RGB)" in result["out"]
    assert result["rss"] < CEILING, result["rss"]


def test_huge_declared_png_jpeg_and_tiff_are_refused_by_the_memory_they_need(tmp_path: Path):
    """Defect 4: a 19000² grey PNG needs ~14 GB to colorize whole; refused from its header when that
    is more than the machine has (here: SARCOLOR_MEMORY_LIMIT=2G)."""
    ckpt = untrained_checkpoint(tmp_path / "m.safetensors", ngf=4)
    png = crafted_png(tmp_path / "grey.png", 19000, 19000)
    jpeg = crafted_jpeg(tmp_path / "rgb.jpg", 19000, 19000)
    data = tmp_path / "data"
    (data / "A").mkdir(parents=True)
    (data / "B").mkdir()
    sparse_tiff(data / "A" / "x.tif", 15000, 15000, 4, "float32")  # 3.6 GB of samples
    Image.fromarray(np.zeros((256, 256, 3), np.uint8)).save(data / "B" / "x.png")
    results = run_cli_cases(
        [
            ["colorize", png, "--checkpoint", ckpt, "--out", tmp_path / "o1", "--no-progress"],
            ["colorize", jpeg, "--checkpoint", ckpt, "--out", tmp_path / "o2", "--no-progress"],
            ["data", data],
        ],
        env={"SARCOLOR_MEMORY_LIMIT": "2G"},
    )
    for result, bands in zip(results[:2], (1, 3), strict=True):
        needle = f"19000×19000 pixels ({bands} band(s)"
        assert_clean_exit(result, codes=(2,))
        assert needle in result["err"] and "GB of memory, 2.0 GB available" in result["err"], result
        assert "as a GeoTIFF" in result["err"]
    assert "x.tif: 15000×15000 pixels (4 band(s)" in results[2]["out"]
    assert max(r["rss"] for r in results) < CEILING


def test_colorizing_a_large_png_stays_within_the_memory_it_is_allowed(tmp_path: Path):
    """The estimate read_image checks (38 B/px for grey, 100 MB besides) bounds what colorizing takes."""
    ckpt = untrained_checkpoint(tmp_path / "m.safetensors", ngf=4)
    for side in (64, 1500, 2000):
        Image.fromarray(np.full((side, side), 100, np.uint8)).save(tmp_path / f"g{side}.png")
    limit = 200_000_000  # with 100 MB for any size: 1500² × 38 B = 86 MB fits, 2000² × 38 B = 152 MB not
    results = run_cli_cases(
        [
            [
                "colorize",
                tmp_path / f"g{side}.png",
                "--checkpoint",
                ckpt,
                "--out",
                tmp_path / f"o{side}",
                *FP32,
            ]
            for side in (64, 1500, 2000)
        ],
        env={"SARCOLOR_MEMORY_LIMIT": str(limit)},
    )
    baseline, fits, refused = results
    assert baseline["rc"] == fits["rc"] == 0, results
    assert (tmp_path / "o1500" / "g1500.png").is_file()
    assert fits["rss"] - baseline["rss"] < limit, fits["rss"] - baseline["rss"]  # measured 108–125 MB
    assert_clean_exit(refused, codes=(2,))
    assert (
        "2000×2000 pixels (1 band(s), ~38 B each) need about 0.3 GB of memory, 0.2 GB available"
        in refused["err"]
    )
    assert refused["rss"] - fits["rss"] < 10e6  # refused before decoding
    assert not (tmp_path / "o2000" / "g2000.png").exists()


def test_complex_and_sparse_scenes(tmp_path: Path):
    """A complex64 GeoTIFF is refused in one line (it was an internal TypeError); a 4096² scene
    NaN everywhere but one pixel colorizes (its decimated copy has no valid pixel)."""
    ckpt = untrained_checkpoint(tmp_path / "m.safetensors")
    slc = write_geotiff(tmp_path / "slc.tif", (np.ones((64, 64)) * (1 + 1j)).astype(np.complex64))
    sparse = np.full((4096, 4096), np.nan, np.float32)
    sparse[1234, 2345] = -12.0  # dB
    lonely = write_geotiff(tmp_path / "lonely.tif", sparse)
    data = tmp_path / "data"
    (data / "A").mkdir(parents=True)
    (data / "B").mkdir()
    write_geotiff(data / "A" / "x.tif", np.ones((2, 256, 256), np.complex64))
    Image.fromarray(np.zeros((256, 256, 3), np.uint8)).save(data / "B" / "x.png")
    results = run_cli_cases(
        [
            ["colorize", slc, "--checkpoint", ckpt, "--out", tmp_path / "o1", "--no-progress"],
            ["colorize", lonely, "--checkpoint", ckpt, "--out", tmp_path / "o2", "--no-progress"],
            ["data", data],
        ]
    )
    assert_clean_exit(results[0], codes=(2,))
    assert f"{slc}: complex samples (complex64" in results[0]["err"]
    assert results[1]["rc"] == 0, results[1]
    assert "(values -12…-12, median -12): taken as backscatter in dB" in results[1]["out"], results[1]
    tiles = int(re.search(r"4096×4096, (\d+) tiles", results[1]["out"])[1])
    assert 1 <= tiles <= 4  # the tiles around the one valid pixel; the others are skipped
    assert "x.tif: complex samples (complex64" in results[2]["out"]
