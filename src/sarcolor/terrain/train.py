"""``sarcolor train-terrain``: train the terrain classifier on the SAR side of a dataset's pairs.

OUT after a run::

    config.yaml            the resolved configuration (TerrainConfig)
    split.json             split group ids and pair names of train / val / test
    metrics.jsonl          loss and train accuracy per logged step, val accuracy every eval_every
    terrain.safetensors    the classifier (weights + config + classes + split)
    eval/test.json         accuracy and confusion matrix on the test scenes (when there are any)

The split is by scene, as for the generator (``--split-from RUN`` takes a run's, so a model set
and its classifier hold out the same scenes). Every training patch is decoded once and kept in
memory 4×4-pooled, as the network sees it (8 KB per 256×256 band). Batches draw the terrains
equally often, so a majority terrain does not become the classifier's habit; patches are randomly cropped (or
mirror-padded) to 256×256 (64×64 pooled), flipped and turned by multiples of 90°.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from sarcolor.config.terrain import TerrainConfig
from sarcolor.data.pairs import Discovery, Pair
from sarcolor.data.sources import discover_pairs, load_sample, source_of
from sarcolor.data.split import Split, split_for
from sarcolor.errors import SarcolorError
from sarcolor.models.terrain_classifier import (
    FILENAME,
    POOL,
    REPORT,
    TILE,
    ClassifierMeta,
    TerrainNet,
    build_net,
    save_classifier,
)
from sarcolor.outputs import atomic_write, ensure_writable, remove_stale_temps
from sarcolor.runtime import resolve_device
from sarcolor.training.runlock import claim_run_folder
from sarcolor.training.runlog import append_jsonl, write_split

Echo = Callable[[str], None]
LOG_EVERY = 20
SIDE = TILE // POOL  # the pooled tile side the network trains on


@dataclass
class TerrainRun:
    """What :func:`train_classifier` did."""

    out: Path
    checkpoint: Path
    classes: list[str]
    seconds: float
    report: dict | None = None  # the test evaluation (sarcolor.terrain.evaluate), if a test split exists


def train_classifier(
    cfg: TerrainConfig, out: str | Path, *, progress: bool | None = None, echo: Echo = print
) -> TerrainRun:
    """Train a terrain classifier on ``cfg.data`` into ``out``; evaluate it on the test split.

    ``out`` is held for the whole run, as ``train`` holds its run folder
    (:func:`~sarcolor.training.runlock.claim_run_folder`): a second run on it is refused.
    """
    start = time.perf_counter()
    cfg = cfg.validate()
    if not cfg.data.root:
        raise SarcolorError("no data folder: give --data DIR")
    cfg = cfg.replace(data={"root": str(Path(cfg.data.root).resolve())})
    found = discover_pairs(cfg.data.root).filter_terrains(cfg.data.terrains)
    if not found.pairs:
        raise SarcolorError(f"{cfg.data.root}: no complete SAR/optical pairs found")
    untagged = [p for p in found.pairs if p.terrain is None]
    if untagged:
        raise SarcolorError(
            f"{cfg.data.root}: {len(untagged)} pair(s) have no terrain ({found.layout} layout); the "
            "classifier learns from terrain folders (the Kaggle layout)"
        )
    classes = found.terrains
    if len(classes) < 2:
        raise SarcolorError(f"{cfg.data.root}: one terrain only ({classes[0]}): nothing to tell apart")
    split = split_for(found.pairs, cfg.data)
    train_pairs = split.select(found.pairs, "train")
    missing = sorted(set(classes) - {p.terrain for p in train_pairs})
    if missing:
        raise SarcolorError(f"the train split holds no pair of terrain {', '.join(map(str, missing))}")
    first = train_pairs[0]
    scale, reason = source_of(first).sar_scale(first, cfg.preprocess)
    cfg = cfg.replace(preprocess={"sar_scale": scale})
    echo(f"SAR scale: {scale} — {reason}")
    out = Path(out)
    with claim_run_folder(out, cfg.data.root, resume=False, command="train-terrain"):
        return _train(cfg, out, found, split, classes, start, progress, echo)


def _train(
    cfg: TerrainConfig,
    out: Path,
    found: Discovery,
    split: Split,
    classes: list[str],
    start: float,
    progress: bool | None,
    echo: Echo,
) -> TerrainRun:
    """The run itself, in the held folder ``out`` (see :func:`train_classifier`)."""
    from sarcolor.models.terrain_classifier import Classifier
    from sarcolor.terrain.evaluate import evaluate_classifier, format_report, write_report

    ensure_writable(out)
    remove_stale_temps(out)  # what killed writers left here (a live writer's temps are kept)
    device = resolve_device(cfg.classifier.device)
    counts = {name: len(split.select(found.pairs, name)) for name in split}
    echo(
        f"terrain classifier: {', '.join(classes)}; {found.layout} layout; "
        + ", ".join(f"{k} {v} pairs / {len(split[k])} scenes" for k, v in counts.items())
        + f"; {cfg.classifier.steps} steps of {cfg.classifier.batch_size} on {device}"
    )
    patches, labels = load_patches(split.select(found.pairs, "train"), cfg, classes, progress, echo)
    val = load_patches(split.select(found.pairs, "val"), cfg, classes, False, echo) if split["val"] else None

    torch.manual_seed(cfg.classifier.seed)
    net = build_net(cfg, len(classes)).to(device)
    optimizer = adam(net, cfg.classifier.lr)
    atomic_write(out / "config.yaml", lambda tmp: tmp.write_text(cfg.to_yaml()))
    write_split(out / "split.json", found.pairs, split)
    log_path = out / "metrics.jsonl"
    log_path.unlink(missing_ok=True)
    sampler = BalancedBatches(labels, len(classes), cfg.classifier.batch_size, cfg.classifier.seed)
    bar = tqdm(total=cfg.classifier.steps, desc="train-terrain", unit="step", disable=progress is False)
    losses: list[float] = []
    hits = seen = 0
    for step in range(1, cfg.classifier.steps + 1):
        index, views = next(sampler)
        x = augment(patches, index, views).to(device)
        y = torch.as_tensor([labels[i] for i in index], device=device)
        net.train()
        logits = net.classify(x)
        loss = F.cross_entropy(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
        hits += int((logits.argmax(1) == y).sum())
        seen += len(index)
        bar.update(1)
        record: dict[str, float] = {}
        if step % LOG_EVERY == 0 or step == cfg.classifier.steps:
            record = {"loss": sum(losses) / len(losses), "train_accuracy": hits / max(seen, 1)}
            losses, hits, seen = [], 0, 0
        if val is not None and (step % cfg.classifier.eval_every == 0 or step == cfg.classifier.steps):
            record["val_accuracy"] = accuracy(net, val[0], val[1], device)
            bar.set_postfix({"val": f"{record['val_accuracy']:.2f}"}, refresh=False)
        if record:
            append_jsonl(log_path, {"step": step, **record})
    bar.close()
    net.cpu().eval()
    path = save_classifier(out / FILENAME, net, ClassifierMeta(cfg, classes, cfg.classifier.steps, split))
    echo(f"classifier → {path}")
    report = None
    if split["test"]:
        report = evaluate_classifier(Classifier(path), progress=progress)
        write_report(report, out / REPORT)
        echo(format_report(report))
    return TerrainRun(out, path, classes, time.perf_counter() - start, report)


def load_patches(
    pairs: Sequence[Pair], cfg: TerrainConfig, classes: list[str], progress: bool | None, echo: Echo
) -> tuple[list[torch.Tensor], list[int]]:
    """The SAR of ``pairs``, 4×4-pooled as the network sees it (float16 (C, H/4, W/4), a patch
    smaller than a tile mirror-padded to one first), and class indexes."""
    patches, labels, bad = [], [], []
    for pair in tqdm(pairs, desc="read SAR", unit="pair", disable=not progress, leave=False):
        try:
            source = load_sample(pair, cfg.preprocess).source
        except SarcolorError as exc:
            if cfg.data.on_bad_sample == "error":
                raise
            bad.append(str(exc))
            continue
        if min(source.shape[-2:]) < TILE:
            source = fit_tile(source)
        patches.append(pool(source).to(torch.float16))
        labels.append(classes.index(str(pair.terrain)))
    if bad:
        echo(f"warning: left out {len(bad)} unreadable pair(s), e.g. {bad[0]}")
    if not patches:
        raise SarcolorError("no readable pair to train the classifier on")
    return patches, labels


def adam(net: torch.nn.Module, lr: float) -> torch.optim.Adam:
    """Adam, fused where this PyTorch has it for the device (on the 2-core CPU ~10× faster for a
    net this small, whose step is otherwise mostly optimizer overhead)."""
    try:
        return torch.optim.Adam(net.parameters(), lr=lr, fused=True)
    except RuntimeError:
        return torch.optim.Adam(net.parameters(), lr=lr)


def pool(source: torch.Tensor) -> torch.Tensor:
    """(C, H, W) → (C, H/4, W/4) block means (a border that does not fill a block is dropped)."""
    return F.avg_pool2d(source.float().clamp(0, 1)[None], POOL)[0]


class BalancedBatches:
    """Endless batches of (patch indexes, augmentation draws): each item's terrain uniform."""

    def __init__(self, labels: Sequence[int], classes: int, batch_size: int, seed: int) -> None:
        self.by_class = [[i for i, c in enumerate(labels) if c == k] for k in range(classes)]
        self.by_class = [members for members in self.by_class if members]
        self.batch_size = batch_size
        self.gen = torch.Generator().manual_seed(seed)

    def __iter__(self) -> BalancedBatches:
        return self

    def __next__(self) -> tuple[list[int], torch.Tensor]:
        classes = torch.randint(len(self.by_class), (self.batch_size,), generator=self.gen).tolist()
        index = []
        for k in classes:
            members = self.by_class[k]
            index.append(members[int(torch.randint(len(members), (1,), generator=self.gen))])
        return index, torch.rand(self.batch_size, 5, generator=self.gen)


