"""Run configuration as frozen, nested dataclasses; every option is declared once, here.

A :class:`Config` is built from defaults, then a YAML file (``--config``), then command-line
flags (flags win); it is never changed in place (``cfg.replace(train={"steps": 5})``). It is
printed at the start of training, written to ``RUN_DIR/config.yaml`` and stored inside every
checkpoint, so a checkpoint alone is enough to colorize correctly.

Each field is made with :func:`sarcolor.options.option`: its help text, range and whether it
may change on ``--resume`` live on the field, and ``sarcolor train --help`` is derived from it
(:mod:`sarcolor.cli.options`).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from sarcolor.errors import SarcolorError
from sarcolor.options import check_fields, field_named, flag_of, from_mapping, option, option_of, to_plain
from sarcolor.sar.conventions import FILTERS, SarScale, band_ranges, parse_despeckle
from sarcolor.textfiles import read_yaml

InputMode = Literal["sar", "optical-l"]
TargetMode = Literal["rgb", "lab", "ab"]
DeviceName = Literal["auto", "cpu", "cuda"]
OnBadSample = Literal["error", "skip"]
OnNonFinite = Literal["stop", "skip"]
Precision = Literal["auto", "fp32", "bf16", "fp16"]
CompileMode = Literal["auto", "on", "off"]
Condition = Literal["none", "terrain"]
ConditionAt = Literal["input", "bottleneck"]
Arch = Literal["sarcolor_unet", "pix2pix_unet", "sar2optical_unet"]
GanLoss = Literal["bce", "lsgan", "hinge"]  # as sarcolor.models.losses.GanLoss
Upsample = Literal["transpose", "resize"]  # as sarcolor.models.generator.Upsample
UpsampleInit = Literal["normal", "bilinear"]
RecipeName = Literal["pix2pix", "pix2pixhd"]  # presets: sarcolor.training.recipes
DEVICES: tuple[str, ...] = get_args(DeviceName)
PRECISIONS: tuple[str, ...] = get_args(Precision)
INPUT_MODES: tuple[str, ...] = get_args(InputMode)
TARGET_MODES: tuple[str, ...] = get_args(TargetMode)
DEFAULT_EPOCHS = 10  # when neither --steps nor --epochs is given

DEVICE_HELP = "where the networks run; auto: CUDA when available, else the CPU"
PRECISION_HELP = (
    "number format of the generator's forward pass; auto: bf16 on CUDA (fp16 on GPUs without bf16) "
    "and on CPUs with bf16 instructions (AVX-512-BF16, AMX), fp32 on other CPUs, where bf16 is "
    "emulated and slow (outputs stay within ~1 level of 255 of fp32)"
)
BAD_SAMPLE_HELP = (
    "error: stop at unreadable files (training checks every file first and lists them all); "
    "skip: leave them out, report them and go on"
)


def tri_state(text: str) -> bool | None:
    """``auto`` → ``None``, ``on`` → ``True``, ``off`` → ``False`` (command-line values)."""
    table = {"auto": None, "on": True, "off": False}
    if text not in table:
        raise ValueError(f"expected auto, on or off, got {text!r}")
    return table[text]


def db_range_pair(text: str) -> list[float]:
    """``-25,0`` → ``[-25.0, 0.0]`` (a ``--db-range`` value)."""
    parts = text.split(",")
    if len(parts) != 2:
        raise ValueError(f"expected LOW,HIGH in dB, e.g. -25,0; got {text!r}")
    return [float(p) for p in parts]


@dataclass(frozen=True)
class PreprocessConfig:
    """How images become network tensors and back (see :mod:`sarcolor.data.preprocess`)."""

    input: InputMode = option(
        "sar",
        help="the generator's input: sar, the Sentinel-1 image; optical-l, the CIE L* channel of the "
        "optical image (the founding description's LAB idea)",
    )
    target: TargetMode = option(
        "rgb", help="what the generator predicts: sRGB, L*a*b*, or a*b* recombined with L* (optical-l)"
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
        return 2 if self.target == "ab" else 3


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


@dataclass(frozen=True)
class ModelConfig:
    """The generator and the widths: sarcolor's U-Net-256 + 70×70 PatchGAN, or a generator trained
    elsewhere (``arch`` and ``foreign``, a :class:`~sarcolor.models.foreign.ForeignArch` mapping,
    written only by ``sarcolor import``, so they have no flag)."""

    arch: Arch = option(
        "sarcolor_unet",
        cli=False,
        help="the generator: sarcolor_unet (sarcolor's U-Net-256), or pix2pix_unet / sar2optical_unet "
        "(imported by `sarcolor import`: the canonical pix2pix and SAR2Optical graphs)",
    )
    foreign: dict[str, Any] = option(
        default_factory=dict,
        cli=False,
        help="an imported generator's layout (ForeignArch fields: channels, depth, norm, …)",
        default_text="none",
    )
    ngf: int = option(64, low=1, high=512, help="generator base width")
    ndf: int = option(64, low=1, high=512, help="discriminator base width")
    dropout: float = option(
        0.5,
        low=0.0,
        high=1.0,
        high_open=True,
        help="dropout of the generator's first three up blocks (0 as pix2pix's --no_dropout)",
    )
    condition: Condition = option(
        "none",
        help="terrain: one generator that takes the terrain as an input (one-hot), an alternative to "
        "one model per terrain; colorizing it needs the terrain, given or from a terrain classifier",
    )
    condition_at: ConditionAt = option(
        "input",
        help="where the terrain enters a conditioned generator: input, one-hot planes appended to its "
        "input; bottleneck, a FiLM scale and shift of the 1×1 bottleneck",
    )
    condition_terrains: list[str] = option(
        default_factory=list,
        flag="--condition-terrain",
        metavar="NAME",
        help="the terrains a conditioned generator knows, in one-hot order; repeat for several",
        default_text="the training data's terrains",
    )
    # issue 13: the founding values are the defaults, so checkpoints without these keys load as before
    upsample: Upsample = option(
        "transpose",
        help="the generator's decoder: transpose (pix2pix's 4×4 stride-2 transposed convolutions) or "
        "resize (nearest ×2 + 3×3 convolution: no checkerboard; 2.25× the decoder's multiply-adds)",
    )
    upsample_init: UpsampleInit = option(
        "normal",
        help="the transposed convolutions at step 0: normal (pix2pix, N(0, 0.02) per tap) or bilinear "
        "(bilinear upsampling of a random 1×1 convolution: no dot grid in the untrained generator)",
    )
    d_scales: int = option(
        1, low=1, high=3, help="discriminator scales: the PatchGAN on the pair and 2×/4× downsampled copies"
    )
    spectral_norm: bool = option(False, help="spectral normalisation of every discriminator convolution")

    def validate(self, source: str = "configuration") -> None:
        check_fields(self, source, "model.")
        if self.condition == "none" and self.condition_terrains:
            raise SarcolorError(f"{source}: --condition-terrain needs --condition terrain")
        if len(set(self.condition_terrains)) != len(self.condition_terrains):
            raise SarcolorError(f"{source}: model.condition_terrains repeats a terrain")
        if self.condition != "none" and self.imported:
            raise SarcolorError(f"{source}: an imported generator cannot be conditioned on the terrain")
        if not self.imported:
            if self.foreign:
                raise SarcolorError(f"{source}: model.foreign describes imported generators only")
            return
        from sarcolor.models.foreign import ForeignArch  # the layout check lives with the graphs

        try:
            name = (
                ForeignArch.from_dict(self.foreign).name if isinstance(self.foreign, dict) else "non-mapping"
            )
        except SarcolorError as exc:
            raise SarcolorError(f"{source}: {exc}") from None
        if name != self.arch:
            raise SarcolorError(f"{source}: model.arch {self.arch} but model.foreign describes a {name}")

    @property
    def condition_channels(self) -> int:
        """Extra input channels of the generator (and discriminator): the one-hot terrain planes."""
        return len(self.condition_terrains) if self.condition == "terrain" else 0

    @property
    def imported(self) -> bool:
        """Whether the generator is one trained elsewhere (``sarcolor import``)."""
        return self.arch != "sarcolor_unet"


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation, logging and checkpointing."""

    steps: int | None = option(
        None, low=1, resumable=True, help="optimisation steps", default_text=f"{DEFAULT_EPOCHS} epochs"
    )
    epochs: int | None = option(
        None, low=1, resumable=True, help="epochs (instead of --steps)", default_text=str(DEFAULT_EPOCHS)
    )
    batch_size: int = option(8, low=1, help="pairs per step (the global batch under torchrun)")
    lr: float = option(2e-4, low=0.0, low_open=True, help="Adam learning rate")
    beta1: float = option(0.5, low=0.0, high=1.0, high_open=True, help="Adam β1")
    beta2: float = option(0.999, low=0.0, high=1.0, high_open=True, help="Adam β2")
    lambda_l1: float = option(100.0, low=0.0, help="weight of the L1 loss")
    recipe: RecipeName = option(
        "pix2pix",
        help="preset of the options below that were not given: pix2pix, the founding description; "
        "pix2pixhd, the discriminator side of pix2pixHD and the small-data levers (docs/quality.md)",
    )
    gan_loss: GanLoss = option("bce", help="adversarial loss: bce (pix2pix), lsgan (pix2pixHD) or hinge")
    lambda_fm: float = option(0.0, low=0.0, help="weight of discriminator feature matching (pix2pixHD: 10)")
    d_augment: str = option(
        "",
        metavar="POLICY",
        help="DiffAugment of what D sees, a comma-separated subset of translation, cutout, color",
        default_text="none",
    )
    lr_d: float | None = option(
        None, low=0.0, low_open=True, help="the discriminator's Adam learning rate", default_text="--lr"
    )
    lr_decay_fraction: float = option(
        0.0,
        low=0.0,
        high=1.0,
        flag="--lr-decay",
        metavar="FRACTION",
        help="decay the learning rate linearly to 0 over this last fraction of the steps (pix2pix: 0.5)",
    )
    seed: int = option(0, help="seed of the weights, batch order and augmentation")
    device: DeviceName = option("auto", resumable=True, help=DEVICE_HELP)
    log_every: int = option(10, low=1, resumable=True, help="steps between log lines")
    sample_every: int = option(200, low=1, resumable=True, help="steps between sample grids")
    checkpoint_every: int = option(500, low=1, resumable=True, help="steps between checkpoints")
    keep_checkpoints: int = option(2, low=1, resumable=True, help="newest checkpoints kept")
    tensorboard: bool = option(False, resumable=True, help="also log to TensorBoard (needs the package)")
    on_nonfinite: OnNonFinite = option(
        "stop",
        resumable=True,
        help="stop: stop on a NaN/Inf loss; skip: leave that update out (10 in a row stop)",
    )
    precision: Precision = option("auto", resumable=True, help=PRECISION_HELP)
    channels_last: bool | None = option(
        None,
        resumable=True,
        parse=tri_state,
        metavar="{auto,on,off}",
        help="channels_last memory layout; auto: on for CUDA and for bf16 on CPU",
        default_text="auto",
    )
    compile: CompileMode = option(
        "auto",
        resumable=True,
        help="torch.compile the networks; auto: on CUDA, off on CPU; eager where compiling fails",
    )
    sync_bn: bool = option(
        False,
        resumable=True,
        help="under torchrun: BatchNorm statistics over the global batch, not each process's slice",
    )

    def validate(self, source: str = "configuration") -> None:
        check_fields(self, source, "train.")
        from sarcolor.models.augment import parse_policy  # the policy's names live with the transforms

        try:
            parse_policy(self.d_augment)
        except ValueError as exc:
            raise SarcolorError(f"{source}: train.d_augment: {exc}") from None
        if self.steps is not None and self.epochs is not None:
            raise SarcolorError(f"{source}: give either --steps or --epochs, not both")


