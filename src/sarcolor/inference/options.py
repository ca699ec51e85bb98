"""How colorizing runs and writes, declared once (the CLI derives its flags from these fields)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sarcolor.config import (
    BAD_SAMPLE_HELP,
    DEVICE_HELP,
    PRECISION_HELP,
    DeviceName,
    OnBadSample,
    Precision,
)
from sarcolor.errors import SarcolorError
from sarcolor.options import check_fields, option
from sarcolor.sar.conventions import FILTERS, SarScale, parse_despeckle

Compression = Literal["deflate", "zstd", "lzw", "none"]
Form = Literal[
    "auto", "eager", "channels_last", "folded", "prepacked", "onnxruntime"
]  # auto + inference.forms.FORMS
MAX_LEVEL = {"deflate": 9, "zstd": 22}  # the codecs that take a level (GDAL's ZLEVEL, ZSTD_LEVEL)


@dataclass(frozen=True)
class InferenceOptions:
    """How a trained generator runs; ``colorize``, ``evaluate``, ``report`` and ``serve`` share it."""

    device: DeviceName = option("auto", help=DEVICE_HELP)
    precision: Precision = option("auto", help=PRECISION_HELP)
    batch_size: int = option(8, low=1, help="tiles per forward pass")
    form: Form = option(
        "auto",
        help="the generator's form on CPU: eager (as trained), channels_last, folded (BatchNorm folded "
        "into the convolutions), prepacked (folded, oneDNN-prepacked weights) or onnxruntime (folded, "
        "exported to ONNX once, cached, and run by ONNX Runtime, fp32; needs the onnx extra); auto: "
        "the fastest measured on this CPU at first use, remembered in the cache folder "
        "($SARCOLOR_CACHE_DIR, else ~/.cache/sarcolor); outputs agree to float rounding",
    )
    overlap: int = option(
        64, low=0, high=255, help="overlap of neighbouring 256×256 tiles in pixels, blended without seams"
    )
    train_mode: bool = option(False, help="pix2pix's stochastic test-time mode: dropout on, batch statistics")
    despeckle: str | None = option(
        None,
        metavar="NAME[:WINDOW[:LOOKS]]",
        help=f"speckle filter ({', '.join(FILTERS)}, or none) instead of the checkpoint's; the model "
        "never saw other input, so this warns",
        default_text="the checkpoint's",
    )

    def validate(self, source: str = "options") -> InferenceOptions:
        check_fields(self, source)
        try:
            parse_despeckle(self.despeckle)
        except SarcolorError as exc:
            raise SarcolorError(f"{source}: {exc}") from None
        return self


@dataclass(frozen=True)
class SceneOptions:
    """How one GeoTIFF scene is read and written (``.tif`` inputs of ``colorize``)."""

    bands: list[str] | None = option(
        None,
        flag="--band",
        metavar="NAME|INDEX",
        group="scene",
        help="band of a multi-band GeoTIFF, by description (VV) or 1-based index; once per model band",
        default_text="found by description, else in order",
    )
    sar_scale: SarScale = option(
        "auto",
        group="scene",
        help="what the SAR file holds; auto decides from its data type and values and says so",
    )
    calibration: float | None = option(
        None,
        low=0.0,
        low_open=True,
        metavar="K",
        group="scene",
        help="amplitude data: dB = 20·log10(DN / K)",
        default_text="the checkpoint's",
    )
    compress: Compression = option("deflate", group="scene", help="GeoTIFF compression")
    compress_level: int = option(
        1,
        low=1,
        high=MAX_LEVEL["zstd"],
        metavar="LEVEL",
        group="scene",
        help="level of --compress deflate (1-9) or zstd (1-22): 1 writes the scene's pixels ~6× faster "
        "than GDAL's default 6 for files ~15 % larger (docs/benchmarks.md); the pixels are the same",
    )
    cog: bool = option(False, group="scene", help="write a Cloud-Optimized GeoTIFF with overviews")
    alpha: bool = option(False, group="scene", help="an alpha band instead of an internal nodata mask")

    def validate(self, source: str = "options") -> SceneOptions:
        check_fields(self, source)
        top = MAX_LEVEL.get(self.compress)
        if top is not None and self.compress_level > top:
            raise SarcolorError(
                f"{source}: --compress-level {self.compress_level}: {self.compress} takes 1-{top}"
            )
        return self


@dataclass(frozen=True)
class OutputOptions:
    """What happens to existing outputs and unreadable inputs."""

    overwrite: bool = option(False, help="replace existing outputs (refused otherwise)")
    on_bad_sample: OnBadSample = option("error", help=BAD_SAMPLE_HELP)
    skip_existing: bool = option(
        False,
        help="leave inputs whose output exists alone (outputs are written atomically, so an "
        "interrupted run resumes where it stopped)",
    )
    png_compression: int = option(
        1,
        low=0,
        high=9,
        metavar="LEVEL",
        help="zlib level of the PNG outputs, 0-9: 0-1 by sarcolor's own encoder (1: ~3.5× faster than "
        "Pillow at 1, files no larger), 2-9 by Pillow (9: the smallest files); the pixels are the same",
    )

    def validate(self, source: str = "options") -> OutputOptions:
        check_fields(self, source)
        return self
