"""The HTTP API against a real server (``python -m sarcolor.app`` in a subprocess, real
checkpoints, real files): every status code, uploads that stop part-way, a burst of requests."""

from __future__ import annotations

import io
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the app extra is not installed (pip install sarcolor[app])")
httpx = pytest.importorskip("httpx", reason="httpx (dev extra) is not installed")

from app_support import (  # noqa: E402
    Server,
    bomb_png,
    chunk,
    multipart,
    open_upload,
    png_bytes,
    read_response,
    terrain_checkpoint,
)
from conftest import shared_path, write_geotiff  # noqa: E402

MAX_UPLOAD_MB = 1
# The burst server's peak resident memory (VmHWM) must stay below this: torch and the app take
# ~300 MB, each running 1024² job ~45-50 MB (measured); all 16 at once would add ~750 MB.
PEAK_RSS_LIMIT_MB = 1000


@pytest.fixture(scope="module")
def model_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """agri and grassland VV models, and a VV+VH model for urban."""
    root = tmp_path_factory.mktemp("modelset")
    terrain_checkpoint(root / "agri", ["agri"])
    terrain_checkpoint(root / "grassland", ["grassland"])
    terrain_checkpoint(root / "dual-urban", ["urban"], bands=("VV", "VH"))
    return root


@pytest.fixture(scope="module")
def server(model_set: Path, tmp_path_factory: pytest.TempPathFactory):
    """One worker, one queue place, 1 MB uploads, 1 MP PNG/JPEG."""
    base = tmp_path_factory.mktemp("server")
    (base / "cwd").mkdir()
    srv = Server(
        [model_set],
        base / "tmp",
        "--workers=1",
        "--queue-size=1",
        f"--max-upload-mb={MAX_UPLOAD_MB}",
        "--max-image-mp=1",
        cwd=base / "cwd",
    )
    yield srv
    assert srv.stop() == 0, srv.output


@pytest.fixture()
def client(server: Server):
    with httpx.Client(base_url=server.url, timeout=120) as c:
        yield c


def sar_patch() -> Path:
    return shared_path("real", "sen1-2", "v_2", "agri", "s1", "ROIs1868_summer_s1_59_p30.png")


def post(client, content: bytes, filename: str = "patch.png", path: str = "/api/colorize", **fields):
    return client.post(path, data=fields, files={"file": (filename, content, "application/octet-stream")})


def error_of(response) -> str:
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and body["error"] and "\n" not in body["error"]
    assert "Traceback" not in body["error"] and "/job-" not in body["error"]  # no server paths
    return body["error"]


