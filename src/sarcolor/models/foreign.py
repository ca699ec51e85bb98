"""Generators trained elsewhere: the canonical pix2pix U-Net and SAR2Optical's U-Net.

Two public PyTorch codebases trained most of the SAR-to-optical pix2pix models in the wild:

* the canonical pix2pix, junyanz/pytorch-CycleGAN-and-pix2pix (``models/networks.py``,
  ``UnetGenerator`` built from nested ``UnetSkipConnectionBlock``; ``--netG unet_256`` or
  ``unet_128``), saved as ``<epoch>_net_G.pth``;
* SAR2Optical, yuuIind/SAR2Optical (MIT; ``src/networks.py`` ``UnetGenerator`` and
  ``src/layers.py``), saved as ``pix2pix_gen_<epoch>.pth``.

Each class of :mod:`sarcolor.models.foreign_nets` rebuilds one of those graphs from its published
layout (written for sarcolor, not copied), with module names chosen so that ``state_dict()`` has
exactly the keys and shapes of the source's saved file: ``load_state_dict`` of that file works
unchanged. Each takes and returns tensors in its source's convention, described by a
:class:`ForeignArch` record (stored in a sarcolor checkpoint's config as ``model.arch`` and
``model.foreign``): SAR in [0, 1] becomes ``2·x − 1`` replicated to ``in_channels``, and the
tanh output maps back by ``(y + 1) / 2``.

Here are the record that names a graph (:class:`ForeignArch`: what it is, how it is fed, how it
is built) and the adapter that calls it as sarcolor calls its own; the graphs, and how they differ
from sarcolor's own generator, are in :mod:`~sarcolor.models.foreign_nets`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from sarcolor.config.foreign import SOURCES as SOURCES  # the torch-free record, below config
from sarcolor.config.foreign import ArchName as ArchName
from sarcolor.config.foreign import ForeignLayout
from sarcolor.config.foreign import Norm as Norm
from sarcolor.config.foreign import NormStats as NormStats
from sarcolor.errors import SarcolorError
from sarcolor.models.foreign_nets import Pix2PixUnetGenerator, Sar2OpticalGenerator


@dataclass(frozen=True)
class ForeignArch(ForeignLayout):
    """A :class:`~sarcolor.config.foreign.ForeignLayout` that builds its graph and feeds it as its
    source does (the fields and their checks are the layout's)."""

    def build(self) -> nn.Module:
        """A new generator of this architecture (default init; load the file's weights next)."""
        if self.name == "pix2pix_unet":
            return Pix2PixUnetGenerator(
                self.in_channels,
                self.out_channels,
                num_downs=self.num_downs,
                ngf=self.ngf,
                norm=self.norm,
                dropout=self.dropout,
                norm_stats=self.norm_stats,
            )
        return Sar2OpticalGenerator(
            self.in_channels, self.out_channels, upsampling=self.upsampling, norm_stats=self.norm_stats
        )

    def build_for_sarcolor(self) -> SarcolorAdapter:
        """:meth:`build` wrapped in :class:`SarcolorAdapter` (sarcolor's 1-in, 3-out convention)."""
        return SarcolorAdapter(self.build(), self)

    def to_model_input(self, sar: torch.Tensor) -> torch.Tensor:
        """(B, 1 or in_channels, H, W) SAR in [0, 1] → (B, in_channels, H, W) in [-1, 1]."""
        if sar.shape[1] == 1 and self.in_channels > 1:
            sar = sar.expand(-1, self.in_channels, -1, -1)
        elif sar.shape[1] != self.in_channels:
            raise SarcolorError(f"the {self.label} takes {self.in_channels} channel(s), got {sar.shape[1]}")
        return sar * 2.0 - 1.0

    def from_model_output(self, out: torch.Tensor) -> torch.Tensor:
        """(B, out_channels, H, W) tanh output → (B, 3, H, W) in [0, 1]; a grey output is repeated."""
        image = ((out.clamp(-1.0, 1.0) + 1.0) * 0.5).clamp(0.0, 1.0)
        return image.expand(-1, 3, -1, -1) if image.shape[1] == 1 else image


class SarcolorAdapter(nn.Module):
    """A foreign generator called as sarcolor calls its own: (B, 1, H, W) → (B, 3, H, W).

    Input and output are already in both conventions' range ([-1, 1], tanh): the adapter only
    repeats a grey SAR input on the source's ``in_channels`` and a grey output on 3 channels,
    so :func:`~sarcolor.data.preprocess.encode_input` (``input='sar'``) and ``decode_output``
    (``target='rgb'``), tiling and :func:`~sarcolor.models.fast.inference_model` apply
    unchanged. Its state dict is the source's under ``net.``; load a file into ``.net``.
    """

    def __init__(self, net: nn.Module, arch: ForeignArch) -> None:
        super().__init__()
        self.net, self.in_channels = net, arch.in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1 and self.in_channels > 1:
            x = x.expand(-1, self.in_channels, -1, -1)
        y = self.net(x)
        return y.expand(-1, 3, -1, -1) if y.shape[1] == 1 else y
