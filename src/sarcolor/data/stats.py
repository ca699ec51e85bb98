"""Dataset statistics stored with a run (e.g. the mean training colour for baselines)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from tqdm.auto import tqdm

from sarcolor.data.discovery import Pair
from sarcolor.data.io import read_image


def mean_colour(pairs: Sequence[Pair], progress: bool = False) -> list[float]:
    """Mean sRGB colour in [0, 1] of the optical images of ``pairs`` (every pixel weighs the same).

    Decoding runs in threads (PIL releases the GIL), so 16,000 PNGs take seconds.
    """
    if not pairs:
        return [0.5, 0.5, 0.5]

    def image_sum(pair: Pair) -> tuple[np.ndarray, int]:
        image = read_image(pair.s2)
        if image.shape[-1] == 1:
            image = np.repeat(image, 3, axis=-1)
        return image.reshape(-1, 3).sum(axis=0, dtype=np.float64), image.shape[0] * image.shape[1]

    total, count = np.zeros(3), 0
    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 1) * 2)) as pool:
        results = pool.map(image_sum, pairs)
        for s, n in tqdm(results, total=len(pairs), desc="mean colour", disable=not progress, leave=False):
            total += s
            count += n
    return [float(v) for v in total / count]
