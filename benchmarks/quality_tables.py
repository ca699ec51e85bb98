"""Markdown tables of benchmarks/real_quality.py's runs, and the docs/quality.md section writer."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from machine import write_section

METRICS = ("psnr", "ssim", "mae", "sam")
HIGHER = {"psnr": True, "ssim": True, "mae": False, "sam": False}
BASELINES = ("mean_colour", "terrain_colour", "level_lut")


def grid_excess(record: dict) -> float:
    """The largest periodic-pattern score the model added over its targets (dB, any period)."""
    model, target = record["grid"]["model"], record["grid"]["target"]
    return max(model[p] - target[p] for p in model)


def _fmt(metric: str, value: float) -> str:
    return f"{value:.2f}" if metric in ("psnr", "sam") else f"{value:.4f}"


def _pm(metric: str, values: list[float]) -> str:
    if len(values) < 2:
        return _fmt(metric, values[0])
    return f"{_fmt(metric, float(np.mean(values)))} ± {_fmt(metric, float(np.std(values, ddof=1)))}"


def _beats(metric: str, model: float, baseline: float) -> bool:
    return model > baseline if HIGHER[metric] else model < baseline


def summarise(runs: list[dict]) -> dict:
    """One variant on one dataset: the mean over folds of each fold's mean over seeds; the spread
    over the seeds that ran every fold (a seed with only some folds would weigh those folds)."""
    folds = sorted({r["fold"] for r in runs})
    by_seed: dict[int, list[dict]] = defaultdict(list)
    by_fold: dict[str, list[dict]] = defaultdict(list)
    for r in runs:
        by_seed[r["seed"]].append(r)
        by_fold[r["fold"]].append(r)
    complete = [rs for rs in by_seed.values() if sorted(r["fold"] for r in rs) == folds]
    seed_means = {m: [float(np.mean([r["model"][m] for r in rs])) for rs in complete] for m in METRICS}
    one_per_fold = [rs[0] for rs in by_fold.values()]  # the baselines depend on the folds only
    baselines = {
        b: {m: float(np.mean([r["baselines"][b][m] for r in one_per_fold])) for m in METRICS}
        for b in BASELINES
    }
    model = {
        m: float(np.mean([np.mean([r["model"][m] for r in rs]) for rs in by_fold.values()])) for m in METRICS
    }
    for m in METRICS:
        if not seed_means[m]:
            seed_means[m] = [model[m]]
    return {
        "seed_means": seed_means,
        "model": model,
        "baselines": baselines,
        "beats": {b: {m: _beats(m, model[m], baselines[b][m]) for m in METRICS} for b in BASELINES},
        "grid_mean": float(np.mean([grid_excess(r) for r in runs])),
        "grid_max": float(np.max([grid_excess(r) for r in runs])),
        "images_per_s": float(np.median([r.get("train_images_per_s", r["images_per_s"]) for r in runs])),
        "g_params": runs[0]["g_params"],
        "d_params": runs[0]["d_params"],
        "seeds": len(complete),
        "folds": len({r["fold"] for r in runs}),
    }


def _tick(ok: bool) -> str:
    return "✓" if ok else "✗"


def render_section(results: list[dict], header: dict) -> str:
    """The Markdown of one benchmark invocation: summary per dataset, then per fold."""
    b = header["budget"]
    lines = [
        f"### {header['date']}: ngf {b['ngf']}, ndf {b['ndf']}, batch {b['batch_size']}, "
        f"{b['steps']} steps, seeds {', '.join(map(str, header['seeds']))}",
        "",
        f"Command: `{header['command']}` — {header['machine']}, torch {header['torch']}.",
        "",
    ]
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in results:
        groups[(r["dataset"], r["variant"])].append(r)
    for dataset in dict.fromkeys(r["dataset"] for r in results):
        variants = [v for d, v in groups if d == dataset]
        summaries = {v: summarise(groups[(dataset, v)]) for v in variants}
        first = summaries[variants[0]]
        what = (
            f"leave-one-scene-out, mean over {first['folds']} folds"
            if dataset == "real"
            else "the demo's synthetic test split"
        )
        lines += [
            f"#### {dataset} data: {what}, mean ± std over seeds",
            "",
            "| variant | PSNR | SSIM | MAE | SAM° | grid dB (mean / max) | train img/s | G params | D params "
            "| beats mean colour (PSNR, MAE) | beats level LUT (PSNR, MAE) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|:-:|:-:|",
        ]
        for v, s in summaries.items():
            cells = [
                _pm(m, s["seed_means"][m]) if s["seeds"] > 1 else _fmt(m, s["model"][m]) for m in METRICS
            ]
            mc, lut = s["beats"]["mean_colour"], s["beats"]["level_lut"]
            lines.append(
                f"| {v} | " + " | ".join(cells) + f" | {s['grid_mean']:+.2f} / {s['grid_max']:+.2f} "
                f"| {_speed(s['images_per_s'])} | {s['g_params']:,} | {s['d_params']:,} "
                f"| {_tick(mc['psnr'])} {_tick(mc['mae'])} | {_tick(lut['psnr'])} {_tick(lut['mae'])} |"
            )
        for name in BASELINES:
            if dataset == "real" and name == "terrain_colour":
                continue  # a held-out terrain has no colour of its own: it is the mean colour again
            scores = first["baselines"][name]
            lines.append(
                f"| *baseline: {name.replace('_', ' ')}* | "
                + " | ".join(_fmt(m, scores[m]) for m in METRICS)
                + " | | | | | | |"
            )
        lines.append("")
        if dataset == "real":
            lines += _per_fold(groups, dataset, variants)
    perceptual = next(iter(results))["perceptual"] if results else {}
    for name, info in perceptual.items():
        if not info.get("available"):
            lines.append(f"- {name.upper()}: unavailable — {info.get('reason')}")
    return "\n".join(lines).rstrip() + "\n"


def _per_fold(groups: dict, dataset: str, variants: list[str]) -> list[str]:
    lines = [
        "Per held-out scene (mean ± std over seeds; baselines fitted on the other scenes):",
        "",
        "| variant | held out | n | PSNR | SSIM | MAE | SAM° | grid dB | mean colour PSNR / MAE "
        "| level LUT PSNR / MAE |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for v in variants:
        by_fold: dict[str, list[dict]] = defaultdict(list)
        for r in groups[(dataset, v)]:
            by_fold[r["fold"]].append(r)
        for fold, runs in by_fold.items():
            b = runs[0]["baselines"]
            lines.append(
                f"| {v} | {fold} | {runs[0]['n']} | "
                + " | ".join(_pm(m, [r["model"][m] for r in runs]) for m in METRICS)
                + f" | {np.mean([grid_excess(r) for r in runs]):+.2f} "
                f"| {b['mean_colour']['psnr']:.2f} / {b['mean_colour']['mae']:.4f} "
                f"| {b['level_lut']['psnr']:.2f} / {b['level_lut']['mae']:.4f} |"
            )
    return [*lines, ""]


def write_quality_section(doc: Path, name: str, section: str) -> None:
    """Put ``section`` between the markers named ``name`` in ``doc`` (or append it there)."""
    begin, end = f"<!-- real_quality.py {name}: begin -->", f"<!-- real_quality.py {name}: end -->"
    write_section(doc, begin, end, section, title="# Quality")


def _speed(images_per_s: float) -> str:
    """A training speed for the table; "–" where nothing was trained (``--colour-stage``)."""
    return "–" if np.isnan(images_per_s) else f"{images_per_s:.1f}"
