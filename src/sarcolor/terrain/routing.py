"""Colorizing with the terrain: each tile to its terrain's model, or a conditioned model told it.

A :class:`TerrainRouter` stands where a :class:`~sarcolor.inference.colorizer.Colorizer` stands
(images, whole GeoTIFF scenes, evaluation): it has the same ``predict``/``colorize_many`` and
tiling attributes. For every batch of tiles it finds each tile's terrain — one named for all,
the terrain the caller gives per image (evaluation: the pair's terrain), or the terrain
classifier's answer per tile — and runs the tiles of each terrain through that terrain's model;
a conditioned model gets the terrain as its input instead.

Why there are no seams between tiles of different models: tiles overlap (64 of 256 pixels by
default) and every tile's output is weighted by the same raised-cosine window before the
weighted sum is divided by the summed weights (:mod:`sarcolor.tiling`). Where a tile
of model A overlaps one of model B, the result moves smoothly from A's colours to B's over the
overlap, exactly as it does between two tiles of one model; routing changes which model makes a
tile, not how tiles are joined.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sarcolor.checkpoint import CheckpointMeta
from sarcolor.config import Config
from sarcolor.data.split import SPLITS, Split
from sarcolor.errors import SarcolorError
from sarcolor.inference.colorizer import Colorizer
from sarcolor.inference.modelset import AUTO, ModelRegistry, SelectionError, TerrainClassifier


class TerrainRouter:
    """Tiles → the model of their terrain (see the module docstring).

    Args:
        models: terrain → the colorizer for it (one colorizer may serve several terrains; a
            conditioned one serves those it knows).
        terrain: a terrain for every tile; ``auto`` to classify each tile; ``None`` to use the
            terrains the caller passes (else classify).
        classifier: the terrain classifier (``classify_tiles`` for batches, or any
            ``(H, W, 1) → (terrain, confidence)`` callable), needed unless ``terrain`` is named.
        path: what to call the router in reports (a model set folder).
    """

    def __init__(
        self,
        models: Mapping[str, Colorizer],
        *,
        terrain: str | None = AUTO,
        classifier: TerrainClassifier | None = None,
        path: str | Path = "model set",
    ) -> None:
        if not models:
            raise SarcolorError("no terrain models to route to")
        self.models = dict(models)
        self.terrain, self.classifier, self.path = terrain, classifier, Path(path)
        if terrain not in (None, AUTO) and terrain not in self.models:
            raise SelectionError(
                f"no model for terrain {terrain!r} (known: {', '.join(sorted(self.models))})"
            )
        if terrain == AUTO and classifier is None:
            raise SelectionError("terrain 'auto' needs a terrain classifier")
        first = next(iter(self.models.values()))
        for name, member in self.models.items():
            _check_compatible(first, member, name)
        self.first = first
        self.overlap, self.batch_size, self.window = first.overlap, first.batch_size, first.window
        self.counts: Counter[str] = Counter()
        self.confidence_sum: defaultdict[str, float] = defaultdict(float)

    # what evaluation and scene writing read off a colorizer
    @property
    def config(self) -> Config:
        """The first member's configuration, with the terrains of all members (``[]``: every one)."""
        cfg = self.first.config
        members = list({id(c): c for c in self.models.values()}.values())
        if len(members) == 1:
            return cfg
        terrains = [c.config.data.terrains for c in members]
        union = [] if any(not t for t in terrains) else sorted({t for ts in terrains for t in ts})
        return cfg.replace(data={"terrains": union})

    @property
    def meta(self) -> CheckpointMeta:
        """The first member's metadata; with several members, the union of their splits and no
        baselines (each member's were fitted on its own terrain: evaluation fits them again)."""
        meta = replace(self.first.meta, config=self.config)
        members = list({id(c): c for c in self.models.values()}.values())
        if len(members) == 1:
            return meta
        return replace(meta, split=merged_split([c.meta.split for c in members]), baselines={})

    @property
    def precision(self) -> str:
        return self.first.precision

    @property
    def device(self) -> torch.device:
        return self.first.device

    @property
    def despeckle_note(self) -> str:
        return self.first.despeckle_note

    @property
    def standardises(self) -> bool:
        """Whether any member standardises its SAR levels (they then share the image's statistics)."""
        return any(member.standardises for member in self.models.values())

    def level_stats(self, image: np.ndarray) -> torch.Tensor | None:
        """As :meth:`Colorizer.level_stats`, for whichever members standardise (all read alike)."""
        found = (member.level_stats(image) for member in self.models.values())
        return next((stats for stats in found if stats is not None), None)

    def terrains_of(self, tiles: torch.Tensor, given: Sequence[str] | None) -> list[str]:
        """The terrain of each tile: named, given, or classified (confidences are tallied)."""
        n = tiles.shape[0]
        if self.terrain not in (None, AUTO):
            return [str(self.terrain)] * n
        if self.terrain is None and given is not None:
            return list(given)
        if self.classifier is None:
            raise SelectionError("the tiles' terrain is unknown and there is no terrain classifier")
        if hasattr(self.classifier, "classify_tiles"):
            answers = self.classifier.classify_tiles(tiles)
        else:
            grey = tiles[:, :1].permute(0, 2, 3, 1).cpu().numpy()
            answers = [self.classifier(tile) for tile in grey]
        for name, confidence in answers:
            self.confidence_sum[name] += float(confidence)
        return [name for name, _ in answers]

    @torch.inference_mode()
    def predict(
        self, tiles: torch.Tensor, terrains: Sequence[str] | None = None, stats: torch.Tensor | None = None
    ) -> np.ndarray:
        """(B, C, H, W) SAR in [0, 1] → (B, H, W, 3) sRGB, each tile by its terrain's model
        (``stats`` as in :meth:`Colorizer.predict`)."""
        names = self.terrains_of(tiles, terrains)
        self.counts.update(names)
        out: np.ndarray | None = None
        for name in dict.fromkeys(names):
            member = self.models.get(name)
            if member is None:
                raise SelectionError(
                    f"terrain {name!r} has no model in this set (it covers {', '.join(sorted(self.models))})"
                )
            index = [i for i, t in enumerate(names) if t == name]
            rgb = member.predict(tiles[index], [name] * len(index), None if stats is None else stats[index])
            if out is None:
                out = np.empty((tiles.shape[0], *rgb.shape[1:]), np.float32)
            out[index] = rgb
        assert out is not None
        return out

    def colorize_many(
        self, images: Sequence[np.ndarray], progress: bool = False, terrains: Sequence[str] | None = None
    ) -> list[np.ndarray]:
        """As :meth:`Colorizer.colorize_many`, tiles routed by terrain."""
        return Colorizer.colorize_many(self, images, progress, terrains)  # type: ignore[arg-type]

    def colorize(self, image: np.ndarray) -> np.ndarray:
        return self.colorize_many([image])[0]

    def summary(self) -> str:
        """``tiles per terrain: agri 12 (confidence 0.93), …`` of everything routed so far."""
        parts = []
        for name, n in self.counts.most_common():
            conf = self.confidence_sum.get(name)
            parts.append(f"{name} {n}" + (f" (mean confidence {conf / n:.2f})" if conf else ""))
        return "tiles per terrain: " + (", ".join(parts) or "none")