SECTIONS: tuple[str, ...] = ("data", "preprocess", "model", "train")


@dataclass(frozen=True)
class Config:
    """Everything a run needs; stored in every checkpoint."""

    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    preprocess: PreprocessConfig = dataclasses.field(default_factory=PreprocessConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)

    def validate(self, source: str = "configuration") -> Config:
        for name in SECTIONS:
            getattr(self, name).validate(source)
        return self

    def replace(self, **sections: dict[str, Any]) -> Config:
        """A copy with some fields changed: ``cfg.replace(train={"steps": 5}, data={"root": "d"})``."""
        unknown = set(sections) - set(SECTIONS)
        if unknown:
            raise TypeError(f"no config section {', '.join(sorted(unknown))}")
        return dataclasses.replace(
            self, **{name: dataclasses.replace(getattr(self, name), **v) for name, v in sections.items()}
        )

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict[str, Any], *, source: str = "config") -> Config:
        return from_mapping(cls, values, source)

    @classmethod
    def from_yaml(cls, path: str | Path) -> Config:
        """Read a YAML configuration (sections as in ``config.yaml``), without validating it."""
        values = read_yaml(path) or {}
        if not isinstance(values, dict):
            raise SarcolorError(f"{path}: expected a mapping of sections, got {type(values).__name__}")
        return cls.from_dict(values, source=str(path))


def with_overrides(cfg: Config, overrides: dict[str, dict[str, Any]], *, resuming: bool = False) -> Config:
    """``cfg`` with options the user gave (``{section: {field: value}}``) put over it.

    A budget given as ``steps`` replaces an ``epochs`` of ``cfg`` and the other way round.
    When ``resuming``, only options declared ``resumable`` may change (the budget, where and
    how the run executes, logging), never the model or the data it learns from.

    Raises:
        SarcolorError: a non-resumable option given when resuming.
    """
    if resuming:
        for section, values in overrides.items():
            part = type(getattr(cfg, section))
            for name in values:
                f = field_named(part, name)
                spec = option_of(f)
                if spec is None or not spec.resumable:
                    flag = flag_of(f, spec) if spec else name
                    raise SarcolorError(f"{flag} cannot change when resuming a run")
    train = dict(overrides.get("train", {}))
    if "steps" in train and "epochs" not in train:
        train["epochs"] = None
    if "epochs" in train and "steps" not in train:
        train["steps"] = None
    return cfg.replace(**{**overrides, "train": train})
