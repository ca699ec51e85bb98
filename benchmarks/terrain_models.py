"""One plain model vs one model per terrain vs one conditioned model, per terrain, beside the
baselines; and the terrain classifier (separate small CNN vs a probe on the generator's encoder).

    python benchmarks/terrain_models.py synthetic --out /tmp/terrain-bench [--steps 600] [--ngf 16]
    python benchmarks/terrain_models.py real --out /tmp/terrain-bench-real [--condition-at input]

``synthetic``: the demo's data (``make demo``: 4 terrains × 4 scenes × 9 patches, seed 0) and its
split by scene (test: one scene per terrain, 36 patches). ``real``: the three SEN1-2 scenes in
../shared/data/real/sen1-2-scenes (agri 59, barrenland 114, grassland 115, one terrain each), so
a split by scene cannot test a terrain model on its own terrain: each scene's highest-numbered
~30 % of patches are the test set instead (symlinked into a test folder), a *patch* split whose
test patches border (and may overlap) training patches: an optimistic, within-scene check.

Every generator uses the demo recipe (U-Net/PatchGAN at ngf = ndf = 16, batch 4, lr 2e-4 decayed
over the last half, ``--precision auto``), the same number of steps each: a terrain model
therefore sees 1/3 or 1/4 of the data for as many steps (4× or 3× the total compute of the
plain model). Systems scored on the same test images:

* ``plain``: one model for every terrain;
* ``terrain models (true)``: each image to its terrain's model; ``(classifier)``: the terrain
  classifier routes each tile (what ``colorize --checkpoint SET --terrain auto`` does);
* ``conditioned input`` / ``bottleneck``: one generator told the terrain as one-hot input planes
  / by FiLM at the bottleneck, told the true terrain, or (``classifier``) the classified one.

Writes OUT/results.json and prints Markdown tables (PSNR dB / SSIM per terrain).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from machine import cpu_name
from sarcolor.checkpoint import resolve_checkpoint
from sarcolor.config.terrain import ClassifierOptions, TerrainConfig
from sarcolor.data.sources import discover_pairs, load_sample
from sarcolor.demo import demo_config
from sarcolor.evaluation.evaluate import evaluate
from sarcolor.inference.colorizer import Colorizer
from sarcolor.inference.modelset import AUTO
from sarcolor.models.terrain_classifier import Classifier
from sarcolor.synthetic import make_synthetic_dataset
from sarcolor.terrain.evaluate import evaluate_classifier
from sarcolor.terrain.routing import TerrainRouter
from sarcolor.terrain.train import train_classifier
from sarcolor.training.trainer import train

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real" / "sen1-2-scenes" / "v_2"
TEST_SHARE = 0.3


def real_folders(out: Path) -> tuple[Path, Path]:
    """train/ and test/ symlink trees of the real scenes (the last 30 % of each scene's patches)."""
    roots = out / "data-train" / "v_2", out / "data-test" / "v_2"
    for terrain_dir in sorted(REAL.iterdir()):
        names = sorted(
            (p.name for p in (terrain_dir / "s1").iterdir()), key=lambda n: int(n.split("_p")[-1][:-4])
        )
        cut = len(names) - round(TEST_SHARE * len(names))
        for root, chosen in ((roots[0], names[:cut]), (roots[1], names[cut:])):
            for sensor in ("s1", "s2"):
                folder = root / terrain_dir.name / sensor
                folder.mkdir(parents=True, exist_ok=True)
                for name in chosen:
                    name = name.replace("_s1_", f"_{sensor}_")
                    link = folder / name
                    if not link.exists():
                        link.symlink_to(terrain_dir / sensor / name)
    return roots


def timed_train(cfg, run: Path, log: dict) -> Path:
    if not list((run / "checkpoints").glob("*.safetensors")):
        start = time.perf_counter()
        train(cfg, run, progress=False, echo=lambda _: None)
        log[run.name] = round(time.perf_counter() - start, 1)
        print(f"trained {run.name} in {log[run.name]:.0f} s", flush=True)
    return resolve_checkpoint(run)


def scores(result) -> dict:
    return {
        g: {"n": v["n"], **{k: round(v["model"][k], 4) for k in ("psnr", "ssim")}}
        for g, v in result.summary().items()
    }


def encoder_probe(generator_ckpt: Path, data: Path, train_split, test_split) -> float:
    """Accuracy of a linear probe on the trained generator's encoder (GAP of down blocks 2–8):
    what a terrain head trained alongside the generator could read off its features."""
    colorizer = Colorizer(generator_ckpt, "cpu", precision="fp32")
    g, pre = colorizer.generator.eval(), colorizer.config.preprocess
    found = discover_pairs(data).pairs

    def features(pairs):
        rows = []
        for pair in pairs:
            x = load_sample(pair, pre).source[None] * 2 - 1
            feats = []
            with torch.no_grad():
                for k, block in enumerate(g.down):
                    x = block(x)
                    if k >= 1:
                        feats.append(x.mean(dim=(2, 3)))
            rows.append(torch.cat(feats, dim=1)[0])
        return torch.stack(rows)

    train_pairs, test_pairs = train_split(found), test_split(found)
    classes = sorted({p.terrain for p in train_pairs})
    xtr, xte = features(train_pairs), features(test_pairs)
    mean, std = xtr.mean(0), xtr.std(0) + 1e-6
    xtr, xte = (xtr - mean) / std, (xte - mean) / std
    ytr = torch.tensor([classes.index(p.terrain) for p in train_pairs])
    yte = torch.tensor([classes.index(p.terrain) for p in test_pairs])
    torch.manual_seed(0)
    head = torch.nn.Linear(xtr.shape[1], len(classes))
    opt = torch.optim.Adam(head.parameters(), lr=1e-2, weight_decay=1e-3)
    for _ in range(300):
        loss = torch.nn.functional.cross_entropy(head(xtr), ytr)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return float((head(xte).argmax(1) == yte).float().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", choices=("synthetic", "real"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--ngf", type=int, default=16)
    parser.add_argument("--classifier-steps", type=int, default=300)
    parser.add_argument(
        "--condition-at",
        nargs="+",
        choices=("input", "bottleneck"),
        default=["input", "bottleneck"],
        help="which conditioned generators to train (default: both)",
    )
    parser.add_argument(
        "--compute-matched",
        action="store_true",
        help="also: the plain model at 4× the steps, and terrain models at ¼ of the steps each",
    )
    args = parser.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    times: dict[str, float] = {}
    if args.data == "synthetic":
        data = make_synthetic_dataset(out / "data", scenes_per_terrain=4, patches_per_scene=9, seed=0)
        test_data, split = data, "test"
        base = demo_config(data, args.steps, args.ngf, 0, "auto")
    else:
        data, test_data = real_folders(out)
        split = "all"
        base = demo_config(data, args.steps, args.ngf, 0, "auto").replace(
            data={"val_fraction": 0.0, "test_fraction": 0.0, "split_seed": 0}
        )
    base = base.replace(
        data={"num_workers": 0}, train={"sample_every": args.steps, "checkpoint_every": args.steps}
    )
    terrains = discover_pairs(data).terrains
    plain = timed_train(base, out / "plain", times)
    shared = {"split_file": str(out / "plain")} if args.data == "synthetic" else {}
    members = {
        t: timed_train(base.replace(data={"terrains": [t], **shared}), out / f"terrain-{t}", times)
        for t in terrains
    }
    cond = {
        at: timed_train(
            base.replace(model={"condition": "terrain", "condition_at": at}), out / f"cond-{at}", times
        )
        for at in args.condition_at
    }
    tcfg = TerrainConfig(
        data=base.data, classifier=ClassifierOptions(steps=args.classifier_steps, device="cpu")
    )
    tcfg = tcfg.replace(data={"split_file": shared.get("split_file")})
    start = time.perf_counter()
    if not (out / "terrain" / "terrain.safetensors").is_file():
        train_classifier(tcfg, out / "terrain", progress=False, echo=lambda _: None)
        times["terrain classifier"] = round(time.perf_counter() - start, 1)
    classifier = Classifier(out / "terrain")
    creport = evaluate_classifier(classifier, test_data, split)
    print(
        f"classifier accuracy {creport['accuracy']:.3f} (majority {creport['majority']['accuracy']:.3f})",
        flush=True,
    )

    def ev(colorizer=None, ckpt=plain):
        return evaluate(ckpt, test_data, split, colorizer=colorizer, perceptual=False, progress=False)

    results = {}
    plain_result = ev()
    results["plain"] = scores(plain_result)
    baselines = {
        g: {name: {k: round(b[k], 4) for k in ("psnr", "ssim")} for name, b in v["baselines"].items()}
        for g, v in plain_result.summary().items()
    }
    loaded = {t: Colorizer(p, "auto") for t, p in members.items()}
    results["terrain models (true terrain)"] = scores(ev(TerrainRouter(loaded, terrain=None, path=out)))
    routed = TerrainRouter(loaded, terrain=AUTO, classifier=classifier, path=out)
    results["terrain models (classifier)"] = scores(ev(routed))
    for at, ckpt in cond.items():
        results[f"conditioned {at} (true terrain)"] = scores(ev(ckpt=ckpt))
        one = Colorizer(ckpt, "auto")
        router = TerrainRouter(
            dict.fromkeys(one.condition_terrains, one), terrain=AUTO, classifier=classifier, path=ckpt
        )
        results[f"conditioned {at} (classifier)"] = scores(ev(router, ckpt))

    if args.compute_matched:
        k = len(terrains)
        long_cfg = base.replace(train={"steps": args.steps * k, "checkpoint_every": args.steps * k})
        long_run = timed_train(long_cfg, out / f"plain-x{k}", times)
        results[f"plain ({k}× steps)"] = scores(ev(ckpt=long_run))
        short = base.replace(train={"steps": args.steps // k, "checkpoint_every": args.steps // k})
        quarter = {
            t: Colorizer(
                timed_train(short.replace(data={"terrains": [t], **shared}), out / f"terrain-{t}-q", times)
            )
            for t in terrains
        }
        results[f"terrain models (1/{k} steps each, true terrain)"] = scores(
            ev(TerrainRouter(quarter, terrain=None, path=out))
        )
    if args.data == "synthetic":
        split_obj = Classifier(out / "terrain").meta.split
        probe = encoder_probe(
            plain, data, lambda ps: split_obj.select(ps, "train"), lambda ps: split_obj.select(ps, "test")
        )
    else:
        probe = encoder_probe(plain, data, lambda ps: ps, lambda ps: discover_pairs(test_data).pairs)
    record = {
        "data": args.data,
        "cpu": cpu_name(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "load_average": os.getloadavg(),
        "steps": args.steps,
        "ngf": args.ngf,
        "train_seconds": times,
        "classifier": {
            k: creport[k] for k in ("accuracy", "majority", "confusion", "classes", "n", "mean_confidence")
        },
        "encoder_probe_accuracy": probe,
        "baselines": baselines,
        "results": results,
    }
    (out / "results.json").write_text(json.dumps(record, indent=1))
    print(markdown(record))


def markdown(record: dict) -> str:
    groups = list(record["results"]["plain"])
    head = "| system | " + " | ".join(f"{g} (n={record['results']['plain'][g]['n']})" for g in groups) + " |"
    lines = [head, "|---|" + "---:|" * len(groups)]
    for name, res in record["results"].items():
        lines.append(
            f"| {name} | " + " | ".join(f"{res[g]['psnr']:.2f} / {res[g]['ssim']:.3f}" for g in groups) + " |"
        )
    for base in record["baselines"]["all"]:
        lines.append(
            f"| baseline {base} | "
            + " | ".join(
                f"{record['baselines'][g][base]['psnr']:.2f} / {record['baselines'][g][base]['ssim']:.3f}"
                for g in groups
            )
            + " |"
        )
    c = record["classifier"]
    lines.append(
        f"\nterrain classifier: accuracy {c['accuracy']:.1%} on {c['n']} test patches (majority "
        f"{c['majority']['accuracy']:.1%}); linear probe on the plain generator's encoder: "
        f"{record['encoder_probe_accuracy']:.1%}; train seconds {record['train_seconds']}"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
