"""``--sar-levels standardise`` at inference: every tile of a file or scene shares its image's
level statistics, so a re-levelled release colorizes alike and no seam appears between tiles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch

from conftest import untrained_checkpoint, write_geotiff
from sarcolor.data.preprocess import sar_stats
from sarcolor.inference.colorizer import Colorizer
from sarcolor.inference.scene import colorize_scene
from sarcolor.terrain.routing import TerrainRouter


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Colorizer]:
    folder = tmp_path_factory.mktemp("levels")
    return {
        levels: Colorizer(
            untrained_checkpoint(folder / f"{levels}.safetensors", gain=50.0, sar_levels=levels),
            device="cpu",
            form="eager",
        )
        for levels in ("as-read", "standardise")
    }


def field_db(height: int, width: int) -> np.ndarray:
    """A smooth speckle-free backscatter field in dB, −20…−6 (room for a +3 dB offset in −25…0)."""
    yy, xx = np.mgrid[0:height, 0:width]
    return (-13 + 4 * np.sin(xx / 37.0) + 3 * np.cos(yy / 29.0)).astype(np.float32)


def test_a_file_s_tiles_share_its_statistics(models):
    colorizer = models["standardise"]
    image = np.concatenate([np.full((256, 256, 1), 0.2), np.full((256, 256, 1), 0.7)], axis=1)
    image = (image + 0.05 * np.random.default_rng(0).standard_normal(image.shape)).astype(np.float32)
    whole = colorizer.colorize(image)  # (256, 512, 3)
    stats = colorizer.level_stats(image)
    assert stats is not None and stats.shape == (1, 2)
    assert stats[0, 0].item() == pytest.approx(float(image.mean()), abs=1e-4)
    left = torch.from_numpy(image[:, :256]).permute(2, 0, 1)[None]
    shared = colorizer.predict(left, stats=stats[None])[0]
    own = colorizer.predict(left)[0]
    # the first columns are the first tile's alone: colorized with the whole file's levels
    np.testing.assert_allclose(whole[:, :32], shared[:, :32], atol=1e-5)
    assert np.abs(whole[:, :32] - own[:, :32]).max() > 0.05
    assert models["as-read"].level_stats(image) is None


def test_a_relevelled_scene_colorizes_alike_and_as_the_same_file(models, tmp_path: Path):
    db = field_db(600, 700)
    out = {}
    for levels, colorizer in models.items():
        for name, offset in (("as_released", 0.0), ("brighter", 3.0)):
            tif = write_geotiff(tmp_path / f"{name}.tif", db + offset)
            target = tmp_path / f"{levels}-{name}-rgb.tif"
            colorize_scene(colorizer, tif, target, progress=False, log=lambda _: None)
            with rasterio.open(target) as src:
                out[levels, name] = src.read().astype(np.int16)  # (3, H, W) uint8 levels
    standardised = np.abs(out["standardise", "as_released"] - out["standardise", "brighter"])
    as_read = np.abs(out["as-read", "as_released"] - out["as-read", "brighter"])
    assert standardised.max() <= 1, "a +3 dB release of one scene must colorize alike"
    assert as_read.mean() > 5 * max(standardised.mean(), 0.05)
    # the scene's statistics (from its sample: all of it, under 1024²) are a file's statistics
    unit = ((db + 25.0) / 25.0)[..., None]
    as_file = np.round(models["standardise"].colorize(unit) * 255).transpose(2, 0, 1)
    assert np.abs(as_file - out["standardise", "as_released"]).max() <= 1
    stats = sar_stats(torch.from_numpy(unit).permute(2, 0, 1)[None])[0]
    assert torch.allclose(models["standardise"].level_stats(unit), stats)


def test_a_model_set_whose_member_standardises_shares_the_scene_s_statistics(models, tmp_path: Path):
    # the set's first member reads levels as released; the member the tiles go to standardises
    router = TerrainRouter(
        {"agri": models["as-read"], "grassland": models["standardise"]}, terrain="grassland"
    )
    assert router.standardises and not models["as-read"].standardises
    db = field_db(600, 700)
    target = tmp_path / "routed-rgb.tif"
    colorize_scene(
        router, write_geotiff(tmp_path / "scene.tif", db), target, progress=False, log=lambda _: None
    )
    with rasterio.open(target) as src:
        routed = src.read().astype(np.int16)  # (3, H, W)
    unit = ((db + 25.0) / 25.0)[..., None]
    as_file = np.round(models["standardise"].colorize(unit) * 255).transpose(2, 0, 1)
    assert np.abs(as_file - routed).max() <= 1  # the whole scene's statistics, not each tile's
