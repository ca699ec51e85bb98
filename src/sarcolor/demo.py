"""The built-in demo: synthetic data → train → evaluate → colorize → report, on 2 CPU cores.

``sarcolor demo --out DIR`` writes::

    DIR/data/v_2/…           the synthetic dataset (Kaggle layout)
    DIR/models/              a model set: ``sarcolor serve --models DIR/models`` opens it
        all/                 the training run (config, split, checkpoints, samples, log, eval/test.json)
        terrain/             the terrain classifier (train-terrain), holding out the run's test scenes
    DIR/colorized/*.png      the held-out test tiles, colorized
    DIR/report/              grid.png, examples.png, loss_curve.png, metrics.json, report.md
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path

from sarcolor.checkpoint import read_meta
from sarcolor.config import Config, DeviceName
from sarcolor.config.terrain import ClassifierOptions, TerrainConfig
from sarcolor.data.io import read_image
from sarcolor.data.sources import discover_pairs, source_of
from sarcolor.data.split import split_scenes
from sarcolor.errors import SarcolorError
from sarcolor.evaluation.evaluate import evaluate, write_json
from sarcolor.evaluation.scores import CONVENTIONS, Evaluation
from sarcolor.figures import image_grid, save_image
from sarcolor.outputs import atomic_write
from sarcolor.synthetic import make_synthetic_dataset
from sarcolor.terrain.evaluate import format_report
from sarcolor.terrain.train import train_classifier
from sarcolor.training.trainer import train

MARKER = ".sarcolor-demo"
DEMO_STEPS = 600
DEMO_NGF = 16
DEMO_CLASSIFIER_STEPS = 300


@dataclass
class DemoReport:
    out: Path
    evaluation: Evaluation
    seconds: float
    terrain: dict | None = None  # the terrain classifier's test report

    @property
    def beats_baseline(self) -> bool:
        s = self.evaluation.summary()["all"]
        return s["model"]["psnr"] > s["baselines"]["mean_colour"]["psnr"]


def demo_config(data_root: Path, steps: int, ngf: int, seed: int, device: str) -> Config:
    """The demo's configuration: the full architecture at a small width, a few hundred steps."""
    cfg = Config().replace(data={"root": str(data_root), "val_fraction": 0.125, "test_fraction": 0.25})
    cfg = cfg.replace(
        data={"split_seed": _split_seed_covering_terrains(data_root, cfg, seed)},
        model={"ngf": ngf, "ndf": ngf},
        train={
            "steps": steps,
            "batch_size": 4,
            "lr_decay_fraction": 0.5,
            "seed": seed,
            "device": device,
            "log_every": 10,
            "sample_every": max(50, steps // 6),
            "checkpoint_every": max(100, steps // 3),
        },
    )
    return cfg.validate()


def demo_terrain_config(cfg: Config, run: Path, steps: int, device: DeviceName) -> TerrainConfig:
    """The demo's terrain classifier: width 16, ``steps`` steps, the split of the run ``run``."""
    data = replace(cfg.data, split_file=str(run))
    return TerrainConfig(
        data=data, classifier=ClassifierOptions(steps=steps, seed=cfg.train.seed, device=device)
    )


def run_demo(
    out: str | Path,
    *,
    steps: int | None = None,
    ngf: int | None = None,
    seed: int = 0,
    device: DeviceName = "auto",
    progress: bool | None = None,
    echo=print,
    classifier_steps: int = DEMO_CLASSIFIER_STEPS,
) -> DemoReport:
    """Run the whole demo into ``out`` (a folder it owns: earlier demo output there is replaced)."""
    start = time.perf_counter()
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not (out / MARKER).exists():
        raise SarcolorError(f"{out}: folder exists and was not made by `sarcolor demo`; choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).touch()
    for stale in ("run", "models", "colorized", "report"):
        shutil.rmtree(out / stale, ignore_errors=True)

    echo(f"[1/5] synthetic dataset → {out / 'data'}")
    data_root = make_synthetic_dataset(out / "data", scenes_per_terrain=4, patches_per_scene=9, seed=seed)
    cfg = demo_config(data_root, steps or DEMO_STEPS, ngf or DEMO_NGF, seed, device)
    models = out / "models"

    echo("[2/5] training")
    run = train(cfg, models / "all", progress=progress, echo=echo)
    if run.interrupted:
        raise KeyboardInterrupt

    echo("[3/5] evaluating on the held-out test scenes and colorizing them")
    report_dir = out / "report"
    result = evaluate(
        run.checkpoint,
        split="test",
        device=device,
        examples_path=report_dir / "examples.png",
        predictions_dir=out / "colorized",
        progress=progress,
    )
    write_json(result, report_dir / "metrics.json")
    write_json(result, models / "all" / "eval" / "test.json")  # the app's model card shows it

    echo("[4/5] the terrain classifier, on the same split (a model set: models/)")
    terrain = train_classifier(
        demo_terrain_config(cfg, models / "all", classifier_steps, device),
        models / "terrain",
        progress=progress,
        echo=lambda _: None,
    )
    assert terrain.report is not None  # the demo's split has test scenes
    echo(format_report(terrain.report))

    echo("[5/5] writing the report")
    test_pairs = read_meta(run.checkpoint).split.select(discover_pairs(data_root).pairs, "test")
    shown = test_pairs[:: max(1, len(test_pairs) // 8)][:8]
    colorized = out / "colorized"
    rows = [
        [read_image(p.s1), read_image(colorized / f"{source_of(p).prediction_stem(p)}.png"), read_image(p.s2)]
        for p in shown
    ]
    save_image(
        image_grid(rows, ("SAR", "colorized", "optical"), [p.name for p in shown]), report_dir / "grid.png"
    )
    if (models / "all" / "loss_curve.png").exists():
        shutil.copyfile(models / "all" / "loss_curve.png", report_dir / "loss_curve.png")

    seconds = time.perf_counter() - start
    report = DemoReport(out, result, seconds, terrain.report)
    atomic_write(report_dir / "report.md", lambda tmp: tmp.write_text(_markdown(report, cfg)))
    echo("")
    echo(result.table())
    s = result.summary()["all"]
    verdict = "beats" if report.beats_baseline else "does NOT beat"
    echo(
        f"\nmodel PSNR {s['model']['psnr']:.2f} dB vs mean-colour baseline "
        f"{s['baselines']['mean_colour']['psnr']:.2f} dB "
        f"on {s['n']} test tiles: the model {verdict} the baseline"
    )
    accuracy, majority = terrain.report["accuracy"], terrain.report["majority"]
    echo(
        f"terrain classifier: {accuracy:.1%} of the test tiles right (always {majority['terrain']}: "
        f"{majority['accuracy']:.1%})"
    )
    echo(f"report: {report_dir / 'report.md'}  ({seconds / 60:.1f} min)")
    echo(f"try the app: sarcolor serve --models {models}   (then open http://127.0.0.1:8000)")
    return report


def _split_seed_covering_terrains(data_root: Path, cfg: Config, seed: int) -> int:
    """The first split seed from ``seed`` on whose test scenes cover the most terrains.

    The split stays by scene; the demo only picks a seed whose test split shows every terrain.
    """
    pairs = discover_pairs(data_root).pairs
    terrains = {p.terrain for p in pairs}
    best, best_count = seed, -1
    for candidate in range(seed, seed + 50):
        split = split_scenes(pairs, cfg.data.val_fraction, cfg.data.test_fraction, candidate)
        count = len({p.terrain for p in split.select(pairs, "test")})
        if count > best_count:
            best, best_count = candidate, count
        if count == len(terrains):
            break
    return best


def _terrain_lines(terrain: dict | None) -> list[str]:
    if terrain is None:
        return []
    return [
        "## Terrain classifier (held-out scenes)",
        "",
        f"{terrain['accuracy']:.1%} of {terrain['n']} test tiles classified right; always answering the "
        f"majority terrain ({terrain['majority']['terrain']}) gets {terrain['majority']['accuracy']:.1%}. "
        "The model set `models/` (the run and the classifier) opens with `sarcolor serve --models models`.",
        "",
    ]


def _markdown(report: DemoReport, cfg: Config) -> str:
    s = report.evaluation.summary()
    lines = [
        "# sarcolor demo report",
        "",
        f"Synthetic SAR/optical pairs, pix2pix U-Net (ngf={cfg.model.ngf}) trained for "
        f"{cfg.train.steps} steps of batch {cfg.train.batch_size}; total time "
        f"{report.seconds / 60:.1f} min.",
        "",
        "## Test split (held-out scenes)",
        "",
        "| terrain | n | PSNR (dB) | SSIM | MAE | SAM (°) "
        "| mean-colour PSNR | terrain-colour PSNR | level-LUT PSNR |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, v in s.items():
        m, b = v["model"], v["baselines"]
        lines.append(
            f"| {name} | {v['n']} | {m['psnr']:.2f} | {m['ssim']:.4f} | {m['mae']:.4f} | {m['sam']:.2f} | "
            f"{b['mean_colour']['psnr']:.2f} | {b['terrain_colour']['psnr']:.2f} | "
            f"{b['level_lut']['psnr']:.2f} |"
        )
    lines += [
        "",
        f"Model {'beats' if report.beats_baseline else 'does not beat'} the constant "
        "mean-training-colour baseline on PSNR."
        + "".join(f" ⚠ The model {flag}." for flag in report.evaluation.flags()),
        "",
        f"Conventions: {CONVENTIONS}.",
        "",
        *_terrain_lines(report.terrain),
        "## SAR | colorized | optical",
        "",
        "![grid](grid.png)",
        "",
        "## Best and worst test tiles",
        "",
        "![examples](examples.png)",
        "",
        "## Losses",
        "",
        "![loss curve](loss_curve.png)",
        "",
    ]
    return "\n".join(lines)
