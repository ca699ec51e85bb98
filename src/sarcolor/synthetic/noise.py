"""Vectorised random fields and geometry helpers the land-cover maps are drawn with."""

from __future__ import annotations

import math

import numpy as np

from sarcolor.synthetic.classes import TERRAINS


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
