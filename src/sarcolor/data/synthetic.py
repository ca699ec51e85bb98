"""Seeded synthetic Sentinel-1 / Sentinel-2 pairs in the Kaggle "segregated by terrain" layout.

The generator draws a land-cover class map per scene (:func:`land_cover_map`) and renders it
twice from the same map: once as a Sentinel-2-like true-colour image (:func:`render_optical`)
and once as a Sentinel-1-like VV backscatter image (:func:`render_sar`).  Because the land-cover
class determines both the optical colour and the backscatter level, the SAR carries strong,
learnable information about the optical colour, while still looking like SAR (multiplicative
gamma speckle in linear intensity, double-bounce lines at buildings, radar shadows).

:func:`make_synthetic_dataset` writes the pairs in the layout of the Kaggle dataset
"sentinel12-image-pairs-segregated-by-terrain"::

    ROOT/v_2/<terrain>/s1/ROIs2025_<season>_s1_<scene>_p<patch>.png   (mode "L")
    ROOT/v_2/<terrain>/s2/ROIs2025_<season>_s2_<scene>_p<patch>.png   (mode "RGB")

Like SEN1-2, each scene is one larger map cut into neighbouring, non-overlapping patches, so
patches of one scene are correlated and a train/test split must be done by scene
(scene identity = ``(roi, season, scene)``).

Only numpy and Pillow are used; everything is vectorised (no per-pixel Python loops).
"""

from __future__ import annotations

import math
import os
import pathlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image

__all__ = [
    "BARE",
    "BUILDING",
    "CLASS_NAMES",
    "CROP_A",
    "CROP_B",
    "CROP_C",
    "CROP_D",
    "DB_MAX",
    "DB_MIN",
    "FOREST",
    "GRASS",
    "GRASS_DRY",
    "N_CLASSES",
    "OPTICAL_RGB",
    "ROAD",
    "ROCK",
    "ROI",
    "ROOF_RED",
    "SAND",
    "SAR_DB",
    "SEASONS",
    "SHRUB",
    "SOIL",
    "TERRAINS",
    "WATER",
    "db_to_uint8",
    "land_cover_map",
    "make_synthetic_dataset",
    "render_labelled_scene",
    "render_optical",
    "render_sar",
    "render_scene",
    "smooth_noise",
    "uint8_to_db",
]

TERRAINS: tuple[str, ...] = ("agri", "barrenland", "grassland", "urban")
SEASONS: tuple[str, ...] = ("spring", "summer", "fall", "winter")
ROI: str = "ROIs2025"

#: SEN1-2 convention: VV backscatter clipped to [DB_MIN, DB_MAX] dB, mapped linearly to 0..255.
DB_MIN: float = -25.0
DB_MAX: float = 0.0

# --- land-cover classes (values of the uint8 class map) ------------------------------------
WATER = 0
SAND = 1  # sand, dry river bed
BARE = 2  # bare ground
ROCK = 3  # rock / eroded ground
SOIL = 4  # ploughed bare brown soil (agricultural)
GRASS = 5  # green grass
GRASS_DRY = 6  # dry / yellowish grass
CROP_A = 7  # green crop
CROP_B = 8  # ripe yellow-brown crop
CROP_C = 9  # dark green crop (maize-like, high biomass)
CROP_D = 10  # young light-green crop
SHRUB = 11  # shrubs, scrub
FOREST = 12
ROAD = 13  # roads and paved surfaces
BUILDING = 14  # grey (industrial / flat) roofs
ROOF_RED = 15  # red tiled roofs (residential)
N_CLASSES = 16

CLASS_NAMES: tuple[str, ...] = (
    "water",
    "sand",
    "bare",
    "rock",
    "soil",
    "grass",
    "grass_dry",
    "crop_a",
    "crop_b",
    "crop_c",
    "crop_d",
    "shrub",
    "forest",
    "road",
    "building",
    "roof_red",
)

