"""Whole GeoTIFF scenes: grid kept, nodata kept, SAR scales agree, bands chosen, no seams."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from PIL import Image
from rasterio.transform import Affine

from conftest import shared_path, untrained_checkpoint, write_geotiff
from sarcolor.cli.main import main
from sarcolor.data.io import read_image
from sarcolor.data.preprocess import decode_output, encode_input
from sarcolor.errors import SarcolorError
from sarcolor.inference.colorizer import Colorizer
from sarcolor.inference.options import SceneOptions
from sarcolor.inference.scene import colorize_scene
from sarcolor.sar.radiometry import db_to_uint8, detect_scale, uint8_to_db
from sarcolor.tiling import tile_starts

REAL_DB = ("real", "s1-geotiff", "S1A__IW___A_20150309T173017_VV_grd_mli_geo_norm_db.tif")


def cli(template: str, *paths: object) -> int:
    return main(template.format(*paths).split())


def sigma0_scene(height: int, width: int, seed: int = 0, looks: float | None = 4.0) -> np.ndarray:
    """A linear σ⁰ field: smooth regions from −22 to −3 dB with speckle of ``looks`` (None: none)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    db = -12.5 + 6 * np.sin(xx / 57.0) + 5 * np.cos(yy / 41.0) + 3 * np.sign(np.sin((xx + yy) / 90.0))
    speckle = rng.gamma(looks, 1 / looks, db.shape) if looks else 1.0
    return (10 ** (db / 10) * speckle).astype(np.float32)


def to_db(sigma0: np.ndarray) -> np.ndarray:
    return (10 * np.log10(sigma0)).astype(np.float32)


def read_rgb(path: Path) -> tuple[np.ndarray, np.ndarray, dict]:
    """(H, W, 3) uint8, (H, W) validity from the dataset mask, and the profile."""
    with rasterio.open(path) as src:
        return src.read().transpose(1, 2, 0)[..., :3], src.dataset_mask() > 0, dict(src.profile)


@pytest.fixture(scope="module")
def model(trained_run: Path) -> Path:
    """A small model trained for 60 steps: its colours follow the input and the tile's context."""
    return trained_run


@pytest.fixture(scope="module")
def colorizer(model: Path) -> Colorizer:
    return Colorizer(model, "cpu")


def test_real_db_scene_keeps_grid_and_nodata(model: Path, tmp_path: Path):
    """The real dB sample, and a copy of it (same profile) with a nodata rim cut into it."""
    with rasterio.open(shared_path(*REAL_DB)) as src:
        profile, db = dict(src.profile), src.read(1)
    db[:, :40] = profile["nodata"]  # the sample itself is valid everywhere: give it a nodata rim
    scene = tmp_path / "rim.tif"
    with rasterio.open(scene, "w", **profile) as dst:
        dst.write(db, 1)
    for source in (shared_path(*REAL_DB), scene):
        out = tmp_path / f"{source.stem}_rgb.tif"
        assert cli("colorize {} --checkpoint {} --out {} --no-progress", source, model, out) == 0
        rgb, valid, written = read_rgb(out)
        with rasterio.open(source) as src:
            assert (written["crs"], written["transform"]) == (src.crs, src.transform)
            assert (written["width"], written["height"]) == (src.width, src.height) == (268, 217)
            expected_valid = src.read(1) != src.nodata
        assert np.array_equal(valid, expected_valid)  # nodata stays nodata, the rest is data
        assert not rgb[~valid].any() and rgb[valid].std() > 1
        assert written["tiled"] and written["compress"] == "deflate" and written["count"] == 3
    assert not valid[:, :40].any() and valid[:, 40:].all()
    assert not list(tmp_path.glob(".*tmp"))  # the temporary files were renamed
    assert cli("colorize {} --checkpoint {} --out {} --no-progress", scene, model, out) == 2  # no clobber


