"""The forms a generator can run in for inference, built by name: PyTorch's, and ONNX Runtime's.

:data:`FORMS` are :data:`sarcolor.models.fast.FORMS` (``eager``, ``channels_last``, ``folded``,
``prepacked``: PyTorch, built by :func:`~sarcolor.models.fast.inference_model`) and
``onnxruntime``: the generator, BatchNorm folded, exported to ONNX (``sarcolor export``'s
graph, cached as below) and run by ONNX Runtime's CPU kernels (MLAS), fp32. On a 2-core AVX2-only AMD
EPYC (family 25), U-Net ngf 64, batch 8, fp32, alternating in one process (img/s, medians of 5):
the plain reference 4.6, eager 5.1, channels_last 6.1, folded 6.7, prepacked 3.9,
``torch.compile`` with freezing 7.5 (after 31 s of compiling, again per batch size),
``onnxruntime`` 7.7 (8.1 at batch 1); its outputs are at most one 8-bit level from PyTorch's.
(int8 by PyTorch's FX quantization, x86/fbgemm engines, ran at 5.6 against 7.6 for
channels_last, and 1.0 level off on average: not offered.) On the bf16 Zen 5 the same
runtime equals PyTorch's fp32 fast path and is far behind its bf16 one. So it is one candidate
among the others, and ``--form auto`` (:mod:`sarcolor.inference.autotune`) measures which wins.

The export (4.5 s for the 54 M-parameter generator on the AVX2 EPYC, by PyTorch's
TorchScript-based ONNX exporter with a dynamic batch, height and width; where this PyTorch no
longer has that exporter, by the ``torch.export``-based one ``sarcolor export`` uses) is made
once per set of weights: the model is kept in the cache folder (:func:`cache_dir`,
``onnx/<digest>.onnx``, the :data:`KEEP` most recently used; 218 MB for that generator), keyed
by a SHA-256 of the folded weights. A cache that cannot be written only means exporting again.
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from sarcolor.errors import SarcolorError
from sarcolor.inference.backend import Backend
from sarcolor.models.fast import FORMS as TORCH_FORMS
from sarcolor.models.fast import fold_batchnorm, inference_model
from sarcolor.outputs import atomic_write

RUNTIME = "onnxruntime"
FORMS: tuple[str, ...] = (*TORCH_FORMS, RUNTIME)
"""Every CPU inference form, PyTorch's first."""
KEEP = 3  # exported models kept in the cache folder


def cache_dir() -> Path:
    """``$SARCOLOR_CACHE_DIR``, else ``$XDG_CACHE_HOME/sarcolor``, else ``~/.cache/sarcolor``."""
    if os.environ.get("SARCOLOR_CACHE_DIR"):
        return Path(os.environ["SARCOLOR_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sarcolor"


def build_form(generator: nn.Module, device: torch.device, precision: str, form: str) -> Backend:
    """``generator`` (eval mode) in ``form``: (B, C, H, W) float32 → (B, out, H, W) float32.

    Raises:
        ValueError: ``form`` is unknown, or ``onnxruntime`` is asked off the CPU or not in fp32.
        SarcolorError: ``onnxruntime`` without the ``onnx`` extra installed.
    """
    if form != RUNTIME:
        return inference_model(generator, device, precision, form)
    if device.type != "cpu" or precision != "fp32":
        raise ValueError(f"the {RUNTIME} form runs fp32 on the CPU, not {precision} on {device.type}")
    return RuntimeForm(generator)


def input_channels(generator: nn.Module) -> int:
    """The channels ``generator`` takes: its first convolution's, plus the terrain planes a
    FiLM-conditioned generator reads off before it."""
    first = next((m for m in generator.modules() if isinstance(m, nn.Conv2d)), None)
    return (first.in_channels if first is not None else 1) + int(getattr(generator, "terrains", 0))


class RuntimeForm:
    """A generator exported to ONNX (BatchNorm folded) in an ONNX Runtime session on the CPU.

    (B, C, H, W) float32 → (B, out_channels, H, W) float32, H and W multiples of 256, any batch.
    The same float32 function as the generator in eval mode, to ~1e-6 (at most one 8-bit level).

    Attributes:
        source: the cached ``.onnx`` file it was read from or written to (``None``: the cache
            folder could not be written; the model was exported in memory).
    """

    def __init__(self, generator: nn.Module) -> None:
        from sarcolor.inference.onnx_backend import OnnxSession
        from sarcolor.inference.onnx_export import require_extra

        require_extra("onnxruntime")
        net = fold_batchnorm(generator).cpu()
        cached = cache_dir() / "onnx" / f"{_digest(net)}.onnx"
        if cached.is_file():
            try:
                self.session = OnnxSession(cached.read_bytes(), cached)
                os.utime(cached)  # recently used: kept by _prune
                self.source: Path | None = cached
                return
            except (OSError, SarcolorError):  # a damaged or vanished entry: export again
                pass
        serialized = _exported(net, input_channels(generator))
        self.session = OnnxSession(serialized, Path("<the generator, exported in memory>"))
        self.source = _store(cached, serialized)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) float32 network input → (B, out_channels, H, W) float32."""
        return self.session(x)


def _digest(net: nn.Module) -> str:
    """SHA-256 of ``net``'s tensors (names, shapes, dtypes, values): the cache key of its export."""
    h = hashlib.sha256(f"{type(net).__name__} torch {torch.__version__}\n".encode())
    for name, tensor in net.state_dict().items():
        h.update(f"{name} {tuple(tensor.shape)} {tensor.dtype}\n".encode())
        h.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:32]


def _store(path: Path, serialized: bytes) -> Path | None:
    """Write ``serialized`` to ``path`` and keep only the :data:`KEEP` most recently used exports
    beside it: the path, or ``None`` where the cache cannot be written (nothing lost but time)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda tmp: tmp.write_bytes(serialized))
        models = sorted(path.parent.glob("*.onnx"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in models[KEEP:]:
            old.unlink(missing_ok=True)
    except (SarcolorError, OSError):
        return None
    return path


def _exported(net: nn.Module, channels: int) -> bytes:
    """``net`` as a serialized ONNX model: ``sarcolor export``'s graph (opset 18, dynamic batch,
    height and width), without its metadata."""
    from sarcolor.inference.onnx_export import EXAMPLE_SIDE, ExportOptions, export_model

    opset = ExportOptions().opset
    buffer = io.BytesIO()
    dynamic = {0: "batch", 2: "height", 3: "width"}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
            torch.onnx.export(
                net,
                (torch.zeros(1, channels, EXAMPLE_SIDE, EXAMPLE_SIDE),),
                buffer,  # type: ignore[arg-type]  # the TorchScript exporter writes to a buffer too
                dynamo=False,
                input_names=["input"],
                output_names=["output"],
                dynamic_axes={"input": dynamic, "output": dynamic},
                opset_version=opset,
            )
    except (TypeError, RuntimeError, AttributeError):  # a PyTorch without the TorchScript exporter
        return export_model(net, channels, opset).SerializeToString()
    return buffer.getvalue()
