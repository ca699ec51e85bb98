"""``colorize --band NAME``: one ``--band`` is one band, not one per character of its name
(issue 23, item 17: the README's ``--band VV`` failed with "--band given 2 time(s)")."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli_cases, untrained_checkpoint, write_geotiff
from sarcolor.flags import add_options, given
from sarcolor.inference.options import SceneOptions


@pytest.fixture(scope="module")
def dual_pol(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 2-band dB GeoTIFF (Sigma0_VH_db first, so picking band 2 or VV is not taking them in order)
    and a VV checkpoint."""
    root = tmp_path_factory.mktemp("band")
    rng = np.random.default_rng(0)
    data = rng.uniform(-25, -5, (2, 64, 64)).astype("float32")
    tif = write_geotiff(root / "dual_pol.tif", data, descriptions=("Sigma0_VH_db", "Sigma0_VV_db"))
    return tif, untrained_checkpoint(root / "vv.safetensors")


def test_one_band_flag_picks_one_band_by_name_description_or_index(dual_pol, tmp_path: Path):
    tif, ckpt = dual_pol
    cases = [
        ["colorize", tif, "--checkpoint", ckpt, "--out", tmp_path / f"{name}.tif", "--band", band]
        for name, band in [("vv", "VV"), ("described", "Sigma0_VV_db"), ("index", "2")]
    ]
    results = run_cli_cases(cases)
    for result in results:
        assert result["rc"] == 0, result
        assert "bands [2] as VV" in result["out"], result
    for name in ("vv", "described", "index"):
        assert (tmp_path / f"{name}.tif").is_file()


def test_two_band_flags_for_a_one_band_model_are_refused_in_one_line(dual_pol, tmp_path: Path):
    tif, ckpt = dual_pol
    out = tmp_path / "two.tif"
    [result] = run_cli_cases(
        [["colorize", tif, "--checkpoint", ckpt, "--out", out, "--band", "2", "--band", "1"]]
    )
    assert result["rc"] == 2
    assert "--band given 2 time(s), the model takes 1 band(s) (VV)" in result["err"], result
    assert len(result["err"].strip().splitlines()) == 1 and not out.exists()


def test_an_optional_list_option_is_repeatable():
    """The root of it: a ``list[str] | None`` field is a repeatable flag, as a ``list[str]`` one."""
    parser = argparse.ArgumentParser()
    add_options(parser, SceneOptions, prefix="scene.", defaults=True)
    assert given(parser.parse_args(["--band", "VV"]), SceneOptions, "scene.")["bands"] == ["VV"]
    assert given(parser.parse_args(["--band", "1", "--band", "2"]), SceneOptions, "scene.")["bands"] == [
        "1",
        "2",
    ]
    assert "bands" not in given(parser.parse_args([]), SceneOptions, "scene.")
