"""Run configuration as frozen, nested dataclasses; every option is declared once, in this package.

A :class:`Config` is built from defaults, then a YAML file (``--config``), then command-line
flags (flags win); it is never changed in place (``cfg.replace(train={"steps": 5})``). It is
printed at the start of training, written to ``RUN_DIR/config.yaml`` and stored inside every
checkpoint, so a checkpoint alone is enough to colorize correctly.

Each field is made with :func:`sarcolor.options.option`: its help text, range and whether it
may change on ``--resume`` live on the field, and ``sarcolor train --help`` is derived from it
(:mod:`sarcolor.flags`).

The sections live in their own modules (:mod:`~sarcolor.config.data`: ``preprocess`` and
``data``; :mod:`~sarcolor.config.model`; :mod:`~sarcolor.config.train`), the shared option
types and help texts in :mod:`~sarcolor.config.common`; everything is importable from here.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sarcolor.config.common import (
    BAD_SAMPLE_HELP,
    DEFAULT_EPOCHS,
    DEVICE_HELP,
    DEVICES,
    INPUT_MODES,
    PRECISION_HELP,
    PRECISIONS,
    TARGET_MODES,
    Arch,
    CompileMode,
    Condition,
    ConditionAt,
    DeviceName,
    GanLoss,
    InputMode,
    OnBadSample,
    OnNonFinite,
    Precision,
    RecipeName,
    TargetMode,
    Upsample,
    UpsampleInit,
    db_range_pair,
    tri_state,
)
from sarcolor.config.data import DataConfig, PreprocessConfig
from sarcolor.config.model import ModelConfig
from sarcolor.config.train import TrainConfig
from sarcolor.errors import SarcolorError
from sarcolor.options import field_named, flag_of, from_mapping, option_of, to_plain
from sarcolor.textfiles import read_yaml

__all__ = [
    "BAD_SAMPLE_HELP",
    "DEFAULT_EPOCHS",
    "DEVICES",
    "DEVICE_HELP",
    "INPUT_MODES",
    "PRECISIONS",
    "PRECISION_HELP",
    "SECTIONS",
    "TARGET_MODES",
    "Arch",
    "CompileMode",
    "Condition",
    "ConditionAt",
    "Config",
    "DataConfig",
    "DeviceName",
    "GanLoss",
    "InputMode",
    "ModelConfig",
    "OnBadSample",
    "OnNonFinite",
    "Precision",
    "PreprocessConfig",
    "RecipeName",
    "TargetMode",
    "TrainConfig",
    "Upsample",
    "UpsampleInit",
    "db_range_pair",
    "tri_state",
    "with_overrides",
]

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
