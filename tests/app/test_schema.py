"""Requests generated from the served OpenAPI schema (schemathesis, offline, against a real
server): every answer has a status, content type, headers and body the schema documents, and
none is a server error."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the app extra is not installed (pip install sarcolor[app])")
schemathesis = pytest.importorskip("schemathesis", reason="schemathesis (dev extra) is not installed")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app_support import Server, png_bytes, terrain_checkpoint  # noqa: E402


@schemathesis.check
def no_internal_error(ctx, response, case) -> None:
    """5xx are bugs, except the documented 503 (every place taken: jobs pile up under a burst)."""
    if response.status_code >= 500 and response.status_code != 503:
        raise AssertionError(f"server error {response.status_code}: {response.text[:200]}")


CHECKS = [
    no_internal_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# negative_data_rejection is left out: a multipart field generated as an (invalid) empty array is
# sent as no field at all, which is a valid request that rightly succeeds.


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    """A model for every terrain and an agri model, so that generated names reach every branch."""
    root = tmp_path_factory.mktemp("schema")
    terrain_checkpoint(root / "set" / "plain")
    terrain_checkpoint(root / "set" / "agri", ["agri"])
    srv = Server([root / "set"], root / "tmp", "--queue-size=4", "--max-upload-mb=2")
    yield srv
    assert srv.stop() == 0, srv.output
    assert not srv.job_folders()  # every generated upload was deleted


@pytest.fixture(scope="module")
def api_schema(served: Server):
    return schemathesis.openapi.from_url(f"{served.url}/openapi.json")


# Every operation the schema documents (test_every_operation_is_covered keeps this list honest).
# schemathesis' own pytest loader (from_fixture) does not run under pytest 9, so each operation's
# Hypothesis strategy is drawn from directly.
OPERATIONS = [
    ("GET", "/healthz"),
    ("GET", "/api/models"),
    ("GET", "/api/info"),
    ("POST", "/api/colorize"),
    ("POST", "/api/jobs"),
    ("GET", "/api/jobs/{job_id}"),
    ("GET", "/api/jobs/{job_id}/result"),
    ("GET", "/api/jobs/{job_id}/quicklook"),
    ("GET", "/api/jobs/{job_id}/preview"),
    ("DELETE", "/api/jobs/{job_id}"),  # last: it deletes the real job the others look at
]


@pytest.fixture(scope="module")
def real_job(served: Server) -> str:
    """The id of a finished job, so that job operations see real ids as well as generated ones."""
    import time

    import httpx
    import numpy as np

    with httpx.Client(base_url=served.url, timeout=60) as client:
        files = {"file": ("p.png", png_bytes(np.full((40, 50), 90, np.uint8)), "image/png")}
        job = client.post("/api/jobs", files=files).json()
        while job["state"] not in ("done", "failed"):
            time.sleep(0.05)
            job = client.get(f"/api/jobs/{job['id']}").json()
    assert job["state"] == "done", job
    return job["id"]


def test_every_operation_is_covered(api_schema) -> None:
    documented = {(op.ok().method.upper(), op.ok().path) for op in api_schema.get_all_operations()}
    assert documented == set(OPERATIONS)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_every_answer_is_documented(api_schema, real_job: str, method: str, path: str) -> None:
    operation = api_schema[path][method]
    modes = [GenerationMode.POSITIVE]
    if operation.path_parameters or operation.body:  # something that can be made invalid
        modes.append(GenerationMode.NEGATIVE)
    strategies = [operation.as_strategy(generation_mode=mode) for mode in modes]
    if "{job_id}" in path:
        strategies.append(operation.as_strategy(path_parameters={"job_id": real_job}))
    strategy = st.one_of(*strategies)
    statuses: set[int] = set()

    @given(case=strategy)
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case) -> None:
        response = case.call_and_validate(checks=CHECKS, timeout=60)
        statuses.add(response.status_code)

    check()
    print(f"{method} {path}: statuses {sorted(statuses)}")
    # never a server error; 503 is the documented answer when the queue is full (POST /api/jobs
    # queues faster than a loaded machine colorizes)
    assert statuses and not any(s >= 500 and s != 503 for s in statuses), statuses
    assert statuses - {503}, statuses  # and not only "busy": the operation itself was exercised


def test_schema_documents_the_contract(api_schema, served: Server) -> None:
    import httpx

    raw = httpx.get(f"{served.url}/openapi.json").json()
    colorize = raw["paths"]["/api/colorize"]["post"]
    assert set(colorize["responses"]) == {"200", "400", "403", "408", "413", "422", "500", "503", "507"}
    assert set(colorize["responses"]["200"]["content"]) == {"image/png", "image/tiff"}
    headers = colorize["responses"]["200"]["headers"]
    assert {"X-Sarcolor-Model", "X-Sarcolor-Terrain", "X-Sarcolor-Terrain-Confidence"} <= set(headers)
    form = colorize["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form["required"] == ["file"] and set(form["properties"]) == {"file", "model", "terrain"}
    assert {"/healthz", "/api/models", "/api/jobs", "/api/jobs/{job_id}"} <= set(raw["paths"])
    assert Path(served.tmp_dir).is_dir()
