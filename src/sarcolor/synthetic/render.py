"""Rendering a class map twice: as Sentinel-2 true colour and as Sentinel-1 VV backscatter.

The SAR is rendered in dB and mapped to 8-bit by the SEN1-2 convention of
:mod:`sarcolor.sar.radiometry` (:func:`~sarcolor.sar.radiometry.db_to_uint8`), the one place
that owns it.
"""

from __future__ import annotations

import math

import numpy as np

from sarcolor.sar.radiometry import db_to_uint8
from sarcolor.synthetic.classes import (
    _HUE,
    _IS_BUILT,
    _OPT_JITTER,
    _OPT_TEXTURE,
    _SAR_JITTER,
    N_CLASSES,
    OPTICAL_RGB,
    SAR_DB,
)
from sarcolor.synthetic.landcover import _land_cover
from sarcolor.synthetic.noise import _binomial3_sum, _shift, smooth_noise


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
