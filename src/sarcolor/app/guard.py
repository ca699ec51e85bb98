"""Requests a browser may carry to the server on another site's behalf, refused before routing.

* **Host** (DNS rebinding): a page at ``http://evil.example:8000`` whose name its owner points at
  ``127.0.0.1`` reaches a loopback server with ``Host: evil.example:8000``. A server bound to one
  address answers only to the names that address can have (:meth:`ServeOptions.allowed_hosts
  <sarcolor.app.options.ServeOptions.allowed_hosts>`) and to its own port: 400 otherwise.
* **Origin** (cross-site requests): any page the user opens may POST a form to the server; the
  browser names the page in ``Origin``. A request whose ``Origin`` is not the server's own
  (``http(s)://`` + its ``Host``) is refused with 403. Requests without ``Origin`` (curl,
  scripts, same-origin GETs) pass.

A pure ASGI middleware (not Starlette's ``BaseHTTPMiddleware``, whose wrapped ``receive`` hides
the client's ``http.disconnect`` from the server's watch on ``receive``, which cancels abandoned
jobs).
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send


def split_host(host: str) -> tuple[str, int | None]:
    """``name:port`` (``[v6]:port``) → (lower-case name, port or ``None``); a bad port is -1."""
    host = host.strip().lower()
    name, sep, port = host.rpartition(":")
    if not sep or name.endswith(":") or name.startswith("[") != name.endswith("]"):
        return host, None  # no port (or a bare IPv6 address)
    return name, int(port) if port.isdigit() else -1


class RequestGuard:
    """Refuse a foreign ``Host`` (400) or ``Origin`` (403) with a JSON error."""

    def __init__(self, app: ASGIApp, hosts: Iterable[str] | None = None, port: int | None = None) -> None:
        """``hosts``: names accepted in ``Host`` (``None``: any); ``port``: the port served."""
        self.app = app
        self.hosts = None if hosts is None else {h.lower() for h in hosts}
        self.port = port

    def refusal(self, headers: Headers) -> tuple[int, str] | None:
        host = headers.get("host", "")
        name, port = split_host(host)
        if self.hosts is not None and name not in self.hosts:
            return 400, f"this server answers only to {', '.join(sorted(self.hosts))}, not {host[:80]!r}"
        if port is not None and self.port and port != self.port:
            return 400, f"this server answers on port {self.port}, not {host[:80]!r}"
        origin = headers.get("origin")
        if origin is not None and origin.lower() not in (f"http://{host.lower()}", f"https://{host.lower()}"):
            return 403, f"cross-origin requests are refused ({origin[:80]!r} is not this server's page)"
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refused = self.refusal(Headers(scope=scope))
            if refused is not None:
                status, message = refused
                await JSONResponse({"error": message}, status)(scope, receive, send)
                return
        await self.app(scope, receive, send)