#: (N_CLASSES, 3) float32 mean Sentinel-2 true colour (0..255) per class: dark, low saturation.
OPTICAL_RGB: np.ndarray = np.array(
    [
        (30, 45, 60),  # WATER
        (178, 160, 128),  # SAND
        (152, 132, 106),  # BARE
        (122, 112, 102),  # ROCK
        (124, 98, 78),  # SOIL
        (78, 108, 54),  # GRASS
        (128, 126, 80),  # GRASS_DRY
        (66, 112, 48),  # CROP_A
        (166, 146, 92),  # CROP_B
        (44, 78, 40),  # CROP_C
        (104, 134, 64),  # CROP_D
        (92, 98, 64),  # SHRUB
        (38, 62, 40),  # FOREST
        (86, 86, 90),  # ROAD
        (152, 152, 154),  # BUILDING
        (160, 96, 80),  # ROOF_RED
    ],
    dtype=np.float32,
)

#: (N_CLASSES,) float32 mean VV backscatter (dB) per class, before texture and speckle.
SAR_DB: np.ndarray = np.array(
    [
        -22.0,  # WATER
        -15.0,  # SAND
        -13.5,  # BARE
        -12.0,  # ROCK
        -13.0,  # SOIL
        -11.0,  # GRASS
        -12.5,  # GRASS_DRY
        -9.0,  # CROP_A
        -11.5,  # CROP_B
        -7.5,  # CROP_C
        -10.5,  # CROP_D
        -9.0,  # SHRUB
        -7.0,  # FOREST
        -18.0,  # ROAD
        -3.0,  # BUILDING
        -2.0,  # ROOF_RED
    ],
    dtype=np.float32,
)

# Per-parcel / per-region variation: optical colour jitter (std, 0..255 units) and SAR (dB).
_OPT_JITTER = np.array([3, 6, 6, 6, 8, 5, 5, 9, 9, 7, 9, 4, 4, 5, 10, 10], dtype=np.float32)
_SAR_JITTER = np.array(
    [0.5, 0.6, 0.6, 0.8, 0.8, 0.6, 0.6, 1.2, 1.2, 1.2, 1.2, 0.6, 0.5, 0.6, 1.0, 1.0],
    dtype=np.float32,
)
# Fine optical texture amplitude per class (std, 0..255 units).
_OPT_TEXTURE = np.array([1.5, 4, 4, 6, 4, 4, 4, 4, 4, 4, 4, 7, 7, 3, 4, 4], dtype=np.float32)

_CROPS = np.array([CROP_A, CROP_B, CROP_C, CROP_D, SOIL, GRASS, FOREST], dtype=np.uint8)
_CROP_P = np.array([0.24, 0.20, 0.16, 0.14, 0.14, 0.08, 0.04])
_IS_BUILT = np.zeros(N_CLASSES, dtype=bool)
_IS_BUILT[[BUILDING, ROOF_RED]] = True
_HUE = np.array([1.0, 0.0, -1.0], dtype=np.float32)  # red/blue colour shift direction


# --- small helpers --------------------------------------------------------------------------
def _check_terrain(terrain: str) -> int:
    if terrain not in TERRAINS:
        raise ValueError(f"unknown terrain {terrain!r}; valid terrains are: {', '.join(TERRAINS)}")
    return TERRAINS.index(terrain)


def _interp_coords(n_out: int, cell: float, offset: float) -> tuple[np.ndarray, np.ndarray]:
    """Linear interpolation of a 1-D grid of spacing ``cell`` at ``n_out`` output samples.

    Output sample ``i`` sits at grid coordinate ``(i + offset) / cell``.  Returns the left grid
    index (int64, (n_out,)) and the weight of the right neighbour (float32, (n_out,)); the grid
    needs ``i0.max() + 2`` nodes.
    """
    pos = (np.arange(n_out, dtype=np.float64) + offset) / cell
    i0 = np.floor(pos).astype(np.int64)
    return i0, (pos - i0).astype(np.float32)


def _interp_matrix(i0: np.ndarray, frac: np.ndarray, n_in: int) -> np.ndarray:
    """(n_out, n_in) float32 matrix form of :func:`_interp_coords`."""
    mat = np.zeros((len(i0), n_in), dtype=np.float32)
    rows = np.arange(len(i0))
    mat[rows, i0] = 1.0 - frac
    mat[rows, i0 + 1] += frac
    return mat


