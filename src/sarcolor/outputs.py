"""Writing outputs safely: atomic replacement, and checks made before long work starts.

Every file sarcolor writes — checkpoints, images, GeoTIFFs, JSON, reports, figures — goes
through :func:`atomic_write`: a crash, Ctrl-C or full disk part-way leaves either the previous
file or nothing under the name, never a torn one. Commands check their output locations with
:func:`ensure_writable` and :func:`check_free_space` before the work, not after it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from sarcolor.errors import SarcolorError


def ensure_writable(folder: str | Path) -> Path:
    """Create ``folder`` and prove a file can be written there, before any long work starts.

    Raises:
        OSError: not creatable or not writable (the CLI prints it as one line).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    probe = folder / f".sarcolor-write-test-{os.getpid()}"
    probe.write_bytes(b"")
    probe.unlink()
    return folder


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it into place.

    A crash or Ctrl-C part-way leaves either the previous file or nothing under ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual mode
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_free_space(folder: str | Path, need: int, needs: str) -> None:
    """Refuse to start when ``need`` bytes will not fit on ``folder``'s disk.

    ``needs`` says what needs them, e.g. ``"but 3 checkpoints need about"`` →
    ``RUN: 0.10 GB free, but 3 checkpoints need about 0.65 GB``.
    """
    free = shutil.disk_usage(folder).free
    if free < need:
        raise SarcolorError(f"{folder}: {free / 1e9:.2f} GB free, {needs} {need / 1e9:.2f} GB")


def remove_dead_writers(folder: Path, patterns: tuple[str, ...], pid_field: int) -> None:
    """Delete temporary files or folders of writers that are gone (killed before their cleanup).

    Their names hold the writer's process id as the ``pid_field``-th ``-``-separated part
    (e.g. ``.building-s1-<pid>-<random>``); those of live processes are left alone.
    """
    for path in (p for pattern in patterns for p in folder.glob(pattern)):
        with contextlib.suppress(ValueError, IndexError):
            pid = int(path.name.split("-")[pid_field])
            if pid != os.getpid() and not process_alive(pid):
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists (on this machine)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True
