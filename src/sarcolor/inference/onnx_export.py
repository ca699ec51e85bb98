"""``sarcolor export``: a checkpoint's generator as an ONNX model that colorizes like the checkpoint.

The generator is exported in eval mode with its BatchNorm folded into the convolutions
(:func:`~sarcolor.models.fast.fold_batchnorm`; dropout, a no-op in eval mode, is gone), by
PyTorch's ``torch.export``-based ONNX exporter, at opset 18 (ONNX Runtime 1.14 or newer). The
graph is Conv, ConvTranspose, LeakyRelu/Relu, Concat and Tanh only::

    input   float32 (batch, in_channels, height, width)    the network input, in [-1, 1]
    output  float32 (batch, out_channels, height, width)   the network output, in (-1, 1)

with batch, height and width dynamic (height and width multiples of 256). The model's
``metadata_props`` hold the checkpoint's metadata strings exactly as the safetensors file does
(:func:`~sarcolor.checkpoint.meta_strings`: ``format``, the whole ``config`` JSON, ``step``,
split, baselines, …) plus ``sarcolor.onnx`` (this module's format), ``sarcolor.precision``
and ``sarcolor.source`` (the checkpoint's file name). So ``sarcolor colorize --checkpoint
model.onnx`` (:mod:`sarcolor.inference.onnx_backend`) encodes inputs, tiles, blends, maps
radiometry and nodata exactly as with the checkpoint; only the network runs in ONNX Runtime.

Needs the optional extra ``sarcolor[onnx]`` (onnx, onnxscript for the exporter, onnxruntime to
check the export); nothing here imports them before an export starts.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sarcolor.errors import SarcolorError
from sarcolor.options import check_fields, option

ONNX_FORMAT = "sarcolor-onnx/1"
EXAMPLE_SIDE = 512  # tracing at 256 would specialise the 1×1 bottleneck; 512 keeps the sizes symbolic
MAX_SIDE = 256 * 256  # the exported height/width range: 256 … 65,536 pixels
EXTRA = "pip install 'sarcolor[onnx]'"


@dataclass(frozen=True)
class ExportOptions:
    """How ``sarcolor export`` writes the ONNX model."""

    opset: int = option(18, low=18, help="ONNX opset of the model (18: ONNX Runtime 1.14 or newer)")

    def validate(self, source: str = "options") -> ExportOptions:
        check_fields(self, source)
        return self


@dataclass(frozen=True)
class ExportReport:
    """What :func:`export_onnx` wrote and how closely ONNX Runtime reproduces PyTorch."""

    path: Path
    source: Path
    opset: int
    megabytes: float
    max_difference: float  # max |ONNX Runtime − PyTorch| on a test batch, in network units ([-1, 1])


def export_onnx(
    checkpoint: str | Path,
    out: str | Path,
    options: ExportOptions | None = None,
    *,
    log: Callable[[str], None] = print,
) -> ExportReport:
    """Write the generator of ``checkpoint`` (a file or run folder) to ``out`` (``.onnx``).

    The export is checked before it is renamed into place: ONNX's checker, then ONNX Runtime
    against PyTorch on a seeded batch of two 256×256 tiles and one 512×256 tile.

    Raises:
        SarcolorError: the extra is not installed, the checkpoint cannot be read, ``out`` is not
            a ``.onnx`` path, or the export does not reproduce the generator.
    """
    options = (options or ExportOptions()).validate()
    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise SarcolorError(f"{out}: the exported model needs a .onnx name")
    onnx = require_extra("onnx")
    require_extra("onnxscript")
    from sarcolor.checkpoint import meta_strings, resolve_checkpoint
    from sarcolor.inference.backend import is_onnx, loaded_generator
    from sarcolor.models.fast import fold_batchnorm
    from sarcolor.models.weights import read_checkpoint
    from sarcolor.outputs import atomic_write, ensure_writable

    source = resolve_checkpoint(checkpoint)
    if is_onnx(source):
        raise SarcolorError(f"{source}: already an ONNX model; export a .safetensors checkpoint")
    ensure_writable(out.parent)
    meta, states = read_checkpoint(source, ["G"])
    net = fold_batchnorm(loaded_generator(meta.config, states["G"], source).eval())
    channels = meta.config.preprocess.in_channels + meta.config.model.condition_channels  # + terrain planes
    log(f"{source.name}: exporting the generator (BatchNorm folded, opset {options.opset})…")
    model = export_model(net, channels, options.opset)
    props = {
        **meta_strings(meta),
        "sarcolor.onnx": ONNX_FORMAT,
        "sarcolor.precision": "fp32",
        "sarcolor.source": source.name,
    }
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.producer_name, model.doc_string = "sarcolor", f"sarcolor generator exported from {source.name}"
    onnx.checker.check_model(model)
    difference = _check(model.SerializeToString(), net, channels, source)
    atomic_write(out, lambda tmp: onnx.save_model(model, str(tmp)))
    size = out.stat().st_size / 1e6
    return ExportReport(out, source, options.opset, size, difference)


def export_model(net, channels: int, opset: int):
    """The ONNX ModelProto of ``net`` with dynamic batch, height and width (multiples of 256)."""
    import torch
    from torch.export import Dim

    rows, cols = Dim("rows", min=1, max=MAX_SIDE // 256), Dim("cols", min=1, max=MAX_SIDE // 256)
    shapes = {"x": {0: Dim("batch", min=1, max=1 << 16), 2: 256 * rows, 3: 256 * cols}}
    example = torch.zeros(2, channels, EXAMPLE_SIDE, EXAMPLE_SIDE)
    quiet = logging.getLogger("torch.onnx")  # "torchvision is not installed…" and the like
    level = quiet.level
    try:
        quiet.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            program = torch.onnx.export(
                net,
                (example,),
                dynamo=True,
                input_names=["input"],
                output_names=["output"],
                dynamic_shapes=shapes,
                opset_version=opset,
                external_data=False,
                verbose=False,
            )
    except Exception as exc:  # the exporter's errors are long reports; one line is enough here
        raise SarcolorError(f"the ONNX exporter failed at opset {opset}: {type(exc).__name__}") from exc
    finally:
        quiet.setLevel(level)
    if program is None:  # only the TorchScript exporter writes to a file and returns None
        raise SarcolorError("the ONNX exporter returned no model")
    model = program.model_proto
    for value in (*model.graph.input, *model.graph.output):  # "256*rows" → "height"
        dims = value.type.tensor_type.shape.dim
        dims[2].dim_param, dims[3].dim_param = "height", "width"
    return model


def _check(serialized: bytes, net, channels: int, source: Path) -> float:
    """Max |ONNX Runtime − PyTorch| on seeded tiles; an export off by more than 1e-3 is refused."""
    import numpy as np
    import torch

    ort = require_extra("onnxruntime")
    session = ort.InferenceSession(serialized, providers=["CPUExecutionProvider"])
    generator = torch.Generator().manual_seed(0)
    worst = 0.0
    for shape in ((2, channels, 256, 256), (1, channels, 512, 256)):
        x = torch.rand(shape, generator=generator) * 2 - 1
        with torch.inference_mode():
            expected = net(x).numpy()
        got = session.run(None, {"input": x.numpy()})[0]
        worst = max(worst, float(np.abs(got - expected).max()))
    if not worst <= 1e-3:
        raise SarcolorError(
            f"{source}: the ONNX export differs from the generator by {worst:.3g}; not written"
        )
    return worst


def require_extra(name: str):
    """Import an optional dependency of the ``onnx`` extra, or say how to install it."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        raise SarcolorError(f"ONNX export and runtime need the optional {name} package: {EXTRA}") from None
