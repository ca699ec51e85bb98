"""Which terrain a colorizing run is for, and where the terrain classifier comes from (declared once).

``colorize`` offers both fields; ``serve`` the classifier (a request names its terrain).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sarcolor.errors import SarcolorError
from sarcolor.options import option

if TYPE_CHECKING:
    from sarcolor.inference.modelset import TerrainClassifier


@dataclass(frozen=True)
class TerrainOptions:
    """The terrain of a colorizing run (model sets, conditioned models)."""

    terrain: str | None = option(
        None,
        metavar="NAME|auto",
        help="use the model for this terrain (of a model set; a conditioned model is told it); auto: "
        "the terrain classifier decides, tile by tile",
        default_text="the only model; auto for a model set",
    )
    terrain_classifier: str | None = option(
        None,
        metavar="PATH|MODULE:FUNCTION",
        help="terrain classifier for terrain auto: a train-terrain folder or checkpoint, or a callable "
        "(H, W, 1) SAR → (terrain, confidence)",
        default_text="the model set's, if it holds one",
    )


def load_terrain_classifier(spec: str | None) -> TerrainClassifier | None:
    """A classifier from a ``train-terrain`` folder or checkpoint, or ``package.module:function``.

    Raises:
        SarcolorError: neither, or the function cannot be imported.
    """
    if not spec:
        return None
    from sarcolor.models.terrain_classifier import Classifier, classifier_file

    if classifier_file(spec) is not None:
        return Classifier(spec)
    module, colon, name = spec.partition(":")
    if not colon or not module or not name:
        raise SarcolorError(
            f"--terrain-classifier {spec}: not a terrain classifier folder, nor MODULE:FUNCTION"
        )
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise SarcolorError(f"--terrain-classifier {spec}: cannot load it ({exc})") from None
