"""One model of a model set, as its files describe it: :class:`ModelInfo`, read from a
checkpoint's metadata and its run's evaluation (no weights are loaded).

:mod:`sarcolor.inference.modelset` gathers these into a registry and picks among them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sarcolor.checkpoint import read_meta, run_dir_of
from sarcolor.config import Config
from sarcolor.errors import SarcolorError
from sarcolor.textfiles import loads_json

EVAL_FILE = Path("eval") / "test.json"


@dataclass
class ModelInfo:
    """One model of a registry, as the API lists it.

    Attributes:
        id: a short unique name (from the run folder), used in requests.
        name: the run folder's name (or the checkpoint's, outside a run folder).
        path: the checkpoint file.
        terrains: the terrains it was trained on; empty means every terrain.
        input, target, bands: the checkpoint's ``preprocess`` settings.
        step: training steps of the checkpoint.
        arch: the generator in words (sarcolor's U-Net, or an imported one's layout).
        imported_from: ``pix2pix`` / ``sar2optical`` for a model brought by ``sarcolor import``.
        metrics: ``RUN/eval/test.json`` condensed (:func:`read_metrics`), or ``None``.
    """

    id: str
    name: str
    path: Path
    terrains: list[str]
    input: str
    target: str
    bands: list[str]
    step: int
    sar_scale: str = "auto"
    despeckle: str | None = None
    metrics: dict[str, Any] | None = None
    arch: str = "sarcolor U-Net-256"
    imported_from: str | None = None
    conditioned: bool = False  # takes the terrain as an input (its terrains are those it knows)

    def covers(self, terrain: str) -> bool:
        return not self.terrains or terrain in self.terrains

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "terrains": self.terrains,
            "input": self.input,
            "target": self.target,
            "bands": self.bands,
            "step": self.step,
            "sar_scale": self.sar_scale,
            "despeckle": self.despeckle,
            "metrics": self.metrics,
            "arch": self.arch,
            "imported_from": self.imported_from,
            "conditioned": self.conditioned,
        }


def read_model(checkpoint: Path, model_id: str, name: str) -> ModelInfo:
    """A :class:`ModelInfo` from a checkpoint's metadata and its run's evaluation, if any."""
    meta = read_meta(checkpoint)
    cfg = meta.config
    pre = cfg.preprocess
    conditioned = cfg.model.condition_channels > 0
    return ModelInfo(
        id=model_id,
        name=name,
        path=checkpoint,
        terrains=list(cfg.model.condition_terrains if conditioned else cfg.data.terrains),
        conditioned=conditioned,
        input=pre.input,
        target=pre.target,
        bands=list(pre.bands),
        step=meta.step,
        sar_scale=pre.sar_scale,
        despeckle=pre.despeckle,
        metrics=read_metrics(run_dir_of(checkpoint) / EVAL_FILE),
        arch=arch_label(cfg),
        imported_from=meta.imported.get("from") if meta.imported else None,
    )


def arch_label(cfg: Config) -> str:
    """The generator of a configuration in words, e.g. ``pix2pix unet_256 (batch norm, …)``."""
    if not cfg.model.imported:
        return f"sarcolor U-Net-256 (ngf {cfg.model.ngf})"
    from sarcolor.models.foreign import ForeignArch

    return ForeignArch.from_dict(cfg.model.foreign).label


def read_metrics(path: Path) -> dict[str, Any] | None:
    """``eval/test.json`` (:func:`sarcolor.evaluation.evaluate.write_json`) condensed.

    Returns:
        ``{"split", "summary": {group: {"n", "scenes", "model", "baselines"}}, "baselines":
        {name: description}, "flags": [...]}``, or ``None`` when absent or unreadable (a broken
        evaluation file must not stop a server from starting; the model card then has no scores).
    """
    if not path.is_file():
        return None
    try:
        data = loads_json(path.read_text(), path)
        if not _readable_summary(data["summary"]):
            return None
        return {
            "split": data.get("split", "test"),
            "summary": data["summary"],
            "baselines": data.get("baselines", {}),
            "flags": data.get("flags", []),
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError, SarcolorError):  # e.g. too deep
        return None


def _readable_summary(summary: Any) -> bool:
    """Whether a summary has the shape the model list reads
    (:func:`~sarcolor.inference.modelset.format_models`): ``{group: {"model": scores,
    "baselines": {name: scores}}}``, scores holding numbers as ``psnr`` and ``ssim``."""

    def scores(values: Any) -> bool:
        return isinstance(values, dict) and all(
            isinstance(values.get(key, 0), (int, float)) for key in ("psnr", "ssim")
        )

    groups = summary.values() if isinstance(summary, dict) else [None]
    return all(
        isinstance(group, dict)
        and scores(group.get("model", {}))
        and isinstance(group.get("baselines", {}), dict)
        and all(scores(b) for b in group.get("baselines", {}).values())
        for group in groups
    )
