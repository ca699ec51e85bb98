"""``sarcolor evaluate --checkpoint SET``: a model set scored as a whole, and its classifier.

The set colorizes each test image the way ``colorize --checkpoint SET --terrain auto`` would:
the terrain classifier picks, tile by tile, the member for each tile. It is scored beside the
baselines (fitted again on the whole train split, since each member's were fitted on its own
terrain), per terrain, under the usual protocol; then once more with every image sent to the
member for its true terrain (what a perfect classifier would give), and the classifier's own
accuracy and confusion matrix are printed. The members must hold out the same scenes (train
them with ``--split-from`` one run); otherwise one member's test scene may be another's
training scene and the set's score would not be honest.
"""

from __future__ import annotations

from pathlib import Path

from sarcolor.errors import SarcolorError
from sarcolor.evaluation.evaluate import evaluate, write_json
from sarcolor.evaluation.scores import Evaluation
from sarcolor.inference.colorizer import Colorizer
from sarcolor.inference.modelset import AUTO, SelectionError, load_registry
from sarcolor.models.terrain_classifier import REPORT, Classifier
from sarcolor.outputs import ensure_writable
from sarcolor.terrain.evaluate import evaluate_classifier, format_report, write_report
from sarcolor.terrain.routing import TerrainRouter, merged_split


def evaluate_set(
    path: str | Path,
    data: str | Path | None = None,
    split: str = "test",
    *,
    device: str = "auto",
    precision: str = "auto",
    out: Path | None = None,
    progress: bool | None = None,
    echo=print,
) -> list[Evaluation]:
    """Score the model set ``path`` (see the module docstring); writes ``SET/eval/SPLIT.json`` (terrain
    auto), ``SET/eval/SPLIT_true_terrain.json`` and the classifier's ``eval/SPLIT.json``.

    Raises:
        SarcolorError: a scene one member trained on is another's test scene; no classifier.
    """
    path = Path(path)
    registry = load_registry([path])
    classifier = registry.classifier
    if not isinstance(classifier, Classifier):
        raise SarcolorError(
            f"{path}: a model set is evaluated with its terrain classifier (SET/terrain/); none here"
        )
    loaded: dict[Path, Colorizer] = {}
    members: dict[str, Colorizer] = {}
    for name in classifier.classes:
        try:
            info = registry.model_for(name)
        except SelectionError:
            continue
        if info.path not in loaded:
            loaded[info.path] = Colorizer(info.path, device, precision=precision)
        members[name] = loaded[info.path]
    merged = merged_split([c.meta.split for c in loaded.values()])  # raises when members disagree
    held_out = split if split != "all" else "test"
    if any(g in merged["train"] for g in classifier.meta.split[held_out]) or any(
        g in classifier.meta.split["train"] for g in merged[held_out]
    ):
        echo(f"warning: the classifier trained on scenes of the models' {held_out} split, or they on its")
    report = evaluate_classifier(classifier, data, split, progress=progress)
    echo(format_report(report) + "\n")
    write_report(report, classifier.path.parent / REPORT.with_name(f"{split}.json"))
    results = []
    target = out or path / "eval" / f"{split}.json"
    ensure_writable(target.parent)
    for terrain, suffix, title in (
        (AUTO, "", "terrain auto (classifier)"),
        (None, "_true_terrain", "true terrain"),
    ):
        router = TerrainRouter(members, terrain=terrain, classifier=classifier, path=path)
        result = evaluate(path, data, split, colorizer=router, progress=progress)  # type: ignore[arg-type]
        result.protocol["terrain"] = title
        echo(f"model set {path.name}, {title}: {router.summary()}")
        echo(result.table() + "\n")
        written = write_json(result, target.with_name(target.stem + suffix + target.suffix))
        echo(f"scores → {written}\n")
        results.append(result)
    return results
