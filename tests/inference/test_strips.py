"""The scene's blending ring (inference/strips.py) against plain whole-scene sums."""

from __future__ import annotations

import numpy as np
import pytest

from sarcolor.data.io import to_uint8
from sarcolor.inference.strips import StripBuffer
from sarcolor.tiling import tile_starts

TILE, BLOCK, OVERLAP = 16, 16, 4  # the scene's proportions (256, 256, 64) scaled down


@pytest.mark.parametrize(("height", "width"), [(16, 16), (61, 37), (100, 23), (129, 40)])
def test_blocks_equal_whole_scene_blending(height: int, width: int) -> None:
    rng = np.random.default_rng(height * width)
    total = np.zeros((height + TILE, width + TILE, 3), np.float32)
    weight = np.zeros((height + TILE, width + TILE), np.float32)
    valid = rng.random((height, width)) > 0.1
    ring = StripBuffer(width, TILE + 2 * BLOCK)
    rows, cols = tile_starts(height, TILE, OVERLAP), tile_starts(width, TILE, OVERLAP)
    out_pixels, pending = [], None

    def flush(upto: int) -> None:
        nonlocal pending
        if pending is not None:  # the writer of the block before, done before the next take
            out_pixels.append(pending.pixels(width)[0])
            assert pending.done
            pending = None
        block = ring.take(upto)
        if block.rows:
            pending = block

    for k, top in enumerate(rows):
        n = min(TILE, height - top)
        ring.mark_valid(top, valid[top : top + n])
        for left in cols:
            out = rng.random((TILE, TILE, 3)).astype(np.float32)
            window = rng.random((TILE, TILE)).astype(np.float32) + 0.1
            ring.add(top, left, out * window[..., None], window)
            total[top : top + TILE, left : left + TILE] += out * window[..., None]
            weight[top : top + TILE, left : left + TILE] += window
        following = rows[k + 1] if k + 1 < len(rows) else height
        flush(height if following >= height else following // BLOCK * BLOCK)
    flush(height)
    flush(height)  # converts the last block
    got = np.concatenate(out_pixels)
    w = weight[:height, :width]
    expected = to_uint8(total[:height, :width] / np.maximum(w, 1e-12)[..., None])
    expected[~(valid & (w > 0))] = 0
    assert got.shape == (height, width, 3)
    np.testing.assert_array_equal(got, expected)
    assert not ring.total.any() and not ring.weight.any() and not ring.valid.any()  # all cleared


def test_rows_taken_or_held_by_a_block_in_flight_are_refused() -> None:
    ring = StripBuffer(8, 12)
    tile = np.ones((4, 8, 3), np.float32)
    ring.add(0, 0, tile, tile[..., 0])
    block = ring.take(4)  # rows 0-3, not converted yet: their ring rows are still held
    with pytest.raises(ValueError, match="outside the ring's free rows 4-12"):
        ring.add(10, 0, tile, tile[..., 0])  # rows 10-13 reach ring rows 0-1
    with pytest.raises(ValueError, match="free rows 4-12"):
        ring.add(2, 0, tile, tile[..., 0])  # already taken
    pixels, valid = block.pixels()
    assert pixels.shape == (4, 8, 3) and not valid.any() and not pixels.any()  # never marked valid
    ring.add(10, 0, tile, tile[..., 0])  # free once the block is written
    assert ring.weight[[10, 11, 0, 1]].all() and not ring.weight[2:10].any()
