"""Score colorized images under one protocol, beside three baselines.

The protocol (printed with every result and stored in its JSON):

* the split is by split group (for SEN1-2, the scene ``(roi, season, scene)``) and comes from
  the checkpoint (or is recomputed from the same options for ``--predictions``), so no test
  scene was trained on;
* pixel metrics per image on sRGB in [0, 1], data range 1, then averaged over images; only
  valid pixels count: GeoTIFF nodata is left out (:func:`masked_pixel_metrics`), and small
  patches (BigEarthNet's 120×120) are scored at their own size, never padded;
* the baselines (:mod:`sarcolor.evaluation.baselines`) are fitted on the train split only. A
  model that does not beat one of them is flagged.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from sarcolor.config import Config
from sarcolor.data.io import read_image, to_uint8, write_rgb_png
from sarcolor.data.pairs import Pair
from sarcolor.data.preprocess import encode_input, input_label, scored_image, to_rgb
from sarcolor.data.sources import IMAGE_SUFFIXES, discover_pairs, load_sample, source_of
from sarcolor.data.split import SPLITS, Split, split_for
from sarcolor.errors import SarcolorError
from sarcolor.evaluation.baselines import Baselines, fit_baselines
from sarcolor.evaluation.metrics import masked_pixel_metrics
from sarcolor.evaluation.perceptual import Perceptual
from sarcolor.evaluation.scores import BASELINES, CONVENTIONS, Evaluation, ImageScore
from sarcolor.figures import image_grid, save_image
from sarcolor.inference.colorizer import Colorizer, chunked, file_pixels
from sarcolor.inference.files import COLORIZE_BYTES_PER_PIXEL, COLORIZE_OVERHEAD_BYTES, plan_outputs
from sarcolor.outputs import atomic_write, check_output, refuse_inside

__all__ = ["BASELINES", "CONVENTIONS", "Evaluation", "evaluate", "evaluate_predictions", "write_json"]

Predictor = Callable[[Sequence[Pair], list[np.ndarray]], list[np.ndarray]]


@dataclass(frozen=True)
class GalleryItem:
    """One image of the best/worst gallery: (H, W, C) arrays in [0, 1]."""

    psnr: float
    source: np.ndarray
    prediction: np.ndarray
    target: np.ndarray
    name: str


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
    split_options: dict[str, Any] | None = None,
    progress: bool | None = None,
    colorizer: Colorizer | None = None,
) -> Evaluation:
    """Evaluate a checkpoint on the pairs of ``split`` under ``data`` (default: its training data).

    The split is the one stored in the checkpoint, so groups seen in training are never scored
    as ``test``; the baselines use the parameters fitted at training time. ``examples_path``
    receives a grid of the best and worst images; ``predictions_dir`` receives every colorized
    image (named as ``colorize`` names it). ``precision`` is the generator's number format (see
    :class:`~sarcolor.inference.colorizer.Colorizer`); it is recorded in the protocol.
    ``colorizer`` replaces the checkpoint's (e.g. a model set's
    :class:`~sarcolor.terrain.routing.TerrainRouter`; then ``checkpoint`` only names the source).

    An imported generator (``sarcolor import``) stores no split and no baselines: the split is
    recomputed from ``data`` (``split_options``: the ``split`` group of
    :class:`~sarcolor.config.DataConfig`, else its defaults), the baselines are fitted on its
    train part, and the protocol says so (``split_note``).
    """
    if colorizer is None:
        colorizer = Colorizer(checkpoint, device, batch_size=batch_size, precision=precision)
    cfg, meta = colorizer.config, colorizer.meta
    if data is None and not cfg.data.root:
        raise SarcolorError(f"{colorizer.path}: the checkpoint names no dataset; give --data DIR")
    root = Path(data) if data is not None else Path(cfg.data.root)
    found = discover_pairs(root).filter_terrains(cfg.data.terrains)
    _check_split(split)
    scenes, note = meta.split, ""
    if meta.imported is not None and not any(meta.split.values()):
        cfg = cfg.replace(data=dict(split_options or {})).validate("split options")
        scenes = split_for(found.pairs, cfg.data)
        note = (
            f"imported model (from {meta.imported.get('from')}): it stores no split, so the split was "
            f"recomputed from this data (split seed {cfg.data.split_seed}) and the baselines fitted on its "
            "train part; the scenes the model was trained on are unknown and may include these"
        )
    elif split_options:
        raise SarcolorError("split options apply to --predictions; a checkpoint carries its own split")
    if split != "all" and not scenes[split] and not any(scenes.values()):
        raise SarcolorError(f"{colorizer.path}: checkpoint stores no {split!r} split")
    pairs = scenes.select(found.pairs, split)
    if meta.baselines:
        baselines = Baselines.from_json(meta.baselines, str(colorizer.path))
    else:
        baselines = _fit(found.pairs, scenes, cfg, progress)

    targets = {}
    if predictions_dir is not None:  # checked before any work: never over an input or old output
        refuse_inside(predictions_dir, root, "the dataset folder", "--save-predictions")
        named = [p.s1.with_name(f"{source_of(p).prediction_stem(p)}.png") for p in pairs]
        planned = plan_outputs(named, Path(predictions_dir), overwrite=overwrite)
        targets = {p.name: t for p, t in zip(pairs, planned, strict=True)}

    def predict(chunk: Sequence[Pair], sources: list[np.ndarray]) -> list[np.ndarray]:
        # scored as the 8-bit images they become, exactly like another tool's PNG files
        # a conditioned generator is told each pair's terrain (terrain models by the router)
        terrains = [p.terrain or "-" for p in chunk]
        preds = [to_uint8(p) for p in colorizer.colorize_many(sources, terrains=terrains)]
        for pair, pred in zip(chunk, preds, strict=True):
            if pair.name in targets:
                write_rgb_png(targets[pair.name], file_pixels(pred, cfg))
        return [p.astype(np.float32) / 255.0 for p in preds]

    protocol = _protocol(cfg, scenes, split, "recomputed" if note else "checkpoint", found.layout)
    protocol["precision"] = colorizer.precision
    if note:
        protocol["split_note"] = note
    scorer = Perceptual(weights_dir, colorizer.device) if perceptual else None
    result = Evaluation(str(colorizer.path), split, str(root), protocol)
    return _score(result, pairs, predict, baselines, cfg, examples_path, scorer, progress)


def evaluate_predictions(
    predictions: str | Path,
    data: str | Path,
    split: str = "test",
    *,
    cfg: Config | None = None,
    scenes: Split | dict[str, list[str]] | None = None,
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
    split_ = Split.from_json(dict(scenes)) if scenes is not None else split_for(found.pairs, cfg.data)
    pairs = split_.select(found.pairs, split)
    files = _prediction_files(folder)
    matched = {pair.name: _match(pair, files) for pair in pairs}
    missing = [name for name, path in matched.items() if path is None]
    if len(missing) == len(pairs):
        raise SarcolorError(f"{folder}: no prediction matches any of the {len(pairs)} {split} pairs by name")
    if missing:
        raise SarcolorError(
            f"{folder}: {len(missing)} of {len(pairs)} {split} pairs have no prediction, e.g. {missing[0]}"
        )
    baselines = _fit(found.pairs, split_, cfg, progress)

    def predict(chunk: Sequence[Pair], sources: list[np.ndarray]) -> list[np.ndarray]:
        out = []
        for pair, source in zip(chunk, sources, strict=True):
            path = matched[pair.name]
            assert path is not None
            # scored whole, beside its target, in about the copies colorizing it takes: budgeted alike
            image = read_image(path, COLORIZE_BYTES_PER_PIXEL, COLORIZE_OVERHEAD_BYTES)
            if image.shape[:2] != source.shape[:2]:
                raise SarcolorError(
                    f"{path}: size {image.shape[1]}×{image.shape[0]} differs from its target {pair.s2.name}"
                )
            out.append(np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image)
        return out

    protocol = _protocol(cfg, split_, split, "predictions", found.layout)
    scorer = Perceptual(weights_dir) if perceptual else None
    result = Evaluation(str(folder), split, str(data), protocol)
    return _score(result, pairs, predict, baselines, cfg, examples_path, scorer, progress)


def _score(
    result: Evaluation,
    pairs: list[Pair],
    predict: Predictor,
    baselines: Baselines,
    cfg: Config,
    examples_path: str | Path | None,
    lpips_fid: Perceptual | None,
    progress: bool | None,
) -> Evaluation:
    if not pairs:
        raise SarcolorError(f"{result.data_root}: no pairs of the {result.split!r} split found here")
    gallery: list[GalleryItem] = []
    bar = tqdm(
        total=len(pairs),
        desc=f"evaluate {result.split}",
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
            # a grey model (--target grey) is scored on one channel: the luma of each image
            target = scored_image(rgb[None], cfg.preprocess)
            mask = None if valid.all() else valid[None, None]
            pred_t = scored_image(
                torch.from_numpy(np.ascontiguousarray(pred)).permute(2, 0, 1)[None], cfg.preprocess
            )
            model = _metrics(pred_t, target, mask)
            if lpips_fid is not None:
                shown = pred_t if mask is None else torch.where(mask, pred_t, target)
                lp = lpips_fid.update(to_rgb(shown), to_rgb(target))
                if lp is not None:
                    model["lpips"] = float(lp[0])
            images = baselines.predict(encode_input(src[None], cfg.preprocess), pair.terrain)
            scores = {
                name: _metrics(scored_image(im, cfg.preprocess), target, mask) for name, im in images.items()
            }
            result.images.append(ImageScore(pair.name, pair.terrain or "-", pair.split_group, model, scores))
            item = GalleryItem(
                model["psnr"], src.permute(1, 2, 0).numpy(), pred, rgb.permute(1, 2, 0).numpy(), pair.name
            )
            gallery = _keep_extremes([*gallery, item], 3)
        bar.update(len(chunk))
    bar.close()
    if lpips_fid is not None:
        result.perceptual = lpips_fid.result()
    if examples_path is not None:
        write_examples(gallery, examples_path, input_label(cfg.preprocess))
    return result


def _metrics(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None) -> dict[str, float]:
    return {k: float(v[0]) for k, v in masked_pixel_metrics(pred, target, valid).items()}


def _fit(pairs: list[Pair], split: Split, cfg: Config, progress: bool | None) -> Baselines:
    train = split.select(pairs, "train")
    if not train:
        raise SarcolorError("the train split holds no pairs here: the baselines cannot be fitted")
    fit = fit_baselines(train, cfg.preprocess, progress=progress)
    if fit.bad:
        raise SarcolorError(
            f"{fit.bad[0][1]} (one of {len(fit.bad)} unreadable train pairs the baselines need)"
        )
    return fit.baselines


def _protocol(cfg: Config, split: Split, name: str, source: str, layout: str) -> dict[str, Any]:
    d = cfg.data
    return {
        "split_by": source_of(layout).split_unit,
        "split_source": source,
        "val_fraction": d.val_fraction,
        "test_fraction": d.test_fraction,
        "split_seed": d.split_seed,
        "holdout_terrain": d.holdout_terrain,
        "holdout_season": d.holdout_season,
        "scenes": split.groups(name),
        "input": cfg.preprocess.input,
        "target": cfg.preprocess.target,
    }


def _prediction_files(folder: Path) -> dict[str, Path]:
    """Image files by stem; two files of one stem (``a.png`` and ``a.tif``) are ambiguous."""
    files: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file():
            continue
        if path.stem in files:
            raise SarcolorError(
                f"{path}: same name as {files[path.stem].name}; which one is the prediction is ambiguous"
            )
        files[path.stem] = path
    return files


def _match(pair: Pair, files: dict[str, Path]) -> Path | None:
    for stem in (pair.name, pair.s1.stem, pair.s2.stem):
        if stem in files:
            return files[stem]
    return None


def _check_split(split: str) -> None:
    if split not in (*SPLITS, "all"):
        raise SarcolorError(f"--split must be one of {', '.join(SPLITS)}, all; got {split!r}")


def check_scores_out(
    out: str | Path, inputs: Sequence[tuple[str | Path, str]], overwrite: bool = False
) -> Path:
    """Refuse, before any work, an ``evaluate --out`` that would replace an input or a foreign file.

    ``out`` is a ``.json`` file that is none of the ``inputs`` (see :func:`evaluation_inputs`)
    and, if it exists, was written by ``sarcolor evaluate`` (or ``overwrite``); the same holds
    for the ``OUT_examples.png`` beside it.
    """
    check = functools.partial(check_output, command="evaluate", inputs=inputs, overwrite=overwrite)
    out = check(out, suffixes=(".json",), ours=written_by_evaluate)
    check(examples_path(out), suffixes=(".png",), ours=lambda _: written_by_evaluate(out))  # its picture
    return out


def evaluation_inputs(
    checkpoints: Sequence[str | Path], data: str | Path | None = None, runs: Sequence[str | Path] = ()
) -> list[tuple[str | Path, str]]:
    """What ``evaluate`` or ``report`` reads, as ``(path, role)`` for :func:`check_scores_out`:
    each checkpoint, the ``data`` folder, and the files of the checkpoints' and other ``runs``."""
    from sarcolor.checkpoint import CHECKPOINT_DIR, resolve_checkpoint, run_dir_of

    found: list[tuple[str | Path, str]] = [(data, "the data folder")] if data else []
    folders = [Path(r) for r in runs]
    for given in checkpoints:
        ckpt = resolve_checkpoint(given)
        found.append((ckpt, "the checkpoint"))
        folders.append(run_dir_of(ckpt))
    for run in folders:
        found += [
            (run / name, "a file of the run") for name in ("config.yaml", "split.json", "metrics.jsonl")
        ]
        found.append((run / CHECKPOINT_DIR, "the run's checkpoint folder"))
    return found


