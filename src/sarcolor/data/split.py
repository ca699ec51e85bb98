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

from sarcolor.data.discovery import Pair

SPLITS: tuple[str, ...] = ("train", "val", "test")


def split_scenes(
    pairs: Sequence[Pair], val_fraction: float = 0.1, test_fraction: float = 0.1, seed: int = 0
) -> dict[str, list[str]]:
    """Assign every scene id to one split.

    Returns:
        ``{"train": [...], "val": [...], "test": [...]}`` sorted scene ids.
    """
    counts = Counter(p.scene for p in pairs)
    scenes = sorted(counts)
    random.Random(seed).shuffle(scenes)
    total = sum(counts.values())
    out: dict[str, list[str]] = {name: [] for name in SPLITS}
    for name, fraction in (("test", test_fraction), ("val", val_fraction)):
        taken = 0
        while fraction > 0 and taken < fraction * total and len(scenes) > 1:
            scene = scenes.pop(0)
            out[name].append(scene)
            taken += counts[scene]
    out["train"] = scenes
    return {name: sorted(ids) for name, ids in out.items()}


def select_split(pairs: Sequence[Pair], scenes: dict[str, list[str]], split: str) -> list[Pair]:
    """The pairs whose scene belongs to ``split`` (``all`` keeps every pair)."""
    if split == "all":
        return list(pairs)
    keep = set(scenes[split])
    return [p for p in pairs if p.scene in keep]
