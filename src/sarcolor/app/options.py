"""The options of ``sarcolor serve`` (and ``python -m sarcolor.app``), declared once.

The CLI derives the flags from these fields (:func:`sarcolor.cli.options.add_options`); the
command's own argument, ``--models PATH [PATH ...]``, is plain argparse, and
``--terrain-classifier`` is :class:`sarcolor.terrain.options.TerrainOptions`'.
"""

from __future__ import annotations

from dataclasses import dataclass

from sarcolor.config import DEVICE_HELP, DeviceName
from sarcolor.errors import SarcolorError
from sarcolor.options import check_fields, option

LOOPBACK_NAMES = ["127.0.0.1", "localhost", "::1", "[::1]"]


@dataclass(frozen=True)
class ServeOptions:
    """Where the server listens, how much it takes at a time, and where it runs the models."""

    host: str = option(
        "127.0.0.1", metavar="ADDRESS", help="address to bind; 0.0.0.0 exposes the server to the network"
    )
    port: int = option(8000, low=0, high=65535, help="port; 0 picks a free one (the start line names it)")
    workers: int = option(
        1, low=1, help="models running at a time (threads; torch gets cores ÷ workers each)"
    )
    queue_size: int = option(8, low=0, help="requests waiting beyond the running ones; 503 past it")
    max_upload_mb: float = option(64.0, low=0.0, low_open=True, metavar="MB", help="largest request body")
    max_image_mp: float = option(
        32.0,
        low=0.0,
        low_open=True,
        metavar="MP",
        help="largest PNG/JPEG in megapixels (colorized in memory)",
    )
    tmp_dir: str | None = option(
        None,
        metavar="DIR",
        help="folder for uploads and results, one job-* folder per request",
        default_text="a fresh temporary folder",
    )
    device: DeviceName = option("auto", help=DEVICE_HELP)

    def validate(self, source: str = "options") -> ServeOptions:
        check_fields(self, source)
        if not self.host:
            raise SarcolorError(f"{source}: --host may not be empty")
        return self

    @property
    def loopback(self) -> bool:
        return self.host in LOOPBACK_NAMES
