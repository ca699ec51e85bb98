"""``train --init-from CKPT``: a new run whose generator starts from another checkpoint's weights.

Typically a generator imported with ``sarcolor import`` (which cannot be resumed: it has no
discriminator and no optimizer state), fine-tuned on the user's data; any sarcolor checkpoint
works the same. The run is new in every other way: a fresh discriminator (``--ndf`` may
change), fresh Adam moments, step 0, its own split and baselines.

The generator keeps what its weights were trained for: the checkpoint's ``model`` section (its
architecture and widths) and the SAR conventions of its ``preprocess`` section (input, target,
bands, dB ranges, speckle filter). An option that would change them is refused. What the
training files hold (``--sar-scale``, ``--calibration``) belongs to the new data and is decided
as usual. An imported generator that normalised with each image's own statistics
(``norm_stats: image``) is trained, like any pix2pix generator, with BatchNorm on batch
statistics, and afterwards runs on the running statistics it learns (``norm_stats: running``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from sarcolor.checkpoint import read_meta, resolve_checkpoint
from sarcolor.config import Config
from sarcolor.errors import SarcolorError
from sarcolor.options import field_named, flag_of, option_of

KEPT_PREPROCESS: tuple[str, ...] = ("input", "target", "bands", "db_ranges", "despeckle")
FRESH_MODEL: tuple[str, ...] = ("ndf",)  # the discriminator starts anew


def init_config(cfg: Config, checkpoint: str | Path) -> Config:
    """``cfg`` (defaults ← YAML ← flags) with the generator's options taken from ``checkpoint``.

    Raises:
        SarcolorError: ``cfg`` sets one of those options to another value than the checkpoint's
            (naming the flag), or the checkpoint is unreadable.
    """
    path = resolve_checkpoint(checkpoint)
    source = read_meta(path).config
    default = Config()
    kept = {
        "model": [f.name for f in dataclasses.fields(source.model) if f.name not in FRESH_MODEL],
        "preprocess": list(KEPT_PREPROCESS),
    }
    for section, names in kept.items():
        for name in names:
            mine, theirs = getattr(getattr(cfg, section), name), getattr(getattr(source, section), name)
            if mine != theirs and mine != getattr(getattr(default, section), name):
                f = field_named(type(getattr(cfg, section)), name)
                spec = option_of(f)
                flag = flag_of(f, spec) if spec is not None and spec.cli else f"{section}.{name}"
                raise SarcolorError(
                    f"{flag} cannot change with --init-from: the generator of {path} has "
                    f"{section}.{name} {theirs!r}"
                )
    model = dataclasses.asdict(source.model) | {n: getattr(cfg.model, n) for n in FRESH_MODEL}
    if source.model.imported:
        model["foreign"] = {**source.model.foreign, "norm_stats": "running"}  # trained on batch statistics
    preprocess = {n: getattr(source.preprocess, n) for n in KEPT_PREPROCESS}
    out = cfg.replace(model=model, preprocess=preprocess)
    if out.model.arch == "sar2optical_unet" and out.train.batch_size < 2 and out.data.crop_size == 256:
        raise SarcolorError(
            "the SAR2Optical U-Net normalises its 1×1 bottleneck with BatchNorm, which needs two images "
            "per step at 256×256: use --batch-size 2 or more"
        )
    return out.validate(str(path))


def describe_init(checkpoint: str | Path) -> str:
    """One line for the log: where the generator's weights come from."""
    path = resolve_checkpoint(checkpoint)
    meta = read_meta(path)
    imported = meta.imported
    what = (
        f"a {imported.get('layout')} imported from {imported.get('from')}"
        if imported
        else f"step {meta.step}"
    )
    return f"generator initialised from {path}: {what}; discriminator and optimizer start fresh"
