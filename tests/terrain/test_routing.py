"""Routing tiles to the model of their terrain: the member chosen for each terrain, and scenes
and images blended across tiles of different models without seams (real checkpoints, real files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from app_support import brightness_terrain
from conftest import run_cli, write_geotiff
from sarcolor.checkpoint import CheckpointMeta, checkpoint_path, save_checkpoint
from sarcolor.config import Config
from sarcolor.data.io import read_image, write_rgb_png
from sarcolor.inference.colorizer import Colorizer
from sarcolor.inference.modelset import SelectionError, load_registry
from sarcolor.inference.scene import colorize_scene
from sarcolor.models import build_networks
from sarcolor.terrain.routing import TerrainRouter, colorizer_for
from sarcolor.tiling import Blender, blend_window, plan_tiles

RED, BLUE, GREEN = (0.8, 0.2, 0.2), (0.2, 0.3, 0.8), (0.2, 0.7, 0.3)


def constant_model(run_dir: Path, colour: tuple[float, float, float], terrains: list[str]) -> Path:
    """A run folder whose generator outputs ``colour`` everywhere (last layer: no weights, a bias)."""
    cfg = Config().replace(
        data={"terrains": terrains}, preprocess={"sar_scale": "uint8"}, model={"ngf": 4, "ndf": 4}
    )
    torch.manual_seed(0)
    g, d = build_networks(cfg.validate())
    with torch.no_grad():
        g.last.weight.zero_()
        g.last.bias.copy_(torch.atanh(torch.tensor(colour) * 2 - 1))
    return save_checkpoint(checkpoint_path(run_dir, 1), CheckpointMeta(cfg, 1), {"G": g, "D": d})


@pytest.fixture(scope="module")
def colour_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("set")
    constant_model(root / "agri", RED, ["agri"])
    constant_model(root / "grass", BLUE, ["grassland"])
    constant_model(root / "general", GREEN, [])
    return root


def two_halves(height: int = 256, width: int = 1024) -> np.ndarray:
    """(H, W, 1) SAR: dark left half (agri to the brightness classifier), bright right half."""
    image = np.full((height, width, 1), 0.15, np.float32)
    image[:, width // 2 :] = 0.85
    return image


def one_model_blend(height: int, width: int, colours: list[tuple]) -> np.ndarray:
    """What tiling gives when tile k's output is ``colours[k]``: the blend of tiles of one model."""
    plan = plan_tiles(height, width, 256, 64)
    blender = Blender(plan, 3, blend_window(256, 64))
    for origin, colour in zip(plan.origins, colours, strict=True):
        blender.add(origin, np.broadcast_to(np.float32(colour), (256, 256, 3)))
    return blender.result()


def assert_seamless(rgb: np.ndarray, left: tuple, right: tuple) -> None:
    """Left edge ``left``, right edge ``right``, and no jump between neighbouring columns.

    The 8 rows at the top and bottom are left out: there the blend window's floor (1e-3, which
    keeps corner weights above zero) outweighs the raised cosine, so overlapping tiles mix with
    near-equal weights. That is :func:`blend_window`'s behaviour for any model (``one_model_blend``
    shows it too); the exact comparison with it covers those rows.
    """
    np.testing.assert_allclose(rgb[:, :64].mean(axis=(0, 1)), left, atol=0.01)
    np.testing.assert_allclose(rgb[:, -64:].mean(axis=(0, 1)), right, atol=0.01)
    gap = float(np.abs(np.subtract(left, right)).max())
    steps = np.abs(np.diff(rgb[8:-8].astype(np.float64), axis=1)).max()
    assert steps < 0.08 * gap, f"a jump of {steps:.3f} between neighbouring columns (colours differ by {gap})"


