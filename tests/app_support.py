"""Helpers of the app tests: real checkpoints for model sets, a real server in a subprocess,
raw-socket requests (for uploads that stop part-way), and a small terrain classifier."""

from __future__ import annotations

import io
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from conftest import untrained_checkpoint

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
START_TIMEOUT_S = 120  # importing torch on a busy 2-core machine can take a while


def terrain_checkpoint(
    run_dir: Path, terrains: Sequence[str] = (), *, bands: Sequence[str] = ("VV",), gain: float = 50.0
) -> Path:
    """A run folder with one real checkpoint of a freshly initialised (seeded) model whose config
    says it was trained on ``terrains``; ``gain`` makes outputs follow the input."""
    from sarcolor.checkpoint import checkpoint_path

    return untrained_checkpoint(checkpoint_path(run_dir, 0), bands=bands, gain=gain, terrains=terrains)


def brightness_terrain(image: np.ndarray) -> tuple[str, float]:
    """A terrain classifier for the tests: dark patches are agri, bright ones grassland.

    Real classifiers plug in the same way (``--terrain-classifier MODULE:FUNCTION``).
    """
    mean = float(image.mean())
    return ("agri", 0.5 + abs(0.5 - mean)) if mean < 0.5 else ("grassland", 0.5 + abs(mean - 0.5))


class Server:
    """``python -m sarcolor.app --models PATHS --port 0 ...`` in a subprocess, its output collected
    (``entry`` ``("-m", "sarcolor.cli.main", "serve")`` starts it through the ``sarcolor`` CLI)."""

    def __init__(
        self,
        paths: Sequence[Path],
        tmp_dir: Path,
        *options: str,
        cwd: Path | None = None,
        entry: Sequence[str] = ("-m", "sarcolor.app"),
    ) -> None:
        self.tmp_dir = tmp_dir
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))
        command = [
            sys.executable,
            *entry,
            "--models",
            *map(str, paths),
            "--port",
            "0",
            "--tmp-dir",
            str(tmp_dir),
        ]
        self.process = subprocess.Popen(
            [*command, *options],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=cwd or tmp_dir.parent,
            env=env,
        )
        self.lines: list[str] = []
        self._ready = threading.Event()
        self.url = ""
        threading.Thread(target=self._read, daemon=True).start()
        if not self._ready.wait(START_TIMEOUT_S) or not self.url:
            self.stop()
            raise RuntimeError("server did not start:\n" + self.output)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            found = re.search(r"serving \d+ model\(s\) on (http://[\d.]+:\d+)", line)
            if found:
                self.url = found[1]
                self._ready.set()
        self._ready.set()

    @property
    def output(self) -> str:
        return "".join(self.lines)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def host(self) -> str:
        return self.url.split("//")[1].rsplit(":", 1)[0]

    def memory_mb(self, field: str = "VmHWM") -> float:
        """The server's resident memory from /proc: ``VmRSS`` now, ``VmHWM`` its peak so far."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(re.search(rf"^{field}:\s+(\d+) kB", status, re.M)[1]) / 1024

    def job_folders(self) -> list[Path]:
        """The job folders in the server's own folder, ``TMP/sarcolor-serve-<pid>-*``."""
        return sorted(self.tmp_dir.glob(f"sarcolor-serve-{self.process.pid}-*/job-*"))

    def wait_for(self, condition, timeout: float = 60.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; server output:\n{self.output[-3000:]}")
            time.sleep(0.1)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode


def multipart(
    fields: dict[str, str], filename: str, content: bytes, boundary: str = "sarcolortestboundary"
) -> bytes:
    """A multipart/form-data body: text ``fields``, then the ``file`` part."""
    out = io.BytesIO()
    for name, value in fields.items():
        out.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    out.write(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
    )
    out.write(content)
    out.write(f"\r\n--{boundary}--\r\n".encode())
    return out.getvalue()


def open_upload(
    server: Server, path: str, head: bytes, *, length: int | None, boundary="sarcolortestboundary"
):
    """A raw connection that has sent the request line and headers, and ``head`` of the body."""
    sock = socket.create_connection((server.host, server.port), timeout=30)
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {server.host}:{server.port}",
        f"Content-Type: multipart/form-data; boundary={boundary}",
        f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked",
        "Connection: close",
    ]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    if head:
        sock.sendall(head if length is not None else chunk(head))
    return sock


def chunk(data: bytes) -> bytes:
    """One HTTP/1.1 chunk of a chunked body."""
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (lower-case) and body of the response on a raw connection (it closes)."""
    data = b""
    while True:
        try:
            part = sock.recv(65536)
        except ConnectionResetError:
            break
        if not part:
            break
        data += part
    sock.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = dict(
        (k.strip().lower(), v.strip()) for k, v in (line.split(":", 1) for line in lines[1:] if ":" in line)
    )
    return status, headers, body


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def bomb_png(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares ``width × height`` grey pixels (a decompression bomb)."""

    def block(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (width + 1) * 64, 9)  # a few rows of zeros: the rest is "missing"
    return b"\x89PNG\r\n\x1a\n" + block(b"IHDR", header) + block(b"IDAT", rows) + block(b"IEND", b"")
