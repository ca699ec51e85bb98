"""``sarcolor report``: one self-contained HTML file (images embedded) and a Markdown twin.

For each run folder: its configuration, loss curves, the metric tables with the baselines and
flags, the protocol and conventions, and per-terrain galleries (input | colorized | optical) of
the best, median and worst images by a chosen metric. Several runs are also compared side by
side. The HTML needs no server and no network; the Markdown references PNG files written
beside it (``<name>_files/``).
"""

from __future__ import annotations

import base64
import functools
import html
import io
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sarcolor.checkpoint import read_meta, resolve_checkpoint
from sarcolor.data.preprocess import input_label
from sarcolor.data.sources import discover_pairs, load_sample
from sarcolor.errors import SarcolorError, quote
from sarcolor.evaluation.evaluate import evaluate, write_json
from sarcolor.evaluation.metrics import HIGHER_IS_BETTER, METRICS
from sarcolor.evaluation.scores import BASELINES, CONVENTIONS, Evaluation
from sarcolor.figures import image_grid, plot_losses, read_metrics_log
from sarcolor.inference.colorizer import Colorizer
from sarcolor.outputs import atomic_write, check_output

RANKS: tuple[str, ...] = ("best", "median", "worst")


@dataclass
class RunReport:
    """What the report shows of one run. Pictures are PNG bytes."""

    name: str
    run_dir: Path
    config_yaml: str
    evaluation: Evaluation
    loss_curve: bytes | None = None
    galleries: dict[str, bytes] = field(default_factory=dict)  # terrain → grid PNG


def build_run_report(
    run_dir: str | Path,
    *,
    split: str = "test",
    metric: str = "psnr",
    data: str | Path | None = None,
    device: str = "auto",
    progress: bool | None = None,
) -> RunReport:
    """Evaluate a run (its latest checkpoint) and gather everything the report shows."""
    run_dir = Path(run_dir)
    if metric not in METRICS:
        raise SarcolorError(f"--metric must be one of {', '.join(METRICS)}, got {metric!r}")
    checkpoint = resolve_checkpoint(run_dir)
    result = evaluate(checkpoint, data, split, device=device, progress=progress)
    write_json(result, run_dir / "eval" / f"{split}.json")
    config = run_dir / "config.yaml"  # an imported model has none: its checkpoint's configuration
    config_yaml = config.read_text() if config.exists() else read_meta(checkpoint).config.to_yaml()
    report = RunReport(run_dir.name, run_dir, config_yaml, result)
    records = read_metrics_log(run_dir / "metrics.jsonl")
    with tempfile.TemporaryDirectory() as tmp:
        curve = plot_losses(records, Path(tmp) / "loss.png", title=f"{run_dir.name}: losses")
        report.loss_curve = curve.read_bytes() if curve else None
    report.galleries = _galleries(result, checkpoint, data, metric, device)
    return report


