"""The real colour scenes of ``../shared/data`` as one training folder, and the NUAA grey pretraining.

:func:`scene_folder` gathers the pairs of several folders — whatever layout each is in (the Kaggle
terrain folders of ``sen1-2-scenes``, SEN1-2's own ``ROIs…/s1_<scene>`` folders of
``sen1-2-original``) — into one folder of links in the Kaggle layout, one "terrain" folder per
SEN1-2 scene (``(roi, season, scene)``, the split unit of both layouts), so that
``--holdout-terrain NAME`` holds out exactly one whole scene. A folder is named after its
terrain where that terrain holds this one scene alone (``agri``), else ``scene<N>``
(``scene45``). The links keep the files' own names, so predictions are named as for the originals.

:func:`pretrained_generator` trains a variant's generator with ``--target grey`` on the NUAA grey
pairs (``../shared/data/real/sen1-2-nuaa``), and :func:`fine_tune_config` makes a colour run start
from it (``--init-from``; the grey output layer is repeated over R, G, B, see
:mod:`sarcolor.training.init_from`). The NUAA files carry no scene ids: whether they hold patches
of the five colour scenes is unknown (they are SEN1-2 patches of other ROIs, as far as seen).
"""

from __future__ import annotations

from pathlib import Path

from sarcolor.checkpoint import read_meta
from sarcolor.config import Config
from sarcolor.data.pairs import Pair
from sarcolor.data.sources import discover_pairs
from sarcolor.training.init_from import init_config
from sarcolor.training.trainer import train

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
SCENE_ROOTS: tuple[Path, ...] = (SHARED / "sen1-2-scenes" / "v_2", SHARED / "sen1-2-original")
ALL_COLOUR_ROOTS: tuple[Path, ...] = (*SCENE_ROOTS, SHARED / "sen1-2" / "v_2")  # + two loose pairs
NUAA_DATA = SHARED / "sen1-2-nuaa"


def scene_pairs(roots: list[Path]) -> dict[str, list[Pair]]:
    """``{fold name: pairs}``, one fold per scene, over every root (a pair found twice counts once)."""
    by_scene: dict[str, dict[str, Pair]] = {}
    terrains: dict[str, set[str]] = {}
    for root in roots:
        if not root.is_dir():
            raise SystemExit(f"{root}: colour scenes not found (give --data DIR)")
        for pair in discover_pairs(root).pairs:
            by_scene.setdefault(pair.split_group, {}).setdefault(pair.name, pair)
            terrains.setdefault(pair.terrain or "", set()).add(pair.split_group)
    folds: dict[str, list[Pair]] = {}
    for group, pairs in sorted(by_scene.items()):
        kinds = {p.terrain for p in pairs.values()}
        terrain = kinds.pop() if len(kinds) == 1 else None
        name = terrain if terrain and terrains[terrain] == {group} else f"scene{group.rsplit('_', 1)[-1]}"
        if name in folds:
            name = group
        folds[name] = sorted(pairs.values(), key=lambda p: (p.patch, p.name))
    return folds


def scene_folder(roots: list[Path], out: Path) -> tuple[Path, list[str]]:
    """The folder of links ``out/v_2/<fold>/{s1,s2}/<file>`` to every scene of ``roots``, and the
    fold names. Links already there are kept; one that points elsewhere is refused."""
    folds = scene_pairs(roots)
    for fold, pairs in folds.items():
        for pair in pairs:
            for sensor, path in (("s1", pair.s1), ("s2", pair.s2)):
                link = out / "v_2" / fold / sensor / path.name
                target = path.resolve()
                if link.is_symlink():
                    if link.resolve() != target:
                        raise SystemExit(f"{link}: links to {link.resolve()}, not {target}; remove {out}")
                    continue
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(target)
    return out, sorted(folds)


def grey_config(cfg: Config, nuaa: Path, steps: int) -> Config:
    """``cfg``'s networks and losses trained on the NUAA grey pairs: every pair trains."""
    return cfg.replace(
        data={"root": str(nuaa), "holdout_terrain": None, "val_fraction": 0.0, "test_fraction": 0.0},
        preprocess={"target": "grey"},
        train={"steps": steps, "sample_every": steps, "checkpoint_every": steps},
    ).validate()


def pretrained_generator(cfg: Config, nuaa: Path, steps: int, run_dir: Path, echo=print) -> Path:
    """The checkpoint of :func:`grey_config` trained in ``run_dir`` (reused when finished there;
    a run stopped half-way continues)."""
    found = sorted((run_dir / "checkpoints").glob("*.safetensors"))
    if found and read_meta(found[-1]).step >= steps:
        return found[-1]
    echo(f"pretraining a grey generator on {nuaa}: {steps} steps → {run_dir}")
    result = train(grey_config(cfg, nuaa, steps), run_dir, resume=bool(found), progress=False, echo=echo)
    if result.interrupted:
        raise SystemExit(f"{run_dir}: pretraining interrupted at step {result.step}; run again to continue")
    return result.checkpoint


def fine_tune_config(cfg: Config, checkpoint: Path) -> Config:
    """``cfg`` (a colour run) starting from ``checkpoint``'s generator, its target kept."""
    return init_config(cfg, checkpoint, {("preprocess", "target")})
