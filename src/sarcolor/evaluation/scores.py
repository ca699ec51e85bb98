"""Scores as typed records: one per image, and an evaluation's summaries, flags and tables.

An :class:`Evaluation` holds the :class:`ImageScore` of every image of a split. Its JSON form
(:meth:`Evaluation.to_dict`) is what ``sarcolor evaluate`` writes: the protocol, the
conventions, per-group summaries, flags, and every image's scores.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sarcolor.evaluation.baselines import BASELINES
from sarcolor.evaluation.metrics import HIGHER_IS_BETTER, METRICS, PSNR_CAP_DB, mean_std

CONVENTIONS = (
    "per-image metrics on sRGB in [0, 1] (8-bit files / 255), data range 1, then averaged over "
    f"images; PSNR = 10·log10(1/MSE) capped at {PSNR_CAP_DB:.0f} dB; SSIM with a Gaussian window "
    "11, sigma 1.5, over the valid region, averaged over channels; MAE on [0, 1]; SAM in degrees, "
    "averaged over pixels with non-zero colour; LPIPS (AlexNet) fed [-1, 1]; FID on Inception "
    "pool3 (2048-d) against the whole ground-truth split; nodata pixels are left out of PSNR, MAE "
    "and SAM, and SSIM windows touching them are not averaged (LPIPS and FID see them copied "
    "from the target); a grey model (target grey) is scored on one channel, the ITU-R 601 luma "
    "of prediction, target and baselines (its SAM is 0: one channel has no spectral angle)"
)


@dataclass(frozen=True)
class ImageScore:
    """The scores of one image.

    Attributes:
        name: the pair's name.
        terrain: its terrain, ``-`` when the layout has none.
        split_group: its split group (the JSON key is ``scene``).
        model: metric → value for the model (or the prediction file).
        baselines: baseline → metric → value.
    """

    name: str
    terrain: str
    split_group: str
    model: dict[str, float]
    baselines: dict[str, dict[str, float]]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "terrain": self.terrain,
            "scene": self.split_group,
            "model": self.model,
            "baselines": self.baselines,
        }


@dataclass
class Evaluation:
    """Per-image scores of a model (or of prediction files) and of the baselines.

    ``images`` holds one :class:`ImageScore` per image.
    """

    source: str
    split: str
    data_root: str
    protocol: dict[str, Any] = field(default_factory=dict)
    images: list[ImageScore] = field(default_factory=list)
    perceptual: dict[str, dict[str, Any]] = field(default_factory=dict)

    def groups(self) -> dict[str, list[ImageScore]]:
        """``all`` and one group per terrain (when the layout has terrains)."""
        by_terrain: dict[str, list[ImageScore]] = defaultdict(list)
        for record in self.images:
            by_terrain[record.terrain].append(record)
        out = {"all": self.images}
        if set(by_terrain) != {"-"}:
            out.update(sorted(by_terrain.items()))
        return out

    def summary(self) -> dict[str, dict[str, Any]]:
        """Per group: ``n``, ``scenes``, mean ``model`` scores and mean ``baselines`` scores."""
        out = {}
        for name, records in self.groups().items():
            metrics = list(records[0].model)
            out[name] = {
                "n": len(records),
                "scenes": len({r.split_group for r in records}),
                "model": {m: float(np.mean([r.model[m] for r in records])) for m in metrics},
                "baselines": {
                    b: {m: float(np.mean([r.baselines[b][m] for r in records])) for m in METRICS}
                    for b in records[0].baselines
                },
            }
        return out

    def flags(self) -> list[str]:
        """Baselines the model scores worse than overall, metric by metric (ties, e.g. both at
        the PSNR cap, are not flagged). The terrain colour is left out when it could not be
        fitted (a held-out terrain): it is then the mean colour again."""
        s = self.summary()["all"]
        skip = {"terrain_colour"} if self.protocol.get("holdout_terrain") else set()
        return [
            f"does not beat the {b.replace('_', ' ')} baseline on {m.upper()} "
            f"({s['model'][m]:.4g} vs {scores[m]:.4g})"
            for b, scores in s["baselines"].items()
            if b not in skip
            for m in METRICS
            if _better(m, scores[m], s["model"][m])
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "split": self.split,
            "data": self.data_root,
            "protocol": self.protocol,
            "conventions": CONVENTIONS,
            "baselines": BASELINES,
            "summary": self.summary(),
            "perceptual": self.perceptual,
            "flags": self.flags(),
            "images": [r.to_json() for r in self.images],
        }

    def table(self) -> str:
        """Plain-text tables: the model per terrain, then the baselines overall, flags, conventions."""
        summary = self.summary()
        metrics = list(summary["all"]["model"])
        head = f"{'':<18}{'n':>5}" + "".join(f"{_label(m):>9}" for m in metrics)
        lines = [
            f"{self.source} — {self.split} split: {summary['all']['n']} images from "
            f"{summary['all']['scenes']} scenes ({self.protocol.get('split_by', 'scene')})",
            head,
            "─" * len(head),
        ]
        for name, s in summary.items():
            lines.append(f"{name:<18}{s['n']:>5}" + "".join(_fmt(m, s["model"][m]) for m in metrics))
        lines.append(f"{'baselines (all)':<18}{'':>5}" + "".join(f"{_label(m):>9}" for m in METRICS))
        for b, scores in summary["all"]["baselines"].items():
            lines.append(f"  {b:<16}{'':>5}" + "".join(_fmt(m, scores[m]) for m in METRICS))
        for name, result in self.perceptual.items():
            if result.get("available") and "value" in result:
                lines.append(f"{name.upper()}: {result['value']:.2f} over {result['n']} images")
            elif not result.get("available"):
                lines.append(f"{name.upper()}: unavailable — {result['reason']}")
        lines += [f"⚠ the model {flag}" for flag in self.flags()]
        held = self.protocol.get("holdout_terrain") or self.protocol.get("holdout_season")
        if held:
            lines.append(f"protocol: held-out {held} is the test split (unseen in training)")
        if self.protocol.get("split_note"):
            lines.append(f"protocol: {self.protocol['split_note']}")
        lines.append(f"conventions: {CONVENTIONS}")
        return "\n".join(lines)


def _better(metric: str, model: float, baseline: float) -> bool:
    return model > baseline if HIGHER_IS_BETTER[metric] else model < baseline


def _label(metric: str) -> str:
    return {"sam": "SAM°", "psnr": "PSNR"}.get(metric, metric.upper())


def _fmt(metric: str, value: float) -> str:
    return f"{value:>9.2f}" if metric in ("psnr", "sam") else f"{value:>9.4f}"


def aggregate(evaluations: Sequence[Evaluation]) -> dict[str, dict[str, tuple[float, float]]]:
    """Mean ± std across runs (checkpoints or seeds) of each group's model scores."""
    summaries = [e.summary() for e in evaluations]
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for group in summaries[0]:
        if all(group in s for s in summaries):
            metrics = summaries[0][group]["model"]
            out[group] = {m: mean_std([s[group]["model"][m] for s in summaries]) for m in metrics}
    return out


def aggregate_table(evaluations: Sequence[Evaluation]) -> str:
    """Plain-text mean ± std table over several evaluations."""
    agg = aggregate(evaluations)
    metrics = list(agg["all"])
    head = f"{'':<14}" + "".join(f"{_label(m):>17}" for m in metrics)
    lines = [f"mean ± std over {len(evaluations)} runs", head, "─" * len(head)]
    for group, values in agg.items():
        lines.append(f"{group:<14}" + "".join(f"{m_:>10.4g} ± {s_:<5.2g}" for m_, s_ in values.values()))
    return "\n".join(lines)
