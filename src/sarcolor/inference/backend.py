"""What :meth:`Colorizer.predict <sarcolor.inference.colorizer.Colorizer.predict>` runs: a backend.

A backend is any callable from the network's input to its output, both float32 tensors,
``(B, in_channels, H, W) → (B, out_channels, H, W)`` with H and W multiples of 256, in [-1, 1]:

* the PyTorch generator of a safetensors checkpoint in its fastest form
  (:func:`~sarcolor.models.fast.inference_model`: BatchNorm folded, oneDNN-prepacked weights on
  CPU), or as trained for pix2pix's test-time train mode;
* an ONNX Runtime session of an exported model (``.onnx``,
  :class:`~sarcolor.inference.onnx_backend.OnnxGenerator`).

Everything around it (input encoding, radiometry, tiling, blending, nodata, writing) is the
Colorizer's and the same for both, so scenes, folders, ``evaluate`` and the app do not know
which backend runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import torch
from torch import nn

from sarcolor.config import Config
from sarcolor.errors import SarcolorError
from sarcolor.models.build import build_generator
from sarcolor.models.weights import load_state

ONNX_SUFFIX = ".onnx"


class Backend(Protocol):
    """(B, C, H, W) float32 network input → (B, out_channels, H, W) float32 network output."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...


def is_onnx(path: Path) -> bool:
    """An exported ONNX model (``sarcolor export``) rather than a safetensors checkpoint."""
    return path.suffix.lower() == ONNX_SUFFIX


def loaded_generator(cfg: Config, state: dict[str, torch.Tensor], path: Path) -> nn.Module:
    """The generator of ``cfg`` holding the checkpoint weights ``state``, on the CPU.

    It is built on PyTorch's ``meta`` device and takes the checkpoint's tensors in place
    (``load_state_dict(assign=True)``): no memory is allocated and no random initialisation
    is drawn only to be overwritten (~0.5 s for the default 54 M-parameter generator). Should a
    module keep a tensor that is not in its state dict, the generator is built normally instead.
    """
    with torch.device("meta"):
        generator = build_generator(cfg)
    load_state(generator, state, path, "G", assign=True)
    tensors = [*generator.parameters(), *generator.buffers()]
    if any(t.is_meta for t in tensors):  # a non-persistent buffer: nothing to assign it from
        generator = build_generator(cfg)
        load_state(generator, state, path, "G")
    return generator


def check_finite_output(out: torch.Tensor, checkpoint: Path) -> None:
    """Refuse a generator output (B, C, H, W) holding NaN or ±Inf: it would be written as black
    pixels (finite weights can still overflow, e.g. in a low precision).

    A NaN or ±Inf anywhere makes the sum non-finite, so one sum (0.06 ms for a batch of 8 tiles in
    bf16, against 3 ms for the element-wise test) clears the usual output; only a non-finite sum,
    which finite values can also reach by overflowing, is looked at element by element.
    """
    if bool(torch.isfinite(out.sum())):
        return
    finite = torch.isfinite(out)
    if not bool(finite.all()):
        share = 1 - float(finite.float().mean())
        raise SarcolorError(
            f"{checkpoint}: the generator's output is NaN or infinite ({share:.0%} of it); nothing written "
            "(broken weights, or a precision the model overflows in: try --precision fp32)"
        )
