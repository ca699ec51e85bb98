"""Property-based tests (hypothesis) of the tile planner: every pixel covered, weights blend to one."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sarcolor.tiling import Blender, blend_window, plan_tiles

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


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