def _upsample(
    grid: np.ndarray,
    ys: tuple[np.ndarray, np.ndarray],
    xs: tuple[np.ndarray, np.ndarray],
) -> np.ndarray:
    """Bilinearly interpolate a 2-D grid at the separable coordinates ``ys`` x ``xs``."""
    (iy, fy), (ix, fx) = ys, xs
    if max(grid.shape) <= 64:  # coarse grid: two small matrix products are fastest
        rows = _interp_matrix(iy, fy, grid.shape[0])
        cols = _interp_matrix(ix, fx, grid.shape[1])
        return (rows @ grid) @ cols.T
    # Fine grid: gather and lerp, cost independent of the grid size.
    tmp = grid[:, ix]
    tmp += (grid[:, ix + 1] - tmp) * fx
    out = tmp[iy]
    out += (tmp[iy + 1] - out) * fy[:, None]
    return out


def smooth_noise(
    shape: tuple[int, int],
    cell: float,
    rng: np.random.Generator,
    *,
    octaves: int = 3,
    persistence: float = 0.5,
) -> np.ndarray:
    """Smooth low-frequency value noise (numpy only).

    Octave ``i`` is a grid of standard normal values with spacing ``cell / 2**i`` and amplitude
    ``persistence**i``, bilinearly interpolated at a random sub-cell offset.  The octaves are
    summed on the finest grid (coarser octaves interpolated onto its nodes) and the sum is
    bilinearly upsampled to ``shape`` once.

    Args:
        shape: (H, W) of the output.
        cell: spacing of the coarsest grid in pixels (the feature size); clamped to >= 1.
        rng: source of randomness.
        octaves: number of octaves (>= 1).
        persistence: amplitude ratio between successive octaves.

    Returns:
        (H, W) float32 field with zero mean and unit standard deviation (estimated on a
        subsample, so both hold to within a few percent).
    """
    h, w = shape
    octaves = max(int(octaves), 1)
    fine = max(float(cell) / 2 ** (octaves - 1), 1.0)
    ys = _interp_coords(h, fine, rng.uniform(0.0, fine))
    xs = _interp_coords(w, fine, rng.uniform(0.0, fine))
    n_y, n_x = int(ys[0].max()) + 2, int(xs[0].max()) + 2
    grid = rng.standard_normal((n_y, n_x), dtype=np.float32)
    grid *= np.float32(persistence ** (octaves - 1))
    for i in range(octaves - 1):  # coarser octaves, interpolated onto the fine grid nodes
        c = max(float(cell) / 2**i, 1.0) / fine
        cy = _interp_coords(n_y, c, rng.uniform(0.0, c))
        cx = _interp_coords(n_x, c, rng.uniform(0.0, c))
        coarse = rng.standard_normal((int(cy[0].max()) + 2, int(cx[0].max()) + 2), np.float32)
        grid += np.float32(persistence**i) * _upsample(coarse, cy, cx)
    # Normalise on a subsample of the output; interpolation weights sum to 1, so shifting and
    # scaling the grid shifts and scales the output exactly.
    # (~160 x 160 samples at irregular spacing, so no phase of the grid is favoured.)
    sy = np.unique(np.linspace(0, h - 1, min(h, 157)).astype(np.int64))
    sx = np.unique(np.linspace(0, w - 1, min(w, 163)).astype(np.int64))
    sample = _upsample(grid, (ys[0][sy], ys[1][sy]), (xs[0][sx], xs[1][sx]))
    std = float(sample.std())
    grid -= np.float32(sample.mean())
    grid *= np.float32(1.0 / std if std > 0 else 1.0)
    return _upsample(grid, ys, xs)


def _binomial3_sum(a: np.ndarray) -> np.ndarray:
    """16 x the separable 3x3 binomial blur ([1, 2, 1] per axis) of ``a`` over axes 0 and 1.

    Edges are replicated; works in ``a``'s dtype; needs H, W >= 2.
    """
    v = np.empty_like(a)
    np.add(a[:-2], a[2:], out=v[1:-1])
    v[1:-1] += a[1:-1]
    v[1:-1] += a[1:-1]
    v[0] = 3 * a[0] + a[1]
    v[-1] = 3 * a[-1] + a[-2]
    out = np.empty_like(a)
    np.add(v[:, :-2], v[:, 2:], out=out[:, 1:-1])
    out[:, 1:-1] += v[:, 1:-1]
    out[:, 1:-1] += v[:, 1:-1]
    out[:, 0] = 3 * v[:, 0] + v[:, 1]
    out[:, -1] = 3 * v[:, -1] + v[:, -2]
    return out


