"""Receiving a multipart upload into the server's temporary folder, with a size limit.

The body is parsed as it streams in (``python-multipart``'s push parser): the ``file`` part is
written straight to ``FOLDER/upload`` (the client's file name is kept for display only and
never becomes a path), the other parts are short text fields. A body declared (Content-Length)
or found (while streaming) to be over the limit is refused with 413 at once, without reading
the rest. A body must also arrive in time: within ``timeout_s`` plus one second per
:data:`MIN_RATE` bytes received (a client trickling a byte every few seconds, holding a place,
is cut off with 408 after ``timeout_s``). A full disk is 507.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from sarcolor.app.errors import DISK_FULL, ApiError, ClientGone, is_disk_full

FILE_FIELD = "file"
MAX_FIELD_BYTES = 1024  # model and terrain names are short
MAX_PARTS = 16
FRAMING_BYTES = 64 * 1024  # part headers and boundaries, on top of the file itself
UPLOAD_NAME = "upload"
MIN_RATE = 64 * 1024  # bytes a second an upload must average beyond its first timeout_s seconds


@dataclass
class Upload:
    """A received form: the file on disk, its display name and size, and the text fields."""

    path: Path
    filename: str
    size: int
    fields: dict[str, str] = field(default_factory=dict)


def display_name(raw: str) -> str:
    """The client's file name reduced to a harmless label (no folders, no control characters)."""
    base = re.split(r"[\\/]", raw)[-1]
    base = "".join(ch for ch in base if ch.isprintable() and ch not in "\"'<>`")
    return base.strip()[:80] or "upload"


def limit_bytes(max_upload_mb: float) -> int:
    return int(max_upload_mb * 1024 * 1024)


def check_declared_length(request: Request, max_upload_mb: float) -> None:
    """413 when the Content-Length alone shows the body is too large (nothing is read)."""
    declared = request.headers.get("content-length")
    if (
        declared is not None
        and declared.isdigit()
        and int(declared) > limit_bytes(max_upload_mb) + FRAMING_BYTES
    ):
        raise ApiError(413, _too_large(max_upload_mb))


async def receive_upload(
    request: Request, folder: Path, max_upload_mb: float, timeout_s: float = 30.0
) -> Upload:
    """Stream the multipart body of ``request`` into ``folder``.

    Raises:
        ApiError: 400 (not multipart, malformed, no ``file``), 408 (slower than ``timeout_s``
            plus a second per :data:`MIN_RATE` bytes), 413 (over ``max_upload_mb``), 507 (disk full).
        ClientGone: the client disconnected part-way.
    """
    kind, params = parse_options_header(request.headers.get("content-type", ""))
    if kind != b"multipart/form-data" or not params.get(b"boundary"):
        raise ApiError(400, "send the image as multipart/form-data with a 'file' field")
    check_declared_length(request, max_upload_mb)
    form = _Form(folder / UPLOAD_NAME)
    try:
        parser = MultipartParser(params[b"boundary"], form.callbacks())
    except (FormParserError, ValueError):
        raise ApiError(400, "the multipart boundary is invalid") from None
    limit = limit_bytes(max_upload_mb) + FRAMING_BYTES
    received = 0
    loop = asyncio.get_running_loop()
    start = loop.time()
    stream = request.stream()
    try:
        while True:
            remaining = start + timeout_s + received / MIN_RATE - loop.time()
            try:
                chunk = await asyncio.wait_for(anext(stream), max(remaining, 0.0))
            except StopAsyncIteration:
                break
            except TimeoutError:
                raise ApiError(408, _too_slow(received, timeout_s)) from None
            received += len(chunk)
            if received > limit:
                raise ApiError(413, _too_large(max_upload_mb))
            parser.write(chunk)
        parser.finalize()
    except ClientDisconnect:
        raise ClientGone() from None
    except FormParserError:
        raise ApiError(400, "the multipart body is malformed") from None
    except OSError as err:
        if is_disk_full(err):
            raise ApiError(507, DISK_FULL) from None
        raise
    finally:
        form.close()
        await stream.aclose()
    if not form.ended:
        raise ApiError(400, "the multipart body is incomplete (no closing boundary)")
    if form.filename is None:
        raise ApiError(400, "the form has no 'file' field")
    return Upload(form.target, display_name(form.filename), form.size, form.fields)


def _too_slow(received: int, timeout_s: float) -> str:
    return (
        f"the upload was too slow ({received} bytes received; the server waits {timeout_s:g} s plus "
        f"a second per {MIN_RATE // 1024} kB, set by sarcolor serve --upload-timeout-s)"
    )


def _too_large(max_upload_mb: float) -> str:
    return f"the upload is larger than the server's limit of {max_upload_mb:g} MB"


class _Form:
    """Callbacks of the push parser: one file part to disk, short text parts in memory."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.fields: dict[str, str] = {}
        self.filename: str | None = None
        self.size = 0
        self.ended = False
        self.parts = 0
        self._file: BinaryIO | None = None
        self._name = ""
        self._text = bytearray()
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._disposition = b""

    def callbacks(self) -> Any:  # python_multipart's MultipartCallbacks (a TypedDict)
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda data, start, end: self._header_name.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self._header_value.extend(data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def _part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise ApiError(400, f"the form has more than {MAX_PARTS} parts")
        self._name, self._disposition = "", b""
        self._text.clear()

    def _header_end(self) -> None:
        if bytes(self._header_name).strip().lower() == b"content-disposition":
            self._disposition = bytes(self._header_value)
        self._header_name.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        if self._name != FILE_FIELD:
            return
        if self.filename is not None:
            raise ApiError(400, "send one file per request")
        self.filename = options.get(b"filename", b"upload").decode("utf-8", "replace")
        self._file = open(self.target, "wb")  # noqa: SIM115 - closed in _part_end / close()

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._file is not None:
            self._file.write(data[start:end])
            self.size += end - start
        elif len(self._text) + end - start > MAX_FIELD_BYTES:
            raise ApiError(400, f"the form field {self._name[:40]!r} is longer than {MAX_FIELD_BYTES} bytes")
        else:
            self._text.extend(data[start:end])

    def _part_end(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        elif self._name:
            if self._name in self.fields:
                raise ApiError(400, f"the form field {self._name[:40]!r} is given more than once")
            self.fields[self._name] = self._text.decode("utf-8", "replace").strip()

    def _end(self) -> None:
        self.ended = True

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
