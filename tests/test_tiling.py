"""The tile planner and blender: full coverage, weights, sizes."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from sarcolor.tiling import Blender, blend_window, pad_to_plan, plan_tiles, tile_starts


@pytest.mark.parametrize(
    ("length", "overlap"),
    [(256, 64), (257, 64), (300, 64), (600, 64), (1000, 0), (777, 128), (512, 64)],
)
def test_tile_starts_cover_everything_with_enough_overlap(length, overlap):
    starts = tile_starts(length, 256, overlap)
    assert starts[0] == 0 and starts[-1] + 256 == length
    assert all(b > a for a, b in pairwise(starts))
    assert all(a + 256 - b >= overlap for a, b in pairwise(starts))


@pytest.mark.parametrize(("h", "w"), [(300, 200), (600, 520), (256, 256), (100, 40), (512, 512)])
def test_blending_a_constant_returns_it_everywhere(h, w):
    plan = plan_tiles(h, w, 256, 64)
    assert plan.padded_height == max(h, 256) and plan.padded_width == max(w, 256)
    blender = Blender(plan, 3, blend_window(256, 64))
    for origin in plan.origins:
        blender.add(origin, np.full((256, 256, 3), 0.3, np.float32))
    out = blender.result()
    assert out.shape == (h, w, 3)
    np.testing.assert_allclose(out, 0.3, atol=1e-6)
    assert (blender.weight > 0).all()


def test_blending_is_a_partition_of_unity_of_the_tile_outputs():
    """Each output pixel is a convex combination of the tiles covering it."""
    plan = plan_tiles(600, 520, 256, 64)
    blender = Blender(plan, 1, blend_window(256, 64))
    for k, origin in enumerate(plan.origins):
        blender.add(origin, np.full((256, 256, 1), float(k), np.float32))
    out = blender.result()[..., 0]
    assert out.min() >= 0 and out.max() <= len(plan.origins) - 1
    assert np.isclose(out[0, 0], 0) and np.isclose(out[-1, -1], len(plan.origins) - 1)


def test_window_is_smooth_and_one_in_the_middle():
    w = blend_window(256, 64)
    assert w.shape == (256, 256)
    assert w[128, 128] == 1 and w[64:192, 64:192].min() == 1
    assert w[0, 128] < 0.01 and np.abs(np.diff(w[128])).max() < 0.05


def test_small_images_are_mirror_padded():
    image = np.arange(10 * 20, dtype=np.float32).reshape(10, 20, 1)
    plan = plan_tiles(10, 20)
    padded = pad_to_plan(image, plan)
    assert padded.shape == (256, 256, 1)
    np.testing.assert_array_equal(padded[:10, :20], image)
    np.testing.assert_array_equal(
        padded[10, :20],
        image[
            9,
            :,
        ],
    )  # symmetric mirror


def test_a_single_tile_image_blends_exactly_as_accumulating_into_zeros():
    plan = plan_tiles(256, 256, 256, 64)
    window = blend_window(256, 64)
    output = np.random.default_rng(0).random((256, 256, 3), dtype=np.float32)
    blender = Blender(plan, 3, window)
    blender.add(plan.origins[0], output)
    total = np.zeros((256, 256, 3), np.float32)
    weight = np.zeros((256, 256, 1), np.float32)
    total += output * window[..., None]
    weight += window[..., None]
    np.testing.assert_array_equal(blender.result(), total / np.maximum(weight, 1e-12))
    with pytest.raises(ValueError, match="no tile"):
        Blender(plan, 3, window).result()
