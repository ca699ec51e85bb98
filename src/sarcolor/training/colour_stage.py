"""The colour stage of a two-stage model: a grey generator's brightness, coloured by least squares.

Stage 1 is a generator trained with ``--target grey`` (SAR → luma), which can learn from every real
pair, grey or colour (the 1,800 NUAA grey pairs among them). Stage 2 maps its luma ``Y`` to sRGB
with one gain and one offset per channel::

    R, G, B = clip(offset_c + gain_c · Y, 0, 1)

fitted by least squares over every valid pixel of the colour pairs' training split, with the
generator in eval mode. Five scenes' worth of colour pairs teach a colour prior, not a colour per
land cover (docs/quality.md); six numbers are what they can fit without learning their own scenes
by heart, and the fit can only stay with the constant mean colour (gain 0) when the brightness
does not help. The result is one ``--target tinted`` checkpoint (the generator unchanged, the six
numbers in ``preprocess.tint`` / ``tint_offset``) that colorize, serve, evaluate and ONNX export
run as one model. ``sarcolor fit-colour`` is the command.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from sarcolor.checkpoint import CheckpointMeta, read_meta, resolve_checkpoint, save_checkpoint
from sarcolor.config import DataConfig
from sarcolor.data.dataset import load_sample
from sarcolor.data.pairs import Pair
from sarcolor.data.sources import discover_pairs
from sarcolor.data.split import split_for
from sarcolor.errors import SarcolorError
from sarcolor.evaluation.baselines import fit_baselines
from sarcolor.inference.colorizer import Colorizer
from sarcolor.models import build_networks
from sarcolor.models.weights import load_state, read_checkpoint

STAGE_ONE_TARGETS = ("grey", "tinted")


def fit_colour(
    colorizer: Colorizer, pairs: Sequence[Pair], progress: bool | None = False
) -> tuple[list, list]:
    """Per-channel ``(gains, offsets)`` of ``RGB ≈ offset + gain · Y`` over the valid pixels of
    ``pairs``, ``Y`` the luma ``colorizer`` (a grey or neutrally tinted model) draws.

    Raises:
        SarcolorError: no pair has a valid pixel.
    """
    pre = colorizer.config.preprocess
    sums = np.zeros((3, 5))  # per channel: n, Σy, Σy², Σt, Σty
    for pair in tqdm(
        pairs, desc="fitting the colour stage", disable=None if progress is None else not progress
    ):
        source, rgb, valid = load_sample(pair, pre)  # (C, H, W), (3, H, W), (H, W)
        luma = colorizer.colorize(source.permute(1, 2, 0).numpy())[..., 0].astype(np.float64)  # (H, W)
        keep = valid.numpy().astype(bool)
        y, targets = luma[keep], rgb.numpy().astype(np.float64)[:, keep]
        for c, t in enumerate(targets):
            sums[c] += (y.size, y.sum(), (y * y).sum(), t.sum(), (t * y).sum())
    if not sums[0, 0]:
        raise SarcolorError("no valid pixel in the colour pairs to fit the colour stage on")
    gains, offsets = [], []
    for n, sy, syy, st, sty in sums:
        spread = n * syy - sy * sy
        gain = (n * sty - sy * st) / spread if spread > 1e-9 * n * n else 0.0  # a flat Y: the mean colour
        gains.append(round(float(gain), 6))
        offsets.append(round(float((st - gain * sy) / n), 6))
    return gains, offsets


def neutral(colorizer: Colorizer) -> Colorizer:
    """``colorizer`` drawing its luma as is (a tinted model's tint set aside), for :func:`fit_colour`."""
    cfg = colorizer.config.replace(
        preprocess={"target": "tinted", "tint": [1.0] * 3, "tint_offset": [0.0] * 3}
    )
    colorizer.meta = replace(colorizer.meta, config=cfg)
    return colorizer


def colour_stage(
    checkpoint: str | Path,
    data: str | Path,
    out: str | Path,
    split: dict | None = None,
    *,
    device: str = "auto",
    progress: bool | None = False,
    echo: Callable[[str], None] = print,
) -> Path:
    """Write ``out``: the grey (or tinted) generator of ``checkpoint`` with a colour stage fitted on
    the training split of the colour pairs under ``data`` (``split``: the data section's split
    options, e.g. ``{"holdout_terrain": "agri"}``). Returns the checkpoint written.

    Raises:
        SarcolorError: the checkpoint's generator does not predict one luma channel; no pairs.
    """
    path = resolve_checkpoint(checkpoint)
    meta = read_meta(path)
    target = meta.config.preprocess.target
    if target not in STAGE_ONE_TARGETS:
        raise SarcolorError(
            f"{path}: the colour stage needs a grey generator (--target grey or tinted); "
            f"this one predicts {target}"
        )
    fresh = asdict(DataConfig()) | {"root": str(Path(data).resolve())} | dict(split or {})
    cfg = meta.config.replace(data=fresh).validate(str(path))  # the grey pairs' split options not kept
    found = discover_pairs(cfg.data.root)
    chosen = split_for(found.pairs, cfg.data)
    train = chosen.select(found.pairs, "train")
    if not train:
        raise SarcolorError(f"{data}: the train split holds no colour pairs")
    echo(f"fitting the colour stage of {path.name} on {len(train)} colour pairs of {data}")
    gains, offsets = fit_colour(neutral(Colorizer(path, device=device, form="eager")), train, progress)
    cfg = cfg.replace(preprocess={"target": "tinted", "tint": gains, "tint_offset": offsets}).validate(
        str(path)
    )
    baselines = fit_baselines(train, cfg.preprocess, progress=progress).baselines
    _, states = read_checkpoint(path, ["G", "D"])
    generator, discriminator = build_networks(cfg)
    load_state(generator, states["G"], path)
    load_state(discriminator, states["D"], path, prefix="D")
    stored = CheckpointMeta(cfg, meta.step, chosen, baselines=baselines.to_json())
    echo(f"colour stage: gains {gains}, offsets {offsets} (R, G, B = offset + gain · luma)")
    return save_checkpoint(Path(out), stored, {"G": generator, "D": discriminator})