def augment(patches: Sequence[torch.Tensor], index: Sequence[int], views: torch.Tensor) -> torch.Tensor:
    """(B, C, 64, 64) pooled tiles: random crops, flips and 90° turns."""
    out = []
    for i, draw in zip(index, views, strict=True):
        tile = fit_tile(patches[i].float(), float(draw[0]), float(draw[1]), SIDE)
        if draw[2] < 0.5:
            tile = tile.flip(-1)
        if draw[3] < 0.5:
            tile = tile.flip(-2)
        out.append(torch.rot90(tile, int(draw[4] * 4) % 4, dims=(-2, -1)))
    return torch.stack(out)


def fit_tile(image: torch.Tensor, u: float = 0.5, v: float = 0.5, side: int = TILE) -> torch.Tensor:
    """A (C, side, side) crop of a (C, H, W) image at relative offset (u, v); mirror-padded if small."""
    _, h, w = image.shape
    if h < side or w < side:
        mode = "reflect" if h > side // 2 and w > side // 2 else "replicate"
        image = F.pad(image[None], (0, max(0, side - w), 0, max(0, side - h)), mode=mode)[0]
        _, h, w = image.shape
    top, left = round(u * (h - side)), round(v * (w - side))
    return image[:, top : top + side, left : left + side]


@torch.no_grad()
def accuracy(net: TerrainNet, patches: Sequence[torch.Tensor], labels: Sequence[int], device) -> float:
    """Share of centre tiles classified right (eval mode)."""
    net.eval()
    hits = 0
    for start in range(0, len(patches), 32):
        x = torch.stack([fit_tile(p.float(), side=SIDE) for p in patches[start : start + 32]]).to(device)
        y = torch.as_tensor(labels[start : start + 32], device=device)
        hits += int((net.classify(x).argmax(1) == y).sum())
    return hits / max(len(patches), 1)
