"""The web app and HTTP API (``sarcolor serve``): a page at ``/`` and the API under ``/api/``.

Needs the ``app`` extra (FastAPI, uvicorn, python-multipart). See docs/app.md.
"""

from sarcolor.app.server import create_app

__all__ = ["create_app"]
