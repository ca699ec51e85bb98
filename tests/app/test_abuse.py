"""``sarcolor serve`` under abuse (issue 23, items 2, 10, 14, 15, 16): a real server on
127.0.0.2 with a free port, real files, raw sockets for clients that trickle, leave or lie.

Jobs that must still be running when they are cancelled colorize a 5800² GeoTIFF (900 tiles: a
minute or more on two CPU cores, 180 kB deflated); every loop waiting on the server is bounded.
"""

from __future__ import annotations

import re
import select
import shutil
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the app extra is not installed (pip install sarcolor[app])")
httpx = pytest.importorskip("httpx", reason="httpx (dev extra) is not installed")

from app_support import Server, multipart, open_upload, png_bytes, read_response, terrain_checkpoint  # noqa: E402

UPLOAD_TIMEOUT_S = 2
MAX_JOB_TILES = 1000
PLACES = 3  # one worker and two waiting


def geotiff(path: Path, width: int, height: int, **profile) -> Path:
    """A deflated GeoTIFF of constant -12 dB (``sparse_ok``: nothing written, a few hundred bytes)."""
    import rasterio
    from rasterio.transform import Affine

    sparse = profile.pop("sparse_ok", False)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=width,
        height=height,
        count=1,
        dtype="float32",
        crs="EPSG:32631",
        transform=Affine(10, 0, 500000, 0, -10, 5000000),
        compress="deflate",
        sparse_ok=sparse,
        **profile,
    ) as dst:
        if not sparse:
            dst.write(np.full((1, height, width), -12.0, np.float32))
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("abuse-files")
    return {
        "model": terrain_checkpoint(root / "agri", ["agri"]).parents[1],
        "long": geotiff(root / "long.tif", 5800, 5800, tiled=True, blockxsize=512, blockysize=512),
        "strip": geotiff(root / "strip.tif", 400_000_000, 1, sparse_ok=True),  # 2,083,333 tiles
    }


@pytest.fixture(scope="module")
def shared_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A --tmp-dir that holds someone else's ``job-*`` folder."""
    tmp = tmp_path_factory.mktemp("abuse") / "tmp"
    (tmp / "job-applications").mkdir(parents=True)
    (tmp / "job-applications" / "cv.txt").write_text("x\n")
    return tmp


@pytest.fixture(scope="module")
def server(files: dict[str, Path], shared_tmp: Path):
    srv = Server(
        [files["model"]],
        shared_tmp,
        "--host=127.0.0.2",
        "--workers=1",
        "--queue-size=2",
        f"--upload-timeout-s={UPLOAD_TIMEOUT_S}",
        f"--max-job-tiles={MAX_JOB_TILES}",
        "--device=cpu",
    )
    yield srv
    assert srv.stop() == 0, srv.output
    assert (shared_tmp / "job-applications" / "cv.txt").read_text() == "x\n"  # not the server's
    assert not list(shared_tmp.glob("sarcolor-serve-*"))  # its own folder is gone


@pytest.fixture()
def client(server: Server):
    with httpx.Client(base_url=server.url, timeout=120) as c:
        yield c


