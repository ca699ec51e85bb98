"""The ``train`` section: losses, optimisers, budget, precision and logging."""

from __future__ import annotations

from dataclasses import dataclass

from sarcolor.config.common import (
    DEFAULT_EPOCHS,
    DEVICE_HELP,
    PRECISION_HELP,
    CompileMode,
    DeviceName,
    GanLoss,
    OnNonFinite,
    Precision,
    RecipeName,
    tri_state,
)
from sarcolor.errors import SarcolorError
from sarcolor.options import check_fields, option

TRANSFORMS: tuple[str, ...] = ("translation", "cutout", "color")  # models.augment applies them


def parse_policy(policy: str) -> tuple[str, ...]:
    """``"translation,cutout"`` → ``("translation", "cutout")``; ``""`` or ``"none"`` → ``()``.

    Raises:
        ValueError: an unknown or repeated transform.
    """
    names = tuple(p.strip() for p in policy.split(",") if p.strip() and p.strip() != "none")
    unknown = [n for n in names if n not in TRANSFORMS]
    if unknown or len(set(names)) != len(names):
        raise ValueError(
            f"augmentation policy {policy!r}: use a comma-separated subset of {', '.join(TRANSFORMS)}"
        )
    return names


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
        help="channels_last memory layout; auto: on CUDA, measured on CPU (with precision auto)",
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
        try:
            parse_policy(self.d_augment)
        except ValueError as exc:
            raise SarcolorError(f"{source}: train.d_augment: {exc}") from None
        if self.steps is not None and self.epochs is not None:
            raise SarcolorError(f"{source}: give either --steps or --epochs, not both")
