"""Score colorized images under one protocol, beside three baselines.

The protocol (printed with every result and stored in its JSON):

* the split is by scene — ``(roi, season, scene)`` — and comes from the checkpoint (or is
  recomputed from the same options for ``--predictions``), so no test scene was trained on;
* pixel metrics per image on sRGB in [0, 1], data range 1, then averaged over images; only
  valid pixels count: GeoTIFF nodata is left out (:func:`masked_pixel_metrics`), and small
  patches (BigEarthNet's 120×120) are scored at their own size, never padded;
* the baselines are fitted on the train split only: the constant mean colour, the mean colour
  of the image's terrain, and a lookup table from input level (SAR grey or L*) to the mean
  optical colour seen at that level. A model that does not beat one of them is flagged.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from sarcolor.config import Config
from sarcolor.data.dataset import load_sample
from sarcolor.data.discovery import IMAGE_SUFFIXES, Pair, discover_pairs
from sarcolor.data.io import atomic_write, read_image, to_uint8, write_rgb_png
from sarcolor.data.preprocess import encode_input, input_label
from sarcolor.data.split import SPLIT_UNITS, SPLITS, select_split, split_for
from sarcolor.data.stats import lut_prediction, training_stats
from sarcolor.errors import SarcolorError
from sarcolor.evaluation.metrics import (
    HIGHER_IS_BETTER,
    METRICS,
    PSNR_CAP_DB,
    masked_pixel_metrics,
    mean_std,
)
from sarcolor.evaluation.perceptual import Perceptual
from sarcolor.figures import image_grid, save_image
from sarcolor.inference.colorizer import Colorizer, chunked
from sarcolor.inference.files import plan_outputs

BASELINES: dict[str, str] = {
    "mean_colour": "constant mean training colour",
    "terrain_colour": "constant mean training colour of the image's terrain",
    "level_lut": "lookup table: input level → mean training colour at that level",
}
CONVENTIONS = (
    "per-image metrics on sRGB in [0, 1] (8-bit files / 255), data range 1, then averaged over "
    f"images; PSNR = 10·log10(1/MSE) capped at {PSNR_CAP_DB:.0f} dB; SSIM with a Gaussian window "
    "11, sigma 1.5, over the valid region, averaged over channels; MAE on [0, 1]; SAM in degrees, "
    "averaged over pixels with non-zero colour; LPIPS (AlexNet) fed [-1, 1]; FID on Inception "
    "pool3 (2048-d) against the whole ground-truth split; nodata pixels are left out of PSNR, MAE "
    "and SAM, and SSIM windows touching them are not averaged (LPIPS and FID see them copied "
    "from the target)"
)
Predictor = Callable[[Sequence[Pair], list[np.ndarray]], list[np.ndarray]]


@dataclass
class Evaluation:
    """Per-image scores of a model (or of prediction files) and of the baselines.

    ``images`` holds one record per image: ``name``, ``terrain``, ``scene``, ``model``
    (metric → value) and ``baselines`` (baseline → metric → value).
    """

    source: str
    split: str
    data_root: str
    protocol: dict = field(default_factory=dict)
    images: list[dict] = field(default_factory=list)
    perceptual: dict = field(default_factory=dict)

    def groups(self) -> dict[str, list[dict]]:
        """``all`` and one group per terrain (when the layout has terrains)."""
        by_terrain: dict[str, list[dict]] = defaultdict(list)
        for record in self.images:
            by_terrain[record["terrain"]].append(record)
        out = {"all": self.images}
        if set(by_terrain) != {"-"}:
            out.update(sorted(by_terrain.items()))
        return out

    def summary(self) -> dict[str, dict]:
        """Per group: ``n``, ``scenes``, mean ``model`` scores and mean ``baselines`` scores."""
        out = {}
        for name, records in self.groups().items():
            metrics = list(records[0]["model"])
            out[name] = {
                "n": len(records),
                "scenes": len({r["scene"] for r in records}),
                "model": {m: float(np.mean([r["model"][m] for r in records])) for m in metrics},
                "baselines": {
                    b: {m: float(np.mean([r["baselines"][b][m] for r in records])) for m in METRICS}
                    for b in records[0]["baselines"]
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

    def to_dict(self) -> dict:
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
            "images": self.images,
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
        lines.append(f"conventions: {CONVENTIONS}")
        return "\n".join(lines)


def evaluate(
    checkpoint: str | Path,
    data: str | Path | None = None,
    split: str = "test",
    *,
    device: str = "auto",
    precision: str = "auto",
    batch_size: int = 8,
    examples_path: str | Path | None = None,
    predictions_dir: str | Path | None = None,
    overwrite: bool = False,
    weights_dir: str | Path | None = None,
    perceptual: bool = True,
    progress: bool | None = None,
) -> Evaluation:
    """Evaluate a checkpoint on the pairs of ``split`` under ``data`` (default: its training data).

    The split is the one stored in the checkpoint (scene ids), so scenes seen in training are
    never scored as ``test``; the baselines use the statistics stored at training time.
    ``examples_path`` receives a grid of the best and worst images; ``predictions_dir``
    receives every colorized image as ``<s1 name>.png``. ``precision`` is the generator's
    number format (see :class:`~sarcolor.inference.colorizer.Colorizer`); it is recorded in
    the protocol.
    """
    colorizer = Colorizer(checkpoint, device, batch_size=batch_size, precision=precision)
    cfg, meta = colorizer.config, colorizer.meta
    root = Path(data) if data is not None else Path(cfg.data.root)
    found = discover_pairs(root).filter_terrains(cfg.data.terrains)
    _check_split(split)
    if split != "all" and split not in meta.split:
        raise SarcolorError(f"{colorizer.path}: checkpoint stores no {split!r} split")
    pairs = select_split(found.pairs, meta.split, split)
    stats = meta.stats if "lut" in meta.stats else _stats_from_data(found.pairs, meta.split, cfg, progress)

    targets = {}
    if predictions_dir is not None:  # checked before any work: never over an input or old output
        named = [p.s1 if p.kind == "image" else p.s1.with_name(f"{p.name}.png") for p in pairs]
        planned = plan_outputs(named, Path(predictions_dir), overwrite=overwrite)
        targets = {p.name: t for p, t in zip(pairs, planned, strict=True)}

    def predict(chunk: Sequence[Pair], sources: list[np.ndarray]) -> list[np.ndarray]:
        # scored as the 8-bit images they become, exactly like another tool's PNG files
        preds = [to_uint8(p) for p in colorizer.colorize_many(sources)]
        for pair, pred in zip(chunk, preds, strict=True):
            if pair.name in targets:
                write_rgb_png(targets[pair.name], pred)
        return [p.astype(np.float32) / 255.0 for p in preds]

    protocol = _protocol(cfg, meta.split, split, source="checkpoint", kind=found.kind)
    protocol["precision"] = colorizer.precision
    return _score(
        str(colorizer.path),
        root,
        split,
        pairs,
        predict,
        stats,
        cfg,
        protocol,
        examples_path,
        Perceptual(weights_dir, colorizer.device) if perceptual else None,
        progress,
    )


def evaluate_predictions(
    predictions: str | Path,
    data: str | Path,
    split: str = "test",
    *,
    cfg: Config | None = None,
    scenes: dict[str, list[str]] | None = None,
    examples_path: str | Path | None = None,
    weights_dir: str | Path | None = None,
    perceptual: bool = True,
    progress: bool | None = None,
) -> Evaluation:
    """Score images made by any tool, matched to the optical targets by name.

    A prediction may be named after the pair (``ROIs1868_summer_59_p30.png``), its SAR file
    (``…_s1_…``) or its optical file (``…_s2_…``), with any image suffix. The split is
    ``scenes`` (e.g. a run's ``split.json``) or recomputed from ``cfg.data`` exactly as
    ``sarcolor train`` would; the baselines are fitted on its train split.
    """
    cfg = cfg or Config()
    folder = Path(predictions)
    if not folder.is_dir():
        raise SarcolorError(f"{folder}: predictions folder not found")
    found = discover_pairs(data).filter_terrains(cfg.data.terrains)
    _check_split(split)
    scenes = scenes or split_for(found.pairs, cfg.data)
    pairs = select_split(found.pairs, scenes, split)
    files = {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}
    matched = {pair.name: _match(pair, files) for pair in pairs}
    missing = [name for name, path in matched.items() if path is None]
    if len(missing) == len(pairs):
        raise SarcolorError(f"{folder}: no prediction matches any of the {len(pairs)} {split} pairs by name")
    if missing:
        raise SarcolorError(
            f"{folder}: {len(missing)} of {len(pairs)} {split} pairs have no prediction, e.g. {missing[0]}"
        )
    stats = _stats_from_data(found.pairs, scenes, cfg, progress)

    def predict(chunk: Sequence[Pair], sources: list[np.ndarray]) -> list[np.ndarray]:
        out = []
        for pair, source in zip(chunk, sources, strict=True):
            image = read_image(matched[pair.name])
            if image.shape[:2] != source.shape[:2]:
                raise SarcolorError(
                    f"{matched[pair.name]}: size {image.shape[1]}×{image.shape[0]} "
                    f"differs from its target {pair.s2.name}"
                )
            out.append(np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image)
        return out

    protocol = _protocol(cfg, scenes, split, source="predictions", kind=found.kind)
    return _score(
        str(folder),
        Path(data),
        split,
        pairs,
        predict,
        stats,
        cfg,
        protocol,
        examples_path,
        Perceptual(weights_dir) if perceptual else None,
        progress,
    )


def _score(
    source: str,
    root: Path,
    split: str,
    pairs: list[Pair],
    predict: Predictor,
    stats: dict,
    cfg: Config,
    protocol: dict,
    examples_path: str | Path | None,
    lpips_fid: Perceptual | None,
    progress: bool | None,
) -> Evaluation:
    if not pairs:
        raise SarcolorError(f"{root}: no pairs of the {split!r} split found here")
    result = Evaluation(source, split, str(root), protocol)
    gallery: list[tuple] = []
    bar = tqdm(
        total=len(pairs),
        desc=f"evaluate {split}",
        unit="img",
        disable=None if progress is None else not progress,
    )
    for chunk in chunked(pairs, 16):
        loaded = [load_sample(p, cfg.preprocess) for p in chunk]
        sources = [s.source.permute(1, 2, 0).numpy() for s in loaded]
        preds = predict(chunk, sources)
        for pair, (src, rgb, valid), pred in zip(chunk, loaded, preds, strict=True):
            if not valid.any():
                raise SarcolorError(f"{pair.name}: no valid pixel to score (all nodata)")
            target = rgb[None]
            valid = None if valid.all() else valid[None, None]
            pred_t = torch.from_numpy(np.ascontiguousarray(pred)).permute(2, 0, 1)[None]
            model = {k: float(v[0]) for k, v in masked_pixel_metrics(pred_t, target, valid).items()}
            if lpips_fid is not None:
                shown = pred_t if valid is None else torch.where(valid, pred_t, target)
                lp = lpips_fid.update(shown, target)
                if lp is not None:
                    model["lpips"] = float(lp[0])
            baselines = {
                name: {k: float(v[0]) for k, v in masked_pixel_metrics(image, target, valid).items()}
                for name, image in _baseline_images(
                    encode_input(src[None], cfg.preprocess), pair, stats
                ).items()
            }
            result.images.append(
                {
                    "name": pair.name,
                    "terrain": pair.terrain or "-",
                    "scene": pair.scene,
                    "model": model,
                    "baselines": baselines,
                }
            )
            gallery.append(
                (model["psnr"], src.permute(1, 2, 0).numpy(), pred, rgb.permute(1, 2, 0).numpy(), pair.name)
            )
            gallery = _keep_extremes(gallery, 3)
        bar.update(len(chunk))
    bar.close()
    if lpips_fid is not None:
        result.perceptual = lpips_fid.result()
    if examples_path is not None:
        write_examples(gallery, examples_path, input_label(cfg.preprocess))
    return result


def _baseline_images(net_input: torch.Tensor, pair: Pair, stats: dict) -> dict[str, torch.Tensor]:
    """The three baseline predictions (1, 3, H, W) for one image."""
    h, w = net_input.shape[-2:]
    mean = stats["mean_rgb"]
    terrain = stats.get("terrain_rgb", {}).get(pair.terrain or "-", mean)
    const = lambda rgb: torch.tensor(rgb, dtype=torch.float32).view(1, 3, 1, 1).expand(1, 3, h, w)  # noqa: E731
    return {
        "mean_colour": const(mean),
        "terrain_colour": const(terrain),
        "level_lut": lut_prediction(net_input, stats["lut"]),
    }


def _stats_from_data(
    pairs: list[Pair], scenes: dict[str, list[str]], cfg: Config, progress: bool | None
) -> dict:
    train = select_split(pairs, scenes, "train")
    if not train:
        raise SarcolorError("the train split holds no pairs here: the baselines cannot be fitted")
    stats, bad = training_stats(train, cfg.preprocess, progress=progress)
    if bad:
        raise SarcolorError(f"{bad[0][1]} (one of {len(bad)} unreadable train pairs the baselines need)")
    return stats


def _protocol(
    cfg: Config, scenes: dict[str, list[str]], split: str, source: str, kind: str = "image"
) -> dict:
    d = cfg.data
    return {
        "split_by": SPLIT_UNITS[kind],
        "split_source": source,
        "val_fraction": d.val_fraction,
        "test_fraction": d.test_fraction,
        "split_seed": d.split_seed,
        "holdout_terrain": d.holdout_terrain,
        "holdout_season": d.holdout_season,
        "scenes": scenes.get(split, sorted({s for ids in scenes.values() for s in ids})),
        "input": cfg.preprocess.input,
        "target": cfg.preprocess.target,
    }


def _match(pair: Pair, files: dict[str, Path]) -> Path | None:
    for stem in (pair.name, pair.s1.stem, pair.s2.stem):
        if stem in files:
            return files[stem]
    return None


def _check_split(split: str) -> None:
    if split not in (*SPLITS, "all"):
        raise SarcolorError(f"--split must be one of {', '.join(SPLITS)}, all; got {split!r}")


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


def write_json(evaluation: Evaluation, path: str | Path) -> Path:
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(evaluation.to_dict(), indent=1)))
    return Path(path)


def write_examples(gallery: Sequence[tuple], path: str | Path, input_caption: str) -> Path:
    """A grid of the best and worst images by PSNR: input | colorized | optical."""
    ordered = sorted(gallery, key=lambda g: -g[0])
    rows = [[g[1], g[2], g[3]] for g in ordered]
    labels = [
        f"{'best' if i < len(ordered) / 2 else 'worst'}: {g[4]}  PSNR {g[0]:.2f} dB"
        for i, g in enumerate(ordered)
    ]
    return save_image(image_grid(rows, (input_caption, "colorized", "optical"), labels), path)


def _keep_extremes(gallery: list, k: int) -> list:
    if len(gallery) <= 2 * k:
        return gallery
    ordered = sorted(gallery, key=lambda g: g[0])
    return ordered[:k] + ordered[-k:]
