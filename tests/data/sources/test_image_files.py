"""Image-file layouts (PNG, JPEG): one SAR band only."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import tiny_config
from sarcolor.errors import SarcolorError
from sarcolor.training.trainer import train


def test_png_layouts_take_one_band_only(real_sen12: Path, tmp_path: Path):
    cfg = tiny_config(real_sen12, steps=1).replace(preprocess={"bands": ["VV", "VH"]})
    with pytest.raises(SarcolorError, match="image files hold one SAR band"):
        train(cfg, tmp_path / "run", progress=False, echo=lambda _: None)