def test_the_set_member_for_each_terrain_colorizes(colour_set: Path) -> None:
    registry = load_registry([colour_set], brightness_terrain)
    image = two_halves()
    for terrain, colour in (("agri", RED), ("grassland", BLUE), ("urban", GREEN), ("barrenland", GREEN)):
        chosen = colorizer_for(registry, terrain, "cpu")
        assert isinstance(chosen, Colorizer)
        np.testing.assert_allclose(chosen.colorize(image).mean(axis=(0, 1)), colour, atol=0.01)
    router = colorizer_for(registry, "auto", "cpu")
    assert isinstance(router, TerrainRouter)
    assert {t: c.path.parent.parent.name for t, c in router.models.items()} == {
        "agri": "agri",
        "grassland": "grass",
        "barrenland": "general",
        "urban": "general",
    }


def test_an_image_routed_per_tile_blends_without_seams(colour_set: Path) -> None:
    router = colorizer_for(load_registry([colour_set], brightness_terrain), "auto", "cpu")
    rgb = router.colorize(two_halves())
    assert rgb.shape == (256, 1024, 3)
    assert router.counts == {"agri": 2, "grassland": 3}  # tiles at columns 0, 192 | 384, 576, 768
    np.testing.assert_allclose(rgb, one_model_blend(256, 1024, [RED, RED, BLUE, BLUE, BLUE]), atol=1e-5)
    assert_seamless(rgb, RED, BLUE)
    # a hard cut between two models' outputs, for contrast, is a jump of the whole difference
    cut = np.concatenate([np.broadcast_to(RED, (256, 512, 3)), np.broadcast_to(BLUE, (256, 512, 3))], axis=1)
    assert np.abs(np.diff(cut, axis=1)).max() > 0.5


def test_a_scene_routed_per_tile_blends_without_seams(colour_set: Path, tmp_path: Path) -> None:
    db = np.where(two_halves(512, 1024)[..., 0] < 0.5, -21.0, -4.0).astype(np.float32)  # dB: dark | bright
    scene = write_geotiff(tmp_path / "scene.tif", db, descriptions=("VV",))
    router = colorizer_for(load_registry([colour_set], brightness_terrain), "auto", "cpu")
    report = colorize_scene(router, scene, tmp_path / "out.tif", progress=False, log=lambda _: None)
    assert report.tiles == 3 * 5
    rgb = read_image(tmp_path / "out.tif")
    assert rgb.shape == (512, 1024, 3)
    expected = one_model_blend(512, 1024, [RED, RED, BLUE, BLUE, BLUE] * 3)
    assert np.abs(rgb - expected).max() <= 1 / 255 + 1e-6  # the same blend, in 8 bits
    assert_seamless(rgb, RED, BLUE)


def test_colorize_cli_routes_by_terrain(colour_set: Path, tmp_path: Path, capsys) -> None:
    dark = tmp_path / "in" / "dark_s1.png"
    dark.parent.mkdir()
    write_rgb_png(dark, np.full((256, 256, 3), 0.15, np.float32))
    for terrain, colour in (("grassland", BLUE), ("auto", RED)):
        out = tmp_path / terrain
        line = f"colorize {dark} --checkpoint {colour_set} --terrain {terrain} --out {out} --device cpu"
        assert run_cli(line + " --no-progress --terrain-classifier app_support:brightness_terrain") == 0
        np.testing.assert_allclose(read_image(out / "dark_s1.png").mean(axis=(0, 1)), colour, atol=0.01)
    assert "tiles per terrain: agri 1" in capsys.readouterr().out


def test_routing_refuses_what_it_cannot_do(colour_set: Path) -> None:
    registry = load_registry([colour_set / "agri", colour_set / "grass"])  # no classifier, no general model
    with pytest.raises(SelectionError, match="needs a terrain classifier"):
        colorizer_for(registry, "auto", "cpu")
    with pytest.raises(SelectionError, match="no model for terrain 'urban'"):
        colorizer_for(registry, "urban", "cpu")
    members = {"agri": Colorizer(registry.models[0].path, "cpu")}
    router = TerrainRouter(members, classifier=lambda tile: ("urban", 0.9))
    with pytest.raises(SelectionError, match="terrain 'urban' has no model in this set"):
        router.colorize(two_halves(256, 256))
