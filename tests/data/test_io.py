"""Reading every supported image kind from real files, and clear errors for bad ones."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import rasterio.errors  # noqa: F401  (named in a warning filter)
from PIL import Image

from sarcolor.data.io import read_image, to_uint8, write_rgb_png
from sarcolor.errors import SarcolorError
from sarcolor.outputs import atomic_write


def gradient(h: int = 20, w: int = 30) -> np.ndarray:
    return np.linspace(0, 1, h * w, dtype=np.float32).reshape(h, w)


def test_real_sen12_pngs(real_sen12: Path):
    sar = read_image(real_sen12 / "agri" / "s1" / "ROIs1868_summer_s1_59_p30.png")
    opt = read_image(real_sen12 / "agri" / "s2" / "ROIs1868_summer_s2_59_p30.png")
    assert sar.shape == (256, 256, 1) and opt.shape == (256, 256, 3)
    assert sar.dtype == np.float32 and sar.min() >= 0 and sar.max() <= 1
    raw = np.asarray(Image.open(real_sen12 / "agri" / "s1" / "ROIs1868_summer_s1_59_p30.png"))
    np.testing.assert_allclose(sar[..., 0] * 255, raw, atol=1e-3)


@pytest.mark.parametrize(
    ("mode", "suffix", "channels"),
    [
        ("L", ".png", 1),
        ("RGB", ".png", 3),
        ("RGBA", ".png", 3),
        ("LA", ".png", 1),
        ("P", ".png", 3),
        ("1", ".png", 1),
        ("L", ".jpg", 1),
        ("RGB", ".jpg", 3),
        ("L", ".tif", 1),
        ("RGB", ".tif", 3),
    ],
)
def test_8bit_kinds(tmp_path: Path, mode: str, suffix: str, channels: int):
    g = (gradient() * 255).astype(np.uint8)
    rgb = np.stack([g, 255 - g, g // 2], axis=-1)
    base = Image.fromarray(rgb if channels == 3 else g)
    img = base.convert(mode) if mode != "P" else base.convert("P", palette=Image.Palette.ADAPTIVE)
    path = tmp_path / f"x{suffix}"
    img.save(path)
    out = read_image(path)
    assert out.shape == (20, 30, channels)
    if suffix != ".jpg" and mode not in ("1", "P"):
        expected = (rgb if channels == 3 else g[..., None]).astype(np.float32) / 255
        np.testing.assert_allclose(out, expected, atol=1e-6)


def test_16bit_grey_png_and_tiff(tmp_path: Path):
    g16 = (gradient() * 65535).astype(np.uint16)
    for suffix in (".png", ".tif"):
        path = tmp_path / f"g16{suffix}"
        Image.fromarray(g16).save(path)
        np.testing.assert_allclose(read_image(path)[..., 0], g16 / 65535, atol=1e-6)


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_16bit_rgb_tiff_via_rasterio(tmp_path: Path):
    import rasterio

    data = (np.stack([gradient()] * 3) * 65535).astype(np.uint16)
    path = tmp_path / "rgb16.tif"
    with rasterio.open(path, "w", driver="GTiff", width=30, height=20, count=3, dtype="uint16") as dst:
        dst.write(data)
    out = read_image(path)
    assert out.shape == (20, 30, 3)
    np.testing.assert_allclose(out[..., 1], data[1] / 65535, atol=1e-6)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "cannot read image"),
        (b"hello, not an image", "cannot read image"),
        (None, "file not found"),
    ],
)
def test_bad_files_name_the_file(tmp_path: Path, content: bytes | None, message: str):
    path = tmp_path / "bad.png"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(SarcolorError, match=message) as info:
        read_image(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_truncated_png(tmp_path: Path):
    path = tmp_path / "cut.png"
    Image.fromarray((gradient(200, 200) * 255).astype(np.uint8)).save(path)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(SarcolorError, match=str(path)):
        read_image(path)


def test_write_rgb_png_and_atomic_write(tmp_path: Path):
    rgb = np.random.default_rng(0).random((7, 9, 3)).astype(np.float32)
    write_rgb_png(tmp_path / "o" / "x.png", rgb)
    back = np.asarray(Image.open(tmp_path / "o" / "x.png"))
    np.testing.assert_allclose(back / 255, rgb, atol=0.5 / 255 + 1e-6)
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "o" / "x.png").stat().st_mode & 0o777 == 0o666 & ~mask  # not mkstemp's 0600

    target = tmp_path / "keep.txt"
    target.write_text("old")

    def failing(tmp: Path) -> None:
        tmp.write_text("half")
        raise RuntimeError("crash while writing")

    with pytest.raises(RuntimeError):
        atomic_write(target, failing)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt", "o"]  # no temp left over


def test_to_uint8_in_place_gives_the_same_levels():
    rng = np.random.default_rng(3)
    image = np.concatenate([rng.uniform(-0.2, 1.2, 1000), (np.arange(256) + 0.5) / 255, [0.0, 1.0]])
    image = image.astype(np.float32)
    kept = image.copy()
    expected = to_uint8(image)
    np.testing.assert_array_equal(image, kept)  # not overwritten by default
    np.testing.assert_array_equal(to_uint8(image, overwrite=True), expected)
    assert not np.array_equal(image, kept)  # scaled in place
    assert expected.min() == 0 and expected.max() == 255
