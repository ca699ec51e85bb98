"""``sarcolor serve`` with a grey model (``--target grey``) and a memory budget: a grey model's
results are 1-band files as ``colorize`` writes them, with quicklooks; a PNG whose colorizing
would not fit in memory is refused from its header, 413 with the figures (issue 23's loose ends)."""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the app extra is not installed (pip install sarcolor[app])")
httpx = pytest.importorskip("httpx", reason="httpx (dev extra) is not installed")

from app_support import Server, bomb_png, png_bytes  # noqa: E402
from conftest import untrained_checkpoint, write_geotiff  # noqa: E402

MEMORY_LIMIT = "600M"  # a scene strip fits; a 5000² PNG decodes in 0.25 GB, but colorizing it takes ~1 GB


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    from sarcolor.checkpoint import checkpoint_path

    root = tmp_path_factory.mktemp("grey-app")
    untrained_checkpoint(checkpoint_path(root / "grey", 0), target="grey", gain=50.0)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SARCOLOR_MEMORY_LIMIT", MEMORY_LIMIT)
        srv = Server([root / "grey"], root / "tmp", "--device=cpu", "--workers=1")
    yield srv
    assert srv.stop() == 0, srv.output
    assert "internal error" not in srv.output and "Traceback" not in srv.output, srv.output


@pytest.fixture()
def client(server: Server):
    with httpx.Client(base_url=server.url, timeout=120) as c:
        yield c


def finished(client, job: dict, timeout: float = 60.0) -> dict:
    """The job once it has ended (done, failed or cancelled)."""
    deadline = time.monotonic() + timeout
    while job["state"] not in ("done", "failed", "cancelled"):
        assert time.monotonic() < deadline, f"job did not finish: {job}"
        time.sleep(0.05)
        job = client.get(f"/api/jobs/{job['id']}").json()
    return job


def test_a_grey_model_is_listed_as_grey(client) -> None:
    [model] = client.get("/api/models").json()
    assert model["target"] == "grey"


def test_a_grey_model_writes_a_one_band_png(client) -> None:
    sar = png_bytes(np.random.default_rng(0).integers(0, 256, (64, 80), dtype=np.uint8))
    response = client.post("/api/colorize", files={"file": ("sar.png", sar)})
    assert response.status_code == 200, response.text
    result = Image.open(io.BytesIO(response.content))
    assert result.mode == "L" and result.size == (80, 64)  # as `sarcolor colorize` writes it
    job = client.post("/api/jobs", files={"file": ("sar.png", sar)}).json()
    job = finished(client, job)
    assert job["state"] == "done", job
    quicklook = Image.open(io.BytesIO(client.get(job["quicklook_url"]).content))
    assert quicklook.mode == "L" and quicklook.size == (80, 64)


def test_a_grey_model_on_a_geotiff_has_a_quicklook(client, tmp_path: Path) -> None:
    import rasterio

    data = np.linspace(-25, 0, 300 * 280, dtype=np.float32).reshape(300, 280)
    scene = write_geotiff(tmp_path / "scene.tif", data, descriptions=("VV",))
    job = client.post("/api/jobs", files={"file": ("scene.tif", scene.read_bytes())}).json()
    job = finished(client, job)
    assert job["state"] == "done", job["error"]  # the quicklook of a 1-band result failed: a 500
    with rasterio.MemoryFile(client.get(job["result_url"]).content) as mem, mem.open() as out:
        assert out.count == 1 and out.dtypes[0] == "uint8"
    quicklook = Image.open(io.BytesIO(client.get(job["quicklook_url"]).content))
    assert quicklook.mode == "LA" and quicklook.size == (280, 300)  # grey, and where there was data


def test_a_png_too_big_to_colorize_in_memory_is_413_from_its_header(client) -> None:
    """25 MP (under the server's 32 MP and tile limits) whose header the budget reads: the
    colorize cost is counted, not only decoding (which fits, and would then fail on the
    file's missing rows as a 400)."""
    response = client.post("/api/colorize", files={"file": ("big.png", bomb_png(5000, 5000))})
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error.startswith("big.png: 5000×5000 pixels") and "GB of memory" in error, error
