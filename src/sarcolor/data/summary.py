"""What ``sarcolor data`` reports about a dataset folder: pairs, terrains, splits, bad files."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from sarcolor.config import Config
from sarcolor.data.pairs import Pair
from sarcolor.data.sources import discover_pairs, source_of
from sarcolor.data.split import SPLITS, split_for


def summarize(
    root: str | Path, cfg: Config, *, check: bool = True, progress: bool | None = None
) -> dict[str, Any]:
    """Pairs per terrain and split, unpaired files, problems and (``check``) unreadable files.

    Returns the JSON object ``sarcolor data --json`` prints.
    """
    found = discover_pairs(root).filter_terrains(cfg.data.terrains)
    split = split_for(found.pairs, cfg.data)
    unreadable = unreadable_files(found.pairs, cfg, progress) if check else []
    per_terrain = Counter(p.terrain or "-" for p in found.pairs)
    return {
        "root": str(found.root),
        "layout": found.layout,
        "total_pairs": len(found.pairs),
        "pairs_per_terrain": dict(sorted(per_terrain.items())),
        "pairs_per_split": {name: len(split.select(found.pairs, name)) for name in SPLITS},
        "scenes_per_split": split.to_json(),
        "split": {
            "val_fraction": cfg.data.val_fraction,
            "test_fraction": cfg.data.test_fraction,
            "seed": cfg.data.split_seed,
            "holdout_terrain": cfg.data.holdout_terrain,
            "holdout_season": cfg.data.holdout_season,
            "by": source_of(found.layout).split_unit,
        },
        "unpaired": [str(p) for p in found.unpaired],
        "unreadable": [{"file": str(f), "reason": r} for f, r in unreadable],
        "problems": found.problems,
    }


def unreadable_files(pairs: list[Pair], cfg: Config, progress: bool | None = None) -> list[tuple[Path, str]]:
    """Every file that does not read, as training would read it (each source's ``check``)."""
    bad = []
    for pair in tqdm(
        pairs,
        desc="checking files",
        unit="pair",
        disable=None if progress is None else not progress,
        leave=False,
    ):
        bad += source_of(pair).check(pair, cfg.preprocess)
    return bad
