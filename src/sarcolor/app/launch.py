"""Starting the server: ``python -m sarcolor.app --models PATH [PATH ...] [--port N]`` (``sarcolor serve``).

The socket is bound here, before uvicorn starts, so ``--port 0`` picks a free port and the line
``sarcolor: serving N model(s) on http://HOST:PORT`` names it (tests start servers this way).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import shutil
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from sarcolor.app.options import ServeOptions
from sarcolor.errors import SarcolorError
from sarcolor.flags import add_options, build
from sarcolor.inference.modelset import format_models, load_registry
from sarcolor.terrain.options import TerrainOptions, load_terrain_classifier


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``sarcolor serve`` (also used by ``python -m sarcolor.app``): ``--models``
    and the flags of :class:`~sarcolor.app.options.ServeOptions`."""
    parser.add_argument(
        "--models", nargs="+", required=True, metavar="PATH", help="run folders, checkpoints or model sets"
    )
    add_options(parser, ServeOptions, prefix="serve.", defaults=True)
    add_options(parser, TerrainOptions, prefix="terrain.", names=["terrain_classifier"], defaults=True)


def serve(args: argparse.Namespace, echo=print) -> int:
    """Load the models, bind, and serve until interrupted."""
    import torch
    import uvicorn

    from sarcolor.app.server import create_app, default_threads

    options = build(args, ServeOptions, "serve.").validate("flags")
    classifier = load_terrain_classifier(getattr(args, "terrain.terrain_classifier"))
    registry = load_registry(args.models, classifier)
    echo(format_models(registry))
    torch.set_num_threads(default_threads(options.workers))  # workers × threads = the cores, not more
    host, port = options.host, options.port
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        raise SarcolorError(f"cannot listen on {host}:{port} ({exc.strerror})") from None
    sock.listen(2048)  # connections made from now on wait in the backlog until uvicorn accepts them
    host, port = sock.getsockname()[:2]
    app = create_app(
        registry,
        max_upload_mb=options.max_upload_mb,
        workers=options.workers,
        queue_size=options.queue_size,
        tmp_dir=Path(options.tmp_dir) if options.tmp_dir else None,
        device=options.device,
        max_image_mp=options.max_image_mp,
        max_job_tiles=options.max_job_tiles,
        upload_timeout_s=options.upload_timeout_s,
        allowed_hosts=options.allowed_hosts(),
        port=port,
    )
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    echo(f"sarcolor: serving {len(registry.models)} model(s) on http://{shown}:{port}", flush=True)
    try:
        with contextlib.suppress(KeyboardInterrupt):  # uvicorn shuts down gracefully, then re-raises Ctrl-C
            config = uvicorn.Config(app, log_level="info", timeout_graceful_shutdown=5)
            uvicorn.Server(config).run(sockets=[sock])
    finally:  # the app removes its folder at shutdown; also when stopped before it started
        shutil.rmtree(app.state.tmp_dir, ignore_errors=True)
    echo("sarcolor: stopped")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sarcolor.app", description="Serve the sarcolor web app and API."
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    try:
        return serve(args)
    except SarcolorError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
