"""Seeded synthetic Sentinel-1 / Sentinel-2 pairs in the Kaggle "segregated by terrain" layout.

The generator draws a land-cover class map per scene (:func:`land_cover_map`) and renders it
twice from the same map: once as a Sentinel-2-like true-colour image (:func:`render_optical`)
and once as a Sentinel-1-like VV backscatter image (:func:`render_sar`).  Because the land-cover
class determines both the optical colour and the backscatter level, the SAR carries strong,
learnable information about the optical colour, while still looking like SAR (multiplicative
gamma speckle in linear intensity, double-bounce lines at buildings, radar shadows).

:func:`make_synthetic_dataset` (:mod:`sarcolor.synthetic.dataset`) writes the pairs in the layout
of the Kaggle dataset
"sentinel12-image-pairs-segregated-by-terrain"::

    ROOT/v_2/<terrain>/s1/ROIs2025_<season>_s1_<scene>_p<patch>.png   (mode "L")
    ROOT/v_2/<terrain>/s2/ROIs2025_<season>_s2_<scene>_p<patch>.png   (mode "RGB")

Like SEN1-2, each scene is one larger map cut into neighbouring, non-overlapping patches, so
patches of one scene are correlated and a train/test split must be done by scene
(scene identity = ``(roi, season, scene)``).

Only numpy and Pillow are used; everything is vectorised (no per-pixel Python loops).
"""

from sarcolor.sar.radiometry import db_to_uint8, uint8_to_db
from sarcolor.synthetic.classes import (
    BARE,
    BUILDING,
    CLASS_NAMES,
    CROP_A,
    CROP_B,
    CROP_C,
    CROP_D,
    DB_MAX,
    DB_MIN,
    FOREST,
    GRASS,
    GRASS_DRY,
    N_CLASSES,
    OPTICAL_RGB,
    ROAD,
    ROCK,
    ROI,
    ROOF_RED,
    SAND,
    SAR_DB,
    SEASONS,
    SHRUB,
    SOIL,
    TERRAINS,
    WATER,
)
from sarcolor.synthetic.dataset import make_synthetic_dataset
from sarcolor.synthetic.landcover import land_cover_map
from sarcolor.synthetic.noise import smooth_noise
from sarcolor.synthetic.render import render_labelled_scene, render_optical, render_sar, render_scene

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
