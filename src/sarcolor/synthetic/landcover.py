"""Land-cover class maps per terrain: fields, rivers, roads, towns, forests."""

from __future__ import annotations

import numpy as np

from sarcolor.synthetic.classes import (
    _CROP_P,
    _CROPS,
    BARE,
    BUILDING,
    FOREST,
    GRASS,
    GRASS_DRY,
    ROAD,
    ROCK,
    ROOF_RED,
    SAND,
    SHRUB,
    WATER,
)
from sarcolor.synthetic.noise import (
    _check_terrain,
    _dist_to_edges,
    _edges,
    _grid_positions,
    _paint,
    _quantise,
    _river,
    _rotated_coords,
    smooth_noise,
)


# --- land cover -----------------------------------------------------------------------------
def _regions(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """(H, W) int32 ids of irregular natural regions: bands of a smooth noise field (the unit of
    colour / backscatter jitter where there are no parcels)."""
    field = smooth_noise(shape, 160, rng, octaves=3)
    field *= np.float32(2.5)
    field += np.float32(8.0)
    np.clip(field, 0, 15, out=field)
    return field.astype(np.int32)


def _agri(size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
    u, v = _rotated_coords(size, np.deg2rad(rng.uniform(-25, 25)))
    half = size * 0.75  # > size / sqrt(2) >= |u|, |v|
    row_edges = _edges(-half, half, (35.0, 90.0), rng)
    row, near, d_row = _dist_to_edges(v, row_edges, -half, half)
    # Brick layout: every row of parcels has its own column edges (a per-row look-up table).
    n_rows = len(row_edges) + 1
    col_edges = np.stack([_edges(-half, half, (30.0, 110.0), rng) for _ in range(n_rows)])
    n_cols = col_edges.shape[1] + 1
    pos = _grid_positions(-half, half)
    table = np.stack([np.searchsorted(e, pos) for e in col_edges]).astype(np.int32)
    table += (np.arange(n_rows, dtype=np.int32) * n_cols)[:, None]
    parcels = np.take(table, row * np.int32(table.shape[1]) + _quantise(u, -half))
    parcel_class = rng.choice(_CROPS, size=n_rows * n_cols + 1, p=_CROP_P)
    classes = np.take(parcel_class, parcels)
    # Roads along some parcel-row boundaries and a few straight cross roads.
    road = (d_row < 2.0) & np.take(rng.random(len(row_edges)) < 0.3, near)
    for _ in range(rng.integers(0, 3)):
        road |= np.abs(u - np.float32(rng.uniform(-0.5, 0.5) * size)) < 2.0
    _paint(classes, road, ROAD)
    if rng.random() < 0.65:
        dist, hw = _river(size, rng, rng.uniform(6.0, 14.0))
        bank = dist < hw + np.float32(rng.uniform(3.0, 8.0))
        trees = smooth_noise((size, size), 12, rng, octaves=1) > -0.3
        _paint(classes, bank, np.where(trees, FOREST, GRASS).astype(np.uint8))
        _paint(classes, dist < hw, WATER)
        np.putmask(parcels, bank, n_rows * n_cols)
    return classes, parcels


def _barren(size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
    shape = (size, size)
    e = smooth_noise(shape, 220, rng, octaves=4)
    e += np.float32(0.35) * smooth_noise(shape, 40, rng, octaves=2)
    t_lo, t_hi = rng.uniform(-0.8, -0.3), rng.uniform(0.3, 0.8)
    classes = np.full(shape, BARE, dtype=np.uint8)
    _paint(classes, e < t_lo, SAND)
    _paint(classes, e > t_hi, ROCK)
    # Eroded gullies: thin rock lines where a mid-frequency field crosses zero.
    gully = np.abs(smooth_noise(shape, 90, rng, octaves=2)) < 0.05
    _paint(classes, gully & (e > t_lo), ROCK)
    scrub = smooth_noise(shape, 4, rng, octaves=1)
    scrub += np.float32(0.7) * smooth_noise(shape, 250, rng, octaves=2)  # moister areas
    _paint(classes, scrub > 2.1, SHRUB)
    if rng.random() < 0.7:  # dry river bed with scrub on its banks
        dist, hw = _river(size, rng, rng.uniform(8.0, 18.0))
        _paint(classes, (dist < hw + 6) & (smooth_noise(shape, 5, rng, octaves=1) > 0.4), SHRUB)
        _paint(classes, dist < hw, SAND)
        if rng.random() < 0.35:
            _paint(classes, dist < 2.0, WATER)
    return classes, _regions(shape, rng)


def _grass(size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
    shape = (size, size)
    g = smooth_noise(shape, 140, rng, octaves=3)
    classes = np.full(shape, GRASS, dtype=np.uint8)
    _paint(classes, g > rng.uniform(-0.2, 0.6), GRASS_DRY)
    f = smooth_noise(shape, 80, rng, octaves=4)
    t = rng.uniform(0.7, 1.1)
    _paint(classes, f > t - 0.3, SHRUB)  # forest fringe
    _paint(classes, f > t, FOREST)
    scrub = smooth_noise(shape, 5, rng, octaves=1)
    scrub += np.float32(0.5) * g
    _paint(classes, scrub > 2.3, SHRUB)
    if rng.random() < 0.5:  # dirt track
        dist, _ = _river(size, rng, 1.0)
        _paint(classes, dist < 1.5, ROAD)
    if rng.random() < 0.55:
        dist, hw = _river(size, rng, rng.uniform(5.0, 12.0))
        _paint(classes, (dist < hw + 5) & (f > t - 1.0), FOREST)  # riparian forest
        _paint(classes, dist < hw, WATER)
    return classes, _regions(shape, rng)


def _urban(size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
    shape = (size, size)
    u, v = _rotated_coords(size, np.deg2rad(rng.choice([0.0, rng.uniform(-20, 20)])))
    half = size * 0.75
    eu = _edges(-half, half, (45.0, 110.0), rng)
    ev = _edges(-half, half, (45.0, 110.0), rng)
    iu, near_u, du = _dist_to_edges(u, eu, -half, half)
    iv, near_v, dv = _dist_to_edges(v, ev, -half, half)
    block = iv * np.int32(len(eu) + 1) + iu
    n_blocks = (len(ev) + 1) * (len(eu) + 1)
    # Block kinds: 0 industrial (large grey roofs, paved yards), 1 residential (small lots,
    # mostly red roofs, gardens with trees), 2 park, 3 open ground.
    kind = rng.choice(4, size=n_blocks, p=[0.3, 0.45, 0.15, 0.1]).astype(np.uint8)
    big = kind == 0
    lot_u = np.where(big, rng.uniform(18, 40, n_blocks), rng.uniform(8, 15, n_blocks))
    lot_v = lot_u * rng.uniform(0.7, 1.5, n_blocks)
    gap = np.where(big, 4.0, 3.0)
    # Position inside the block in units of lots; a lot is built where it is past the gap.
    lu = u - np.take(eu, iu - 1)
    lu /= np.take(lot_u.astype(np.float32), block)
    lv = v - np.take(ev, iv - 1)
    lv /= np.take(lot_v.astype(np.float32), block)
    fu = lu - np.floor(lu)
    fv = lv - np.floor(lv)
    inside = (fu >= np.take((gap / lot_u).astype(np.float32), block)) & (
        fv >= np.take((gap / lot_v).astype(np.float32), block)
    )
    lot = np.minimum(lu, 15).astype(np.int32)
    lot += np.minimum(lv, 15).astype(np.int32) * 16
    lot += block * 256
    red = np.take(rng.random(n_blocks * 256) < 0.65, lot)  # roof colour per lot
    trees = smooth_noise(shape, 10, rng, octaves=2)
    kind_b = np.take(kind, block)
    #                   industrial  residential  park    open
    ground = np.array([[ROAD, GRASS, GRASS, BARE], [ROAD, FOREST, FOREST, BARE]], np.uint8)
    classes = np.take(ground.ravel(), kind_b + 4 * ((trees > 0.6) | ((kind_b == 2) & (trees > 0))))
    roof = np.where(red & (kind_b == 1), ROOF_RED, BUILDING).astype(np.uint8)
    _paint(classes, inside & (kind_b <= 1), roof)
    if rng.random() < 0.35:
        dist, hw = _river(size, rng, rng.uniform(8.0, 18.0))
        _paint(classes, dist < hw + 5, GRASS)
        _paint(classes, dist < hw, WATER)
    hw_u = np.where(rng.random(len(eu)) < 0.25, 5.0, 3.0).astype(np.float32)  # main roads wider
    hw_v = np.where(rng.random(len(ev)) < 0.25, 5.0, 3.0).astype(np.float32)
    road = (du < np.take(hw_u, near_u)) | (dv < np.take(hw_v, near_v))
    _paint(classes, road, ROAD)
    np.putmask(block, road, n_blocks)
    return classes, block


_GENERATORS = {"agri": _agri, "barrenland": _barren, "grassland": _grass, "urban": _urban}


def _land_cover(terrain: str, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
    """(classes (size, size) uint8, parcel ids (size, size) int32 or None)."""
    _check_terrain(terrain)
    if size < 1:
        raise ValueError(f"size must be a positive number of pixels, got {size}")
    return _GENERATORS[terrain](int(size), rng)


def land_cover_map(terrain: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """Draw a land-cover class map for one scene of the given terrain.

    Args:
        terrain: one of :data:`TERRAINS`.
        size: side length in pixels (10 m pixels; features are sized in pixels, so scenes of
            ~256-1024 px look best).
        rng: source of randomness.

    Returns:
        (size, size) uint8 class map with values in ``0..N_CLASSES-1`` (the module constants
        ``WATER, SAND, BARE, ROCK, SOIL, GRASS, GRASS_DRY, CROP_A..CROP_D, SHRUB, FOREST, ROAD,
        BUILDING, ROOF_RED``; names in :data:`CLASS_NAMES`).

    Raises:
        ValueError: unknown terrain (the message lists the valid ones) or non-positive size.
    """
    return _land_cover(terrain, size, rng)[0]
