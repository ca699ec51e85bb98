"""The graphs of generators trained elsewhere, rebuilt so that their saved files load unchanged.

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

What each graph is called and how it is fed is :class:`~sarcolor.models.foreign.ForeignArch`.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn

from sarcolor.config.foreign import Norm, NormStats, Upsampling

SAR2OPTICAL_DOWN: tuple[int, ...] = (64, 128, 256, 512, 512, 512, 512, 512)  # enc1 … enc8 outputs
SAR2OPTICAL_UP: tuple[int, ...] = (512, 512, 512, 512, 256, 128, 64, 64)  # dec1 … dec8 outputs
SAR2OPTICAL_DROPOUT: int = 3  # dec1, dec2, dec3


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
