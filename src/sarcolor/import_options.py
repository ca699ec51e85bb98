"""The options of ``sarcolor import``, declared torch-free so that ``sarcolor --help`` loads no torch.

:mod:`sarcolor.importer` (which does the importing) and :mod:`sarcolor.models.foreign`
re-export these names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sarcolor.config.foreign import Norm as Norm  # the foreign layout's literals, declared once
from sarcolor.config.foreign import NormStats as NormStats
from sarcolor.options import check_fields, option
from sarcolor.sar.conventions import SarScale

Source = Literal["pix2pix", "sar2optical"]
Upsampled = Literal["nearest", "bilinear", "bicubic"]

NORM_STATS_HELP = (
    "BatchNorm statistics when colorizing: running (eval mode, as the canonical test.py --eval and "
    "SAR2Optical's inference.py), or image (each image's own statistics, as the canonical test.py "
    "without --eval)"
)


@dataclass(frozen=True)
class ImportOptions:
    """What the user states about a foreign generator (``sarcolor import`` derives its flags here).

    The weights decide the layout; ``input_channels`` and ``norm`` are checked against them.
    """

    input_channels: int | None = option(
        None,
        low=1,
        high=16,
        metavar="N",
        help="input channels the model takes (pix2pix --input_nc, SAR2Optical c_in), checked against the "
        "weights; a grey SAR image is repeated on each",
        default_text="read from the weights",
    )
    norm: Norm | None = option(
        None,
        help="pix2pix's --norm at training, checked against the weights",
        default_text="read from the weights",
    )
    norm_stats: NormStats = option("running", help=NORM_STATS_HELP)
    dropout: bool = option(
        True,
        flag="--no-dropout",
        help="the model was trained with pix2pix's --no_dropout (matters for --train-mode and fine-tuning)",
    )
    upsampling: Upsampled | None = option(
        None,
        help="SAR2Optical trained with use_upsampling: true: its up-sampling mode (the weights cannot tell)",
        default_text="nearest",
    )
    sar_scale: SarScale = option(
        "uint8",
        help="what the SAR images the model was trained on held; uint8: SEN1-2's 8-bit PNGs "
        "(VV dB −25…0 as 0…255, see --db-range)",
    )

    def validate(self, source: str = "options") -> ImportOptions:
        check_fields(self, source)
        return self
