"""The web app and HTTP API (``sarcolor serve``): a page at ``/`` and the API under ``/api/``.

Needs the ``app`` extra (FastAPI, uvicorn, python-multipart). See docs/app.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sarcolor.app.server import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    """``create_app`` on first use: ``sarcolor.app.options`` (the serve flags) loads no FastAPI or torch."""
    if name == "create_app":
        from sarcolor.app.server import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