def written_by_evaluate(path: Path) -> bool:
    """Whether ``path`` holds scores ``sarcolor evaluate`` wrote (a model's, several runs', or a
    terrain classifier's), so that evaluating again may replace them."""
    try:  # scores of 16,000 images take a few MB; a larger file is not worth parsing
        document = json.loads(path.read_text(encoding="utf-8")) if path.stat().st_size < 64 << 20 else None
    except (OSError, ValueError, RecursionError):
        return False
    signatures = ({"conventions", "summary"}, {"runs", "aggregate"}, {"accuracy", "confusion"})
    return isinstance(document, dict) and any(keys <= document.keys() for keys in signatures)


def examples_path(out: Path) -> Path:
    """The picture of the best and worst images written beside the scores ``out``."""
    return out.with_name(out.stem + "_examples.png")


def write_json(evaluation: Evaluation, path: str | Path) -> Path:
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(evaluation.to_dict(), indent=1)))
    return Path(path)


def write_examples(gallery: Sequence[GalleryItem], path: str | Path, input_caption: str) -> Path:
    """A grid of the best and worst images by PSNR: input | colorized | optical."""
    ordered = sorted(gallery, key=lambda g: -g.psnr)
    rows = [[g.source, g.prediction, g.target] for g in ordered]
    labels = [
        f"{'best' if i < len(ordered) / 2 else 'worst'}: {g.name}  PSNR {g.psnr:.2f} dB"
        for i, g in enumerate(ordered)
    ]
    return save_image(image_grid(rows, (input_caption, "colorized", "optical"), labels), path)


def _keep_extremes(gallery: list[GalleryItem], k: int) -> list[GalleryItem]:
    if len(gallery) <= 2 * k:
        return gallery
    ordered = sorted(gallery, key=lambda g: g.psnr)
    return ordered[:k] + ordered[-k:]
