"""The FastAPI app: the page at ``/``, the API under ``/api/`` (contract in docs/app.md).

Every request passes :class:`~sarcolor.app.guard.RequestGuard` (a foreign ``Host`` or
``Origin`` is refused). Every request that colorizes goes the same way: take a place (503 when
none is free, :mod:`sarcolor.app.jobs`), stream the upload into a fresh job folder inside the
server's own temporary folder (413 past the limit, 408 too slow, 507 disk full,
:mod:`sarcolor.app.uploads`), check names, kind, size and tiles (422, 400, 413,
:mod:`sarcolor.app.work`), run in one of ``workers`` threads, answer, delete.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from sarcolor import __version__
from sarcolor.app.errors import DISK_FULL, ApiError, ClientGone, is_disk_full
from sarcolor.app.guard import RequestGuard
from sarcolor.app.jobs import Job, JobStore, Places, until_done
from sarcolor.app.openapi import (
    BINARY,
    CANCELLING,
    FORM,
    JOB_ERRORS,
    RESULT_HEADERS,
    UPLOAD_ERRORS,
    contract_schema,
)
from sarcolor.app.schemas import HealthOut, InfoOut, JobOut, ModelOut
from sarcolor.app.uploads import check_declared_length, receive_upload
from sarcolor.app.work import MAX_PIXELS, Colorizers, choose, inspect_upload, run_job
from sarcolor.inference.modelset import AUTO, ModelRegistry, SelectionError

log = logging.getLogger("sarcolor.app")
STATIC = Path(str(files("sarcolor.app") / "static"))
JOB_PREFIX = "job-"
CSP = "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; object-src 'none'"


class _CleanupFileResponse(FileResponse):
    """A file response that runs ``cleanup`` once sent, or once sending failed (client gone)."""

    def __init__(self, *args, cleanup: Callable[[], None], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._cleanup = cleanup

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._cleanup()


def create_app(
    models: ModelRegistry,
    *,
    max_upload_mb: float = 64.0,
    workers: int = 1,
    queue_size: int = 8,
    tmp_dir: str | Path | None = None,
    device: str = "auto",
    max_image_mp: float = 32.0,
    max_job_tiles: int = 12000,
    upload_timeout_s: float = 30.0,
    job_ttl_s: float = 900.0,
    keep_jobs: int = 16,
    allowed_hosts: list[str] | None = None,
    port: int | None = None,
) -> FastAPI:
    """The app serving ``models``.

    Args:
        models: the models (:func:`sarcolor.inference.modelset.load_registry`).
        max_upload_mb: largest request body accepted (413 beyond, found while streaming).
        workers: colorizing threads: how many models run at a time.
        queue_size: requests that may wait (or upload) beyond those running; 503 past it.
        tmp_dir: where the server makes its own ``sarcolor-serve-<pid>-*`` folder (the system's
            temporary folder when ``None``), one ``job-*`` folder in it per request. Only that
            folder is removed at shutdown: servers may share ``tmp_dir``, and nothing else in it
            is touched.
        device: ``auto``, ``cpu`` or ``cuda`` for the generators.
        max_image_mp: pixel limit (megapixels) for PNG/JPEG, which are colorized in memory
            (about 45 bytes a pixel: a 4096² PNG adds ~690 MB at its peak); GeoTIFFs are
            streamed and only the decompression-bomb guard (:data:`sarcolor.data.io.MAX_PIXELS`)
            applies to them.
        max_job_tiles: most tiles (256²) one image may need (413 beyond, before any work).
        upload_timeout_s: an upload may take this long plus a second per 64 kB (408 beyond).
        job_ttl_s, keep_jobs: how long and how many finished jobs keep their results.
        allowed_hosts: ``Host`` header values accepted (e.g. ``127.0.0.1``, ``localhost``);
            ``None`` accepts any. A server on the loopback interface should name only loopback
            names, so that a web page elsewhere cannot reach it through DNS rebinding.
        port: the port served: a ``Host`` naming another is refused.
    """
    if workers < 1 or queue_size < 0 or max_upload_mb <= 0 or max_job_tiles < 1:
        raise ValueError("workers and max_job_tiles must be ≥ 1, queue_size ≥ 0 and max_upload_mb > 0")
    if tmp_dir is not None:
        Path(tmp_dir).mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"sarcolor-serve-{os.getpid()}-", dir=tmp_dir)).resolve()
    places = Places(workers + queue_size)
    store = JobStore(job_ttl_s, keep_jobs)
    colorizers = Colorizers(device)
    executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sarcolor-worker")
    max_image_pixels = int(max_image_mp * 1e6)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        colorizers.stopping.set()  # running jobs end at their next batch of tiles
        executor.shutdown(wait=True, cancel_futures=True)
        store.clear()
        shutil.rmtree(folder, ignore_errors=True)  # the server's own folder, nothing beside it

    app = FastAPI(
        title="sarcolor",
        version=__version__,
        summary="Colorize Sentinel-1 SAR images into Sentinel-2-like colour",
        description='The page is at `/`. Errors are JSON `{"error": "one sentence"}`.',
        lifespan=lifespan,
        docs_url=None,  # the interactive docs load scripts from a CDN; the schema is at /openapi.json
        redoc_url=None,
    )
    app.state.tmp_dir, app.state.places, app.state.jobs = folder, places, store
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(RequestGuard, hosts=allowed_hosts, port=port)

    def new_job(request: Request) -> Job:
        check_declared_length(request, max_upload_mb)
        place = places.take()
        job_folder = Path(tempfile.mkdtemp(prefix=JOB_PREFIX, dir=folder))
        return Job(folder=job_folder, place=place)

    async def receive(job: Job, request: Request) -> None:
        upload = await receive_upload(request, job.folder, max_upload_mb, upload_timeout_s)
        job.filename = upload.filename
        job.model = upload.fields.get("model") or AUTO
        job.terrain = upload.fields.get("terrain") or AUTO
        try:
            models.check_names(job.model, job.terrain)
        except SelectionError as err:
            raise ApiError(422, str(err)) from None
        job.stage = "checking the upload"
        await asyncio.to_thread(inspect_upload, job, upload.path, max_image_pixels, max_job_tiles)
        if not models.needs_image(job.model, job.terrain):
            await asyncio.to_thread(choose, job, models)
        job.state, job.stage = "queued", "waiting for a worker"

    def submit(job: Job):
        try:
            job.future = executor.submit(run_job, job, models, colorizers)
        except RuntimeError:  # shutting down
            raise ApiError(503, "the server is shutting down") from None
        return job.future

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, err: ApiError) -> JSONResponse:
        # 408: the client may still be sending; the connection is closed after the answer
        headers = {503: {"Retry-After": "5"}, 408: {"Connection": "close"}}.get(err.status)
        return JSONResponse({"error": err.message}, status_code=err.status, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, err: StarletteHTTPException) -> JSONResponse:
        words = {404: "no such address", 405: "method not allowed on"}.get(err.status_code, str(err.detail))
        path = request.url.path[:80]
        return JSONResponse({"error": f"{words} {path}"}, status_code=err.status_code)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, err: RequestValidationError) -> JSONResponse:
        first = err.errors()[0] if err.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return JSONResponse({"error": f"invalid request: {where} {first.get('msg', '')}".strip()}, 422)

    @app.exception_handler(Exception)
    async def _internal(_: Request, err: Exception) -> JSONResponse:
        if is_disk_full(err):
            log.warning("disk full: %s", err)
            return JSONResponse({"error": DISK_FULL}, 507)
        log.error("internal error", exc_info=err)
        return JSONResponse({"error": "internal error (the server log has the details)"}, 500)

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        headers = {
            "Content-Security-Policy": CSP,
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
        }
        return FileResponse(STATIC / "index.html", media_type="text/html", headers=headers)

    @app.get("/healthz", response_model=HealthOut, summary="Liveness check")
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/api/models", response_model=list[ModelOut], summary="The models this server can use")
    async def list_models() -> list[dict]:
        return [m.to_dict() for m in models.models]

    @app.get("/api/info", response_model=InfoOut, summary="Limits and load")
    async def info() -> dict:
        return {
            "version": __version__,
            "workers": workers,
            "queue_size": queue_size,
            "in_progress": places.taken,
            "max_upload_mb": max_upload_mb,
            "max_pixels": MAX_PIXELS,
            "max_image_pixels": max_image_pixels,
            "max_job_tiles": max_job_tiles,
            "upload_timeout_s": upload_timeout_s,
            "terrains": models.terrains,
            "terrain_classifier": models.classifier is not None,
        }

    @app.post(
        "/api/colorize",
        summary="Colorize one image and answer with the result",
        description="PNG/JPEG in → PNG of the same size out; GeoTIFF in → GeoTIFF on the input's grid "
        "(CRS, transform, size) out. The answer comes when the work is done.",
        response_class=Response,
        responses={
            200: {
                "description": "the colorized image",
                "content": {"image/png": BINARY, "image/tiff": BINARY},
                "headers": RESULT_HEADERS,
            },
            **UPLOAD_ERRORS,
        },
        openapi_extra={"requestBody": FORM},
    )
    async def colorize(request: Request) -> Response:
        job = new_job(request)
        handed_over = False
        try:
            await receive(job, request)
            await until_done(submit(job), job, request)
            if job.state != "done":
                raise ApiError(job.error_status or 500, job.error or "colorizing failed")
            assert job.choice is not None

            def cleanup() -> None:
                job.finish()
                job.remove_files()

            response = _CleanupFileResponse(
                job.result,
                media_type="image/tiff" if job.kind == "scene" else "image/png",
                headers=_result_headers(job),
                filename=job.download_stem + job.result.suffix,
                cleanup=cleanup,
            )
            handed_over = True
            return response
        except ClientGone:  # nobody reads this answer
            return JSONResponse({"error": "the client disconnected"}, status_code=400)
        finally:
            if not handed_over:
                job.finish()
                job.remove_files()

    @app.post(
        "/api/jobs",
        status_code=202,
        response_model=JobOut,
        summary="Start colorizing one image; follow it at /api/jobs/{id}",
        description="The same form as /api/colorize. Answers 202 once the upload is checked and queued.",
        responses=UPLOAD_ERRORS,
        openapi_extra={"requestBody": FORM},
    )
    async def create_job(request: Request) -> JSONResponse:
        job = new_job(request)
        try:
            await receive(job, request)
            future = submit(job)
        except BaseException as err:
            job.finish()
            job.remove_files()
            if isinstance(err, ClientGone):
                return JSONResponse({"error": "the client disconnected"}, status_code=400)
            raise
        store.add(job)
        future.add_done_callback(lambda _: job.finish())
        return JSONResponse(job.to_dict(), status_code=202, headers={"Location": f"/api/jobs/{job.id}"})

    @app.get("/api/jobs/{job_id}", response_model=JobOut, summary="A job's state", responses=JOB_ERRORS)
    async def get_job(job_id: str) -> dict:
        return store.get(job_id).to_dict()

    @app.delete(
        "/api/jobs/{job_id}",
        status_code=204,
        summary="Delete a finished job's files, or cancel a job that has not finished",
        responses={202: CANCELLING, **JOB_ERRORS},
    )
    async def delete_job(job_id: str) -> Response:
        cancelled = store.delete(job_id)
        if cancelled is not None:
            return JSONResponse(cancelled.to_dict(), status_code=202)
        return Response(status_code=204)

    def finished(job_id: str) -> Job:
        job = store.get(job_id)
        if job.state in ("failed", "cancelled"):
            raise ApiError(409, f"job {job.id} {job.state}: {job.error}")
        if job.state != "done":
            raise ApiError(409, f"job {job.id} is still {job.state}")
        return job

    @app.get(
        "/api/jobs/{job_id}/result",
        summary="The full result: a PNG, or a GeoTIFF for a GeoTIFF input",
        response_class=Response,
        responses={
            200: {
                "description": "the colorized image",
                "content": {"image/png": BINARY, "image/tiff": BINARY},
                "headers": RESULT_HEADERS,
            },
            **JOB_ERRORS,
        },
    )
    async def job_result(job_id: str) -> FileResponse:
        job = finished(job_id)
        media = "image/tiff" if job.kind == "scene" else "image/png"
        name = job.download_stem + job.result.suffix
        return FileResponse(job.result, media_type=media, filename=name, headers=_result_headers(job))

    app.openapi = lambda: contract_schema(app)  # type: ignore[method-assign]
    for route, attribute, what in (
        ("quicklook", "quicklook", "the result"),
        ("preview", "preview", "the input as the model saw it"),
    ):
        _add_png_route(app, finished, route, attribute, what)
    return app


def _add_png_route(
    app: FastAPI, finished: Callable[[str], Job], route: str, attribute: str, what: str
) -> None:
    @app.get(
        f"/api/jobs/{{job_id}}/{route}",
        name=f"job_{route}",
        summary=f"{what.capitalize()} as a PNG of at most 1024 pixels a side",
        response_class=Response,
        responses={200: {"description": f"{what} (PNG)", "content": {"image/png": BINARY}}, **JOB_ERRORS},
    )
    async def png(job_id: str) -> FileResponse:
        job = finished(job_id)
        return FileResponse(
            getattr(job, attribute), media_type="image/png", headers={"Cache-Control": "no-store"}
        )


def _result_headers(job: Job) -> dict[str, str]:
    assert job.choice is not None
    headers = {
        "X-Sarcolor-Model": job.choice.model.id,
        "X-Sarcolor-Terrain": _header_safe(job.choice.terrain),
    }
    if job.choice.confidence is not None:
        headers["X-Sarcolor-Terrain-Confidence"] = f"{job.choice.confidence:.4f}"
    return headers


def _header_safe(text: str) -> str:
    return "".join(ch for ch in text if ch.isascii() and ch.isprintable())[:60] or "unknown"


def default_threads(workers: int) -> int:
    """Torch threads per worker so that the workers together use the machine's cores once."""
    return max(1, (os.cpu_count() or 1) // workers)
