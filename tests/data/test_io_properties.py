"""Property-based tests (hypothesis) of the readers: any bytes read or raise sarcolor's own error."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from PIL import Image

from sarcolor.data.io import read_image
from sarcolor.errors import SarcolorError

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


MAGIC = [b"", b"\x89PNG\r\n\x1a\n", b"II*\x00", b"MM\x00*", b"\xff\xd8\xff", b"GIF89a"]


@FAST
@given(
    magic=st.sampled_from(MAGIC),
    body=st.binary(max_size=300),
    suffix=st.sampled_from([".png", ".tif", ".jpg"]),
)
def test_any_bytes_read_or_raise_our_error(magic: bytes, body: bytes, suffix: str):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"x{suffix}"
        path.write_bytes(magic + body)
        try:
            image = read_image(path)
        except SarcolorError as exc:
            assert str(path) in str(exc) and "\n" not in str(exc)
            return
        assert image.ndim == 3 and image.shape[-1] in (1, 3) and image.dtype == np.float32
        assert np.isfinite(image).all() and image.min() >= 0 and image.max() <= 1


@FAST
@given(
    mode=st.sampled_from(["1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I"]),
    height=st.integers(1, 40),
    width=st.integers(1, 40),
    suffix=st.sampled_from([".png", ".tif"]),
    seed=st.integers(0, 2**16),
)
def test_valid_images_of_every_mode_read_into_unit_range(mode, height, width, suffix, seed):
    assume(not (mode == "I" and suffix == ".png"))  # PIL cannot write 32-bit PNGs
    rng = np.random.default_rng(seed)
    base = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    if mode == "I;16":
        image = Image.fromarray(rng.integers(0, 65536, (height, width), dtype=np.uint16))
    elif mode == "I":
        image = Image.fromarray(rng.integers(0, 65536, (height, width)).astype(np.int32), mode="I")
    else:
        image = base.convert(mode)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"x{suffix}"
        image.save(path)
        out = read_image(path)  # a valid image must read
    assert out.shape[:2] == (height, width) and out.shape[-1] in (1, 3)
    assert out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1
    if mode in ("I;16", "I"):
        expected = np.asarray(image, dtype=np.float64)[..., None] / 65535
    else:  # what PIL itself shows: grey or RGB, alpha dropped, palette applied, 1-bit as 0/255
        shown = image.convert("RGB" if mode in ("P", "RGB", "RGBA") else "L")
        expected = np.asarray(shown, dtype=np.float64).reshape(height, width, -1) / 255
    np.testing.assert_allclose(*np.broadcast_arrays(out, expected), atol=1e-6)
