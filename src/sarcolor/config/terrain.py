"""The options of ``sarcolor train-terrain``, declared once (the CLI derives its flags from them).

A :class:`TerrainConfig` has the data and preprocessing sections of a generator's
:class:`~sarcolor.config.Config` (only the fields a classifier uses are offered as flags: where
the pairs are, which terrains, the split, the SAR bands and scale) and its own
:class:`ClassifierOptions`. It is stored in the classifier's checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from sarcolor.config.common import DEVICE_HELP, DeviceName
from sarcolor.config.data import DataConfig, PreprocessConfig
from sarcolor.errors import SarcolorError
from sarcolor.options import check_fields, from_mapping, option, to_plain

DATA_FIELDS: tuple[str, ...] = (
    "root",
    "terrains",
    "val_fraction",
    "test_fraction",
    "split_seed",
    "split_file",
    "on_bad_sample",
)
PREPROCESS_FIELDS: tuple[str, ...] = ("bands", "sar_scale", "db_ranges", "calibration")


@dataclass(frozen=True)
class ClassifierOptions:
    """The terrain classifier's network and optimisation."""

    width: int = option(
        16, low=2, high=256, help="channels of the classifier's first layer (×1, 2, 4, 4 after)"
    )
    steps: int = option(400, low=1, help="optimisation steps")
    batch_size: int = option(16, low=1, help="patches per step, terrains drawn equally often")
    lr: float = option(2e-3, low=0.0, low_open=True, help="Adam learning rate")
    seed: int = option(0, help="seed of the weights, batch order and augmentation")
    device: DeviceName = option("auto", help=DEVICE_HELP)
    eval_every: int = option(100, low=1, help="steps between accuracy checks on the val split")

    def validate(self, source: str = "configuration") -> None:
        check_fields(self, source, "classifier.")


@dataclass(frozen=True)
class TerrainConfig:
    """Everything a terrain classifier run needs; stored in its checkpoint."""

    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    preprocess: PreprocessConfig = dataclasses.field(default_factory=PreprocessConfig)
    classifier: ClassifierOptions = dataclasses.field(default_factory=ClassifierOptions)

    def validate(self, source: str = "configuration") -> TerrainConfig:
        self.data.validate(source)
        self.preprocess.validate(source)
        self.classifier.validate(source)
        if self.preprocess.input != "sar":
            raise SarcolorError(f"{source}: the terrain classifier reads SAR input")
        return self

    def replace(self, **sections: dict[str, Any]) -> TerrainConfig:
        return dataclasses.replace(
            self, **{name: dataclasses.replace(getattr(self, name), **v) for name, v in sections.items()}
        )

    def to_json(self) -> str:
        return json.dumps(to_plain(self), sort_keys=True)

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(to_plain(self), sort_keys=False)

    @classmethod
    def from_dict(cls, values: dict[str, Any], *, source: str = "config") -> TerrainConfig:
        return from_mapping(cls, values, source)