def merged_split(splits: Sequence[Split]) -> Split:
    """The union of the members' splits (a member trained on one terrain lists only its scenes).

    Raises:
        SarcolorError: a scene in one member's train split and another's val or test split.
    """
    where: dict[str, str] = {}
    for split in splits:
        for name in SPLITS:
            for group in split[name]:
                if where.setdefault(group, name) != name:
                    raise SarcolorError(
                        f"scene {group} is in one model's {where[group]} split and another's {name} split; "
                        "train the models of a set with --split-from one run"
                    )
    return Split(**{name: sorted(g for g, n in where.items() if n == name) for name in SPLITS})


def _check_compatible(first: Colorizer, other: Colorizer, terrain: str) -> None:
    """Members read the input alike, or one reading of a scene could not feed them all."""
    a, b = first.config.preprocess, other.config.preprocess
    if (a.input, a.bands, a.ranges, a.calibration) != (b.input, b.bands, b.ranges, b.calibration):
        raise SarcolorError(
            f"{other.path}: the model for {terrain} reads its input differently from {first.path} "
            f"({b.input} {'+'.join(b.bands)} vs {a.input} {'+'.join(a.bands)}); a set must agree"
        )
    if other.overlap != first.overlap:
        raise SarcolorError("the models of a set must tile alike (one --overlap)")


def colorizer_for(
    registry: ModelRegistry, terrain: str | None, device: str = "auto", **options: Any
) -> Colorizer | TerrainRouter:
    """What colorizes with ``registry`` for ``--terrain terrain`` (``None``: not given).

    * one plain model and no terrain: that model (as without model sets);
    * a named terrain: the registry's model for it (a conditioned one told the terrain);
    * ``auto`` (or a set without ``--terrain``): a router classifying every tile, with the
      set's model for each terrain the classifier knows.

    Raises:
        SelectionError: no model for the terrain; ``auto`` without a classifier.
    """
    loaded: dict[Path, Colorizer] = {}

    def load(path: Path) -> Colorizer:
        if path not in loaded:
            loaded[path] = Colorizer(path, device, **options)
        return loaded[path]

    if terrain is None and len(registry.models) == 1:
        only = registry.models[0]
        colorizer = load(only.path)
        if colorizer.condition_terrains:
            known = ", ".join(colorizer.condition_terrains)
            raise SelectionError(
                f"{only.path}: this model is conditioned on the terrain ({known}): give --terrain NAME, "
                "or --terrain auto with a terrain classifier"
            )
        return colorizer
    if terrain not in (None, AUTO):
        choice = registry.choose(AUTO, terrain)
        colorizer = load(choice.model.path)
        if not colorizer.condition_terrains:
            return colorizer
        return TerrainRouter({terrain: colorizer}, terrain=terrain, path=choice.model.path)
    classifier = registry.classifier
    if classifier is None:
        chosen = registry.choose(AUTO, AUTO).model  # the only model, or one for every terrain; else refused
        colorizer = load(chosen.path)
        if colorizer.condition_terrains:
            raise SelectionError(
                f"{chosen.path}: a conditioned model needs --terrain NAME or a terrain classifier"
            )
        return colorizer
    classes = list(getattr(classifier, "classes", registry.terrains))
    members = {}
    for name in classes:
        try:
            members[name] = load(registry.model_for(name).path)
        except SelectionError:
            continue  # a tile of this terrain is refused when it comes (the message names it)
    if not members:
        raise SelectionError(f"no model of the set covers the classifier's terrains ({', '.join(classes)})")
    return TerrainRouter(members, terrain=AUTO, classifier=classifier, path=registry.root or "model set")
