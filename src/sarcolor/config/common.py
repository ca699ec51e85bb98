"""The option types and help texts shared by the configuration sections and the commands' own options."""

from __future__ import annotations

from typing import Literal, get_args

InputMode = Literal["sar", "optical-l"]
TargetMode = Literal["rgb", "lab", "ab", "grey", "tinted"]
SarLevels = Literal["as-read", "standardise"]
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


def rgb_triple(text: str) -> list[float]:
    """``0.9,1.0,1.2`` → ``[0.9, 1.0, 1.2]`` (a ``--tint`` value)."""
    parts = text.split(",")
    if len(parts) != 3:
        raise ValueError(f"expected R,G,B, e.g. 0.9,1.0,1.2; got {text!r}")
    return [float(p) for p in parts]


def db_range_pair(text: str) -> list[float]:
    """``-25,0`` → ``[-25.0, 0.0]`` (a ``--db-range`` value)."""
    parts = text.split(",")
    if len(parts) != 2:
        raise ValueError(f"expected LOW,HIGH in dB, e.g. -25,0; got {text!r}")
    return [float(p) for p in parts]
