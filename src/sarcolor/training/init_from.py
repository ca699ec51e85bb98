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

One change of target is allowed: a grey generator (``--target grey``, e.g. pretrained on the
1,800 grey NUAA pairs) becomes a colour one when ``--target rgb`` is given. Every weight carries
over except the output layer's, which has one output channel where three are needed: its grey
weights and bias are repeated over R, G and B, so the new generator starts by drawing the grey
image it learned (R = G = B = luma, the same image) and fine-tuning learns the colours.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path

import torch
from torch import nn

from sarcolor.checkpoint import read_meta, resolve_checkpoint
from sarcolor.config import Config
from sarcolor.errors import SarcolorError
from sarcolor.models.weights import check_fits, load_state, read_checkpoint
from sarcolor.options import field_named, flag_of, option_of

KEPT_PREPROCESS: tuple[str, ...] = ("input", "target", "bands", "db_ranges", "despeckle", "sar_levels")
FRESH_MODEL: tuple[str, ...] = ("ndf",)  # the discriminator starts anew
WIDENED_TARGETS: dict[str, tuple[str, ...]] = {"grey": ("rgb", "tinted")}  # grey → R = G = B at step 0


def init_config(cfg: Config, checkpoint: str | Path, given: Iterable[tuple[str, str]] = ()) -> Config:
    """``cfg`` (defaults ← YAML ← flags) with the generator's options taken from ``checkpoint``.

    ``given`` lists the ``(section, field)`` pairs the user set (YAML or flags): a grey
    generator's target becomes ``rgb`` only when ``preprocess.target`` is among them (``rgb`` is
    also the default, which alone keeps the checkpoint's grey).

    Raises:
        SarcolorError: ``cfg`` sets one of those options to another value than the checkpoint's
            (naming the flag), or the checkpoint is unreadable.
    """
    path = resolve_checkpoint(checkpoint)
    source = read_meta(path).config
    default = Config()
    target = cfg.preprocess.target
    widen = target in WIDENED_TARGETS.get(source.preprocess.target, ()) and (
        ("preprocess", "target") in set(given) or target != default.preprocess.target
    )
    kept = {
        "model": [f.name for f in dataclasses.fields(source.model) if f.name not in FRESH_MODEL],
        "preprocess": list(KEPT_PREPROCESS),
    }
    for section, names in kept.items():
        for name in names:
            if widen and (section, name) == ("preprocess", "target"):
                continue
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
    if widen:
        preprocess["target"] = target
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


def check_init_fits(checkpoint: str | Path, cfg: Config) -> None:
    """The generator tensors of ``checkpoint``'s header against the generator ``cfg`` describes
    (shapes only, before it is built), allowing the grey → colour output layer of
    :func:`load_generator`.

    Raises:
        SarcolorError: one line naming the file and the first tensor that does not fit.
    """
    path = resolve_checkpoint(checkpoint)
    check_fits(path, _as_stored(path, cfg))


def load_generator(checkpoint: str | Path, generator: nn.Module, cfg: Config) -> None:
    """Load ``checkpoint``'s generator weights into ``generator`` (built from ``cfg``); a grey
    generator's output layer is repeated over the colour channels (see the module docstring).

    Raises:
        SarcolorError: one line naming the file and the first tensor that does not fit.
    """
    path = resolve_checkpoint(checkpoint)
    _, states = read_checkpoint(path, ["G"])  # checked against the checkpoint's own generator
    if _as_stored(path, cfg) is cfg:  # the same target: the tensors as they are
        load_state(generator, states["G"], path)
        return
    own = generator.state_dict()
    state = {
        name: _widened(tensor, own[name].shape) if name in own else tensor
        for name, tensor in states["G"].items()
    }
    load_state(generator, state, path)


def _as_stored(path: Path, cfg: Config) -> Config:
    """``cfg`` with the target of the checkpoint's generator (the networks it holds)."""
    stored = read_meta(path).config.preprocess.target
    if cfg.preprocess.target in WIDENED_TARGETS.get(stored, ()):
        return cfg.replace(preprocess={"target": stored})
    return cfg


def _widened(tensor: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """``tensor`` repeated along each dimension where it has 1 and ``shape`` more (an output
    layer's grey channel → R, G, B: dimension 0 of a convolution, 1 of a transposed one)."""
    if tensor.shape == shape or tensor.dim() != len(shape):
        return tensor  # a mismatch is reported by load_state
    if any(have not in (want, 1) for have, want in zip(tensor.shape, shape, strict=True)):
        return tensor
    return tensor.repeat(*(want // have for have, want in zip(tensor.shape, shape, strict=True))).clone()