def error_of(response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()["error"]


def in_progress(client) -> int:
    return client.get("/api/info").json()["in_progress"]


def start_long_job(client, server: Server, long: Path) -> dict:
    """A /api/jobs job that is running (its first tiles done)."""
    job = client.post("/api/jobs", files={"file": ("long.tif", long.read_bytes())}).json()
    url = f"/api/jobs/{job['id']}"
    server.wait_for(lambda: client.get(url).json()["progress"] > 0, 120, "the long job to run")
    return client.get(url).json()


def wait_state(client, server: Server, job_id: str, states: set[str], timeout: float) -> dict:
    server.wait_for(lambda: client.get(f"/api/jobs/{job_id}").json()["state"] in states, timeout, str(states))
    return client.get(f"/api/jobs/{job_id}").json()


# ---- item 10: work bounded before it starts, jobs cancellable -------------------------------


def test_a_strip_of_two_million_tiles_is_refused_before_any_work(client, files) -> None:
    response = client.post("/api/jobs", files={"file": ("strip.tif", files["strip"].read_bytes())})
    error = error_of(response, 413)
    assert "strip.tif" in error and "2083333 tiles" in error and "--max-job-tiles" in error
    assert in_progress(client) == 0


def test_delete_cancels_a_running_job(client, server, files) -> None:
    job = start_long_job(client, server, files["long"])
    assert job["state"] == "running"
    response = client.delete(f"/api/jobs/{job['id']}")
    assert response.status_code == 202, response.text
    assert response.json()["id"] == job["id"]
    ended = wait_state(client, server, job["id"], {"cancelled", "done", "failed"}, 30)
    assert ended["state"] == "cancelled" and ended["progress"] < 1, ended
    assert "cancelled" in error_of(client.get(f"/api/jobs/{job['id']}/result"), 409)
    assert in_progress(client) == 0  # its place is free
    assert client.delete(f"/api/jobs/{job['id']}").status_code == 204  # now it is removed
    assert client.get(f"/api/jobs/{job['id']}").status_code == 404


# ---- item 14: a client that leaves cancels its job, queued or running -------------------------


def test_a_client_that_leaves_cancels_its_job(client, server, files) -> None:
    running = start_long_job(client, server, files["long"])  # holds the only worker
    small = multipart({}, "small.png", png_bytes(np.full((64, 64), 90, np.uint8)))
    queued = open_upload(server, "/api/colorize", small, length=len(small))
    server.wait_for(lambda: in_progress(client) == 2, 30, "the second request to arrive")
    time.sleep(2)  # received, checked and queued behind the long job
    queued.close()
    server.wait_for(lambda: in_progress(client) == 1, 10, "the queued job to be cancelled")
    assert client.get(f"/api/jobs/{running['id']}").json()["state"] == "running"  # it never ran
    server.wait_for(lambda: "cancelled while queued: the client left" in server.output, 5, "the log")
    assert client.delete(f"/api/jobs/{running['id']}").status_code == 202
    server.wait_for(lambda: in_progress(client) == 0, 30, "the long job to be cancelled")


def test_a_client_that_leaves_cancels_its_running_job(client, server, files) -> None:
    body = multipart({}, "long.tif", files["long"].read_bytes())
    leaving = open_upload(server, "/api/colorize", body, length=len(body))
    server.wait_for(lambda: in_progress(client) == 1, 30, "the colorize request to arrive")
    time.sleep(3)  # running now: received, checked, preview written, first tiles
    leaving.close()
    running_cancel = re.compile(r"cancelled while (?!queued)[a-z ]+: the client left")
    server.wait_for(lambda: running_cancel.search(server.output), 30, "the running job's cancel")
    server.wait_for(lambda: in_progress(client) == 0, 10, "its place to be freed")
    server.wait_for(lambda: not server.job_folders(), 10, "its files to be deleted")


# ---- item 15: slow uploads do not hold places -------------------------------------------------


def trickle(server: Server, results: list, deadline_s: float = 12.0) -> None:
    """An upload that sends one byte every half second until the server answers (or 12 s)."""
    body = multipart({}, "slow.png", png_bytes(np.full((64, 64), 90, np.uint8)))
    sock = open_upload(server, "/api/colorize", body[:100], length=len(body))
    end = time.monotonic() + deadline_s
    sent = 100
    while time.monotonic() < end and sent < len(body):
        if select.select([sock], [], [], 0.5)[0]:
            break  # the server answered
        try:
            sock.sendall(body[sent : sent + 1])
        except OSError:  # it closed the connection
            break
        sent += 1
    sock.settimeout(5)
    try:
        results.append(read_response(sock))
    except (OSError, IndexError, ValueError):
        results.append((None, {}, b""))


def test_slow_uploads_are_cut_off_and_free_their_places(client, server) -> None:
    results: list = []
    threads = [threading.Thread(target=trickle, args=(server, results)) for _ in range(PLACES)]
    for thread in threads:
        thread.start()
    server.wait_for(lambda: in_progress(client) == PLACES, 10, "the slow uploads to take every place")
    time.sleep(UPLOAD_TIMEOUT_S + 2)
    patch = png_bytes(np.full((64, 64), 90, np.uint8))
    response = client.post("/api/colorize", files={"file": ("patch.png", patch)})
    assert response.status_code == 200, response.text  # the trickles no longer hold the places
    for thread in threads:
        thread.join(20)
    assert [status for status, _, _ in results] == [408] * PLACES, results
    assert all(b"too slow" in body and b"--upload-timeout-s" in body for _, _, body in results)
    assert all(headers["content-type"] == "application/json" for _, headers, _ in results)


# ---- item 16: Host and Origin, every status JSON and documented ------------------------------


def test_foreign_host_headers_are_refused(server) -> None:
    ok = httpx.get(f"{server.url}/healthz", headers={"host": f"127.0.0.2:{server.port}"})
    assert ok.status_code == 200
    assert httpx.get(f"{server.url}/healthz", headers={"host": f"localhost:{server.port}"}).status_code == 200
    for host in (f"attacker.example:{server.port}", "attacker.example", f"127.0.0.2:{server.port + 1}"):
        response = httpx.get(f"{server.url}/api/models", headers={"host": host})
        assert "answers" in error_of(response, 400), host


def test_cross_origin_requests_are_refused(client, server) -> None:
    patch = png_bytes(np.full((64, 64), 90, np.uint8))
    files_ = {"file": ("patch.png", patch)}
    for origin in ("http://evil.example", "null", f"http://127.0.0.1:{server.port + 1}"):
        response = client.post("/api/colorize", files=files_, headers={"origin": origin})
        assert "cross-origin" in error_of(response, 403), origin
        assert "cross-origin" in error_of(client.delete("/api/jobs/x", headers={"origin": origin}), 403)
    own = client.post("/api/colorize", files=files_, headers={"origin": server.url})
    assert own.status_code == 200, own.text  # the page itself
    assert client.post("/api/colorize", files=files_).status_code == 200  # curl: no Origin


def test_every_status_is_documented(client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            assert {"400", "403", "500"} <= set(operation["responses"]), (method, path)
    for path in ("/api/colorize", "/api/jobs"):
        assert {"408", "413", "503", "507"} <= set(paths[path]["post"]["responses"])
    assert "202" in paths["/api/jobs/{job_id}"]["delete"]["responses"]
    assert "cancelled" in str(client.get("/openapi.json").json()["components"]["schemas"]["JobOut"])


# ---- item 2: servers sharing --tmp-dir delete only their own folders --------------------------


@pytest.mark.slow
def test_servers_sharing_a_tmp_dir_keep_each_others_jobs(client, server, files, shared_tmp) -> None:
    patch = png_bytes(np.full((40, 50), 90, np.uint8))
    job = client.post("/api/jobs", files={"file": ("p.png", patch)}).json()
    assert wait_state(client, server, job["id"], {"done", "failed"}, 60)["state"] == "done"
    other = Server([files["model"]], shared_tmp, "--device=cpu")
    with httpx.Client(base_url=other.url, timeout=60) as other_client:
        theirs = other_client.post("/api/jobs", files={"file": ("p.png", patch)}).json()
        assert wait_state(other_client, other, theirs["id"], {"done", "failed"}, 60)["state"] == "done"
    assert other.stop() == 0, other.output
    assert client.get(f"/api/jobs/{job['id']}/result").status_code == 200  # its job is intact
    assert (shared_tmp / "job-applications" / "cv.txt").is_file()  # and so is the stranger's folder
    assert not list(shared_tmp.glob(f"sarcolor-serve-{other.process.pid}-*"))  # the other's is gone
    mine = server.job_folders()
    assert mine and all(oct(f.parent.stat().st_mode)[-3:] == "700" for f in mine)  # private


# ---- item 16: a full temporary folder is 507 ---------------------------------------------------

# Runs the server in its own user and mount namespaces with a 3 MB tmpfs on --tmp-dir.
IN_TMPFS = """
import os, sys
tmp = sys.argv[sys.argv.index("--tmp-dir") + 1]
os.makedirs(tmp, exist_ok=True)
mount = 'mount -t tmpfs -o size=3m tmpfs "$0" && exec "$@"'
os.execvp("unshare", ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", mount, tmp,
                      sys.executable, "-m", "sarcolor.app", *sys.argv[1:]])
"""


@pytest.mark.slow
def test_a_full_temporary_folder_is_507(files, tmp_path: Path) -> None:
    probe = f'mount -t tmpfs -o size=1m tmpfs "{tmp_path}"'
    if (
        not shutil.which("unshare")
        or subprocess.run(
            ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", probe], capture_output=True
        ).returncode
    ):
        pytest.skip("unshare cannot mount a tmpfs here (no user namespaces)")
    full = Server([files["model"]], tmp_path / "tmp", "--device=cpu", entry=("-c", IN_TMPFS))
    try:
        with httpx.Client(base_url=full.url, timeout=120) as client:
            noise = np.random.default_rng(0).integers(0, 256, 4 << 20, dtype=np.uint8).tobytes()
            response = client.post("/api/colorize", files={"file": ("big.png", noise)})
            assert "full" in error_of(response, 507)  # the upload does not fit
            grey = png_bytes(np.random.default_rng(1).integers(0, 256, (1100, 1100), dtype=np.uint8))
            response = client.post("/api/colorize", files={"file": ("grey.png", grey)})
            assert "full" in error_of(response, 507)  # the upload fits, its RGB result does not
            small = png_bytes(np.full((64, 64), 90, np.uint8))
            assert client.post("/api/colorize", files={"file": ("s.png", small)}).status_code == 200
    finally:
        assert full.stop() == 0, full.output
    assert "internal error" not in full.output and "Traceback" not in full.output
