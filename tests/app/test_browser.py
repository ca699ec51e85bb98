"""The page in a real browser: Playwright driving Debian's Chromium (never a downloaded one)
against a real server, with real SEN1-2 and Sentinel-1 GeoTIFF files.

The first test saves the screenshot the README shows (docs/images/app.png).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the app extra is not installed (pip install sarcolor[app])")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (dev extra) is not installed")

from app_support import REPO, Server, terrain_checkpoint  # noqa: E402
from conftest import CHROMIUM_ARGS, shared_path  # noqa: E402

CHROMIUM = Path(os.environ.get("SARCOLOR_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium")
SCREENSHOT = REPO / "docs" / "images" / "app.png"
NATURAL_SIZE = (
    "(sel) => [document.querySelector(sel).naturalWidth, document.querySelector(sel).naturalHeight]"
)
TIMEOUT_MS = 120_000  # a busy 2-core machine; a 256² patch takes well under a second

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"),
]


@pytest.fixture(scope="module")
def model_set(trained_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A set: a trained model for every terrain, evaluated (its card has scores), and a grassland model."""
    from sarcolor.checkpoint import resolve_checkpoint
    from sarcolor.evaluation.evaluate import evaluate, write_json

    root = tmp_path_factory.mktemp("browser-set")
    general = root / "all-terrains"
    shutil.copytree(trained_run / "checkpoints", general / "checkpoints")
    result = evaluate(
        resolve_checkpoint(general), None, "test", device="cpu", perceptual=False, progress=False
    )
    write_json(result, general / "eval" / "test.json")
    terrain_checkpoint(root / "grassland", ["grassland"])
    return root


@pytest.fixture(scope="module")
def server(model_set: Path, tmp_path_factory: pytest.TempPathFactory):
    srv = Server([model_set], tmp_path_factory.mktemp("browser-server") / "tmp", "--workers=1")
    yield srv
    assert srv.stop() == 0, srv.output


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture()
def page(browser, server: Server):
    context = browser.new_context(viewport={"width": 1280, "height": 820}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    requested: list[str] = []
    problems: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    # JavaScript errors fail a test; the browser's own log line for an HTTP error answer does not
    page.on(
        "console",
        lambda m: problems.append(m.text) if m.type == "error" and "status of" not in m.text else None,
    )
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(server.url)
    page.wait_for_selector("#model option:nth-child(2)", state="attached")  # models loaded
    yield page
    outside = [u for u in requested if not u.startswith((server.url, "data:", "blob:"))]
    assert not outside, f"the page fetched from outside the server: {outside}"  # no CDN, no fonts
    assert not problems, problems
    context.close()


def colorize(page, path: Path, terrain: str) -> None:
    page.set_input_files("#file", str(path))
    page.select_option("#terrain", terrain)
    page.click("#colorize")
    page.wait_for_selector("#compare:not([hidden])")
    page.wait_for_function("document.getElementById('result-image').naturalWidth > 0")


def test_colorize_a_sen12_patch_and_download_it(page, tmp_path: Path) -> None:
    patch = shared_path("real", "sen1-2", "v_2", "agri", "s1", "ROIs1868_summer_s1_59_p30.png")
    colorize(page, patch, "agri")
    size = page.evaluate(NATURAL_SIZE, "#result-image")
    assert size == [256, 256]
    assert "terrain agri" in page.inner_text("#result-info")
    assert "all-terrains" in page.inner_text("#model-card")  # the set's model for agri
    assert "PSNR" in page.inner_text("#card-scores")  # scores beside the baselines
    assert "mean colour" in page.inner_text("#card-scores")
    page.fill("#slider", "35")  # the compare slider moves the split
    assert (
        page.evaluate("getComputedStyle(document.getElementById('compare')).getPropertyValue('--pos')")
        == "35%"
    )
    with page.expect_download() as download_info:
        page.click("text=Download PNG")
    saved = tmp_path / "download.png"
    download_info.value.save_as(saved)
    with Image.open(saved) as image:
        assert image.size == (256, 256) and image.mode == "RGB"
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.stat().st_size > 10_000


def test_colorize_a_geotiff_and_download_a_geotiff_on_its_grid(page, tmp_path: Path) -> None:
    import rasterio

    scene = shared_path("real", "s1-geotiff", "S1A__IW___A_20150309T173017_VV_grd_mli_geo_norm_db.tif")
    colorize(page, scene, "grassland")
    size = page.evaluate(NATURAL_SIZE, "#result-image")
    assert size == [268, 217]  # the quicklook: a scene this small is not reduced
    assert "Download PNG (quicklook)" in page.inner_text("#downloads")
    with page.expect_download() as download_info:
        page.click("text=Download GeoTIFF")
    saved = tmp_path / "download.tif"
    download_info.value.save_as(saved)
    with rasterio.open(scene) as src, rasterio.open(saved) as out:
        assert out.crs == src.crs and out.transform == src.transform
        assert (out.width, out.height, out.count) == (src.width, src.height, 3)


def test_errors_are_one_sentence(page, tmp_path: Path) -> None:
    junk = tmp_path / "notes.png"
    junk.write_text("this is not an image\n")
    page.set_input_files("#file", str(junk))
    page.click("#colorize")
    page.wait_for_selector("#error:not([hidden])")
    text = page.inner_text("#error")
    assert text == "Notes.png is not a PNG, JPEG or GeoTIFF image."
    assert page.is_hidden("#compare")
