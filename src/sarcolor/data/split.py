"""Deterministic train/val/test split by scene.

Neighbouring patches of one scene are strongly correlated, so a split by patch leaks the test
scenes into training. Here whole scenes — ``(roi, season, scene)``, across terrain folders —
go to one split each. Scenes are shuffled with a seed and dealt to ``test``, then ``val``,
until each holds at least its fraction of the pairs; the rest is ``train``. One scene always
stays in train.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence

from sarcolor.config import DataConfig
from sarcolor.data.discovery import SPLIT_BLOCK, Pair
from sarcolor.errors import SarcolorError

SPLITS: tuple[str, ...] = ("train", "val", "test")
# What one split unit is, per kind of pair (printed with every split and evaluation).
SPLIT_UNITS: dict[str, str] = {
    "image": "scene (roi, season, scene), across terrain folders",
    "bigearthnet": "acquisition tile (S1 patch name without _<row>_<col>)",
    "scene": f"{SPLIT_BLOCK}-pixel block of a scene pair (neighbouring blocks share an edge)",
}


def split_scenes(
    pairs: Sequence[Pair],
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
    *,
    holdout_terrain: str | None = None,
    holdout_season: str | None = None,
) -> dict[str, list[str]]:
    """Assign every scene id to one split.

    With ``holdout_terrain`` or ``holdout_season``, the test split is exactly the scenes that
    hold a pair of that terrain or season (a scene filed under two terrains goes there whole),
    and ``test_fraction`` is not used: the score then measures generalisation to the unseen
    terrain or season.

    Returns:
        ``{"train": [...], "val": [...], "test": [...]}`` sorted scene ids.
    """
    counts = Counter(p.scene for p in pairs)
    held = {
        p.scene
        for p in pairs
        if (holdout_terrain is not None and p.terrain == holdout_terrain)
        or (holdout_season is not None and p.season == holdout_season)
    }
    if (holdout_terrain or holdout_season) and not held:
        what = f"terrain {holdout_terrain!r}" if holdout_terrain else f"season {holdout_season!r}"
        raise SarcolorError(f"no pairs of the held-out {what} in the data")
    scenes = sorted(set(counts) - held)
    random.Random(seed).shuffle(scenes)
    total = sum(counts.values())
    out: dict[str, list[str]] = {name: [] for name in SPLITS}
    out["test"] = sorted(held)
    if held:
        test_fraction = 0.0
    for name, fraction in (("test", test_fraction), ("val", val_fraction)):
        taken = 0
        while fraction > 0 and taken < fraction * total and len(scenes) > 1:
            scene = scenes.pop(0)
            out[name].append(scene)
            taken += counts[scene]
    out["train"] = scenes
    return {name: sorted(ids) for name, ids in out.items()}


def split_for(pairs: Sequence[Pair], data: DataConfig) -> dict[str, list[str]]:
    """:func:`split_scenes` with the fractions, seed and hold-outs of a data configuration."""
    return split_scenes(
        pairs,
        data.val_fraction,
        data.test_fraction,
        data.split_seed,
        holdout_terrain=data.holdout_terrain,
        holdout_season=data.holdout_season,
    )


def select_split(pairs: Sequence[Pair], scenes: dict[str, list[str]], split: str) -> list[Pair]:
    """The pairs whose scene belongs to ``split`` (``all`` keeps every pair)."""
    if split == "all":
        return list(pairs)
    keep = set(scenes[split])
    return [p for p in pairs if p.scene in keep]
