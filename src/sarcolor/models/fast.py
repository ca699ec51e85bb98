"""The generator made fast for inference: BatchNorm folded, weights prepacked, layout and precision.

Measured on the project's 2-core CPU (AMD EPYC Zen 5, AVX-512-BF16; U-Net-256, ngf=64, batch 8,
``inference_mode``), against the plain eval generator (~18-22 img/s, as fast as the reference):

========================================================  =================================
channels_last                                             +20-27 %
BatchNorm folded alone                                    ±3 %
folded + channels_last                                    +25-31 %
folded + oneDNN-prepacked weights, fused ReLU/LeakyReLU   +55-60 % (×1.8-2.5 at batch 1)
the same in bf16 (on CPUs with native bf16)               ×3.1-3.4 (×3.2-4.7 at batch 1)
torch.compile (inductor)                                  as folded + channels_last, after
                                                          5-20 s, and again per batch size
ConvTranspose2d as sub-pixel convolutions                 −10 to −30 %
========================================================  =================================

so :func:`inference_model` folds and prepacks on CPU. Which precision runs is
:func:`sarcolor.runtime.resolve_precision`'s choice. CUDA keeps what it had: channels_last and
autocast (bf16 or fp16), no folding.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from sarcolor.models.onednn import onednn_available, prepack
from sarcolor.runtime import autocast, place


@torch.no_grad()
def fold_batchnorm(module: nn.Module) -> nn.Module:
    """An eval-only copy of ``module`` with each BatchNorm folded into the convolution before it.

    Every ``BatchNorm2d`` (``BottleneckBatchNorm2d`` included: in eval mode it is a plain
    BatchNorm on the running statistics) that directly follows a ``Conv2d`` or
    ``ConvTranspose2d`` (groups 1) in an ``nn.Sequential`` becomes part of that convolution,
    ``y = (W·x + b − μ)·γ/√(σ² + ε) + β``, and is replaced by ``nn.Identity``; Dropout, a no-op
    in eval mode, is removed too. Scales and biases are computed in float64, then rounded; the
    weights are multiplied by the rounded scales in their own dtype.

    Only eval-mode behaviour is preserved: training uses batch statistics, which a folded
    layer cannot compute. The copy therefore refuses to run in training mode, and ``module``
    itself is left untouched (pix2pix's test-time "train mode" must use the original).

    Args:
        module: any module; typically a :class:`~sarcolor.models.UNetGenerator`.

    Returns:
        The folded copy, in eval mode, without gradients.

    Example:
        >>> from sarcolor.models import UNetGenerator
        >>> g, x = UNetGenerator(1, 3, ngf=8).eval(), torch.rand(2, 1, 256, 256) * 2 - 1
        >>> bool(torch.allclose(fold_batchnorm(g)(x), g(x), atol=1e-5))
        True
    """
    folded = copy.deepcopy(module).eval().requires_grad_(False)
    for seq in [m for m in folded.modules() if isinstance(m, nn.Sequential)]:
        for i in range(len(seq)):
            if isinstance(seq[i], nn.Dropout):
                seq[i] = nn.Identity()
            elif i > 0 and _foldable(seq[i - 1], seq[i]):
                _fold(seq[i - 1], seq[i])  # type: ignore[arg-type]  # checked by _foldable
                seq[i] = nn.Identity()
    folded.register_forward_pre_hook(_refuse_training)
    return folded


def _foldable(conv: nn.Module, bn: nn.Module) -> bool:
    return (
        isinstance(conv, (nn.Conv2d, nn.ConvTranspose2d))
        and conv.groups == 1
        and isinstance(bn, nn.BatchNorm2d)
        and bn.running_mean is not None  # track_running_stats=False normalises by batch even in eval
    )


def _fold(conv: nn.Conv2d | nn.ConvTranspose2d, bn: nn.BatchNorm2d) -> None:
    """Scale ``conv``'s output channels and give it the bias that makes it equal conv → bn."""
    assert bn.running_mean is not None and bn.running_var is not None  # checked by _foldable
    mean, var = bn.running_mean.double(), bn.running_var.double()
    gamma = bn.weight.double() if bn.weight is not None else torch.ones_like(mean)
    beta = bn.bias.double() if bn.bias is not None else torch.zeros_like(mean)
    scale = gamma / torch.sqrt(var + bn.eps)
    out_dim = 1 if isinstance(conv, nn.ConvTranspose2d) else 0  # (cin, cout, k, k) vs (cout, cin, k, k)
    shape = [1] * conv.weight.dim()
    shape[out_dim] = -1
    bias = conv.bias.double() if conv.bias is not None else torch.zeros_like(mean)
    # the per-channel scale is float64, rounded once; the weights are scaled in their own dtype
    # (one more rounding, ≤ 1 ulp): float64 copies of 54 M weights took ~1 s of every start-up
    conv.weight = nn.Parameter(conv.weight * scale.to(conv.weight.dtype).view(shape), False)
    conv.bias = nn.Parameter(((bias - mean) * scale + beta).to(conv.weight.dtype), False)


def _refuse_training(module: nn.Module, args: tuple) -> None:
    if module.training:
        raise RuntimeError(
            "this module has its BatchNorm folded (fold_batchnorm) and only works in eval mode; "
            "train the original module instead"
        )


class InferenceGenerator(nn.Module):
    """(B, C, H, W) float32 → (B, out_channels, H, W) float32: a network with its layout and precision.

    Puts the input in the memory format and dtype the network was prepared for, runs it (under
    autocast where ``autocast_precision`` asks), and returns float32. Build it with
    :func:`inference_model`.
    """

    def __init__(
        self,
        net: nn.Module,
        *,
        memory_format: torch.memory_format = torch.contiguous_format,
        dtype: torch.dtype = torch.float32,
        autocast_precision: str = "fp32",
    ) -> None:
        super().__init__()
        self.net, self.memory_format, self.dtype = net, memory_format, dtype
        self.autocast_precision = autocast_precision

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(dtype=self.dtype).contiguous(memory_format=self.memory_format)
        with autocast(x.device, self.autocast_precision):
            return self.net(x).float()


FORMS = ("eager", "channels_last", "folded", "prepacked")
"""The inference forms of a generator on CPU, from the plain eval generator to the most prepared:
``eager`` (a copy as trained), ``channels_last`` (that copy in channels_last), ``folded``
(BatchNorm folded, channels_last) and ``prepacked`` (folded, oneDNN-prepacked weights with fused
activations). Which is fastest depends on the CPU: on the AVX-512-BF16 machine ``prepacked``
(above), on an AVX2-only EPYC ``channels_last`` (9.3 img/s against 7.7 eager and 5.9 prepacked);
:mod:`sarcolor.inference.autotune` measures them."""


def inference_model(
    generator: nn.Module, device: torch.device, precision: str = "fp32", form: str = "prepacked"
) -> InferenceGenerator:
    """An eval-mode form of ``generator`` on ``device``; ``generator`` is left unchanged.

    - CPU: ``form`` is one of :data:`FORMS`; by default the most prepared, ``prepacked``:
      BatchNorm folded (:func:`fold_batchnorm`), weights prepacked for oneDNN with the
      activations fused (:func:`~sarcolor.models.onednn.prepack`; plain convolutions in
      channels_last where this PyTorch lacks the ops). ``bf16`` casts the weights once: fast
      only on CPUs with native bf16 (AVX-512-BF16, AMX), ~70× slower than fp32 elsewhere.
    - CUDA: a copy in channels_last under autocast (``bf16``/``fp16``); BatchNorm kept; ``form``
      is not used.

    Outputs equal ``generator.eval()(x)`` to float32 rounding (~1e-6) in ``fp32``, in every form.

    Args:
        generator: a :class:`~sarcolor.models.UNetGenerator` (or any conv network).
        device: where to run.
        precision: ``fp32``, ``bf16`` or ``fp16`` (CUDA), as resolved by
            :func:`sarcolor.runtime.resolve_precision`.
        form: which of :data:`FORMS` (CPU).
    """
    channels_last = torch.channels_last
    if device.type == "cuda":
        net = place(copy.deepcopy(generator), device, channels_last).eval()
        return InferenceGenerator(net, memory_format=channels_last, autocast_precision=precision)
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"precision on CPU must be fp32 or bf16, got {precision!r}")
    if form not in FORMS:
        raise ValueError(f"form must be one of {', '.join(FORMS)}, got {form!r}")
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    if form in ("eager", "channels_last"):
        layout = channels_last if form == "channels_last" else torch.contiguous_format
        net = place(copy.deepcopy(generator).eval().requires_grad_(False).to(device, dtype), layout=layout)
        return InferenceGenerator(net, memory_format=layout, dtype=dtype)
    net = fold_batchnorm(generator).to(device, dtype)
    if form == "prepacked" and onednn_available():
        try:
            return InferenceGenerator(prepack(net), memory_format=channels_last, dtype=dtype)
        except RuntimeError:  # private ops whose signature changed in this PyTorch: go eager
            net = fold_batchnorm(generator).to(device, dtype)
    return InferenceGenerator(place(net, layout=channels_last), memory_format=channels_last, dtype=dtype)
