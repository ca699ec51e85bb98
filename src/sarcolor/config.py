"""Run configuration as nested dataclasses.

A :class:`Config` is built from defaults, then a YAML file (``--config``), then command-line
flags (flags win). It is printed at the start of training, written to ``RUN_DIR/config.yaml``
and stored inside every checkpoint, so a checkpoint alone is enough to colorize correctly.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml

from sarcolor.errors import SarcolorError, first_line
from sarcolor.sar.radiometry import SarScale, band_ranges
from sarcolor.sar.speckle import parse_despeckle

InputMode = Literal["sar", "optical-l"]
TargetMode = Literal["rgb", "lab", "ab"]
DeviceName = Literal["auto", "cpu", "cuda"]
OnBadSample = Literal["error", "skip"]
OnNonFinite = Literal["stop", "skip"]
Precision = Literal["auto", "fp32", "bf16", "fp16"]
CompileMode = Literal["auto", "on", "off"]
DEVICES: tuple[str, ...] = get_args(DeviceName)

INPUT_MODES: tuple[str, ...] = get_args(InputMode)
TARGET_MODES: tuple[str, ...] = get_args(TargetMode)


@dataclass
class PreprocessConfig:
    """How images become network tensors and back (see :mod:`sarcolor.data.preprocess`).

    Attributes:
        input: ``sar`` — the Sentinel-1 image as grey, scaled to [-1, 1]; ``optical-l`` — the
            CIE L* channel of the Sentinel-2 image (the founding description's LAB mode).
        target: ``rgb`` — predict sRGB; ``lab`` — predict L*a*b*; ``ab`` — predict a*b* and
            recombine with the input L* (only with ``input='optical-l'``).
        bands: the SAR bands fed to the generator, one input channel each (``["VV"]``, or
            ``["VV", "VH"]`` for a two-channel model; GeoTIFF data only for more than one).
        sar_scale: what the training SAR files hold (:mod:`sarcolor.sar.radiometry`); ``auto``
            is decided from the first training file and stored decided.
        db_ranges: the dB range ``[low, high]`` of each band; empty: VV [-25, 0], VH [-32.5, 0].
        calibration: K in ``dB = 20·log10(DN / K)`` for amplitude data.
        despeckle: a speckle filter ``NAME[:window[:looks]]`` applied to the SAR input at
            training and colorizing alike (:mod:`sarcolor.sar.speckle`), or ``None``.
        s2_max_reflectance: Sentinel-2 reflectance shown as full white: RGB = clip(ρ / this, 0, 1)
            for GeoTIFF targets (reflectance ρ = (DN + offset) / 10000).
    """

    input: InputMode = "sar"
    target: TargetMode = "rgb"
    bands: list[str] = field(default_factory=lambda: ["VV"])
    sar_scale: SarScale = "auto"
    db_ranges: list[list[float]] = field(default_factory=list)
    calibration: float = 1.0
    despeckle: str | None = None
    s2_max_reflectance: float = 0.3

    def validate(self) -> None:
        _check_choice("preprocess.input", self.input, INPUT_MODES)
        _check_choice("preprocess.target", self.target, TARGET_MODES)
        if self.target == "ab" and self.input != "optical-l":
            raise SarcolorError("--target ab needs --input optical-l (a*b* is recombined with L*)")
        if not self.bands or len(set(b.upper() for b in self.bands)) != len(self.bands):
            raise SarcolorError(f"preprocess.bands must name distinct bands, got {self.bands}")
        if self.input != "sar" and len(self.bands) != 1:
            raise SarcolorError("several --band inputs need --input sar")
        band_ranges(self.bands, self.db_ranges)
        if self.calibration <= 0 or self.s2_max_reflectance <= 0:
            raise SarcolorError("preprocess.calibration and preprocess.s2_max_reflectance must be > 0")
        parse_despeckle(self.despeckle)

    @property
    def in_channels(self) -> int:
        return len(self.bands) if self.input == "sar" else 1

    @property
    def ranges(self) -> list[tuple[float, float]]:
        """The dB range of every SAR band, in order."""
        return band_ranges(self.bands, self.db_ranges)

    @property
    def out_channels(self) -> int:
        return 2 if self.target == "ab" else 3


@dataclass
class DataConfig:
    """Where the pairs are and how they are split and augmented."""

    root: str = ""
    terrains: list[str] = field(default_factory=list)  # empty: every terrain
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    split_seed: int = 0
    holdout_terrain: str | None = None  # every scene of this terrain goes to test, none to training
    holdout_season: str | None = None  # likewise for a season (spring, summer, fall, winter)
    crop_size: int = 256
    flip: bool = True
    rotate90: bool = True
    jitter: bool = False  # pix2pix: resize to 286 then random-crop 256
    num_workers: int = -1  # -1: choose from the CPU count
    on_bad_sample: OnBadSample = "error"  # error: check every file first; skip: leave bad pairs out
    # decoded uint8 cache (sarcolor.data.cache): off | on | auto (on for CUDA + 8-bit image
    # pairs) | a folder for it (default <data root>/.sarcolor-cache)
    cache: str = "auto"

    def validate(self) -> None:
        for name in ("val_fraction", "test_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise SarcolorError(f"data.{name} must be in [0, 1), got {value}")
        if self.val_fraction + self.test_fraction >= 1.0:
            raise SarcolorError("data.val_fraction + data.test_fraction must leave a train split")
        _check_choice("data.on_bad_sample", self.on_bad_sample, get_args(OnBadSample))
        if self.crop_size < 256 or self.crop_size % 256:
            raise SarcolorError(f"data.crop_size must be a multiple of 256, got {self.crop_size}")


@dataclass
class ModelConfig:
    """Network widths. The architecture itself is fixed (U-Net-256 + 70×70 PatchGAN)."""

    ngf: int = 64
    ndf: int = 64
    dropout: float = 0.5  # on the generator's first three up blocks; 0 as the reference's --no_dropout

    def validate(self) -> None:
        for name in ("ngf", "ndf"):
            value = getattr(self, name)
            if not 1 <= value <= 512:
                raise SarcolorError(f"model.{name} must be in [1, 512], got {value}")
        if not 0.0 <= self.dropout < 1.0:
            raise SarcolorError(f"model.dropout must be in [0, 1), got {self.dropout}")


@dataclass
class TrainConfig:
    """Optimisation, logging and checkpointing."""

    steps: int | None = None
    epochs: int | None = None
    batch_size: int = 8
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    lambda_l1: float = 100.0
    lr_decay_fraction: float = 0.0  # linear decay to 0 over this last fraction of the steps
    seed: int = 0
    device: DeviceName = "auto"
    log_every: int = 10
    sample_every: int = 200
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    tensorboard: bool = False
    on_nonfinite: OnNonFinite = "stop"  # skip: leave out the update, stop after 10 in a row
    precision: Precision = "auto"  # auto: bf16 on CUDA, fp32 on CPU (see sarcolor.runtime)
    channels_last: bool | None = None  # None: on for CUDA and for bf16 on CPU, off for CPU fp32
    compile: CompileMode = "auto"  # torch.compile the training step; auto: on CUDA, off on CPU
    sync_bn: bool = False  # under torchrun: BatchNorm statistics over the global batch

    def validate(self) -> None:
        if self.steps is not None and self.epochs is not None:
            raise SarcolorError("give either --steps or --epochs, not both")
        for name in ("steps", "epochs"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise SarcolorError(f"train.{name} must be >= 1, got {value}")
        if self.batch_size < 1:
            raise SarcolorError(f"train.batch_size must be >= 1, got {self.batch_size}")
        if not 0.0 <= self.lr_decay_fraction <= 1.0:
            raise SarcolorError(f"train.lr_decay_fraction must be in [0, 1], got {self.lr_decay_fraction}")
        if self.lr <= 0:
            raise SarcolorError(f"train.lr must be > 0, got {self.lr}")
        _check_choice("train.device", self.device, get_args(DeviceName))
        _check_choice("train.on_nonfinite", self.on_nonfinite, get_args(OnNonFinite))
        _check_choice("train.compile", self.compile, get_args(CompileMode))
        for name in ("log_every", "sample_every", "checkpoint_every", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise SarcolorError(f"train.{name} must be >= 1, got {getattr(self, name)}")


@dataclass
class Config:
    """Everything a run needs; stored in every checkpoint."""

    data: DataConfig = field(default_factory=DataConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def validate(self) -> Config:
        for part in (self.data, self.preprocess, self.model, self.train):
            part.validate()
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict[str, Any], *, source: str = "config") -> Config:
        return _build(cls, values, source)

    @classmethod
    def from_yaml(cls, path: str | Path) -> Config:
        path = Path(path)
        try:
            values = yaml.safe_load(path.read_text()) or {}
        except FileNotFoundError:
            raise SarcolorError(f"{path}: config file not found") from None
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise SarcolorError(f"{path}: not a readable YAML file ({first_line(exc)})") from None
        if not isinstance(values, dict):
            raise SarcolorError(f"{path}: expected a mapping of sections, got {type(values).__name__}")
        return cls.from_dict(values, source=str(path))


def _build(cls: type, values: dict[str, Any], source: str, prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        where = f"{prefix.rstrip('.')}: " if prefix else ""
        raise SarcolorError(f"{source}: {where}unknown key(s) {', '.join(unknown)}")
    kwargs = {}
    for name, value in values.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                raise SarcolorError(f"{source}: {prefix}{name} must be a mapping")
            kwargs[name] = _build(hint, value, source, f"{prefix}{name}.")
        else:
            kwargs[name] = _coerce(hint, value, f"{source}: {prefix}{name}")
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, where: str) -> Any:
    """Check (and gently convert) a YAML/JSON value against a field's type hint."""
    origin, args = get_origin(hint), get_args(hint)
    if value is None:
        if type(None) in args:
            return None
        raise SarcolorError(f"{where} may not be empty")
    if origin is Literal:
        if value not in args:
            raise SarcolorError(f"{where} must be one of {', '.join(map(str, args))}, got {value!r}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise SarcolorError(f"{where} must be a list")
        return [_coerce(args[0], v, where) for v in value] if args else list(value)
    if args and type(None) in args:  # Optional[X]
        inner = next(a for a in args if a is not type(None))
        return _coerce(inner, value, where)
    if hint is bool:
        if not isinstance(value, bool):
            raise SarcolorError(f"{where} must be true or false, got {value!r}")
        return value
    if hint in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SarcolorError(f"{where} must be a number, got {value!r}")
        if hint is int and float(value) != int(value):
            raise SarcolorError(f"{where} must be an integer, got {value!r}")
        return hint(value)
    if hint is str:
        return str(value)
    return value


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise SarcolorError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
