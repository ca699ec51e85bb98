"""Writing a synthetic dataset in the Kaggle "segregated by terrain" layout."""

from __future__ import annotations

import math
import os
import pathlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image

from sarcolor.synthetic.classes import ROI, SEASONS, TERRAINS
from sarcolor.synthetic.noise import _check_terrain
from sarcolor.synthetic.render import render_scene


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
    jobs: list[tuple[pathlib.Path, str, int, str, int]] = []
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