def _galleries(
    result: Evaluation, checkpoint: Path, data: str | Path | None, metric: str, device: str
) -> dict[str, bytes]:
    colorizer = Colorizer(checkpoint, device)
    cfg = colorizer.config
    root = Path(data) if data is not None else Path(cfg.data.root)
    pairs = {p.name: p for p in discover_pairs(root).pairs}
    out = {}
    for terrain, records in result.groups().items():
        if terrain == "all" and len(result.groups()) > 1:
            continue
        ordered = sorted(records, key=lambda r: r.model[metric], reverse=HIGHER_IS_BETTER[metric])
        picks = {"best": ordered[0], "median": ordered[len(ordered) // 2], "worst": ordered[-1]}
        loaded = [load_sample(pairs[r.name], cfg.preprocess) for r in picks.values()]
        sources = [s.source.permute(1, 2, 0).numpy() for s in loaded]
        preds = colorizer.colorize_many(sources)
        rows = [
            [s, p, t.rgb.permute(1, 2, 0).numpy()] for s, p, t in zip(sources, preds, loaded, strict=True)
        ]
        labels = [f"{rank}: {r.name}  {metric.upper()} {r.model[metric]:.3f}" for rank, r in picks.items()]
        grid = image_grid(rows, (input_label(cfg.preprocess), "colorized", "optical"), labels, tile=160)
        buffer = io.BytesIO()
        grid.save(buffer, format="PNG")
        out[terrain] = buffer.getvalue()
    return out


def _write_bytes(path: Path, data: bytes) -> None:
    path.write_bytes(data)


def check_report_out(
    out: str | Path, inputs: Sequence[tuple[str | Path, str]] = (), overwrite: bool = False
) -> Path:
    """Refuse, before any work, a report that would replace an input or a file report did not write.

    ``out`` is an ``.html`` file; it, its ``.md`` twin and its pictures folder (``<stem>_files/``)
    are none of the ``inputs`` (``(path, role)``) and, where they exist, were written by
    ``sarcolor report`` (or ``overwrite``).
    """
    out = check_output(
        out, command="report", suffixes=(".html", ".htm"), inputs=inputs, ours=_is_report, overwrite=overwrite
    )
    md = check_output(
        out.with_suffix(".md"),
        command="report",
        suffixes=(".md",),
        inputs=inputs,
        ours=_is_report,
        overwrite=overwrite,
    )
    files = _pictures(out)
    if files.exists() and not (overwrite or _is_report(out) or _is_report(md)):
        raise SarcolorError(
            f"{quote(files)}: exists and was not written by sarcolor report; choose another --out "
            "or pass --overwrite to replace its pictures"
        )
    return out


def _is_report(path: Path) -> bool:
    """Whether ``path`` is an HTML or Markdown report written by ``sarcolor report``."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(512)
    except OSError:
        return False
    return head.startswith(b"# sarcolor report") or b"<title>sarcolor report</title>" in head


def _pictures(out: Path) -> Path:
    return out.with_name(out.stem + "_files")


def write_report(
    reports: list[RunReport], out: str | Path, metric: str = "psnr", *, overwrite: bool = False
) -> tuple[Path, Path]:
    """Write ``out`` (.html) and its Markdown twin (.md, pictures in ``<stem>_files/``).

    Files that report did not write are replaced only with ``overwrite`` (:func:`check_report_out`).
    """
    out = check_report_out(out, overwrite=overwrite)
    files = _pictures(out)
    pictures: dict[str, bytes] = {}
    for r in reports:
        if r.loss_curve:
            pictures[f"{r.name}_loss_curve.png"] = r.loss_curve
        for terrain, png in r.galleries.items():
            pictures[f"{r.name}_gallery_{terrain}.png"] = png
    html_text = _html(reports, metric)
    md_text = _markdown(reports, metric, files.name)
    for name, png in pictures.items():
        atomic_write(files / name, functools.partial(_write_bytes, data=png))
    atomic_write(out, lambda tmp: tmp.write_text(html_text, encoding="utf-8"))
    md = out.with_suffix(".md")
    atomic_write(md, lambda tmp: tmp.write_text(md_text, encoding="utf-8"))
    return out, md


# ── shared content ────────────────────────────────────────────────────────────────────────────


def _metric_rows(r: RunReport) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a run's per-terrain table (model, then each baseline's PSNR)."""
    summary = r.evaluation.summary()
    metrics = list(summary["all"]["model"])
    head = [
        "terrain",
        "n",
        *(m.upper() for m in metrics),
        *(f"{b} {m}" for b in BASELINES for m in ("PSNR", "SSIM")),
    ]
    rows = []
    for group, s in summary.items():
        rows.append(
            [group, str(s["n"])]
            + [_num(m, s["model"][m]) for m in metrics]
            + [_num(m, s["baselines"][b][m]) for b in BASELINES for m in ("psnr", "ssim")]
        )
    return head, rows


def _comparison_rows(reports: list[RunReport]) -> tuple[list[str], list[list[str]]]:
    metrics = list(reports[0].evaluation.summary()["all"]["model"])
    head = ["run", "n", *(m.upper() for m in metrics), "flags"]
    rows = []
    for r in reports:
        s = r.evaluation.summary()["all"]
        rows.append(
            [
                r.name,
                str(s["n"]),
                *(_num(m, s["model"].get(m, float("nan"))) for m in metrics),
                str(len(r.evaluation.flags())),
            ]
        )
    return head, rows


def _perceptual_lines(r: RunReport) -> list[str]:
    lines = []
    for name, entry in r.evaluation.perceptual.items():
        if "value" in entry:
            lines.append(f"{name.upper()}: {entry['value']:.2f} over {entry['n']} images")
        elif entry.get("available"):
            lines.append(f"{name.upper()}: per image, in the table")
        else:
            lines.append(f"{name.upper()}: unavailable — {entry['reason']}")
    return lines


def _num(metric: str, value: float) -> str:
    return f"{value:.2f}" if metric in ("psnr", "sam") else f"{value:.4f}"


def _protocol_lines(r: RunReport) -> list[str]:
    p = r.evaluation.protocol
    held = p.get("holdout_terrain") or p.get("holdout_season")
    return [
        f"Split: {r.evaluation.split}, by {p.get('split_by', 'scene')}; "
        + (
            f"held out: {held}; "
            if held
            else f"test fraction {p.get('test_fraction')}, seed {p.get('split_seed')}; "
        )
        + f"{len(p.get('scenes', []))} scenes, {r.evaluation.summary()['all']['n']} images.",
        f"Input {p.get('input')}, target {p.get('target')}. Conventions: {CONVENTIONS}.",
        *([f"Note: {p['split_note']}."] if p.get("split_note") else []),
    ]


# ── HTML ──────────────────────────────────────────────────────────────────────────────────────

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
h1{font-size:1.6rem} h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2.2rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem} th,td{border:1px solid #ccc;padding:.25rem .55rem;text-align:right}
th:first-child,td:first-child{text-align:left} th{background:#f3f3f3} .flag{color:#b00;font-weight:600}
pre{background:#f7f7f7;padding:.7rem;overflow:auto;font-size:.8rem} figure{display:inline-block;margin:.5rem 1rem .5rem 0}
figcaption{font-size:.85rem;color:#555} .note{color:#555;font-size:.9rem}
"""


def _table_html(head: list[str], rows: list[list[str]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _img_html(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(alt)}"><figcaption>{html.escape(alt)}</figcaption></figure>'


def _html(reports: list[RunReport], metric: str) -> str:
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>sarcolor report</title><style>{_CSS}</style></head><body>"
    ]
    parts.append(f"<h1>sarcolor report — {html.escape(', '.join(r.name for r in reports))}</h1>")
    if len(reports) > 1:
        parts.append("<h2>Comparison</h2>" + _table_html(*_comparison_rows(reports)))
    for r in reports:
        parts.append(f"<h2>{html.escape(r.name)}</h2>")
        parts += [f"<p class='note'>{html.escape(line)}</p>" for line in _protocol_lines(r)]
        parts.append("<h3>Scores</h3>" + _table_html(*_metric_rows(r)))
        parts += [f"<p class='flag'>⚠ The model {html.escape(f)}.</p>" for f in r.evaluation.flags()]
        parts += [f"<p class='note'>{html.escape(line)}</p>" for line in _perceptual_lines(r)]
        if r.loss_curve:
            parts.append("<h3>Losses</h3>" + _img_html(r.loss_curve, f"{r.name}: loss curves"))
        parts.append(f"<h3>Galleries (best, median, worst by {metric.upper()})</h3>")
        parts += [_img_html(png, f"{r.name} — {terrain}") for terrain, png in r.galleries.items()]
        parts.append(f"<h3>Configuration</h3><pre>{html.escape(r.config_yaml)}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)


# ── Markdown ──────────────────────────────────────────────────────────────────────────────────


def _table_md(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _markdown(reports: list[RunReport], metric: str, files: str) -> str:
    parts = [f"# sarcolor report — {', '.join(r.name for r in reports)}", ""]
    if len(reports) > 1:
        parts += ["## Comparison", "", _table_md(*_comparison_rows(reports)), ""]
    for r in reports:
        parts += [f"## {r.name}", "", *(line + "\n" for line in _protocol_lines(r))]
        parts += ["### Scores", "", _table_md(*_metric_rows(r)), ""]
        parts += [f"**⚠ The model {f}.**\n" for f in r.evaluation.flags()]
        parts += [line + "\n" for line in _perceptual_lines(r)]
        if r.loss_curve:
            parts += ["### Losses", "", f"![{r.name}: loss curves]({files}/{r.name}_loss_curve.png)", ""]
        parts += [f"### Galleries (best, median, worst by {metric.upper()})", ""]
        parts += [f"![{r.name} — {t}]({files}/{r.name}_gallery_{t}.png)\n" for t in r.galleries]
        parts += ["### Configuration", "", "```yaml", r.config_yaml.rstrip(), "```", ""]
    return "\n".join(parts)
