"""A checkpoint's weights into networks, checked: the tensor names, shapes and number kinds of
its safetensors header against the networks (given, or those its configuration describes, built
on the ``meta`` device: nothing allocated) before any tensor data is read, and every weight
finite. A configuration that claims a huge model is refused before anyone builds it.

The file format itself (metadata, saving, listing) is :mod:`sarcolor.checkpoint`'s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from sarcolor.checkpoint import CheckpointMeta, open_checkpoint, parse_meta
from sarcolor.config import Config
from sarcolor.errors import SarcolorError
from sarcolor.models.build import build_discriminator, build_generator


def load_modules(path: str | Path, modules: dict[str, nn.Module]) -> CheckpointMeta:
    """Load the state dicts of ``modules`` (e.g. ``{"G": g}``) from a checkpoint.

    Every tensor's name, shape and kind is checked against the modules from the header before
    any is read, and every weight must be finite.

    Raises:
        SarcolorError: one line naming the file and the first tensor that does not fit, or that
            holds NaN or ±Inf.
    """
    path = Path(path)
    expected = {prefix: _expected(prefix, module) for prefix, module in modules.items()}
    meta, states = read_checkpoint(path, list(modules), expected)
    for prefix, module in modules.items():
        load_state(module, states[prefix], path, prefix)
    return meta


def read_checkpoint(
    path: str | Path,
    prefixes: list[str],
    expected: dict[str, dict[str, tuple[tuple[int, ...], bool]]] | None = None,
) -> tuple[CheckpointMeta, dict[str, dict]]:
    """The metadata and the state dicts under ``prefixes`` (e.g. ``["G"]``), in one open of the file.

    The header is checked before any tensor is read: against ``expected`` (``{prefix:
    {name: (shape, floating)}}`` of the modules to load), or by default against the networks
    the checkpoint's own configuration describes (built on the ``meta`` device); every weight
    must be finite.

    Raises:
        SarcolorError: one line naming the file and the first tensor that does not fit, or that
            holds NaN or ±Inf.

    Returns:
        ``(meta, {prefix: {name: tensor}})``; the other tensors (e.g. optimizer moments) are not read.
    """
    path = Path(path)
    with open_checkpoint(path) as f:
        meta = parse_meta(path, f.metadata() or {})
        keys = list(f.keys())
        states = {}
        for prefix in prefixes:
            names = [k for k in keys if k.startswith(prefix + ".")]
            if not names:
                raise SarcolorError(f"{path}: checkpoint holds no {prefix} weights")
            wanted = expected[prefix] if expected is not None else _described(prefix, meta.config)
            _check_shapes(path, f, names, wanted, meta.config)
            states[prefix] = {k[len(prefix) + 1 :]: _checked(path, k, f.get_tensor(k)) for k in names}
    return meta, states


def _checked(path: Path, name: str, tensor: torch.Tensor) -> torch.Tensor:
    """``tensor``, refused when it holds NaN/±Inf (or a BatchNorm variance below zero)."""
    if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
        raise SarcolorError(
            f"{path}: tensor {name} holds NaN or infinite values; the checkpoint is broken "
            "(training never saves such weights)"
        )
    if name.endswith(".running_var") and bool((tensor < 0).any()):
        raise SarcolorError(f"{path}: tensor {name} holds negative variances; the checkpoint is broken")
    return tensor


def load_state(module: nn.Module, state: dict, path: Path, prefix: str = "G", assign: bool = False) -> None:
    """``module.load_state_dict(state)``; a mismatch is one line naming the checkpoint.

    ``assign`` puts the checkpoint's tensors in place of the module's (for a module built on the
    ``meta`` device, whose parameters hold no memory yet).
    """
    try:
        module.load_state_dict(state, assign=assign)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise SarcolorError(f"{path}: {prefix} weights do not fit the model ({first})") from None


def check_fits(path: str | Path, config: Config, prefixes: tuple[str, ...] = ("G",)) -> None:
    """The tensors ``prefixes`` (``G``, ``D``) of ``path``'s header against the networks ``config``
    describes, built on the ``meta`` device (shapes only, nothing allocated) — before a
    configuration that claims a huge model makes anyone build it.

    Raises:
        SarcolorError: one line naming the file and the first tensor that does not fit.
    """
    path = Path(path)
    with open_checkpoint(path) as f:
        keys = list(f.keys())
        for prefix in prefixes:
            expected = _described(prefix, config)
            names = [k for k in keys if k.startswith(prefix + ".")]
            if not names:
                raise SarcolorError(f"{path}: checkpoint holds no {prefix} weights")
            _check_shapes(path, f, names, expected, config)


def _described(prefix: str, config: Config) -> dict[str, tuple[tuple[int, ...], bool]]:
    """:func:`_expected` of the network ``prefix`` (``G`` or ``D``) that ``config`` describes,
    built on the ``meta`` device (nothing allocated)."""
    builders = {"G": build_generator, "D": build_discriminator}
    with torch.device("meta"):
        return _expected(prefix, builders[prefix](config))


def _expected(prefix: str, module: nn.Module) -> dict[str, tuple[tuple[int, ...], bool]]:
    """``{"G.name": (shape, floating)}`` of a module's state dict (real or ``meta``)."""
    return {f"{prefix}.{k}": (tuple(v.shape), v.is_floating_point()) for k, v in module.state_dict().items()}


_FLOAT_DTYPES = frozenset({"F16", "BF16", "F32", "F64"})


def _check_shapes(
    path: Path, f: Any, names: list[str], expected: dict[str, tuple[tuple[int, ...], bool]], config: Config
) -> None:
    """Names, shapes and number kinds from the safetensors header (no tensor data is read)."""
    prefix = names[0].split(".", 1)[0]
    arch = f"model.arch {config.model.arch}" if config.model.imported else f"model.ngf {config.model.ngf}"
    model = f"{arch}, ndf {config.model.ndf}, {config.preprocess.in_channels} input band(s)"
    problem = ""
    for name, (shape, floating) in expected.items():
        if name not in names:
            problem = f"no tensor {name} {list(shape)}"
            break
        piece = f.get_slice(name)
        stored, dtype = tuple(piece.get_shape()), piece.get_dtype()
        if stored != shape:
            problem = f"tensor {name} is {list(stored)}, the configuration ({model}) needs {list(shape)}"
            break
        if (dtype in _FLOAT_DTYPES) != floating:
            problem = f"tensor {name} is of type {dtype}, not a {'float' if floating else 'count'}"
            break
    extra = sorted(set(names) - expected.keys())
    if not problem and extra:
        problem = f"tensor {extra[0]} is not part of the model of its configuration ({model})"
    if problem:
        raise SarcolorError(f"{path}: {prefix} weights do not fit the model: {problem}")
