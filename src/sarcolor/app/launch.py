"""Starting the server: ``python -m sarcolor.app --models PATH [PATH ...] [--port N]`` (``sarcolor serve``).

The socket is bound here, before uvicorn starts, so ``--port 0`` picks a free port and the line
``sarcolor: serving N model(s) on http://HOST:PORT`` names it (tests start servers this way).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from sarcolor.errors import SarcolorError
from sarcolor.inference.modelset import TerrainClassifier, format_models, load_registry

LOOPBACK_NAMES = ["127.0.0.1", "localhost", "::1", "[::1]"]
DEFAULTS = {"host": "127.0.0.1", "port": 8000, "workers": 1, "queue_size": 8, "max_upload_mb": 64.0}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``sarcolor serve`` (also used by ``python -m sarcolor.app``)."""
    parser.add_argument(
        "--models", nargs="+", required=True, metavar="PATH", help="run folders, checkpoints or model sets"
    )
    parser.add_argument(
        "--host", default=DEFAULTS["host"], help="address to bind (0.0.0.0 exposes it; default %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULTS["port"], help="port; 0 picks a free one (default %(default)s)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=DEFAULTS["workers"],
        help="models running at a time, ≥ 1 (default %(default)s)",
    )
    parser.add_argument(
        "--queue-size",
        type=int,
        default=DEFAULTS["queue_size"],
        help="requests waiting beyond the running ones; 503 past it (default %(default)s)",
    )
    parser.add_argument(
        "--max-upload-mb",
        type=float,
        default=DEFAULTS["max_upload_mb"],
        help="largest upload, MB (default %(default)s)",
    )
    parser.add_argument(
        "--max-image-mp", type=float, default=32.0, help="largest PNG/JPEG, megapixels (default %(default)s)"
    )
    parser.add_argument(
        "--tmp-dir",
        type=Path,
        default=None,
        help="folder for uploads and results (default: a fresh temporary one)",
    )
    parser.add_argument(
        "--device", default="auto", choices=("auto", "cpu", "cuda"), help="default %(default)s"
    )
    parser.add_argument(
        "--terrain-classifier",
        default=None,
        metavar="MODULE:FUNCTION",
        help="a callable (H, W, 1) SAR → (terrain, confidence) for terrain 'auto'",
    )


def load_classifier(spec: str | None) -> TerrainClassifier | None:
    """``package.module:function`` → the function (``None`` for ``None``)."""
    if not spec:
        return None
    module, _, name = spec.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise SarcolorError(f"--terrain-classifier {spec}: cannot load it ({exc})") from None


def serve(args: argparse.Namespace, echo=print) -> int:
    """Load the models, bind, and serve until interrupted."""
    import torch
    import uvicorn

    from sarcolor.app.server import create_app, default_threads

    if args.workers < 1 or args.queue_size < 0 or args.max_upload_mb <= 0:
        raise SarcolorError("--workers must be ≥ 1, --queue-size ≥ 0 and --max-upload-mb > 0")
    registry = load_registry(args.models, load_classifier(args.terrain_classifier))
    echo(format_models(registry))
    torch.set_num_threads(default_threads(args.workers))  # workers × threads = the cores, not more
    app = create_app(
        registry,
        max_upload_mb=args.max_upload_mb,
        workers=args.workers,
        queue_size=args.queue_size,
        tmp_dir=args.tmp_dir,
        device=args.device,
        max_image_mp=args.max_image_mp,
        allowed_hosts=LOOPBACK_NAMES if args.host in LOOPBACK_NAMES else None,
    )
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host, args.port))
    except OSError as exc:
        raise SarcolorError(f"cannot listen on {args.host}:{args.port} ({exc.strerror})") from None
    sock.listen(2048)  # connections made from now on wait in the backlog until uvicorn accepts them
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    echo(f"sarcolor: serving {len(registry.models)} model(s) on http://{shown}:{port}", flush=True)
    config = uvicorn.Config(app, log_level="info", timeout_graceful_shutdown=5)
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn shuts down gracefully, then re-raises Ctrl-C
        uvicorn.Server(config).run(sockets=[sock])
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
