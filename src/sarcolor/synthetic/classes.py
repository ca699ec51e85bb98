"""The synthetic world's land-cover classes: their optical colours and their backscatter.

Because the land-cover class determines both the optical colour and the backscatter level, the
synthetic SAR carries strong, learnable information about the optical colour.
"""

from __future__ import annotations

import numpy as np

from sarcolor.data.sources.kaggle import TERRAINS as KAGGLE_TERRAINS
from sarcolor.sar.radiometry import DEFAULT_DB_RANGES

TERRAINS = KAGGLE_TERRAINS  # the synthetic data imitates the Kaggle dataset's four terrain folders
SEASONS: tuple[str, ...] = ("spring", "summer", "fall", "winter")
ROI: str = "ROIs2025"

#: SEN1-2 convention (sarcolor.sar.radiometry): VV clipped to [DB_MIN, DB_MAX] dB, mapped to 0..255.
DB_MIN, DB_MAX = DEFAULT_DB_RANGES["VV"]

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
