"""Generators trained elsewhere: the canonical pix2pix U-Net and SAR2Optical's U-Net.

Two public PyTorch codebases trained most of the SAR-to-optical pix2pix models in the wild:

* the canonical pix2pix, junyanz/pytorch-CycleGAN-and-pix2pix (``models/networks.py``,
  ``UnetGenerator`` built from nested ``UnetSkipConnectionBlock``; ``--netG unet_256`` or
  ``unet_128``), saved as ``<epoch>_net_G.pth``;
* SAR2Optical, yuuIind/SAR2Optical (MIT; ``src/networks.py`` ``UnetGenerator`` and
  ``src/layers.py``), saved as ``pix2pix_gen_<epoch>.pth``.

Each class here rebuilds one of those graphs from its published layout (written for sarcolor,
not copied), with module names chosen so that ``state_dict()`` has exactly the keys and shapes of
the source's saved file: ``load_state_dict`` of that file works unchanged. Each takes and returns
tensors in its source's convention, described by a :class:`ForeignArch` record (stored in a
sarcolor checkpoint's config as ``model.arch`` and ``model.foreign``): SAR in [0, 1] becomes
``2·x − 1`` replicated to ``in_channels``, and the tanh output maps back by ``(y + 1) / 2``.

How they differ from sarcolor's own :class:`~sarcolor.models.generator.UNetGenerator`
(conv → norm → activation in every block; skips carry post-activation features; the 1×1
bottleneck is normalised; ``cat([up, skip])``; a 1-channel input; H, W multiples of 256):

============================  =====================================  ================================
                              canonical pix2pix ``UnetGenerator``    SAR2Optical ``UnetGenerator``
============================  =====================================  ================================
activation                    *before* each conv (LeakyReLU 0.2 down,  after (conv → BN → LeakyReLU;
                              ReLU up)                                 convT → BN → [Dropout] → ReLU)
skip features                 pre-activation; the up path applies     post-LeakyReLU encoder outputs
                              ReLU to ``cat([skip, up])``
innermost down block          no normalisation                        BatchNorm (on 1×1 maps)
outermost down block          conv only (no norm, no activation)      conv + bias + LeakyReLU
norm                          ``--norm batch|instance|none``; conv    BatchNorm; convs without bias
                              bias only with instance norm            except the first and the head
last layer                    convT(2·ngf → out) + tanh               8th up block to full size, then
                                                                      3×3 conv(64 → out) + tanh
dropout 0.5 (train only)      after the ``num_downs − 5`` ngf·8       first three up blocks
                              middle up blocks (not the innermost)
concatenation                 ``cat([skip, up])``                     ``cat([skip, up])``
input                         ``--input_nc`` channels (1 or 3)        3 (``c_in: 3``, grey as RGB)
============================  =====================================  ================================
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

import torch
import torch.nn.functional as F
from torch import nn

from sarcolor.errors import SarcolorError

ArchName = Literal["pix2pix_unet", "sar2optical_unet"]
Norm = Literal["batch", "instance", "none"]
NormStats = Literal["running", "image"]
Upsampling = Literal["transpose", "nearest", "bilinear", "bicubic"]

SOURCES: dict[str, str] = {
    "pix2pix_unet": "junyanz/pytorch-CycleGAN-and-pix2pix",
    "sar2optical_unet": "yuuIind/SAR2Optical",
}
SAR2OPTICAL_DOWN: tuple[int, ...] = (64, 128, 256, 512, 512, 512, 512, 512)  # enc1 … enc8 outputs
SAR2OPTICAL_UP: tuple[int, ...] = (512, 512, 512, 512, 256, 128, 64, 64)  # dec1 … dec8 outputs
SAR2OPTICAL_DROPOUT: int = 3  # dec1, dec2, dec3


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


class ImageStatsBatchNorm2d(nn.Module):
    """BatchNorm that normalises each image with its own statistics, in every mode.

    It holds BatchNorm2d's parameters and buffers under the same names (so a BatchNorm state dict
    loads into it), but ignores the running statistics: ``y = γ·(x − μ_img)/√(σ²_img + ε) + β``,
    the output of BatchNorm in training mode on a batch of one, which is how the canonical
    ``test.py`` runs without ``--eval``. Deliberately not a ``BatchNorm2d`` subclass, so that
    :func:`~sarcolor.models.fast.fold_batchnorm` never folds running statistics into it.
    (B, C, H, W) → (B, C, H, W); H·W must exceed 1.
    """

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.num_features, self.eps = num_features, eps
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.instance_norm(x, weight=self.weight, bias=self.bias, use_input_stats=True, eps=self.eps)


def _batch_norm(channels: int, norm_stats: NormStats) -> nn.Module:
    return nn.BatchNorm2d(channels) if norm_stats == "running" else ImageStatsBatchNorm2d(channels)


def _check_size(x: torch.Tensor, multiple: int, what: str) -> None:
    if x.shape[-1] % multiple or x.shape[-2] % multiple:
        raise ValueError(f"{what} needs H and W multiples of {multiple}, got {tuple(x.shape)}")


class _Level(nn.Module):
    """One level of the canonical U-Net: ``model`` holds down path, inner level and up path.

    Every level but the outermost returns ``cat([x, model(x)])``: its *input*, not yet
    activated (the next consumer, the enclosing level's ReLU, activates both halves).
    """

    def __init__(self, model: nn.Sequential, outermost: bool) -> None:
        super().__init__()
        self.model = model
        self.outermost = outermost

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.model(x)
        return y if self.outermost else torch.cat([x, y], dim=1)


class Pix2PixUnetGenerator(nn.Module):
    """The canonical pix2pix ``UnetGenerator``: (B, in, H, W) in [-1, 1] → (B, out, H, W) in (-1, 1).

    Levels from the outside in (widths for ``ngf`` = 64): level 0 maps ``in_channels`` → 64
    (down) and 128 → ``out_channels`` (up, then tanh); levels 1, 2, 3 map 64 → 128, 128 → 256,
    256 → 512; the remaining ``num_downs − 4`` levels stay at 512, the last being the innermost
    (1×1 at 256×256 input for ``unet_256``). Down convs and up transposed convs are 4×4, stride 2,
    padding 1. The state dict keys nest like the source's modules: level 0 is ``model.model.*``,
    level 1 ``model.model.1.model.*``, level k ≥ 2 adds ``3.model.`` per level; inside a middle
    level ``0`` LeakyReLU, ``1`` conv, ``2`` norm, ``3`` inner level, ``4`` ReLU, ``5`` convT,
    ``6`` norm, ``7`` Dropout; innermost ``1`` conv, ``3`` convT, ``4`` norm; outermost ``0``
    conv, ``3`` convT (with bias). With BatchNorm no other conv has a bias; with instance norm
    (no affine parameters, no running statistics) every conv has one.

    H and W must be multiples of ``2**num_downs``.

    Example:
        >>> g = Pix2PixUnetGenerator(1, 3, num_downs=8, ngf=8).eval()
        >>> g(torch.zeros(1, 1, 256, 256)).shape
        torch.Size([1, 3, 256, 256])
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        *,
        num_downs: int = 8,
        ngf: int = 64,
        norm: Norm = "batch",
        dropout: bool = True,
        norm_stats: NormStats = "running",
    ) -> None:
        super().__init__()
        if num_downs < 5:
            raise ValueError(f"the canonical U-Net has at least 5 levels, got num_downs={num_downs}")
        self.num_downs = num_downs
        use_bias = norm == "instance"  # the source adds a bias only where no affine norm follows

        def make_norm(channels: int) -> nn.Module:
            if norm == "batch":
                return _batch_norm(channels, norm_stats)
            return nn.InstanceNorm2d(channels) if norm == "instance" else nn.Identity()

        # (outer, inner) widths per level, outermost first: the level maps outer → inner → outer.
        mults = [1, 2, 4, 8] + [8] * (num_downs - 4)
        widths = [(out_channels, ngf)] + [(ngf * a, ngf * b) for a, b in itertools.pairwise(mults)]
        level: nn.Module | None = None
        for depth in range(num_downs - 1, -1, -1):
            outer, inner = widths[depth]
            down_in = in_channels if depth == 0 else outer
            down = nn.Conv2d(down_in, inner, 4, stride=2, padding=1, bias=use_bias)
            up_in = inner if level is None else 2 * inner
            if depth == 0:
                up = nn.ConvTranspose2d(up_in, outer, 4, stride=2, padding=1)
                assert level is not None  # num_downs ≥ 5: the outermost level holds the others
                layers: list[nn.Module] = [down, level, nn.ReLU(), up, nn.Tanh()]
            else:
                up = nn.ConvTranspose2d(up_in, outer, 4, stride=2, padding=1, bias=use_bias)
                if level is None:  # innermost: no norm after its down conv
                    layers = [nn.LeakyReLU(0.2), down, nn.ReLU(), up, make_norm(outer)]
                else:
                    down_path = [nn.LeakyReLU(0.2), down, make_norm(inner)]
                    layers = [*down_path, level, nn.ReLU(), up, make_norm(outer)]
                    if dropout and 4 <= depth <= num_downs - 2:
                        layers.append(nn.Dropout(0.5))
            level = _Level(nn.Sequential(*layers), outermost=depth == 0)
        assert level is not None
        self.model: nn.Module = level

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_size(x, 2**self.num_downs, f"pix2pix unet_{2**self.num_downs}")
        return self.model(x)