def test_health_info_and_models(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    models = client.get("/api/models").json()
    assert [m["id"] for m in models] == ["agri", "dual-urban", "grassland"]
    by_id = {m["id"]: m for m in models}
    assert by_id["agri"]["terrains"] == ["agri"] and by_id["agri"]["bands"] == ["VV"]
    assert by_id["dual-urban"]["bands"] == ["VV", "VH"]
    assert all(m["input"] == "sar" and m["target"] == "rgb" and m["step"] == 0 for m in models)
    assert all(m["metrics"] is None for m in models)  # not evaluated
    info = client.get("/api/info").json()
    assert info["terrains"] == ["agri", "grassland", "urban"] and info["terrain_classifier"] is False


def test_a_loopback_server_answers_only_to_loopback_names(server):
    """A web page elsewhere cannot reach the local server by DNS rebinding: its Host is refused."""
    assert httpx.get(f"{server.url}/healthz", headers={"host": "localhost"}).status_code == 200
    response = httpx.get(f"{server.url}/healthz", headers={"host": f"attacker.example:{server.port}"})
    assert response.status_code == 400 and "only to" in error_of(response)


def test_png_gives_png_of_the_same_size(client, server):
    patch = sar_patch()
    response = post(client, patch.read_bytes(), patch.name, terrain="grassland")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert response.headers["x-sarcolor-model"] == "grassland"
    assert response.headers["x-sarcolor-terrain"] == "grassland"
    assert "x-sarcolor-terrain-confidence" not in response.headers  # the terrain was given
    image = Image.open(io.BytesIO(response.content))
    assert image.size == (256, 256) and image.mode == "RGB"
    assert np.asarray(image).std() > 1  # an image, not a constant
    # an odd size, not a multiple of the tile, 16-bit grey, named as the model explicitly
    odd = (np.random.default_rng(0).random((170, 300)) * 65535).astype(np.uint16)
    response = post(client, png_bytes(odd), "odd.png", model="agri", terrain="agri")
    assert response.status_code == 200, response.text
    assert Image.open(io.BytesIO(response.content)).size == (300, 170)
    server.wait_for(lambda: not server.job_folders(), 10, "the job folders to be deleted")


def test_400_for_what_is_not_an_image(client):
    assert "not a PNG, JPEG or GeoTIFF" in error_of(response := post(client, b"hello, world\n", "notes.txt"))
    assert response.status_code == 400
    truncated = sar_patch().read_bytes()[:3000]  # a valid header, then nothing
    response = post(client, truncated, "cut.png", terrain="agri")
    assert response.status_code == 400 and "cut.png" in error_of(response)
    response = client.post("/api/colorize", data={"terrain": "agri"})  # no file at all
    assert response.status_code == 400 and "file" in error_of(response)
    response = client.post("/api/colorize", content=b"{}", headers={"content-type": "application/json"})
    assert response.status_code == 400 and "multipart" in error_of(response)


def test_413_declared_too_large_answers_before_the_body(server):
    sock = open_upload(server, "/api/colorize", b"", length=5 * MAX_UPLOAD_MB * 1024 * 1024)
    status, _, body = read_response(sock)  # nothing of the body was sent: the answer comes anyway
    assert status == 413 and "1 MB" in json.loads(body)["error"]


def test_413_found_while_streaming(server):
    """A chunked body (no Content-Length) is counted as it arrives and refused past the limit."""
    head = multipart({"terrain": "agri"}, "big.png", b"")[: -len(b"\r\n--sarcolortestboundary--\r\n")]
    sock = open_upload(server, "/api/colorize", head, length=None)
    block = b"\x00" * 65536
    for _ in range(MAX_UPLOAD_MB * 16 + 2):  # just over the limit, then stop sending
        sock.sendall(chunk(block))
    status, _, body = read_response(sock)
    assert status == 413 and "larger than" in json.loads(body)["error"]


def test_413_for_too_many_pixels_and_bombs(client, tmp_path):
    big = np.zeros((1000, 1100), np.uint8)
    response = post(client, png_bytes(big), "big.png", terrain="agri")
    assert response.status_code == 413 and "1 MP limit" in error_of(response)
    bomb = bomb_png(30000, 30000)  # 900 MP declared in a ~2 KB file
    assert len(bomb) < 10_000
    response = post(client, bomb, "bomb.png", terrain="agri")
    assert response.status_code == 413 and "decompression-bomb" in error_of(response)
    import rasterio
    from rasterio.transform import Affine

    sparse = tmp_path / "sparse.tif"  # a real GeoTIFF of 500 MP, almost no bytes (sparse tiles)
    with rasterio.open(
        sparse,
        "w",
        driver="GTiff",
        width=25000,
        height=20000,
        count=1,
        dtype="float32",
        tiled=True,
        compress="deflate",
        SPARSE_OK=True,
        crs="EPSG:32631",
        transform=Affine(10, 0, 5e5, 0, -10, 5e6),
    ):
        pass
    assert sparse.stat().st_size < 200_000
    response = post(client, sparse.read_bytes(), "sparse.tif", terrain="agri")
    assert response.status_code == 413 and "decompression-bomb" in error_of(response)
    assert client.get("/healthz").status_code == 200


def test_422_unknown_or_unfitting_model_and_terrain(client):
    content = sar_patch().read_bytes()
    cases = {
        ("nope", "auto"): "unknown model 'nope'",
        ("auto", "desert"): "unknown terrain 'desert'",
        ("agri", "grassland"): "trained on agri, not grassland",
        ("auto", "barrenland"): "no model for terrain 'barrenland'",
        ("auto", "auto"): "needs a terrain classifier",
        ("auto", "urban"): "takes 2 SAR bands",  # the urban model is VV+VH: a PNG holds one band
    }
    for (model, terrain), expected in cases.items():
        response = post(client, content, "p.png", model=model, terrain=terrain)
        assert response.status_code == 422, (model, terrain, response.text)
        assert expected in error_of(response), (model, terrain)


def test_geotiff_in_geotiff_out_on_the_same_grid(client):
    import rasterio

    source = shared_path("real", "s1-geotiff", "S1A__IW___A_20150309T173017_VV_grd_mli_geo_norm_db.tif")
    response = post(client, source.read_bytes(), source.name, terrain="agri")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/tiff"
    with rasterio.open(source) as src, rasterio.MemoryFile(response.content) as mem, mem.open() as out:
        assert (out.crs, out.transform, out.width, out.height) == (
            src.crs,
            src.transform,
            src.width,
            src.height,
        )
        assert out.count == 3 and out.dtypes[0] == "uint8"


def test_jobs_report_progress_and_keep_results_until_deleted(client, server, tmp_path):
    import rasterio

    data = np.random.default_rng(1).uniform(-25, 0, (500, 400)).astype(np.float32)
    scene = write_geotiff(tmp_path / "scene.tif", data, descriptions=("VV",))
    response = post(client, scene.read_bytes(), "scene.tif", path="/api/jobs", terrain="agri")
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["kind"] == "scene" and job["model"] == "agri" and (job["width"], job["height"]) == (400, 500)
    seen = [job["progress"]]
    while job["state"] not in ("done", "failed"):
        time.sleep(0.05)
        job = client.get(f"/api/jobs/{job['id']}").json()
        seen.append(job["progress"])
    assert job["state"] == "done", job
    assert seen == sorted(seen) and seen[-1] == 1.0
    result = client.get(job["result_url"])
    assert result.headers["content-type"] == "image/tiff" and result.headers["x-sarcolor-model"] == "agri"
    with rasterio.open(scene) as src, rasterio.MemoryFile(result.content) as mem, mem.open() as out:
        assert (out.crs, out.transform, out.shape) == (src.crs, src.transform, src.shape)
    for url in (job["quicklook_url"], job["preview_url"]):
        ql = client.get(url)
        assert ql.headers["content-type"] == "image/png"
        assert Image.open(io.BytesIO(ql.content)).size == (400, 500)
    assert client.delete(f"/api/jobs/{job['id']}").status_code == 204
    assert client.get(f"/api/jobs/{job['id']}").status_code == 404
    assert client.get(job["result_url"]).status_code == 404
    server.wait_for(lambda: not server.job_folders(), 10, "the job folder to be deleted")


def test_a_failed_job_says_why(client):
    truncated = sar_patch().read_bytes()[:3000]
    job = post(client, truncated, "cut.png", path="/api/jobs", terrain="agri").json()
    while job["state"] not in ("done", "failed"):
        time.sleep(0.05)
        job = client.get(f"/api/jobs/{job['id']}").json()
    assert job["state"] == "failed" and job["error_status"] == 400 and "cut.png" in job["error"]
    response = client.get(f"/api/jobs/{job['id']}/result")
    assert response.status_code == 409 and "failed" in error_of(response)
    assert client.delete(f"/api/jobs/{job['id']}").status_code == 204


def test_file_names_never_become_paths(client, server):
    content = sar_patch().read_bytes()
    names = ["../../../escaped.png", "/tmp/sarcolor-absolute.png", "..\\..\\win.png", 'quote".png']
    for name in names:
        response = post(client, content, name, terrain="agri")
        assert response.status_code == 200, (name, response.text)
        disposition = response.headers["content-disposition"]
        assert "/" not in disposition and "\\" not in disposition and ".." not in disposition
    base = server.tmp_dir.parent
    assert not list(base.rglob("escaped*")) and not list(base.rglob("win*"))
    assert not Path("/tmp/sarcolor-absolute.png").exists()
    assert not list((base / "cwd").iterdir())  # the server's working folder stays empty
    server.wait_for(lambda: not server.job_folders(), 10, "the job folders to be deleted")


def test_503_when_full_and_disconnects_free_their_places(client, server):
    """Two uploads that stop half-way hold both places; a third request is refused at once;
    when the two clients disconnect, their places and files are freed and the server answers."""
    content = sar_patch().read_bytes()
    body = multipart({"terrain": "agri"}, "slow.png", content)
    slow = [open_upload(server, "/api/colorize", body[: len(body) // 2], length=len(body)) for _ in range(2)]
    server.wait_for(
        lambda: client.get("/api/info").json()["in_progress"] == 2, 30, "two requests in progress"
    )
    response = post(client, content, "third.png", terrain="agri")
    assert response.status_code == 503 and "busy" in error_of(response)
    assert response.headers["retry-after"] == "5"
    for sock in slow:
        sock.close()  # disconnect mid-upload
    server.wait_for(lambda: client.get("/api/info").json()["in_progress"] == 0, 30, "the places to be freed")
    server.wait_for(lambda: not server.job_folders(), 10, "the partial uploads to be deleted")
    # a client that sends everything and leaves before the answer
    gone = open_upload(server, "/api/colorize", body, length=len(body))
    gone.close()
    server.wait_for(
        lambda: client.get("/api/info").json()["in_progress"] == 0, 60, "the abandoned job to end"
    )
    server.wait_for(lambda: not server.job_folders(), 10, "the abandoned job's files to be deleted")
    assert post(client, content, "after.png", terrain="agri").status_code == 200


@pytest.fixture(scope="module")
def burst_server(model_set: Path, tmp_path_factory: pytest.TempPathFactory):
    """Two workers, six waiting places, and a terrain classifier for terrain 'auto'."""
    base = tmp_path_factory.mktemp("burst")
    srv = Server(
        [model_set / "agri", model_set / "grassland"],
        base / "tmp",
        "--workers=2",
        "--queue-size=6",
        "--terrain-classifier=app_support:brightness_terrain",
    )
    yield srv
    assert srv.stop() == 0, srv.output


def test_terrain_auto_uses_the_classifier(burst_server):
    with httpx.Client(base_url=burst_server.url, timeout=120) as client:
        dark = png_bytes(np.full((64, 64), 40, np.uint8))
        bright = png_bytes(np.full((64, 64), 220, np.uint8))
        for content, terrain in ((dark, "agri"), (bright, "grassland")):
            response = post(client, content, "p.png")
            assert response.status_code == 200, response.text
            assert response.headers["x-sarcolor-terrain"] == terrain
            assert response.headers["x-sarcolor-model"] == terrain
            assert 0.5 < float(response.headers["x-sarcolor-terrain-confidence"]) <= 1


def test_a_burst_of_uploads_is_bounded(burst_server):
    """16 concurrent 1024² uploads: the first 8 (2 workers + 6 waiting) are served, the others
    get 503 at once; all answer within the timeout and the server's peak memory stays bounded."""
    rng = np.random.default_rng(2)
    images = [png_bytes((rng.random((1024, 1024)) * 255).astype(np.uint8)) for _ in range(4)]

    outputs: dict[int, set[bytes]] = {k: set() for k in range(4)}

    def one(i: int) -> int:
        with httpx.Client(base_url=burst_server.url, timeout=300) as client:
            response = post(client, images[i % 4], f"b{i}.png", terrain="agri")
            if response.status_code == 200:
                outputs[i % 4].add(response.content)
            return response.status_code

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(one, range(16)))
    assert set(statuses) <= {200, 503}, statuses
    assert statuses.count(200) >= 8, statuses
    with httpx.Client(base_url=burst_server.url, timeout=300) as client:
        for i, status in enumerate(statuses):
            if status == 503:  # retried one by one, every refused request is served
                response = post(client, images[i % 4], f"r{i}.png", terrain="agri")
                assert response.status_code == 200
                outputs[i % 4].add(response.content)
        assert client.get("/api/info").json()["in_progress"] == 0
    # the two workers share one model: runs side by side give exactly what a run alone gives
    assert all(len(found) == 1 for found in outputs.values()), {k: len(v) for k, v in outputs.items()}
    peak = burst_server.memory_mb("VmHWM")
    print(
        f"burst: {statuses.count(200)} served at once, {statuses.count(503)} refused; peak RSS {peak:.0f} MB"
    )
    assert peak < PEAK_RSS_LIMIT_MB
    burst_server.wait_for(lambda: not burst_server.job_folders(), 10, "the job folders to be deleted")
