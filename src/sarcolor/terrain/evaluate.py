"""How well the terrain classifier tells the terrains apart, and how a model set scores.

:func:`evaluate_classifier` scores a classifier on the pairs of one split (by default the test
scenes stored in its checkpoint): accuracy, a confusion matrix (rows: true terrain, columns:
predicted), recall and precision per terrain, and the accuracy of always answering the majority
terrain of the train split, the baseline a classifier has to beat. Each pair is classified as a
whole (its tiles' probabilities averaged), as ``colorize --terrain auto`` classifies an image.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from sarcolor.data.sources import discover_pairs, load_sample
from sarcolor.errors import SarcolorError
from sarcolor.models.terrain_classifier import REPORT, Classifier
from sarcolor.outputs import atomic_write


def evaluate_classifier(
    classifier: Classifier,
    data: str | Path | None = None,
    split: str = "test",
    *,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Accuracy and confusion matrix of ``classifier`` on ``split`` of ``data`` (default: its own).

    Returns:
        ``{"classifier", "data", "split", "scenes", "n", "classes", "accuracy", "majority":
        {"terrain", "accuracy"}, "confusion": [[int]], "per_terrain": {name: {"n", "recall",
        "precision"}}, "mean_confidence", "errors": [{"pair", "terrain", "predicted",
        "confidence"}]}``.
    """
    meta = classifier.meta
    root = Path(data) if data is not None else Path(meta.config.data.root)
    found = discover_pairs(root)
    pairs = [p for p in meta.split.select(found.pairs, split) if p.terrain in classifier.classes]
    if not pairs:
        raise SarcolorError(f"{root}: no pairs of the classifier's terrains in the {split!r} split")
    train = [p.terrain for p in meta.split.select(found.pairs, "train") if p.terrain in classifier.classes]
    majority = (
        Counter(train).most_common(1)[0][0]
        if train
        else Counter(p.terrain for p in pairs).most_common(1)[0][0]
    )
    k = len(classifier.classes)
    confusion = np.zeros((k, k), dtype=np.int64)
    confidences, errors = [], []
    for pair in tqdm(pairs, desc=f"classify {split}", unit="img", disable=not progress, leave=False):
        source = load_sample(pair, meta.config.preprocess).source.permute(1, 2, 0).numpy()
        probs = classifier.image_probabilities(source)
        guess = int(np.argmax(probs))
        truth = classifier.classes.index(str(pair.terrain))
        confusion[truth, guess] += 1
        confidences.append(float(probs[guess]))
        if guess != truth:
            errors.append(
                {"pair": pair.name, "terrain": pair.terrain, "predicted": classifier.classes[guess],
                 "confidence": round(float(probs[guess]), 4)}
            )  # fmt: skip
    n = int(confusion.sum())
    per_terrain = {}
    for i, name in enumerate(classifier.classes):
        row, col = int(confusion[i].sum()), int(confusion[:, i].sum())
        per_terrain[name] = {
            "n": row,
            "recall": float(confusion[i, i] / row) if row else None,
            "precision": float(confusion[i, i] / col) if col else None,
        }
    return {
        "classifier": str(classifier.path),
        "data": str(root),
        "split": split,
        "scenes": sorted({p.split_group for p in pairs}),
        "n": n,
        "classes": list(classifier.classes),
        "accuracy": float(np.trace(confusion) / n),
        "majority": {"terrain": majority, "accuracy": sum(p.terrain == majority for p in pairs) / n},
        "confusion": confusion.tolist(),
        "per_terrain": per_terrain,
        "mean_confidence": float(np.mean(confidences)),
        "errors": errors,
    }


def format_report(report: dict[str, Any]) -> str:
    """The report as text: accuracy beside the majority baseline, then the confusion matrix."""
    classes = report["classes"]
    width = max(12, *(len(c) + 2 for c in classes))
    lines = [
        f"terrain classifier — {report['split']} split: {report['n']} images from "
        f"{len(report['scenes'])} scene(s)",
        f"accuracy {report['accuracy']:.1%}  (always {report['majority']['terrain']}: "
        f"{report['majority']['accuracy']:.1%}); mean confidence {report['mean_confidence']:.2f}",
        "confusion (rows: true terrain, columns: predicted)",
        " " * width + "".join(f"{c:>{width}}" for c in classes) + f"{'recall':>10}",
    ]
    for name, row in zip(classes, report["confusion"], strict=True):
        recall = report["per_terrain"][name]["recall"]
        shown = f"{recall:.1%}" if recall is not None else "–"
        lines.append(f"{name:<{width}}" + "".join(f"{v:>{width}}" for v in row) + f"{shown:>10}")
    beats = report["accuracy"] > report["majority"]["accuracy"]
    lines.append(
        f"the classifier {'beats' if beats else 'does NOT beat'} always answering the majority terrain"
    )
    return "\n".join(lines)


def write_report(report: dict[str, Any], path: str | Path) -> Path:
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(report, indent=1)))
    return Path(path)


def default_report_path(classifier: Classifier, split: str) -> Path:
    return classifier.path.parent / REPORT.with_name(f"{split}.json")
