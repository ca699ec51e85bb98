"""The ONNX Runtime backend: an exported model (``sarcolor export``) run by onnxruntime.

:class:`OnnxGenerator` is a :class:`~sarcolor.inference.backend.Backend`: float32 tensors in
and out, so :class:`~sarcolor.inference.colorizer.Colorizer` runs it where it would run the
PyTorch generator, with the configuration read from the model's metadata
(:mod:`sarcolor.inference.onnx_export`). Needs ``onnxruntime`` (the ``sarcolor[onnx]`` extra),
imported when a model is opened.

Threads: ONNX Runtime keeps its own thread pool; it gets as many threads as PyTorch has
(``torch.get_num_threads()``, i.e. ``OMP_NUM_THREADS`` when set), so several processes under
``torchrun`` do not oversubscribe the cores.
"""

from __future__ import annotations

from pathlib import Path

import torch

from sarcolor.checkpoint import CheckpointMeta, parse_meta
from sarcolor.errors import SarcolorError, first_line
from sarcolor.inference.onnx_export import ONNX_FORMAT, require_extra

PRECISIONS_OF_MODEL = ("fp32", "int8")


class OnnxGenerator:
    """An exported generator in an ONNX Runtime session.

    Args:
        path: the ``.onnx`` file.
        device: ``auto`` (CUDA when this onnxruntime has it and PyTorch sees a GPU, else CPU),
            ``cpu`` or ``cuda``.

    Attributes:
        meta: the checkpoint metadata stored in the model.
        precision: the number format the model was exported in (``fp32``).
        device: where the tensors passed in and out live (the CPU: ONNX Runtime copies them).
        provider: the ONNX Runtime execution provider that runs it.
    """

    def __init__(self, path: Path, device: str = "auto") -> None:
        ort = require_extra("onnxruntime")
        self.path = path
        if not path.is_file():
            raise SarcolorError(f"{path}: ONNX model not found")
        available = ort.get_available_providers()
        gpu = "CUDAExecutionProvider" in available and torch.cuda.is_available()
        if device == "cuda" and not gpu:
            raise SarcolorError(f"{path}: --device cuda: this onnxruntime has no usable CUDA provider")
        self.provider = "CUDAExecutionProvider" if device != "cpu" and gpu else "CPUExecutionProvider"
        self.runner = OnnxSession(path, path, self.provider)
        self.session = self.runner.session
        props = self.session.get_modelmeta().custom_metadata_map
        if props.get("sarcolor.onnx") != ONNX_FORMAT:
            raise SarcolorError(
                f"{path}: not a sarcolor export (no {ONNX_FORMAT} metadata); make one with sarcolor export"
            )
        self.meta: CheckpointMeta = parse_meta(path, props)
        self.precision = props.get("sarcolor.precision", "fp32")
        if self.precision not in PRECISIONS_OF_MODEL:
            raise SarcolorError(f"{path}: unknown model precision {self.precision!r}")
        self.device = torch.device("cpu")
        check_signature(path, self.session, self.meta)

    def check_precision(self, requested: str) -> str:
        """The precision a ``--precision`` request gets: the model's own (``auto`` or that one)."""
        if requested not in ("auto", self.precision):
            raise SarcolorError(
                f"{self.path}: an ONNX model runs in the precision it was exported in "
                f"({self.precision}), not {requested}; export again or use the checkpoint"
            )
        return self.precision

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) float32 network input → (B, out_channels, H, W) float32, on the CPU."""
        return self.runner(x)


class OnnxSession:
    """An ONNX Runtime session of one-input, one-output model: float32 tensors in and out.

    Args:
        model: the ``.onnx`` file, or the serialized model.
        name: what errors call it (its path).
        provider: the ONNX Runtime execution provider.

    Raises:
        SarcolorError: onnxruntime cannot read the model.
    """

    def __init__(self, model: Path | bytes, name: Path, provider: str = "CPUExecutionProvider") -> None:
        ort = require_extra("onnxruntime")
        settings = ort.SessionOptions()
        settings.intra_op_num_threads = torch.get_num_threads()
        settings.inter_op_num_threads = 1
        settings.log_severity_level = 3  # errors only
        source = str(model) if isinstance(model, Path) else model
        try:
            self.session = ort.InferenceSession(source, settings, providers=[provider])
        except Exception as exc:  # onnxruntime raises its own exception types for bad files
            raise SarcolorError(f"{name}: not a readable ONNX model ({first_line(exc)})") from None
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) float32 → the model's output, float32, on the CPU."""
        array = x.detach().to("cpu", torch.float32).contiguous().numpy()
        (out,) = self.session.run(None, {self.input_name: array})
        return torch.from_numpy(out)


def check_signature(path: Path, session, meta: CheckpointMeta) -> None:
    """Refuse a model that cannot take what sarcolor feeds it, or gives back something else.

    sarcolor sends one float32 tensor (batch, C, 256, 256), C the checkpoint's input channels
    plus its terrain planes, in batches of any size, and reads (batch, out_channels, same
    height, same width). A model fixed to another size or channel count would fail inside ONNX
    Runtime on the first batch; one with other output channels or another output size would
    give wrong images, or gigabytes of them.
    """
    from sarcolor.inference.colorizer import TILE

    config = meta.config
    channels = config.preprocess.in_channels + config.model.condition_channels
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or not outputs:
        raise SarcolorError(
            f"{path}: the model takes {len(inputs)} input(s) and gives {len(outputs)} output(s); "
            "sarcolor feeds one image tensor and reads one"
        )
    given, got = inputs[0], outputs[0]
    for value, role in ((given, "input"), (got, "output")):
        if value.type != "tensor(float)" or len(value.shape or ()) != 4:
            raise SarcolorError(
                f"{path}: the model's {role} is {value.type} of shape {_shape(value.shape)}; "
                "expected a float32 (batch, channels, height, width) tensor"
            )
    expected_in = ["batch", channels, TILE, TILE]
    for role, value, want in (("input", given, channels), ("output", got, config.preprocess.out_channels)):
        if value.shape[1] != want:
            raise SarcolorError(
                f"{path}: the model's {role} has {value.shape[1]} channel(s), the checkpoint it "
                f"records expects {want}; export it again with sarcolor export"
            )
    if isinstance(given.shape[0], int):
        raise SarcolorError(
            f"{path}: the model's input is fixed to batches of {given.shape[0]}; sarcolor sends "
            "batches of any size (export it with a dynamic batch)"
        )
    for side in (2, 3):
        if isinstance(given.shape[side], int) and given.shape[side] != TILE:
            raise SarcolorError(
                f"{path}: the model's input is fixed to {_shape(given.shape)}; sarcolor feeds "
                f"{_shape(expected_in)} tiles"
            )
        if got.shape[side] != given.shape[side] or got.shape[side] is None:
            raise SarcolorError(
                f"{path}: the model's output {_shape(got.shape)} is not the size of its input "
                f"{_shape(given.shape)}; sarcolor needs an output as large as the input"
            )


def _shape(shape) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in shape or ()) + ")"