def _shift(mask: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``out[y, x] = mask[y - dy, x - dx]`` (False outside)."""
    h, w = mask.shape
    out = np.zeros_like(mask)
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[yd, xd] = mask[ys, xs]
    return out


def _paint(classes: np.ndarray, mask: np.ndarray, value: int | np.ndarray) -> None:
    """``classes[mask] = value`` in place for uint8 maps (arithmetic: ~30x faster than a
    boolean-mask assignment).  ``value`` is a scalar or an array broadcastable to the map."""
    classes ^= (classes ^ np.asarray(value, dtype=np.uint8)) * mask


def _rotated_coords(size: int, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """(u, v) float32 (size, size) coordinates rotated by ``angle`` (radians) about the centre.

    ``|u|, |v| <= size / sqrt(2)``.
    """
    r = np.arange(size, dtype=np.float32) - np.float32((size - 1) / 2.0)
    ca, sa = np.float32(math.cos(angle)), np.float32(math.sin(angle))
    x, y = r[None, :], r[:, None]
    return x * ca + y * sa, y * ca - x * sa


def _river(size: int, rng: np.random.Generator, half_width: float) -> tuple[np.ndarray, np.ndarray]:
    """Meandering band across the scene.

    Returns:
        (dist, hw): (size, size) float32 lateral distance from the centre line and the local
        half width; the river is ``dist < hw``.
    """
    u, v = _rotated_coords(size, rng.uniform(0.0, math.pi))
    v += np.float32(rng.uniform(-0.25, 0.25) * size)
    for amp, wavelength in ((0.08, 0.9), (0.035, 0.35), (0.012, 0.12)):
        a = np.float32(amp * size * rng.uniform(0.6, 1.4))
        k = np.float32(2 * np.pi / (wavelength * size * rng.uniform(0.7, 1.3)))
        v -= a * np.sin(k * u + np.float32(rng.uniform(0, 2 * np.pi)))
    k = np.float32(2 * np.pi / (0.5 * size))
    hw = np.sin(k * u + np.float32(rng.uniform(0, 6)))
    hw *= np.float32(0.3 * half_width)
    hw += np.float32(half_width)
    return np.abs(v), hw


# Cell look-ups run on coordinates quantised to 1/_Q pixel (a table gather instead of a
# searchsorted over every pixel).
_Q = 4


def _edges(lo: float, hi: float, step: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """Sorted 1-D float32 positions, the first < ``lo``, the last > ``hi``, random spacing."""
    n = int((hi - lo + 2 * step[1]) / step[0]) + 2
    start = lo - step[1] - rng.uniform(0, step[1])
    return (start + np.cumsum(rng.uniform(step[0], step[1], n))).astype(np.float32)


def _quantise(x: np.ndarray, lo: float) -> np.ndarray:
    """int32 index of ``x`` on the 1/_Q px grid starting at ``lo`` (``x >= lo``)."""
    q = x - np.float32(lo)
    q *= np.float32(_Q)
    return q.astype(np.int32)


def _grid_positions(lo: float, hi: float) -> np.ndarray:
    """Centres of the 1/_Q px bins from ``lo`` to ``hi`` (float32)."""
    n = math.ceil((hi - lo) * _Q) + 1
    return (lo + (np.arange(n) + 0.5) / _Q).astype(np.float32)


def _dist_to_edges(
    x: np.ndarray, edges: np.ndarray, lo: float, hi: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cell index of ``x`` among ``edges``, index of the nearest edge and the distance to it.

    ``lo <= x <= hi`` and ``edges`` must bracket ``[lo, hi]`` (see :func:`_edges`).  The cell is
    looked up at 1/_Q px resolution; the distance is exact.
    """
    table = np.searchsorted(edges, _grid_positions(lo, hi)).astype(np.int32)
    idx = np.take(table, _quantise(x, lo))
    d_lo = x - np.take(edges, idx - 1)
    d_hi = np.take(edges, idx) - x
    closer_lo = d_lo < d_hi
    return idx, idx - closer_lo, np.minimum(d_lo, d_hi)


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


# --- rendering ------------------------------------------------------------------------------
def _region_values(
    classes: np.ndarray,
    parcels: np.ndarray | None,
    rng: np.random.Generator,
    base: np.ndarray,
    amp: np.ndarray,
    direction: np.ndarray,
) -> np.ndarray:
    """Per-class base value + jitter, constant per parcel (smooth and regional without parcels).

    ``base`` is (N_CLASSES, C), ``amp`` (N_CLASSES,), ``direction`` (K, C): the value of a pixel
    is ``base[class] + amp[class] * sum_k z_k * direction[k]`` with standard normal ``z`` drawn
    per parcel (or K smooth fields).  Returns (H, W, C) float32.
    """
    k = direction.shape[0]
    if parcels is not None:
        parcels = np.asarray(parcels)
        z = rng.standard_normal((int(parcels.max()) + 1, k), dtype=np.float32)
        lut = base[None] + amp[None, :, None] * (z @ direction)[:, None, :]  # (P, N_CLASSES, C)
        key = parcels.astype(np.int32) * np.int32(N_CLASSES) + classes
        return np.take(lut.reshape(-1, base.shape[1]), key, axis=0)
    out = np.take(base, classes, axis=0)
    a = np.take(amp, classes)
    for i in range(k):
        field = smooth_noise(classes.shape, 48, rng, octaves=2)
        field *= a
        out += field[..., None] * direction[i]
    return out


def render_optical(
    classes: np.ndarray,
    rng: np.random.Generator,
    *,
    parcels: np.ndarray | None = None,
) -> np.ndarray:
    """Render a Sentinel-2-like true-colour image of a class map.

    Per-class mean colour (:data:`OPTICAL_RGB`) + per-parcel (or smooth regional) colour
    jitter, building shadows, a 3x3 binomial blur (so edges are not aliased), then a
    low-frequency brightness variation (+-5 %) and fine per-pixel texture.

    Args:
        classes: (H, W) uint8 class map.
        rng: source of randomness.
        parcels: optional (H, W) int parcel ids (non-negative); colour jitter is then constant
            per parcel instead of a smooth regional field.

    Returns:
        (H, W, 3) uint8 RGB.
    """
    classes = np.asarray(classes, dtype=np.uint8)
    h, w = classes.shape
    direction = np.stack([np.ones(3, dtype=np.float32), 0.4 * _HUE])  # brightness, hue
    img = _region_values(classes, parcels, rng, OPTICAL_RGB, _OPT_JITTER, direction)
    built = np.take(_IS_BUILT, classes)
    if built.any():  # sun from the south-east: shadows to the north-west of buildings
        shadow = ~built & (_shift(built, -1, -1) | _shift(built, -2, -2))
        img *= (1.0 - np.float32(0.4) * shadow)[..., None]
    if min(h, w) >= 2:
        img = _binomial3_sum(img)
        img *= np.float32(1.0 / 16.0)
    gain = smooth_noise((h, w), 96, rng, octaves=3)
    gain *= np.float32(0.05)
    gain += np.float32(1.0)
    # Uniform texture noise with std _OPT_TEXTURE[class] (+0.5: round in the truncating cast).
    texture = rng.random((h, w), dtype=np.float32)
    texture -= np.float32(0.5)
    texture *= np.take(_OPT_TEXTURE * np.float32(math.sqrt(12.0)), classes)
    texture += np.float32(0.5)
    img *= gain[..., None]
    img += texture[..., None]
    np.clip(img, 0, 255, out=img)
    return img.astype(np.uint8)


def db_to_uint8(db: np.ndarray) -> np.ndarray:
    """Map backscatter in dB to uint8 by the SEN1-2 convention.

    ``round((clip(dB, DB_MIN, DB_MAX) - DB_MIN) / (DB_MAX - DB_MIN) * 255)``; any shape.
    """
    db = np.clip(np.asarray(db, dtype=np.float32), DB_MIN, DB_MAX)
    return np.rint((db - DB_MIN) / (DB_MAX - DB_MIN) * 255.0).astype(np.uint8)


def uint8_to_db(img: np.ndarray) -> np.ndarray:
    """Inverse of :func:`db_to_uint8`: uint8 (any shape) -> float32 dB in [DB_MIN, DB_MAX]."""
    return np.asarray(img, dtype=np.float32) / 255.0 * (DB_MAX - DB_MIN) + DB_MIN


def render_sar(
    classes: np.ndarray,
    rng: np.random.Generator,
    looks: float = 4.0,
    *,
    parcels: np.ndarray | None = None,
) -> np.ndarray:
    """Render a Sentinel-1-like VV backscatter image of a class map.

    Per-class backscatter in dB (:data:`SAR_DB`: water -22, road -18, bare/sand -15..-12,
    grass -11, crops -11.5..-7.5, forest -7, buildings -3..-2) + per-parcel/regional variation
    + a mild texture field; double-bounce lines (+5 dB) on the building walls facing the
    sensor (left) and radar shadow behind buildings.  The result is slightly blurred in linear
    intensity (sensor resolution), multiplied by gamma speckle (mean 1, shape ``looks``,
    independent per pixel), converted back to dB, clipped to [DB_MIN, DB_MAX] = [-25, 0] dB and
    mapped to 0..255 as ``round((dB + 25) / 25 * 255)``.

    Args:
        classes: (H, W) uint8 class map.
        rng: source of randomness.
        looks: equivalent number of looks; the coefficient of variation of the linear
            intensity of a homogeneous region is about ``1/sqrt(looks)``.
        parcels: optional (H, W) int parcel ids; the backscatter offset is then constant per
            parcel instead of a smooth regional field.

    Returns:
        (H, W) uint8 grey image (use :func:`uint8_to_db` to get dB back).
    """
    if looks <= 0:
        raise ValueError(f"looks must be positive, got {looks}")
    classes = np.asarray(classes, dtype=np.uint8)
    h, w = classes.shape
    one = np.ones((1, 1), dtype=np.float32)
    db = _region_values(classes, parcels, rng, SAR_DB[:, None], _SAR_JITTER, one)[..., 0]
    texture = smooth_noise((h, w), 24, rng, octaves=2)
    texture *= np.float32(0.4)
    db += texture
    built = np.take(_IS_BUILT, classes)
    if built.any():  # the sensor looks from the left (west)
        facing = built & ~(_shift(built, 0, 1) & _shift(built, 0, 2))  # first 2 px of a roof
        db += np.float32(5.0) * facing  # double bounce
        shadow = ~built & (_shift(built, 0, 1) | _shift(built, 0, 2))  # 2 px behind it
        db -= np.maximum(db + np.float32(20.0), 0) * shadow  # radar shadow: at most -20 dB
    db *= np.float32(math.log(10.0) / 10.0)
    lin = np.exp(db)
    if min(h, w) >= 2:  # sensor resolution (~20 m at 10 m pixels), in linear intensity
        lin = _binomial3_sum(lin)
        lin *= np.float32(1.0 / 16.0)
    lin *= rng.standard_gamma(float(looks), (h, w), dtype=np.float32)
    lin *= np.float32(1.0 / looks)
    np.maximum(lin, np.float32(1e-10), out=lin)
    out = np.log10(lin)
    out *= np.float32(10.0)
    return db_to_uint8(out)


def _scene_rngs(seed: int) -> list[np.random.Generator]:
    if int(seed) < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    return [np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(3)]


def render_labelled_scene(terrain: str, size: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Like :func:`render_scene`, also returning the class map both images were rendered from.

    Returns:
        (sar (size, size) uint8, optical (size, size, 3) uint8, classes (size, size) uint8).
    """
    map_rng, opt_rng, sar_rng = _scene_rngs(seed)
    classes, parcels = _land_cover(terrain, size, map_rng)
    optical = render_optical(classes, opt_rng, parcels=parcels)
    sar = render_sar(classes, sar_rng, parcels=parcels)
    return sar, optical, classes


def render_scene(terrain: str, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Render one aligned SAR / optical scene of the given terrain.

    The class map, the optical image and the SAR image use independent random streams spawned
    from ``np.random.SeedSequence(seed)``; the same arguments give identical arrays.

    Returns:
        (sar (size, size) uint8, optical (size, size, 3) uint8).

    Raises:
        ValueError: unknown terrain (the message lists the valid ones).
    """
    sar, optical, _ = render_labelled_scene(terrain, size, seed)
    return sar, optical


def make_synthetic_dataset(
    root: str | os.PathLike,
    *,
    scenes_per_terrain: int = 3,
    patches_per_scene: int = 16,
    patch_size: int = 256,
    terrains: Sequence[str] = TERRAINS,
    seed: int = 0,
    workers: int | None = None,
) -> pathlib.Path:
    """Write a synthetic SEN1-2-like dataset of PNG pairs.

    Layout: ``ROOT/v_2/<terrain>/s1/ROIs2025_<season>_s1_<scene>_p<k>.png`` (mode "L",
    patch_size x patch_size) and the matching ``.../s2/..._s2_...png`` (mode "RGB").  Each scene
    is one map of ``ceil(sqrt(n))`` columns x ``ceil(n / columns)`` rows of patches, cut into
    ``n = patches_per_scene`` neighbouring, non-overlapping patches ``p1..pn`` in row-major
    order.  Scene ids are unique across the dataset (``100 * (TERRAINS.index(terrain) + 1) + k``
    for fewer than 100 scenes per terrain); the season cycles spring/summer/fall/winter over the
    scenes, so a scene is identified by ``(roi, season, scene)``.  Each scene's randomness is
    derived from ``(seed, terrain index, scene index)`` by ``np.random.SeedSequence``: the same
    seed gives byte-identical files (independent of ``workers``, the number of threads that
    render and write scenes; default ``min(4, os.cpu_count())``).  Existing files with the same
    names are overwritten.

    Returns:
        The ``ROOT/v_2`` directory.

    Raises:
        ValueError: unknown terrain or non-positive counts/sizes.
    """
    if isinstance(terrains, str):  # a single terrain name, not its characters
        terrains = (terrains,)
    terrain_ids = [_check_terrain(t) for t in terrains]
    if not terrain_ids:
        raise ValueError("terrains must name at least one terrain")
    if len(set(terrain_ids)) != len(terrain_ids):
        raise ValueError(f"terrains must not repeat, got {list(terrains)}")
    for name, value in (
        ("scenes_per_terrain", scenes_per_terrain),
        ("patches_per_scene", patches_per_scene),
        ("patch_size", patch_size),
    ):
        if int(value) < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if int(seed) < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")

    n = int(patches_per_scene)
    ps = int(patch_size)
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    size = max(rows, cols) * ps
    stride = 100
    while stride <= scenes_per_terrain:
        stride *= 10

    out = pathlib.Path(root) / "v_2"
    jobs = []
    for terrain, ti in zip(terrains, terrain_ids, strict=True):
        for sub in ("s1", "s2"):
            (out / terrain / sub).mkdir(parents=True, exist_ok=True)
        for k in range(int(scenes_per_terrain)):
            scene_seed = int(np.random.SeedSequence([int(seed), ti, k]).generate_state(1, np.uint64)[0])
            season = SEASONS[len(jobs) % len(SEASONS)]
            jobs.append((out / terrain, season, stride * (ti + 1) + k, terrain, scene_seed))

    def write_scene(job: tuple[pathlib.Path, str, int, str, int]) -> None:
        folder, season, scene, terrain, scene_seed = job
        sar, optical = render_scene(terrain, size, scene_seed)
        for p in range(n):
            r, c = divmod(p, cols)
            win = (slice(r * ps, (r + 1) * ps), slice(c * ps, (c + 1) * ps))
            # Speckle is incompressible (level 1 saves ~10 %, at twice the time): store SAR.
            for sub, img, level in (("s1", sar, 0), ("s2", optical, 1)):
                name = f"{ROI}_{season}_{sub}_{scene}_p{p + 1}.png"
                Image.fromarray(np.ascontiguousarray(img[win])).save(
                    folder / sub / name, optimize=False, compress_level=level
                )

    # Scenes are independent and numpy / zlib release the GIL: a few threads help, and the
    # output does not depend on their number.
    n_workers = workers if workers is not None else min(4, os.cpu_count() or 1)
    if n_workers <= 1 or len(jobs) == 1:
        for job in jobs:
            write_scene(job)
    else:
        with ThreadPoolExecutor(max_workers=min(n_workers, len(jobs))) as pool:
            list(pool.map(write_scene, jobs))
    return out
