"""Model sets: what a path holds, and which of its models colorizes a given terrain.

A *path* is one of

* a checkpoint file (``…/checkpoints/step_0001000.safetensors``);
* a run folder (its latest checkpoint);
* a *model set*: a folder of run folders, typically one per terrain (each trained with
  ``--terrain NAME``, stored in the checkpoint as ``data.terrains``).

:func:`load_registry` turns paths into a :class:`ModelRegistry` of
:class:`~sarcolor.inference.modelinfo.ModelInfo` records (read from checkpoint metadata only: no
weights are loaded), and
:meth:`ModelRegistry.choose` picks a model for a request ``(model id | auto, terrain | auto)``:

1. a model id names that model; a terrain given with it must be one the model was trained on
   (a model trained on every terrain accepts any);
2. ``model=auto`` with a terrain: the model trained on the fewest terrains that include it,
   else a model trained on every terrain;
3. ``model=auto, terrain=auto``: with one model, that model; otherwise the terrain comes from
   the registry's *terrain classifier* (a callable ``(H, W, 1) SAR in [0, 1] → (terrain,
   confidence)``) and rule 2 applies. Without a classifier, a model trained on every terrain
   is used if the set has one (terrain ``any``); a set of terrain models alone is refused with
   a message that lists the terrains to choose from, rather than guessing one.

A *conditioned* model (``train --condition terrain``) covers the terrains it knows and must be
told one: with terrain ``auto`` it asks the classifier too. A model set folder may hold a
terrain classifier (``sarcolor train-terrain --out SET/terrain``); it becomes the registry's
classifier. Classifying per tile rather than per request is :mod:`sarcolor.terrain.routing`'s.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sarcolor.checkpoint import CHECKPOINT_DIR, list_checkpoints, resolve_checkpoint, run_dir_of
from sarcolor.data.sources.kaggle import TERRAINS
from sarcolor.errors import SarcolorError
from sarcolor.inference.modelinfo import ModelInfo, read_model

AUTO = "auto"
ANY_TERRAIN = "any"  # reported when a model for every terrain ran without knowing the terrain

TerrainClassifier = Callable[[np.ndarray], tuple[str, float]]
"""``(H, W, 1)`` float32 SAR in [0, 1] → ``(terrain name, confidence in [0, 1])``."""


class SelectionError(SarcolorError):
    """The request names a model or terrain this registry cannot serve (HTTP 422)."""


@dataclass
class Choice:
    """The model picked for a request, and the terrain it was picked for.

    ``terrain`` is the requested or inferred terrain, or :data:`ANY_TERRAIN`; ``confidence`` is
    set only when the terrain was inferred by the classifier.
    """

    model: ModelInfo
    terrain: str
    confidence: float | None = None


@dataclass
class ModelRegistry:
    """The models a server (or ``colorize --checkpoint SET``) can use, and how to pick one."""

    models: list[ModelInfo]
    classifier: TerrainClassifier | None = None
    root: Path | None = None  # the model set folder, when the registry is one
    _by_id: dict[str, ModelInfo] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.models:
            raise SarcolorError("no models to serve")
        self._by_id = {m.id: m for m in self.models}
        if len(self._by_id) != len(self.models):
            raise SarcolorError(f"model ids are not unique: {[m.id for m in self.models]}")

    def get(self, model_id: str) -> ModelInfo:
        if model_id not in self._by_id:
            raise SelectionError(f"unknown model {model_id[:60]!r}; known: {', '.join(self._by_id)}")
        return self._by_id[model_id]

    @property
    def terrains(self) -> list[str]:
        """Terrains a request may name: the models' own, and the dataset's four when a model
        trained on every terrain can serve them."""
        named = {t for m in self.models for t in m.terrains}
        if any(not m.terrains for m in self.models):
            named |= set(TERRAINS)
        return sorted(named)

    def check_names(self, model: str = AUTO, terrain: str = AUTO) -> None:
        """Refuse unknown names before anything is read (raises :class:`SelectionError`)."""
        if model != AUTO:
            self.get(model)
        if terrain != AUTO and terrain not in set(self.terrains) | set(TERRAINS):
            raise SelectionError(f"unknown terrain {terrain[:60]!r}; known: {', '.join(self.terrains)}")

    def needs_image(self, model: str = AUTO, terrain: str = AUTO) -> bool:
        """Whether :meth:`choose` will call the classifier (and so needs the image)."""
        if terrain != AUTO or self.classifier is None:
            return False
        if model != AUTO:
            return model in self._by_id and self._by_id[model].conditioned
        return len(self.models) > 1 or self.models[0].conditioned

    def choose(
        self, model: str = AUTO, terrain: str = AUTO, image: Callable[[], np.ndarray] | None = None
    ) -> Choice:
        """The model for ``(model, terrain)`` (rules in the module docstring).

        Args:
            model: a model id or ``auto``.
            terrain: a terrain name or ``auto``.
            image: called, only when the classifier must run, for the ``(H, W, 1)`` SAR input.

        Raises:
            SelectionError: unknown names, or no model fits.
        """
        self.check_names(model, terrain)
        if model != AUTO:
            chosen = self.get(model)
            if terrain == AUTO and chosen.conditioned:
                inferred, confidence = self._classify(
                    image, f"model {chosen.id!r} is conditioned on the terrain"
                )
                if not chosen.covers(inferred):
                    raise SelectionError(
                        f"the terrain looks like {inferred}, which model {chosen.id!r} does not know"
                    )
                return Choice(chosen, inferred, confidence)
            if terrain == AUTO:
                return Choice(chosen, chosen.terrains[0] if len(chosen.terrains) == 1 else ANY_TERRAIN)
            if not chosen.covers(terrain):
                raise SelectionError(
                    f"model {chosen.id!r} was trained on {', '.join(chosen.terrains)}, not {terrain}"
                )
            return Choice(chosen, terrain)
        if terrain != AUTO:
            return Choice(self._for_terrain(terrain), terrain)
        if len(self.models) == 1 and not self.models[0].conditioned:
            only = self.models[0]
            return Choice(only, only.terrains[0] if len(only.terrains) == 1 else ANY_TERRAIN)
        if self.classifier is not None and image is not None:
            inferred, confidence = self._classify(image, "")
            return Choice(self._for_terrain(inferred), inferred, confidence)
        general = [m for m in self.models if not m.terrains]
        if general:
            return Choice(general[0], ANY_TERRAIN)
        raise SelectionError(
            "terrain 'auto' needs a terrain classifier, which this model set does not have; "
            f"choose a terrain: {', '.join(self.terrains)}"
        )

    def _classify(self, image: Callable[[], np.ndarray] | None, why: str) -> tuple[str, float]:
        if self.classifier is None or image is None:
            raise SelectionError(
                f"{why}: choose a terrain ({', '.join(self.terrains)}); there is no terrain classifier"
            )
        inferred, confidence = self.classifier(image())
        return inferred, float(confidence)

    def model_for(self, terrain: str) -> ModelInfo:
        """The model rule 2 picks for ``terrain`` (raises :class:`SelectionError` when none fits)."""
        return self._for_terrain(terrain)

    def _for_terrain(self, terrain: str) -> ModelInfo:
        fitting = [m for m in self.models if m.covers(terrain)]
        if not fitting:
            covered = ", ".join(sorted({t for m in self.models for t in m.terrains}))
            raise SelectionError(f"no model for terrain {terrain!r} (the models cover {covered})")
        # a specialist first (fewest terrains), a model for every terrain last
        return min(fitting, key=lambda m: len(m.terrains) or len(TERRAINS) + 1)


def load_registry(paths: Sequence[str | Path], classifier: TerrainClassifier | None = None) -> ModelRegistry:
    """Every model under ``paths`` (checkpoint files, run folders, model sets).

    Raises:
        SarcolorError: a path holds no model, or a checkpoint is unreadable.
    """
    from sarcolor.models.terrain_classifier import Classifier, classifier_file

    found: list[tuple[Path, str]] = []  # (checkpoint, name)
    classifiers: list[Path] = []
    root = None
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise SarcolorError(f"{path}: not found (expected a checkpoint, a run folder or a model set)")
        if (own := classifier_file(path)) is not None:
            classifiers.append(own)
            continue
        if path.is_file():
            found.append((path, _run_name(path)))
            continue
        if _is_run(path):
            found.append((resolve_checkpoint(path), path.resolve().name))
            continue
        folders = sorted((p for p in path.iterdir() if p.is_dir()), key=lambda p: p.name.lower())
        classifiers += [c for p in folders if (c := classifier_file(p)) is not None]
        members = [p for p in folders if classifier_file(p) is None and _is_run(p)]
        root = path if root is None else root
        if not members:
            raise SarcolorError(
                f"{path}: no models here (expected {CHECKPOINT_DIR}/step_*.safetensors in it or in "
                "its sub-folders)"
            )
        found += [(resolve_checkpoint(run), run.name) for run in members]
    ids: set[str] = set()
    models = []
    for checkpoint, name in found:
        model_id = _unique(_slug(name), ids)
        ids.add(model_id)
        models.append(read_model(checkpoint, model_id, name))
    if not models and classifiers:
        raise SarcolorError(f"{classifiers[0]}: a terrain classifier, but no models to colorize with")
    if classifier is None and classifiers:
        classifier = Classifier(classifiers[0])  # the first set's classifier
    return ModelRegistry(models, classifier, root)


def format_models(registry: ModelRegistry) -> str:
    """A plain-text table of a registry (``sarcolor models PATH``)."""
    head = f"{'id':<20}{'terrains':<24}{'input→target':<16}{'bands':<10}{'step':>8}  scores (test, all)"
    lines = [head, "─" * len(head)]
    for m in registry.models:
        terrains = ", ".join(m.terrains) or "all"
        terrains = f"{terrains} (conditioned)" if m.conditioned else terrains
        lines.append(
            f"{m.id:<20}{terrains:<24}{m.input + '→' + m.target:<16}{'+'.join(m.bands):<10}{m.step:>8}  "
            + _scores(m.metrics)
        )
    if registry.classifier is not None:
        from sarcolor.models.terrain_classifier import Classifier, describe

        shown = describe(registry.classifier) if isinstance(registry.classifier, Classifier) else "a callable"
        lines.append(f"terrain auto: the terrain classifier ({shown})")
    else:
        lines.append(f"terrain auto: {_auto_note(registry)}")
    return "\n".join(lines)


def describe_models(paths: Sequence[str | Path]) -> str:
    """What ``paths`` hold, as text (the library side of ``sarcolor models PATH``)."""
    return format_models(load_registry(paths))


def _auto_note(registry: ModelRegistry) -> str:
    if len(registry.models) == 1:
        return "the only model"
    if any(not m.terrains for m in registry.models):
        return "the model for every terrain (no terrain classifier)"
    return "refused (no terrain classifier; name a terrain)"


def _scores(metrics: dict[str, Any] | None) -> str:
    if not metrics:
        return "not evaluated"
    overall = metrics["summary"].get("all", {})
    model = overall.get("model", {})
    baselines = overall.get("baselines", {})
    parts = []
    for key, label, fmt in (("psnr", "PSNR", "{:.2f} dB"), ("ssim", "SSIM", "{:.3f}")):
        if key in model:
            best = max((b[key] for b in baselines.values() if key in b), default=None)
            extra = f" (best baseline {fmt.format(best)})" if best is not None else ""
            parts.append(f"{label} {fmt.format(model[key])}{extra}")
    return "; ".join(parts) or "not evaluated"


def _is_run(folder: Path) -> bool:
    return bool(list_checkpoints(folder)) or any(folder.glob("*.safetensors"))


def _run_name(checkpoint: Path) -> str:
    run = run_dir_of(checkpoint)
    return run.name if checkpoint.parent.name == CHECKPOINT_DIR else checkpoint.stem


def _slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-.")
    return slug[:40] or "model"


def _unique(base: str, taken: set[str]) -> str:
    candidate, n = base, 2
    while candidate in taken or candidate == AUTO:
        candidate, n = f"{base}-{n}", n + 1
    return candidate
