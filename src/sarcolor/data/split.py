"""Deterministic train/val/test split by split group (a scene), never by patch.

Neighbouring patches of one scene are strongly correlated, so a split by patch leaks the test
scenes into training. Here whole split groups — for SEN1-2 the scene ``(roi, season, scene)``
across terrain folders; each data source says what its group is — go to one split each.
Groups are shuffled with a seed and dealt to ``test``, then ``val``, until each holds at least
its fraction of the pairs; the rest is ``train``. One group always stays in train.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sarcolor.config import DataConfig
from sarcolor.data.pairs import Pair
from sarcolor.errors import SarcolorError

SPLITS: tuple[str, ...] = ("train", "val", "test")


@dataclass(frozen=True, eq=False)
class Split(Mapping[str, list[str]]):
    """The split group ids of each split: ``split["test"]`` → sorted ids.

    A read-only mapping ``{"train": [...], "val": [...], "test": [...]}``, equal to a plain
    dict with the same lists (the checkpoint's and ``split.json``'s form).
    """

    train: list[str] = field(default_factory=list)
    val: list[str] = field(default_factory=list)
    test: list[str] = field(default_factory=list)

    def __getitem__(self, name: str) -> list[str]:
        if name not in SPLITS:
            raise KeyError(name)
        return getattr(self, name)

    def __iter__(self) -> Iterator[str]:
        return iter(SPLITS)

    def __len__(self) -> int:
        return len(SPLITS)

    def select(self, pairs: Sequence[Pair], name: str) -> list[Pair]:
        """The pairs whose split group belongs to split ``name`` (``all`` keeps every pair)."""
        if name == "all":
            return list(pairs)
        keep = set(self[name])
        return [p for p in pairs if p.split_group in keep]

    def groups(self, name: str) -> list[str]:
        """The ids of split ``name``; ``all``: every id."""
        return sorted({g for ids in self.values() for g in ids}) if name == "all" else list(self[name])

    def to_json(self) -> dict[str, list[str]]:
        return {name: list(self[name]) for name in SPLITS}

    @classmethod
    def from_json(cls, value: Any, source: str | Path = "split") -> Split:
        """From ``{"train": [...], ...}`` (a checkpoint's ``split``); absent splits are empty.

        Raises:
            SarcolorError: not a mapping of lists of strings, naming ``source``.
        """
        if not isinstance(value, Mapping):
            raise SarcolorError(
                f"{source}: split must be a mapping of split names, got {type(value).__name__}"
            )
        unknown = sorted(set(value) - set(SPLITS))
        if unknown:
            raise SarcolorError(f"{source}: unknown split(s) {', '.join(map(str, unknown))}")
        parts = {}
        for name in SPLITS:
            ids = value.get(name, [])
            if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                raise SarcolorError(f"{source}: split {name!r} must be a list of group ids")
            parts[name] = list(ids)
        return cls(**parts)

    @classmethod
    def from_split_file(cls, path: Path) -> Split:
        """A run folder's ``split.json`` (or the file itself): ``{name: {"scenes": [...], ...}}``."""
        from sarcolor.textfiles import read_json

        path = path / "split.json" if path.is_dir() else path
        body = read_json(path)
        try:
            return cls.from_json({name: body[name]["scenes"] for name in SPLITS}, path)
        except (KeyError, TypeError):
            raise SarcolorError(f"{path}: not a sarcolor split.json") from None


def split_scenes(
    pairs: Sequence[Pair],
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
    *,
    holdout_terrain: str | None = None,
    holdout_season: str | None = None,
) -> Split:
    """Assign every split group to one split.

    With ``holdout_terrain`` or ``holdout_season``, the test split is exactly the groups that
    hold a pair of that terrain or season (a scene filed under two terrains goes there whole),
    and ``test_fraction`` is not used: the score then measures generalisation to the unseen
    terrain or season.
    """
    counts = Counter(p.split_group for p in pairs)
    held = {
        p.split_group
        for p in pairs
        if (holdout_terrain is not None and p.terrain == holdout_terrain)
        or (holdout_season is not None and p.season == holdout_season)
    }
    filed = {p.split_group for p in pairs if p.dataset_split == "test"}  # the dataset's own test files
    if (holdout_terrain or holdout_season) and not held:
        what = f"terrain {holdout_terrain!r}" if holdout_terrain else f"season {holdout_season!r}"
        raise SarcolorError(f"no pairs of the held-out {what} in the data")
    groups = sorted(set(counts) - held)
    random.Random(seed).shuffle(groups)
    total = sum(counts.values())
    out: dict[str, list[str]] = {name: [] for name in SPLITS}
    out["test"] = sorted(held | filed)
    groups = [g for g in groups if g not in filed]
    if held or filed:
        test_fraction = 0.0
    for name, fraction in (("test", test_fraction), ("val", val_fraction)):
        taken = 0
        while fraction > 0 and taken < fraction * total and len(groups) > 1:
            group = groups.pop(0)
            out[name].append(group)
            taken += counts[group]
    out["train"] = groups
    return Split(**{name: sorted(ids) for name, ids in out.items()})


def split_for(pairs: Sequence[Pair], data: DataConfig) -> Split:
    """:func:`split_scenes` with the fractions, seed and hold-outs of a data configuration, or
    the split of another run when ``data.split_file`` names one (:func:`split_from_file`)."""
    if data.split_file:
        return split_from_file(pairs, Path(data.split_file))
    return split_scenes(
        pairs,
        data.val_fraction,
        data.test_fraction,
        data.split_seed,
        holdout_terrain=data.holdout_terrain,
        holdout_season=data.holdout_season,
    )


def split_from_file(pairs: Sequence[Pair], path: Path) -> Split:
    """The split of ``path`` (a run folder or its ``split.json``), kept to the groups of ``pairs``.

    Groups of another terrain or dataset listed there are left out; every group of ``pairs``
    must be listed, or its pairs would silently belong to no split.

    Raises:
        SarcolorError: the file is unreadable, or groups of ``pairs`` are missing from it.
    """
    split = Split.from_split_file(path)
    listed = {g for ids in split.values() for g in ids}
    present = {p.split_group for p in pairs}
    missing = sorted(present - listed)
    if missing:
        raise SarcolorError(
            f"{path}: {len(missing)} split group(s) of the data are not in this split, e.g. {missing[0]}"
        )
    return Split(**{name: [g for g in split[name] if g in present] for name in SPLITS})


def select_split(pairs: Sequence[Pair], split: Mapping[str, list[str]], name: str) -> list[Pair]:
    """The pairs whose split group belongs to split ``name`` (``all`` keeps every pair)."""
    return Split.from_json(dict(split)).select(pairs, name)
