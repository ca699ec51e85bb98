"""Convolutions with oneDNN-prepacked weights and fused activations, for CPU inference.

An eager ``F.conv2d`` / ``F.conv_transpose2d`` on CPU reorders its weight into oneDNN's blocked
layout on every call. For the U-Net's inner layers (a few pixels, up to 8 M weights) that
reorder costs more than the arithmetic: on the project's 2-core CPU the generator ran at
~13 img/s at batch 1 eagerly and ~29 img/s with the weights packed once (and ~25 → ~29 img/s
at batch 8). Fusing the following ReLU / LeakyReLU into the convolution saves a pass over
each activation map as well.

The ops used (``torch.ops.mkldnn._convolution_pointwise`` and friends) are the ones
TorchInductor emits for frozen CPU graphs; they are not public API, so :func:`prepack` checks
that they exist and callers fall back to eager convolutions when they do not.
"""

from __future__ import annotations

import torch
from torch import nn

Activation = tuple[str, list[float]]  # oneDNN post-op name and its scalars
_OPS = (
    "_convolution_pointwise",
    "_convolution_transpose_pointwise",
    "_reorder_convolution_weight",
    "_reorder_convolution_transpose_weight",
)


def onednn_available() -> bool:
    """Whether this PyTorch build can run :class:`PackedConv2d` (oneDNN enabled, ops present)."""
    return bool(
        torch.backends.mkldnn.is_available()
        and torch.backends.mkldnn.enabled
        and all(hasattr(torch.ops.mkldnn, op) for op in _OPS)
    )


class PackedConv2d(nn.Module):
    """A Conv2d or ConvTranspose2d (+ activation) with its weight packed once for oneDNN.

    (B, cin, H, W) → (B, cout, H', W') exactly as the wrapped layer (and activation), in the
    layer's dtype (float32 or bfloat16); the output is channels_last. Inference only: the
    packed weight is an opaque oneDNN tensor kept as a plain attribute, so it has no gradient,
    does not follow ``.to()`` and is not in ``state_dict()``.

    Args:
        conv: the layer to pack (CPU, ``padding_mode="zeros"``, numeric padding).
        activation: oneDNN post-op applied inside the convolution, e.g. ``("relu", [])`` or
            ``("leaky_relu", [0.2])``; ``None`` for none.
    """

    def __init__(self, conv: nn.Conv2d | nn.ConvTranspose2d, activation: Activation | None = None) -> None:
        super().__init__()
        if not packable(conv):
            raise ValueError(f"cannot pack {conv}: needs numeric padding, padding_mode='zeros', CPU")
        self.transposed = isinstance(conv, nn.ConvTranspose2d)
        self.padding, self.stride = list(conv.padding), list(conv.stride)
        self.dilation, self.groups = list(conv.dilation), conv.groups
        self.output_padding = list(conv.output_padding)
        weight = conv.weight.detach()
        mkldnn = torch.ops.mkldnn
        if self.transposed:
            self.packed = mkldnn._reorder_convolution_transpose_weight(
                weight, self.padding, self.output_padding, self.stride, self.dilation, self.groups, None
            )
        else:
            self.packed = mkldnn._reorder_convolution_weight(
                weight, self.padding, self.stride, self.dilation, self.groups, None
            )
        self.register_buffer("bias", None if conv.bias is None else conv.bias.detach().clone())
        self.activation: Activation = activation or ("none", [])
        self.extra = f"{conv.extra_repr()}, activation={self.activation[0]}"

    def extra_repr(self) -> str:
        return self.extra

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        attr, scalars = self.activation
        if self.transposed:
            return torch.ops.mkldnn._convolution_transpose_pointwise(
                x, self.packed, self.bias, self.padding, self.output_padding, self.stride,
                self.dilation, self.groups, attr, scalars, "",
            )  # fmt: skip
        return torch.ops.mkldnn._convolution_pointwise(
            x, self.packed, self.bias, self.padding, self.stride, self.dilation, self.groups,
            attr, scalars, "",
        )  # fmt: skip


def packable(conv: nn.Module) -> bool:
    """Whether ``conv`` is a 2-D (transposed) convolution :class:`PackedConv2d` can take."""
    return (
        isinstance(conv, (nn.Conv2d, nn.ConvTranspose2d))
        and conv.padding_mode == "zeros"
        and not isinstance(conv.padding, str)
        and conv.weight.device.type == "cpu"
        and conv.weight.dtype in (torch.float32, torch.bfloat16)
    )


def _activation(module: nn.Module) -> Activation | None:
    """The oneDNN post-op that computes ``module``, or None when it is not one."""
    if isinstance(module, nn.ReLU):
        return ("relu", [])
    if isinstance(module, nn.LeakyReLU):
        return ("leaky_relu", [module.negative_slope])
    return None


@torch.no_grad()
def prepack(module: nn.Module) -> nn.Module:
    """Replace, in place, every packable convolution of an eval-mode ``module`` by a
    :class:`PackedConv2d`, fusing a ReLU / LeakyReLU that follows it in an ``nn.Sequential``
    (Identity and, in eval mode inert, Dropout layers in between are skipped).

    Fold BatchNorm first (:func:`~sarcolor.models.fast.fold_batchnorm`): a BatchNorm between
    a convolution and its activation stops the fusion but is otherwise left working.

    Returns:
        ``module`` itself, for chaining.

    Raises:
        RuntimeError: ``module`` is in training mode, or :func:`onednn_available` is False.
    """
    if module.training:
        raise RuntimeError("prepack is for inference: put the module in eval mode first")
    if not onednn_available():
        raise RuntimeError("this PyTorch build lacks the oneDNN ops prepack needs")
    for parent in list(module.modules()):
        names = [name for name, _ in parent.named_children()]
        for i, name in enumerate(names):
            conv = getattr(parent, name)
            if not packable(conv):
                continue
            activation = None
            if isinstance(parent, nn.Sequential):
                j = i + 1  # skip what eval mode makes a no-op: folded BatchNorm, Dropout
                while j < len(names) and isinstance(getattr(parent, names[j]), (nn.Identity, nn.Dropout)):
                    j += 1
                if j < len(names) and (activation := _activation(getattr(parent, names[j]))) is not None:
                    setattr(parent, names[j], nn.Identity())
            setattr(parent, name, PackedConv2d(conv, activation))
    return module
