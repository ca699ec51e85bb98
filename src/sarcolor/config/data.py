"""The ``preprocess`` and ``data`` sections: how images are read and scaled, and which pairs train."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sarcolor.config.common import (
    BAD_SAMPLE_HELP,
    InputMode,
    OnBadSample,
    SarLevels,
    TargetMode,
    db_range_pair,
    rgb_triple,
)
from sarcolor.errors import SarcolorError
from sarcolor.options import check_fields, option
from sarcolor.sar.conventions import FILTERS, SarScale, band_ranges, parse_despeckle


@dataclass(frozen=True)
class PreprocessConfig:
    """How images become network tensors and back (see :mod:`sarcolor.data.preprocess`)."""

    input: InputMode = option(
        "sar",
        help="the generator's input: sar, the Sentinel-1 image; optical-l, the CIE L* channel of the "
        "optical image (the founding description's LAB idea)",
    )
    target: TargetMode = option(
        "rgb",
        help="what the generator predicts: sRGB, L*a*b*, a*b* recombined with L* (optical-l), grey "
        "(one channel, ITU-R 601 luma of the optical image; written as 1-band images, scored on grey), "
        "or tinted (that luma, written and scored in colour as --tint-offset + --tint × luma)",
    )
    tint: list[float] = option(
        default_factory=list,
        metavar="R,G,B",
        parse=rgb_triple,
        help="--target tinted: each channel's gain on the luma Y (written as offset + gain·Y); "
        "`sarcolor fit-colour` fits it and --tint-offset by least squares on colour pairs",
        default_text="the training pairs' mean colour, scaled to luma 1",
    )
    tint_smooth: bool = option(
        True,
        help="--target tinted: smooth the luma with the kernel [1,2,2,2,1]/8 (rows and columns) before "
        "colouring it; it cancels the period-2 and period-4 pattern a U-Net decoder leaves",
    )
    tint_offset: list[float] = option(
        default_factory=list,
        metavar="R,G,B",
        parse=rgb_triple,
        help="--target tinted: each channel's offset (see --tint)",
        default_text="0,0,0",
    )
    bands: list[str] = option(
        default_factory=lambda: ["VV"],
        flag="--band",
        metavar="NAME",
        help="SAR band(s) the model takes, one input channel each; repeat for VV+VH (GeoTIFF data)",
    )
    sar_scale: SarScale = option(
        "auto",
        help="what the training SAR files hold; auto decides from the first file's data type and "
        "values, says so, and stores the decision",
    )
    db_ranges: list[list[float]] = option(
        default_factory=list,
        flag="--db-range",
        metavar="LOW,HIGH",
        parse=db_range_pair,
        help="dB range of each band, in band order; repeat per band",
        default_text="VV -25,0 and VH -32.5,0",
    )
    calibration: float = option(
        1.0, low=0.0, low_open=True, metavar="K", help="amplitude data: dB = 20·log10(DN / K)"
    )
    despeckle: str | None = option(
        None,
        metavar="NAME[:WINDOW[:LOOKS]]",
        help=f"speckle filter of the SAR input at training and colorizing alike: {', '.join(FILTERS)}; "
        "e.g. lee:7",
        default_text="none",
    )
    sar_levels: SarLevels = option(
        "as-read",
        help="SAR levels the generator sees: as-read, the radiometric scale as is; standardise, each "
        "image (a training patch, a whole file or scene when colorizing) shifted and scaled to one mean "
        "and spread per band, so releases and scenes of unlike brightness look alike to the model",
    )
    s2_max_reflectance: float = option(
        0.3,
        low=0.0,
        low_open=True,
        metavar="RHO",
        help="Sentinel-2 reflectance shown as full white: RGB = clip(ρ / RHO, 0, 1) (GeoTIFF targets)",
    )

    def validate(self, source: str = "configuration") -> None:
        check_fields(self, source, "preprocess.")
        if self.target == "ab" and self.input != "optical-l":
            raise SarcolorError(f"{source}: --target ab needs --input optical-l (a*b* is recombined with L*)")
        if self.target in ("grey", "tinted") and self.input != "sar":
            raise SarcolorError(
                f"{source}: --target {self.target} needs --input sar (luma from L* is L* itself)"
            )
        for name, values in (("--tint", self.tint), ("--tint-offset", self.tint_offset)):
            if values and (len(values) != 3 or not all(math.isfinite(v) for v in values)):
                raise SarcolorError(f"{source}: {name} must be three finite numbers (R,G,B); got {values}")
        if not self.bands or len({b.upper() for b in self.bands}) != len(self.bands):
            raise SarcolorError(f"{source}: preprocess.bands must name distinct bands, got {self.bands}")
        if self.input != "sar" and len(self.bands) != 1:
            raise SarcolorError(f"{source}: several --band inputs need --input sar")
        try:
            band_ranges(self.bands, self.db_ranges)
            parse_despeckle(self.despeckle)
        except SarcolorError as exc:
            raise SarcolorError(f"{source}: {exc}") from None

    @property
    def in_channels(self) -> int:
        return len(self.bands) if self.input == "sar" else 1

    @property
    def ranges(self) -> list[tuple[float, float]]:
        """The dB range of every SAR band, in order."""
        return band_ranges(self.bands, self.db_ranges)

    @property
    def out_channels(self) -> int:
        return {"ab": 2, "grey": 1, "tinted": 1}.get(self.target, 3)

    @property
    def image_bands(self) -> int:
        """Bands of a colorized image as written and scored: 1 for a grey target, else 3 (RGB)."""
        return 1 if self.target == "grey" else 3


@dataclass(frozen=True)
class DataConfig:
    """Where the pairs are and how they are split and augmented."""

    root: str = option(
        "",
        flag="--data",
        metavar="DIR",
        resumable=True,
        help="dataset folder (any layout `sarcolor data` accepts)",
        default_text="none",
    )
    terrains: list[str] = option(
        default_factory=list,
        flag="--terrain",
        metavar="NAME",
        help="train on this terrain only; repeat for several",
        default_text="every terrain",
    )
    val_fraction: float = option(
        0.1, low=0.0, high=1.0, high_open=True, group="split", help="share of pairs in validation scenes"
    )
    test_fraction: float = option(
        0.1, low=0.0, high=1.0, high_open=True, group="split", help="share of pairs in test scenes"
    )
    split_seed: int = option(0, group="split", help="seed of the split by scene")
    holdout_terrain: str | None = option(
        None,
        metavar="NAME",
        group="split",
        help="every scene of this terrain is the test split, none is trained on",
        default_text="none",
    )
    holdout_season: str | None = option(
        None,
        metavar="NAME",
        group="split",
        help="every scene of this season (spring, summer, fall, winter) is the test split",
        default_text="none",
    )
    split_file: str | None = option(
        None,
        flag="--split-from",
        metavar="RUN_DIR|split.json",
        help="take the split from this run's split.json instead of drawing one, so that every model "
        "of a model set (and its terrain classifier) holds out the same scenes",
        default_text="drawn with --split-seed",
    )
    crop_size: int = option(256, low=256, help="side of the square training crops, a multiple of 256")
    flip: bool = option(True, flag="--no-flip", help="no random flips of both images")
    rotate90: bool = option(True, flag="--no-rotate", help="no random 90° rotations")
    jitter: bool = option(False, help="pix2pix's resize-to-286 and random-crop-256 augmentation")
    num_workers: int = option(
        -1,
        low=-1,
        flag="--workers",
        resumable=True,
        help="data-loading processes; -1: half the CPUs, 1–4",
    )
    on_bad_sample: OnBadSample = option("error", resumable=True, help=BAD_SAMPLE_HELP)
    cache: str = option(
        "auto",
        metavar="{auto,on,off,DIR}",
        resumable=True,
        help="decoded uint8 cache of 8-bit image pairs, memory-mapped and augmented on the device; "
        "auto: on CUDA only; DIR: keep it there (on: DATA/.sarcolor-cache)",
    )

    def validate(self, source: str = "configuration") -> None:
        check_fields(self, source, "data.")
        if self.val_fraction + self.test_fraction >= 1.0:
            raise SarcolorError(f"{source}: data.val_fraction + data.test_fraction must leave a train split")
        if self.crop_size % 256:
            raise SarcolorError(f"{source}: data.crop_size must be a multiple of 256, got {self.crop_size}")
