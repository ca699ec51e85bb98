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

from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

import torch
from torch import nn

from sarcolor.errors import SarcolorError
from sarcolor.import_options import Norm as Norm  # declared torch-free there (sarcolor --help)
from sarcolor.import_options import NormStats as NormStats
from sarcolor.models.foreign_nets import Pix2PixUnetGenerator, Sar2OpticalGenerator, Upsampling

ArchName = Literal["pix2pix_unet", "sar2optical_unet"]

SOURCES: dict[str, str] = {
    "pix2pix_unet": "junyanz/pytorch-CycleGAN-and-pix2pix",
    "sar2optical_unet": "yuuIind/SAR2Optical",
}


@dataclass(frozen=True)
class ForeignArch:
    """What a foreign generator is and how it is fed; stored as ``model.foreign``.

    Both sources feed images normalised to [-1, 1] (``ToTensor`` then ``Normalize(0.5, 0.5)``)
    with a grey SAR image repeated on every input channel (their datasets open the PNG as RGB),
    and end in tanh. :meth:`to_model_input` and :meth:`from_model_output` are those conventions.

    Args:
        name: ``pix2pix_unet`` (canonical ``UnetGenerator``) or ``sar2optical_unet``.
        in_channels: input channels (canonical ``--input_nc``; SAR2Optical ``c_in``, 3).
        out_channels: output channels (``--output_nc`` / ``c_out``; 3 for RGB, 1 for grey).
        num_downs: pix2pix only: 8 for ``unet_256``, 7 for ``unet_128``.
        ngf: pix2pix only: base width (``--ngf``, 64).
        norm: pix2pix only: ``--norm`` (SAR2Optical always uses BatchNorm).
        dropout: pix2pix: not ``--no_dropout``; SAR2Optical: always. Matters for training only.
        norm_stats: BatchNorm statistics at inference: ``running`` (eval mode; the canonical
            ``test.py --eval`` and SAR2Optical's ``inference.py``) or ``image`` (each image's own
            statistics: the canonical ``test.py`` default, batch size 1, without ``--eval``).
        upsampling: SAR2Optical only: ``transpose`` (its default) or the ``mode`` of its
            ``use_upsampling: true`` variant (the weights cannot tell which mode was used).
    """

    name: ArchName
    in_channels: int
    out_channels: int
    num_downs: int = 8
    ngf: int = 64
    norm: Norm = "batch"
    dropout: bool = True
    norm_stats: NormStats = "running"
    upsampling: Upsampling = "transpose"

    def __post_init__(self) -> None:
        checks = {
            "name": get_args(ArchName),
            "norm": get_args(Norm),
            "norm_stats": get_args(NormStats),
            "upsampling": get_args(Upsampling),
        }
        for field, allowed in checks.items():
            if getattr(self, field) not in allowed:
                raise SarcolorError(
                    f"model.foreign: {field} must be one of {allowed}, got {getattr(self, field)!r}"
                )
        if not (1 <= self.in_channels <= 16 and 1 <= self.out_channels <= 16):
            raise SarcolorError(
                f"model.foreign: channels must be in [1, 16], got {self.in_channels} → {self.out_channels}"
            )
        if self.name == "pix2pix_unet" and not (5 <= self.num_downs <= 10 and 1 <= self.ngf <= 512):
            raise SarcolorError(f"model.foreign: num_downs {self.num_downs} / ngf {self.ngf} out of range")
        if self.name == "sar2optical_unet" and (self.num_downs, self.ngf, self.norm) != (8, 64, "batch"):
            raise SarcolorError(
                "model.foreign: sar2optical_unet has fixed widths (num_downs 8, ngf 64, batch)"
            )

    @property
    def source(self) -> str:
        """The public repository whose training code defines this graph."""
        return SOURCES[self.name]

    @property
    def size_multiple(self) -> int:
        """Height and width must be multiples of this (one halving per down block)."""
        return 2**self.num_downs

    @property
    def label(self) -> str:
        """A short human description, e.g. ``pix2pix unet_256 (batch norm, ngf 64, 1 → 3 channels)``."""
        if self.name == "pix2pix_unet":
            kind = f"pix2pix unet_{self.size_multiple}"
            extra = f"{'no' if self.norm == 'none' else self.norm} norm, ngf {self.ngf}"
        else:
            kind = "SAR2Optical U-Net"
            extra = "batch norm" + (
                "" if self.upsampling == "transpose" else f", {self.upsampling} upsampling"
            )
        return f"{kind} ({extra}, {self.in_channels} → {self.out_channels} channels)"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able fields, plus the normalisations for a reader of the config."""
        out = asdict(self)
        out["input"] = f"2·x − 1 in [-1, 1], SAR repeated on {self.in_channels} channel(s)"
        out["output"] = "tanh in (-1, 1) → (y + 1) / 2"
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ForeignArch:
        """Inverse of :meth:`to_dict` (the descriptive ``input``/``output`` entries are ignored)."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        try:
            return cls(**known)
        except TypeError as exc:
            raise SarcolorError(f"model.foreign: {exc}") from None

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