@pytest.mark.parametrize(
    ("width", "height", "crs", "transform"),
    [
        (1000, 777, "EPSG:4326", Affine(0.0001, 0, 2.35, 0, -0.0001, 48.85)),  # geographic, odd size
        (300, 190, "EPSG:32633", Affine(20, 0, 400000, 0, -20, 5200000)),  # UTM, shorter than a tile
    ],
)
def test_generated_scenes_any_grid_nodata_and_nan(
    colorizer: Colorizer, tmp_path: Path, width: int, height: int, crs: str, transform: Affine
):
    db = to_db(sigma0_scene(height, width))
    db[:, : width // 3] = -99.0  # a nodata border wider than a tile: its tiles are skipped
    db[height // 2 : height // 2 + 5, width // 2 : width // 2 + 7] = np.nan  # NaN holes
    src = write_geotiff(tmp_path / "s1.tif", db, nodata=-99.0, crs=crs, transform=transform)
    report = colorize_scene(colorizer, src, tmp_path / "out.tif", progress=False)
    rgb, valid, profile = read_rgb(tmp_path / "out.tif")
    empty = sum(  # tiles of the plan that hold no valid pixel
        not ((db[t : t + 256, c : c + 256] != -99) & np.isfinite(db[t : t + 256, c : c + 256])).any()
        for t in tile_starts(height, 256, 64)
        for c in tile_starts(width, 256, 64)
    )
    assert profile["crs"] == rasterio.crs.CRS.from_string(crs) and profile["transform"] == transform
    assert rgb.shape == (height, width, 3)
    assert np.array_equal(valid, (db != -99.0) & np.isfinite(db))
    assert report.scale == "db" and report.skipped == empty and report.tiles > 0
    assert empty > 0 or width < 512
    assert not rgb[~valid].any()


def test_linear_amplitude_and_db_scenes_colorize_alike(colorizer: Colorizer, tmp_path: Path):
    sigma0 = sigma0_scene(300, 420, seed=3)
    k = 500.0  # amplitude digital numbers: DN = K·√σ⁰, rounded to uint16
    files = {
        "db": write_geotiff(tmp_path / "db.tif", to_db(sigma0)),
        "linear": write_geotiff(tmp_path / "linear.tif", sigma0),
        "amplitude": write_geotiff(tmp_path / "dn.tif", np.round(k * np.sqrt(sigma0)).astype(np.uint16)),
    }
    outs, reasons = {}, {}
    for scale, path in files.items():
        options = SceneOptions(calibration=k)
        report = colorize_scene(colorizer, path, tmp_path / f"out_{scale}.tif", options, progress=False)
        assert report.scale == scale  # auto decided from the data type and values
        reasons[scale] = report.scale_reason
        outs[scale] = read_rgb(tmp_path / f"out_{scale}.tif")[0].astype(int)
    assert "dB" in reasons["db"] and "linear" in reasons["linear"] and "uint16" in reasons["amplitude"]
    assert np.abs(outs["db"] - outs["linear"]).max() <= 1
    assert np.abs(outs["db"] - outs["amplitude"]).mean() < 0.5  # only the DN rounding differs
    forced = colorize_scene(
        colorizer, files["linear"], tmp_path / "forced.tif", SceneOptions(sar_scale="db"), progress=False
    )
    assert forced.scale == "db"  # an explicit --sar-scale wins over auto, whatever the data


def test_geotiff_db_path_matches_the_png_path(colorizer: Colorizer, model: Path, tmp_path: Path):
    """A SEN1-2 PNG and its dB GeoTIFF twin (``dB = −25 + 25·g/255``) give the same colours."""
    png = shared_path("real", "sen1-2", "v_2", "agri", "s1", "ROIs1868_summer_s1_59_p30.png")
    grey = np.asarray(Image.open(png))
    db = uint8_to_db(grey.astype(np.float32))
    assert np.array_equal(db_to_uint8(db), grey)  # the mapping goes both ways exactly
    assert uint8_to_db(np.array([0.0, 255.0])).tolist() == [-25.0, 0.0]
    tif = write_geotiff(tmp_path / "twin.tif", db.astype(np.float32))
    colorize_scene(colorizer, tif, tmp_path / "twin_rgb.tif", progress=False)
    from_png = (np.clip(colorizer.colorize(read_image(png)), 0, 1) * 255 + 0.5).astype(int)
    from_tif = read_rgb(tmp_path / "twin_rgb.tif")[0].astype(int)
    assert np.abs(from_png - from_tif).max() <= 1


def test_bands_by_description_index_and_two_band_models(colorizer: Colorizer, tmp_path: Path):
    vv, vh = to_db(sigma0_scene(260, 300, seed=1)), to_db(sigma0_scene(260, 300, seed=2)) - 7
    single = write_geotiff(tmp_path / "vv.tif", vv)
    both = write_geotiff(
        tmp_path / "vhvv.tif", np.stack([vh, vv]), descriptions=("Sigma0_VH_db", "Sigma0_VV_db")
    )
    colorize_scene(colorizer, single, tmp_path / "a.tif", progress=False)
    report = colorize_scene(colorizer, both, tmp_path / "b.tif", progress=False)
    assert report.bands == [2]  # VV found by its description, not by position
    colorize_scene(colorizer, both, tmp_path / "c.tif", SceneOptions(bands=["2"]), progress=False)
    a, b, c = (read_rgb(tmp_path / f"{n}.tif")[0] for n in "abc")
    assert a.std() > 10
    assert np.array_equal(a, b) and np.array_equal(a, c)
    with pytest.raises(
        SarcolorError, match=r"no band described as HH \(bands: 1:Sigma0_VH_db, 2:Sigma0_VV_db\)"
    ):
        colorize_scene(colorizer, both, tmp_path / "d.tif", SceneOptions(bands=["HH"]), progress=False)
    plain = write_geotiff(tmp_path / "three.tif", np.stack([vv, vh, vv]))
    with pytest.raises(SarcolorError, match=r"three\.tif: 3 bands .* pick with --band"):
        colorize_scene(colorizer, plain, tmp_path / "e.tif", progress=False)

    two = Colorizer(untrained_checkpoint(tmp_path / "vvvh.safetensors", bands=("VV", "VH"), gain=50), "cpu")
    assert two.config.preprocess.in_channels == 2
    swapped = write_geotiff(tmp_path / "vvvh.tif", np.stack([vv, vh]), descriptions=("VV", "VH"))
    colorize_scene(two, both, tmp_path / "f.tif", progress=False)
    colorize_scene(two, swapped, tmp_path / "g.tif", progress=False)
    f, g = read_rgb(tmp_path / "f.tif")[0], read_rgb(tmp_path / "g.tif")[0]
    assert f.std() > 10  # not a constant output, so the comparisons below mean something
    assert np.array_equal(f, g)  # the file's band order does not matter, the descriptions do
    colorize_scene(two, both, tmp_path / "h.tif", SceneOptions(bands=["2", "1"]), progress=False)
    assert np.array_equal(f, read_rgb(tmp_path / "h.tif")[0])
    with pytest.raises(SarcolorError, match="the model takes 2 band"):
        colorize_scene(two, both, tmp_path / "i.tif", SceneOptions(bands=["2"]), progress=False)


def test_tiles_blend_without_seams(model: Path, tmp_path: Path):
    """Tiled output ≈ one whole-image pass in the overlap zones; plain cropping leaves seams."""
    height, width = 512, 768
    db = to_db(sigma0_scene(height, width, seed=5, looks=None))  # smooth: a seam is not lost in speckle
    src = write_geotiff(tmp_path / "s.tif", db)
    outputs = {}
    for overlap in (0, 64):
        c = Colorizer(model, "cpu", overlap=overlap)
        colorize_scene(c, src, tmp_path / f"o{overlap}.tif", progress=False)
        outputs[overlap] = read_rgb(tmp_path / f"o{overlap}.tif")[0].astype(np.float32) / 255
    unit = torch.from_numpy(np.clip((db + 25) / 25, 0, 1))[None, None]
    with torch.inference_mode():
        net_in = encode_input(unit, c.config.preprocess)
        whole = decode_output(c.generator(net_in), net_in, c.config.preprocess)[0].permute(1, 2, 0).numpy()
    # overlap zones of the 64-px plan: columns 171…255, 341…426, 512…596 (tile starts 0, 171, 341, 512)
    zones = np.r_[171:256, 341:427, 512:597]
    blended_err = np.abs(outputs[64][:, zones] - whole[:, zones]).mean()
    assert blended_err < 0.03, blended_err  # measured 0.014 (3.7 of 255 levels); the colours span 0.15

    def seam(image: np.ndarray, column: int) -> float:
        """Mean jump of the error against the whole pass across ``column``, over its neighbours' jumps."""
        step = np.abs(np.diff(image - whole, axis=1)).mean(axis=(0, 2))
        return step[column - 1] / np.median(step[column - 9 : column + 8])

    def border_error(image: np.ndarray, column: int) -> float:
        """Mean error against the whole pass within 4 px of ``column``."""
        return float(np.abs(image - whole)[:, column - 4 : column + 4].mean())

    print({k: [round(float(seam(v, c)), 2) for c in (256, 512)] for k, v in outputs.items()})
    for column in (256, 512):  # the hard tile borders of the overlap-0 plan
        # The trained model's weights depend on the CPU's float summation order (thread count):
        # measured 1.4–3.1 vs 0.93–0.97 for the jump, and 0.086–0.151 vs 0.019–0.025 for the error.
        assert seam(outputs[0], column) > 1.3 * seam(outputs[64], column)
        assert border_error(outputs[0], column) > 2.5 * border_error(outputs[64], column)


def test_cog_alpha_and_compression(colorizer: Colorizer, model: Path, tmp_path: Path):
    db = to_db(sigma0_scene(600, 700))
    db[:40] = np.nan
    src = write_geotiff(tmp_path / "s.tif", db)
    cog = tmp_path / "cog.tif"
    assert (
        cli("colorize {} --checkpoint {} --out {} --cog --compress zstd --no-progress", src, model, cog) == 0
    )
    with rasterio.open(cog) as out:
        assert out.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert out.overviews(1) and out.profile["compress"] == "zstd"
        assert not (out.dataset_mask()[:40] > 0).any() and (out.dataset_mask()[40:] > 0).all()
    alpha = tmp_path / "alpha.tif"
    assert cli("colorize {} --checkpoint {} --out {} --alpha --no-progress", src, model, alpha) == 0
    with rasterio.open(alpha) as out:
        assert out.count == 4 and out.colorinterp[3] == rasterio.enums.ColorInterp.alpha
        assert (out.read(4)[:40] == 0).all() and (out.read(4)[40:] == 255).all()
    assert np.array_equal(read_rgb(cog)[0], read_rgb(alpha)[0])


def test_compress_level_changes_size_not_pixels(model: Path, tmp_path: Path, capsys):
    src = write_geotiff(tmp_path / "s.tif", to_db(sigma0_scene(600, 700)))
    sizes, pixels = {}, {}
    for codec, level, cog in [("deflate", 1, False), ("deflate", 9, False), ("zstd", 15, True)]:
        out = tmp_path / f"{codec}{level}.tif"
        flags = f"--compress {codec} --compress-level {level}" + (" --cog" if cog else "")
        assert cli(f"colorize {{}} --checkpoint {{}} --out {{}} {flags} --no-progress", src, model, out) == 0
        sizes[level], pixels[level] = out.stat().st_size, read_rgb(out)[0]
    assert sizes[9] < sizes[1]  # the level reaches GDAL
    assert np.array_equal(pixels[1], pixels[9]) and np.array_equal(pixels[1], pixels[15])
    capsys.readouterr()
    bad = tmp_path / "bad.tif"
    assert cli("colorize {} --checkpoint {} --out {} --compress-level 12 --no-progress", src, model, bad) != 0
    err = capsys.readouterr().err.strip()
    assert "--compress-level 12: deflate takes 1-9" in err and len(err.splitlines()) == 1
    assert not bad.exists()


def test_a_failed_scene_leaves_no_output(colorizer: Colorizer, tmp_path: Path, monkeypatch):
    src = write_geotiff(tmp_path / "s.tif", to_db(sigma0_scene(520, 300)))
    calls = []

    def failing(tiles, *rest):
        calls.append(len(tiles))
        if len(calls) > 1:
            raise KeyboardInterrupt
        return Colorizer.predict(colorizer, tiles, *rest)

    monkeypatch.setattr(colorizer, "predict", failing)
    with pytest.raises(KeyboardInterrupt):
        colorize_scene(colorizer, src, tmp_path / "out.tif", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.tif"]  # no output, no temporary file


def test_detect_scale_rules():
    rng = np.random.default_rng(0)
    assert detect_scale(rng.integers(0, 255, 100, dtype=np.uint8), np.uint8)[0] == "uint8"
    assert detect_scale(rng.integers(20, 900, 100, dtype=np.uint16), np.uint16)[0] == "amplitude"
    assert detect_scale(rng.uniform(-25, 2, 100).astype(np.float32), np.float32)[0] == "db"
    assert detect_scale(rng.gamma(1, 0.05, 100).astype(np.float32), np.float32)[0] == "linear"
    assert detect_scale(rng.uniform(50, 900, 100).astype(np.float32), np.float32)[0] == "amplitude"
    with pytest.raises(SarcolorError, match="no valid pixel"):
        detect_scale(np.array([np.nan], np.float32), np.float32)


def test_real_bigearthnet_patch_smaller_than_a_tile(colorizer: Colorizer, tmp_path: Path):
    """120×120 real VV patch (float dB, UTM): mirrored to one tile and cropped back, grid kept."""
    patch = shared_path("real", "bigearthnet", "S1", "S1A_IW_GRDH_1SDV_20170617T064724_29UPU_4_55")
    source = patch / f"{patch.name}_VV.tif"
    report = colorize_scene(colorizer, source, tmp_path / "vv_rgb.tif", progress=False)
    rgb, valid, profile = read_rgb(tmp_path / "vv_rgb.tif")
    with rasterio.open(source) as src:
        assert (profile["crs"], profile["transform"]) == (src.crs, src.transform)
    assert rgb.shape == (120, 120, 3) and valid.all() and report.tiles == 1 and report.scale == "db"


def test_tiles_reach_the_model_with_nodata_filled_by_their_valid_mean(
    colorizer: Colorizer, tmp_path: Path, monkeypatch
):
    """The reader thread fills each tile's invalid pixels with the mean of its valid ones (no dark
    rim for the model to colour) and hands the model batches of at most ``batch_size`` tiles."""
    db = to_db(sigma0_scene(300, 600))
    db[:, :20] = -99.0  # nodata in the first column of tiles only
    db[140:150, 300:310] = np.nan
    src = write_geotiff(tmp_path / "s.tif", db, nodata=-99.0)
    seen: list[torch.Tensor] = []

    def recording(tiles: torch.Tensor, *rest):
        seen.append(tiles.clone())
        return Colorizer.predict(colorizer, tiles, *rest)

    monkeypatch.setattr(colorizer, "predict", recording)
    report = colorize_scene(colorizer, src, tmp_path / "out.tif", progress=False)
    assert all(len(batch) <= colorizer.batch_size and batch.dtype == torch.float32 for batch in seen)
    tiles = torch.cat(seen)
    assert len(tiles) == report.tiles == len(tile_starts(300, 256, 64)) * len(tile_starts(600, 256, 64))
    first = tiles[0, 0]  # the top-left tile: columns 0-19 were nodata
    assert torch.allclose(first[:, :20], first[:, 20:].mean(), atol=1e-6)
    assert first[:, 20:].std() > 0.01 and torch.isfinite(tiles).all()
