"""Errors the API answers with: an HTTP status and one sentence, sent as ``{"error": "..."}``."""

from __future__ import annotations

from pathlib import Path


class ApiError(Exception):
    """A request the server refuses: ``status`` (400, 404, 409, 413, 422, 503) and one sentence."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ClientGone(Exception):
    """The client closed the connection before its upload was complete."""


def public_message(message: str, replacements: dict[Path, str]) -> str:
    """One line for the client: server paths replaced by the names the client knows.

    Library errors name the file they failed on (``/tmp/…/job-…/input.png: cannot read image``);
    the client sent ``scene.png`` and must not learn the server's folders.
    """
    text = message.strip().splitlines()[0] if message.strip() else "unknown error"
    for path, name in sorted(replacements.items(), key=lambda item: -len(str(item[0]))):
        text = text.replace(str(path), name)
    return text
