"""Property-based tests (hypothesis): readers, the pair matcher and the tile planner either work
or raise the project's own error, for any input."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from PIL import Image

from sarcolor.data.io import read_image
from sarcolor.data.sources import discover_pairs
from sarcolor.data.sources.naming import SENSOR_TOKEN
from sarcolor.errors import SarcolorError
from sarcolor.inference.tiling import Blender, blend_window, plan_tiles

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


name_part = st.sampled_from(
    ["ROIs1970", "ROIs1868", "x", "s1", "s2", "fall", "summer", "p1", "p12", "7", "59"]
)


@FAST
@given(
    names=st.lists(
        st.lists(name_part, min_size=1, max_size=6).map("_".join), min_size=1, max_size=12, unique=True
    ),
    layout=st.lists(st.sampled_from(["s1", "s2", "both"]), min_size=12, max_size=12),
)
def test_pair_matcher_invariants(names: list[str], layout: list[str]):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "v_2" / "agri"
        files = []
        for name, where in zip(names, layout, strict=False):
            for sensor in ("s1", "s2") if where == "both" else (where,):
                tokens = SENSOR_TOKEN.findall(name)
                stem = SENSOR_TOKEN.sub(sensor, name, count=1) if len(tokens) == 1 else name
                path = root / sensor / f"{stem}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                if not path.exists():
                    path.touch()
                    files.append(path)
        (root / "s1").mkdir(parents=True, exist_ok=True)
        (root / "s2").mkdir(parents=True, exist_ok=True)
        try:
            found = discover_pairs(Path(tmp))
        except SarcolorError:
            return
        used = [f for p in found.pairs for f in (p.s1, p.s2)]
        assert len(used) == len(set(used))  # a file is in one pair at most
        assert all(p.s1.parent.name == "s1" and p.s2.parent.name == "s2" for p in found.pairs)
        assert not set(used) & set(found.unpaired)
        named = {f for f in files if any(str(f) in problem for problem in found.problems)}
        assert set(used) | set(found.unpaired) | named == set(files)  # nothing silently dropped


@FAST
@given(height=st.integers(1, 900), width=st.integers(1, 900), overlap=st.integers(0, 255))
def test_tile_plan_covers_every_pixel_and_blends_to_one(height: int, width: int, overlap: int):
    plan = plan_tiles(height, width, 256, overlap)
    cover = np.zeros((plan.padded_height, plan.padded_width), np.int32)
    for top, left in plan.origins:
        assert 0 <= top <= plan.padded_height - 256 and 0 <= left <= plan.padded_width - 256
        cover[top : top + 256, left : left + 256] += 1
    assert cover.min() >= 1  # every pixel is in some tile
    blender = Blender(plan, 1, blend_window(256, overlap))
    for origin in plan.origins:
        blender.add(origin, np.ones((256, 256, 1), np.float32))
    out = blender.result()
    assert out.shape == (height, width, 1)
    np.testing.assert_allclose(out, 1.0, rtol=1e-5)  # normalised weights sum to one everywhere
