"""Jobs, the places they hold, and the finished jobs kept for download.

Admission is bounded: a request takes a *place* when its headers arrive and gives it back when
its response has been sent (``POST /api/colorize``) or when its job has finished
(``POST /api/jobs``). There are ``workers + queue_size`` places; a request that finds none is
answered 503 at once, before its upload is read. At most ``workers`` jobs run at a time (the
worker threads); the others wait in order. So memory holds at most ``workers`` images being
colorized, and the temporary folder at most ``workers + queue_size`` uploads plus the kept
results.

Finished jobs keep their result files for ``ttl_s`` seconds, and at most ``keep`` of them are
kept (oldest first out); ``DELETE /api/jobs/{id}`` removes one at once, or cancels one that has
not finished (:meth:`Job.request_cancel`: a queued job never starts, a running one stops at its
next batch of tiles and ends ``cancelled``).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import shutil
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from sarcolor.app.errors import ApiError, ClientGone
from sarcolor.inference.modelset import Choice

if TYPE_CHECKING:
    from starlette.requests import Request

DISCONNECT_POLL_S = 0.5  # s between reads of a request's receive channel after a stray message

State = Literal["receiving", "queued", "running", "done", "failed", "cancelled"]
log = logging.getLogger("sarcolor.app")


class Place:
    """One admitted request; :meth:`release` is idempotent."""

    def __init__(self, places: Places) -> None:
        self._places, self._held = places, True

    def release(self) -> None:
        with self._places.lock:
            if self._held:
                self._held = False
                self._places.taken -= 1


class Places:
    """``total`` places for requests in progress (uploading, queued or running)."""

    def __init__(self, total: int) -> None:
        self.total, self.taken = total, 0
        self.lock = threading.Lock()

    def take(self) -> Place:
        """A place, or 503 when all are taken."""
        with self.lock:
            if self.taken >= self.total:
                raise ApiError(
                    503, f"the server is busy ({self.total} requests in progress); try again shortly"
                )
            self.taken += 1
        return Place(self)


@dataclass
class Job:
    """One colorizing request: its folder, what was asked, what was chosen, and how far it is.

    Files (fixed names, inside :attr:`folder` only): the upload, ``input.*`` (the upload renamed
    by its content type), ``result.png`` or ``result.tif``, ``quicklook.png`` (the result,
    at most :data:`~sarcolor.app.work.QUICKLOOK_SIDE` pixels a side) and ``preview.png`` (the
    input as the model sees it, the same size as the quicklook).
    """

    folder: Path
    place: Place
    filename: str = "upload"
    model: str = "auto"
    terrain: str = "auto"
    id: str = field(default_factory=lambda: secrets.token_hex(8))
    kind: Literal["image", "scene"] = "image"
    width: int = 0
    height: int = 0
    choice: Choice | None = None
    state: State = "receiving"
    stage: str = "receiving the upload"
    tiles_done: int = 0
    tiles_total: int = 0
    error: str | None = None
    error_status: int | None = None
    created: float = field(default_factory=time.time)
    finished: float | None = None
    notes: list[str] = field(default_factory=list)
    cancel: threading.Event = field(default_factory=threading.Event)  # set by request_cancel
    cancel_reason: str = ""
    future: Future | None = None  # set once submitted to a worker

    @property
    def result(self) -> Path:
        return self.folder / ("result.tif" if self.kind == "scene" else "result.png")

    @property
    def quicklook(self) -> Path:
        return self.folder / "quicklook.png"

    @property
    def preview(self) -> Path:
        return self.folder / "preview.png"

    @property
    def progress(self) -> float:
        if self.state == "done":
            return 1.0
        return self.tiles_done / self.tiles_total if self.tiles_total else 0.0

    @property
    def download_stem(self) -> str:
        stem = Path(self.filename).stem or "image"
        return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in stem)[:60] + "_colorized"

    def fail(self, status: int, message: str) -> None:
        self.state, self.error, self.error_status = "failed", message, status
        self.stage = "failed"

    def request_cancel(self, reason: str) -> bool:
        """Cancel the job: True when it never started (it is ``cancelled`` now); otherwise its
        worker stops at the next batch of tiles or stage (:func:`sarcolor.app.work.run_job`)."""
        self.cancel_reason = reason
        self.cancel.set()
        if self.future is not None and self.future.cancel():
            log.info("job %s cancelled while queued: %s", self.id, reason)
            self.mark_cancelled(409, reason)
            return True
        return False

    def mark_cancelled(self, status: int, message: str) -> None:
        """The job has stopped (no worker uses its files): nothing of it is worth keeping."""
        self.state, self.error, self.error_status = "cancelled", message, status
        self.stage = "cancelled"
        self.remove_files()

    def finish(self) -> None:
        """Give the place back (the job no longer needs a worker or its upload)."""
        self.finished = time.time()
        self.place.release()

    def remove_files(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def to_dict(self) -> dict:
        base = f"/api/jobs/{self.id}"
        done = self.state == "done"
        return {
            "id": self.id,
            "state": self.state,
            "stage": self.stage,
            "progress": round(self.progress, 4),
            "kind": self.kind,
            "filename": self.filename,
            "width": self.width,
            "height": self.height,
            "model": self.choice.model.id if self.choice else None,
            "terrain": self.choice.terrain if self.choice else None,
            "terrain_confidence": self.choice.confidence if self.choice else None,
            "error": self.error,
            "error_status": self.error_status,
            "notes": self.notes,
            "result_url": f"{base}/result" if done else None,
            "result_type": ("image/tiff" if self.kind == "scene" else "image/png") if done else None,
            "quicklook_url": f"{base}/quicklook" if done else None,
            "preview_url": f"{base}/preview" if done else None,
        }


class JobStore:
    """Jobs by id (``POST /api/jobs``), pruned of old finished ones."""

    def __init__(self, ttl_s: float = 900.0, keep: int = 16) -> None:
        self.ttl_s, self.keep = ttl_s, keep
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def add(self, job: Job) -> None:
        self.prune()
        with self._lock:
            self._jobs[job.id] = job

    def get(self, job_id: str) -> Job:
        self.prune()
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise ApiError(
                404, f"no job {job_id[:40]!r} (finished jobs are kept {self.ttl_s / 60:g} minutes)"
            )
        return job

    def delete(self, job_id: str) -> Job | None:
        """Remove a finished job and its files (``None``), or cancel one that has not finished
        (the job: it stays, ``cancelled`` once its worker has stopped, until deleted or expired)."""
        job = self.get(job_id)
        if job.finished is None:
            job.request_cancel(f"job {job.id} was cancelled (DELETE)")
            return job
        with self._lock:
            self._jobs.pop(job_id, None)
        job.remove_files()
        return None

    def prune(self) -> None:
        now = time.time()
        with self._lock:
            done = [(j.finished, j) for j in self._jobs.values() if j.finished is not None]
            finished = [j for _, j in sorted(done, key=lambda pair: pair[0])]
            ended = {id(j): t for t, j in done}
            expired = [j for j in finished if now - ended[id(j)] > self.ttl_s]
            surplus = [j for j in finished if j not in expired][
                : max(0, len(finished) - len(expired) - self.keep)
            ]
            for job in expired + surplus:
                del self._jobs[job.id]
        for job in expired + surplus:
            job.remove_files()

    def clear(self) -> None:
        with self._lock:
            jobs, self._jobs = list(self._jobs.values()), {}
        for job in jobs:
            job.remove_files()


async def until_done(future: Future, job: Job, request: Request) -> None:
    """Wait for the job; if the client disconnects meanwhile, cancel it (its worker is freed at
    the next batch of tiles, a queued job never starts). The disconnect is awaited on the ASGI
    ``receive`` channel (the body is read by now: ``http.disconnect`` is all that can come), not
    polled with ``Request.is_disconnected``, which missed it at times for a running job."""

    async def client_gone() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            await asyncio.sleep(DISCONNECT_POLL_S)  # a stray empty body message: do not spin

    waiting, gone = asyncio.wrap_future(future), asyncio.ensure_future(client_gone())
    try:
        if waiting in (await asyncio.wait({waiting, gone}, return_when=asyncio.FIRST_COMPLETED))[0]:
            return
        if not job.request_cancel("the client left"):
            await asyncio.wait({waiting})  # the worker stops at its next batch: then delete
        raise ClientGone()
    finally:
        gone.cancel()
