"""Errors the API answers with: an HTTP status and one sentence, sent as ``{"error": "..."}``."""

from __future__ import annotations

import errno
from pathlib import Path

DISK_FULL = "the server's temporary folder is full (disk full); try again later"


class ApiError(Exception):
    """A request the server refuses: ``status`` (400, 403, 404, 408, 409, 413, 422, 503, 507) and
    one sentence."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ClientGone(Exception):
    """The client closed the connection before its upload was complete."""


def is_disk_full(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or what caused it) says the disk is full: ENOSPC/EDQUOT, GDAL's "No space
    left", or sarcolor's own one-line "disk full" (:func:`sarcolor.outputs.write_failure`)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT):
            return True
        text = str(exc)
        if "No space left" in text or "disk full" in text or "os error 28" in text:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def public_message(message: str, replacements: dict[Path, str]) -> str:
    """One line for the client: server paths replaced by the names the client knows.

    Library errors name the file they failed on (``/tmp/…/job-…/input.png: cannot read image``);
    the client sent ``scene.png`` and must not learn the server's folders.
    """
    text = message.strip().splitlines()[0] if message.strip() else "unknown error"
    for path, name in sorted(replacements.items(), key=lambda item: -len(str(item[0]))):
        text = text.replace(str(path), name)
    return text
