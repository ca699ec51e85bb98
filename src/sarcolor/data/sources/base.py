"""The protocol every dataset layout implements, and the shared behaviour of image-file layouts.

A data source knows one layout on disk and nothing else: how to recognise it
(:meth:`DataSource.detect`), find its pairs (:meth:`DataSource.discover`), read one pair
(:meth:`DataSource.load`), what its split unit is (:attr:`DataSource.split_unit`, the
:attr:`~sarcolor.data.pairs.Pair.split_group` it sets), and whether its pairs fit the decoded
uint8 cache (:attr:`DataSource.cacheable`). The rest of sarcolor reaches it through
:mod:`sarcolor.data.sources` by the name a pair carries (:attr:`~sarcolor.data.pairs.Pair.source`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from sarcolor.config import PreprocessConfig
from sarcolor.data.io import check_image, read_image
from sarcolor.data.pairs import Discovery, Pair
from sarcolor.data.preprocess import source_sensor, to_rgb
from sarcolor.data.records import Sample
from sarcolor.errors import SarcolorError

IMAGE_SCALE_REASON = "image files: 8-bit grey scaled like SEN1-2 (0…255 ↔ the dB range)"


class DataSource(ABC):
    """One dataset layout.

    Class attributes (they also make the README's data table, :func:`sarcolor.data.sources.layout_table`):
        name: the layout's name, as ``sarcolor data`` prints it and pairs record it.
        title: what the layout is, e.g. "Kaggle terrain folders".
        structure: the files on disk, in one line.
        terrain: where terrains come from ("folder", or "–").
        split_unit: what one :attr:`~sarcolor.data.pairs.Pair.split_group` is.
        hint: the folder shape, for the error when no layout is recognised.
        cacheable: pairs are 8-bit image files the uint8 cache holds exactly.
    """

    name: ClassVar[str]
    title: ClassVar[str]
    structure: ClassVar[str]
    terrain: ClassVar[str] = "–"
    split_unit: ClassVar[str]
    hint: ClassVar[str]
    cacheable: ClassVar[bool] = False

    @abstractmethod
    def detect(self, root: Path) -> bool:
        """Whether ``root`` (an existing folder) holds this layout."""

    @abstractmethod
    def discover(self, root: Path) -> Discovery:
        """Every pair under ``root``, with unpaired files and problems reported."""

    @abstractmethod
    def load(self, pair: Pair, preprocess: PreprocessConfig, margin: int = 0) -> Sample:
        """Read one pair: the generator's source image, the optical RGB, the valid pixels.

        ``margin`` grows a windowed pair's window on every side (room for a random crop);
        whole-file pairs ignore it.
        """

    @abstractmethod
    def sar_scale(self, pair: Pair, preprocess: PreprocessConfig) -> tuple[str, str]:
        """The scale of the training SAR files, decided from ``pair``, and a one-line reason."""

    def check(self, pair: Pair, preprocess: PreprocessConfig) -> list[tuple[Path, str]]:
        """Every file of ``pair`` that does not read, with the reason (``sarcolor data``)."""
        try:
            self.load(pair, preprocess)
        except SarcolorError as exc:
            return [(pair.s1, str(exc).removeprefix(f"{pair.s1}: "))]
        return []

    def prediction_stem(self, pair: Pair) -> str:
        """The file name (without suffix) a colorized pair is saved under."""
        return pair.name


class ImageFileSource(DataSource):
    """Layouts of plain image files (PNG, JPEG, 8/16-bit TIFF), one SAR band, already in [0, 1]."""

    cacheable = True

    def load(self, pair: Pair, preprocess: PreprocessConfig, margin: int = 0) -> Sample:
        sensor = source_sensor(preprocess)
        if sensor == "s1" and len(preprocess.bands) != 1:
            raise SarcolorError(
                f"{pair.s1}: image files hold one SAR band, the model takes {len(preprocess.bands)} "
                f"({', '.join(preprocess.bands)})"
            )
        s2 = read_image(pair.s2)
        source = read_image(pair.s1) if sensor == "s1" else s2
        if source.shape[:2] != s2.shape[:2]:
            raise SarcolorError(
                f"{pair.s1}: size {source.shape[1]}×{source.shape[0]} differs from its optical pair "
                f"{pair.s2.name} ({s2.shape[1]}×{s2.shape[0]})"
            )
        valid = torch.ones(s2.shape[:2], dtype=torch.bool)
        return Sample(_chw(source), to_rgb(_chw(s2)[None])[0], valid)

    def sar_scale(self, pair: Pair, preprocess: PreprocessConfig) -> tuple[str, str]:
        if len(preprocess.bands) != 1:
            raise SarcolorError(
                f"{pair.s1}: image files hold one SAR band; preprocess.bands {preprocess.bands} "
                "needs GeoTIFF pairs (BigEarthNet patches or <name>_s1.tif scenes)"
            )
        if preprocess.sar_scale not in ("auto", "uint8"):
            raise SarcolorError(
                f"{pair.s1}: image files are read as 8-bit grey scaled like SEN1-2; "
                f"--sar-scale {preprocess.sar_scale} does not apply (use auto or uint8)"
            )
        return "uint8", IMAGE_SCALE_REASON

    def check(self, pair: Pair, preprocess: PreprocessConfig) -> list[tuple[Path, str]]:
        """Both files decoded on their own, so each bad file is named."""
        return [(f, reason) for f in (pair.s1, pair.s2) if (reason := check_image(f)) is not None]

    def prediction_stem(self, pair: Pair) -> str:
        """Colorized images keep the SAR file's name (``…_s1_…``), as ``colorize`` writes them."""
        return pair.s1.stem


def _chw(array: np.ndarray) -> torch.Tensor:
    """(H, W, C) array → (C, H, W) tensor."""
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))
