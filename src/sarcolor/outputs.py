"""Writing outputs safely: atomic replacement, and checks made before long work starts.

Every file sarcolor writes — checkpoints, images, GeoTIFFs, JSON, reports, figures — goes
through :func:`atomic_write`: a crash, Ctrl-C or full disk part-way leaves either the previous
file or nothing under the name, never a torn one, and a failed write (a full disk above all) is
one line naming the file. Commands check their output locations with :func:`ensure_writable`
and :func:`check_free_space` before the work, not after it, and :func:`refuse_inside` keeps
outputs out of their inputs' folders.

Temporary files are named ``.<name>.<pid>-<random>.tmp`` after the process writing them, so
that :func:`remove_stale_temps` deletes those of killed writers and never those of a live one.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from sarcolor.errors import SarcolorError, first_line, quote

_TEMP_NAME = re.compile(r"\.(\d+)-[a-z0-9_]+\.tmp$")  # mkstemp's random part: [a-z0-9_]
_FULL_BELOW = 1 << 20  # a write that failed with less free than this failed on a full disk


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

    Raises:
        SarcolorError: the write failed for a reason of the disk (full, read-only, I/O error),
            in one line naming ``path``; the previous file is intact. Other errors of ``write``
            pass through unchanged.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp: Path | None = None
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}-", suffix=".tmp", dir=path.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual mode
        os.replace(tmp, path)
    except SarcolorError:
        raise
    except Exception as exc:  # the temp file still fills the disk here: measure before removing it
        failure = write_failure(path, exc)
        if failure is None:
            raise
        raise failure from exc
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def write_failure(path: Path, exc: BaseException) -> SarcolorError | None:
    """The one-line error for a write of ``path`` that failed with ``exc``; ``None`` for a bug.

    Any OSError (GDAL's "Write failed" included), and library errors that report an I/O error
    (safetensors), are the disk's; a failure with under 1 MB left free is a full disk.
    """
    text = first_line(exc)
    cause = exc.__cause__ or exc.__context__
    io_error = isinstance(exc, OSError) or "I/O error" in text or "os error" in text
    if not io_error:
        return None
    free = _free_bytes(path.parent)
    full = getattr(exc, "errno", None) == errno.ENOSPC or "No space left" in text or "os error 28" in text
    if full or (free is not None and free < _FULL_BELOW):
        reason = f"disk full ({(free or 0) / 1e6:.1f} MB free)"
    elif isinstance(exc, OSError) and exc.strerror:
        reason = exc.strerror
    else:
        reason = text + (f": {first_line(cause)}" if cause is not None else "")
    kept = "the previous file is intact" if path.exists() else "nothing written"
    return SarcolorError(f"{quote(path)}: cannot write ({reason}); {kept}")


def _free_bytes(folder: Path) -> int | None:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


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


def remove_stale_temps(folder: Path, unnamed: bool = False) -> list[Path]:
    """Delete the :func:`atomic_write` temp files in ``folder`` whose writer is dead; returns them.

    ``unnamed``: also those without a writer's id (written by versions before ids were
    recorded), for a folder the caller holds exclusively (a locked run folder).
    """
    removed = []
    for path in folder.glob(".*.tmp"):
        m = _TEMP_NAME.search(path.name)
        if m is None and not unnamed:
            continue
        if m is not None and (int(m[1]) == os.getpid() or process_alive(int(m[1]))):
            continue
        path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def refuse_inside(out: str | Path, folder: str | Path, role: str, flag: str) -> None:
    """Refuse an output ``out`` that is ``folder`` or inside it (e.g. a run folder in the data).

    Example:
        >>> refuse_inside("data/v_2/run", "data", "the data folder", "--out")
        Traceback (most recent call last):
        ...
        sarcolor.errors.SarcolorError: data/v_2/run: inside the data folder data, ... choose another --out
    """
    out_abs, inside = Path(out).resolve(), Path(folder).resolve()
    if out_abs == inside or inside in out_abs.parents:
        raise SarcolorError(
            f"{quote(out)}: inside {role} {quote(folder)}, whose files it would mix with; "
            f"choose another {flag}"
        )


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