class _Block(nn.Module):
    """A SAR2Optical block: ``conv_block`` is a Sequential (the source's attribute name)."""

    def __init__(self, *layers: nn.Module) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_block(x)


class _Stage(nn.Module):
    """Blocks named ``<prefix>1`` … ``<prefix>8`` (``enc*`` / ``dec*``), as in the source."""

    def __init__(self, prefix: str, blocks: list[_Block]) -> None:
        super().__init__()
        for i, block in enumerate(blocks, start=1):
            self.add_module(f"{prefix}{i}", block)


class Sar2OpticalGenerator(nn.Module):
    """SAR2Optical's ``UnetGenerator``: (B, in, H, W) in [-1, 1] → (B, out, H, W) in (-1, 1).

    ``encoder.enc1`` … ``enc8``: conv 4×4 stride 2 (64, 128, 256, 512, 512, 512, 512, 512
    channels) → BatchNorm (not in enc1, whose conv has a bias instead) → LeakyReLU(0.2); keys
    ``encoder.encK.conv_block.{0,1}.*``. ``decoder.dec1`` … ``dec8``: convT 4×4 stride 2 without
    bias (512, 512, 512, 512, 256, 128, 64, 64 channels) → BatchNorm → Dropout(0.5) in dec1–3 →
    ReLU; each output but dec8's is concatenated after the matching encoder output,
    ``cat([enc, dec])``; keys ``decoder.decK.conv_block.{0,1}.*`` (with ``use_upsampling`` the
    convT is ``Sequential(Upsample×2, conv 3×3)``: ``conv_block.0.1.weight``). ``head``: conv 3×3
    (64 → out, bias) and tanh, keys ``head.0.*``. 54,541,827 parameters at 3 → 3 channels.

    H and W must be multiples of 256.
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        *,
        upsampling: Upsampling = "transpose",
        norm_stats: NormStats = "running",
    ) -> None:
        super().__init__()
        enc: list[_Block] = []
        cin = in_channels
        for i, cout in enumerate(SAR2OPTICAL_DOWN):
            conv = nn.Conv2d(cin, cout, 4, stride=2, padding=1, bias=i == 0)
            norm = [] if i == 0 else [_batch_norm(cout, norm_stats)]
            enc.append(_Block(conv, *norm, nn.LeakyReLU(0.2)))
            cin = cout
        dec: list[_Block] = []
        skips = (*SAR2OPTICAL_DOWN[-2::-1], 0)  # enc7 … enc1, then none after dec8
        for i, (cout, skip) in enumerate(zip(SAR2OPTICAL_UP, skips, strict=True)):
            if upsampling == "transpose":
                up: nn.Module = nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1, bias=False)
            else:
                up = nn.Sequential(
                    nn.Upsample(scale_factor=2, mode=upsampling),
                    nn.Conv2d(cin, cout, 3, padding=1, bias=False),
                )
            drop = [nn.Dropout(0.5)] if i < SAR2OPTICAL_DROPOUT else []
            dec.append(_Block(up, _batch_norm(cout, norm_stats), *drop, nn.ReLU()))
            cin = cout + skip
        self.encoder = _Stage("enc", enc)
        self.decoder = _Stage("dec", dec)
        self.head = nn.Sequential(nn.Conv2d(cin, out_channels, 3, padding=1), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_size(x, 256, "the SAR2Optical U-Net")
        features = []
        for block in self.encoder.children():
            x = block(x)
            features.append(x)
        decoders = list(self.decoder.children())
        x = features.pop()  # enc8, the bottleneck
        for block in decoders[:-1]:
            x = torch.cat([features.pop(), block(x)], dim=1)
        return self.head(decoders[-1](x))
