"""The options of ``sarcolor serve`` (and ``python -m sarcolor.app``), declared once.

The CLI derives the flags from these fields (:func:`sarcolor.flags.add_options`); the
command's own argument, ``--models PATH [PATH ...]``, is plain argparse, and
``--terrain-classifier`` is :class:`sarcolor.terrain.options.TerrainOptions`'.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from sarcolor.config import DEVICE_HELP, DeviceName
from sarcolor.errors import SarcolorError
from sarcolor.options import check_fields, option

LOOPBACK_NAMES = ["127.0.0.1", "localhost", "::1", "[::1]"]
WILDCARD_HOSTS = ("0.0.0.0", "::", "[::]")


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
    max_job_tiles: int = option(
        12000,
        low=1,
        metavar="N",
        help="most 256² tiles one image may need (work per job; a 400 MP square is ~10,900); 413 past it",
    )
    upload_timeout_s: float = option(
        30.0,
        low=0.0,
        low_open=True,
        metavar="S",
        help="seconds an upload may take, plus one per 64 kB received; slower uploads get 408",
    )
    tmp_dir: str | None = option(
        None,
        metavar="DIR",
        help="folder in which the server makes its own sarcolor-serve-* folder for uploads and results",
        default_text="the system's temporary folder",
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

    def allowed_hosts(self) -> list[str] | None:
        """The ``Host`` header names the server answers to (DNS-rebinding guard): the address it
        is bound to, and the loopback names for a loopback address; ``None`` (any) for 0.0.0.0/::."""
        if self.host in WILDCARD_HOSTS:
            return None
        try:
            loopback = ipaddress.ip_address(self.host.strip("[]")).is_loopback
        except ValueError:  # a name
            loopback = self.loopback
        names = [self.host, f"[{self.host}]" if ":" in self.host and "[" not in self.host else self.host]
        return sorted(set(names + (LOOPBACK_NAMES if loopback else [])))
