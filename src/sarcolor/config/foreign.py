"""The record of a generator trained elsewhere, torch-free: what it is and how it is fed.

``model.foreign`` in a checkpoint's config holds one as a mapping; :class:`ForeignLayout` checks it
without building anything, so the config can be validated (and ``sarcolor --help`` run) without
torch. :class:`sarcolor.models.foreign.ForeignArch` adds the graphs and the tensor conventions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal, TypeVar, get_args

from sarcolor.errors import SarcolorError

Norm = Literal["batch", "instance", "none"]
NormStats = Literal["running", "image"]
Upsampling = Literal["transpose", "nearest", "bilinear", "bicubic"]
ArchName = Literal["pix2pix_unet", "sar2optical_unet"]

SOURCES: dict[str, str] = {
    "pix2pix_unet": "junyanz/pytorch-CycleGAN-and-pix2pix",
    "sar2optical_unet": "yuuIind/SAR2Optical",
}


_L = TypeVar("_L", bound="ForeignLayout")


@dataclass(frozen=True)
class ForeignLayout:
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
    def from_dict(cls: type[_L], data: dict[str, Any]) -> _L:
        """Inverse of :meth:`to_dict` (the descriptive ``input``/``output`` entries are ignored)."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        try:
            return cls(**known)
        except TypeError as exc:
            raise SarcolorError(f"model.foreign: {exc}") from None
