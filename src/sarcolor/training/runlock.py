"""One training process per run folder: an exclusive OS lock held for the whole run.

:func:`claim_run_folder` is the first thing ``train`` does to its run folder, before anything
is written there: it refuses a run folder inside the data folder, creates the folder and takes
an exclusive ``flock`` on ``RUN_DIR/.sarcolor-train.lock`` (which records the holder's process
id and host). A second ``train`` (or ``train --resume``) on the same folder is refused in one
line naming the folder and the holder's PID. The kernel drops the lock when the holder's
process ends however it ends, so a SIGKILLed or crashed run never leaves a stale lock: the
lock file stays, and the next run takes it over.

Under ``torchrun`` rank 0 takes the lock for the run and tells the other ranks whether it got
it, so every rank of a refused launch stops with the same message. Forked children (data
loader workers) close their copy of the lock at fork, so a killed trainer whose workers linger
for a moment does not keep the folder locked through them.

With the lock held, the temporary files that killed writers left in ``checkpoints/`` are
removed (:func:`~sarcolor.outputs.remove_stale_temps`; those of live processes never are),
and a fresh run refuses a folder that has checkpoints (re-checked under the lock, so two
launches racing past the command line's check cannot both start).
"""

from __future__ import annotations

import fcntl
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from sarcolor.checkpoint import CHECKPOINT_DIR, list_checkpoints
from sarcolor.errors import SarcolorError, quote
from sarcolor.outputs import refuse_inside, remove_stale_temps
from sarcolor.training.distributed import DistContext

LOCK_NAME = ".sarcolor-train.lock"
_held: dict[Path, int] = {}  # lock file → descriptor, in this process


@contextmanager
def claim_run_folder(
    run_dir: Path, data_root: str | None, *, resume: bool, ctx: DistContext | None = None
) -> Iterator[Path]:
    """Hold ``run_dir`` exclusively for the ``with`` block (see the module docstring).

    Raises:
        SarcolorError: the folder is inside ``data_root``, cannot be created (a file of that
            name, a read-only disk), another process holds it, or a fresh run (not ``resume``)
            finds checkpoints in it.
    """
    ctx = ctx or DistContext()
    if data_root:
        refuse_inside(run_dir, data_root, "the data folder", "--out")
    refusal, fd = None, None
    if ctx.is_main:
        try:
            fd = lock_folder(run_dir)
            if not resume and list_checkpoints(run_dir):
                raise SarcolorError(
                    f"{quote(run_dir)}: run folder already has checkpoints; use --resume or another --out"
                )
            remove_stale_temps(run_dir / CHECKPOINT_DIR, unnamed=True)
        except SarcolorError as exc:
            refusal = str(exc)
        except OSError as exc:  # e.g. a file where the folder should be: every rank stops with it
            refusal = f"{quote(exc.filename or run_dir)}: {exc.strerror or exc}"
        except BaseException:
            release(run_dir, fd)
            raise
    refusal = ctx.share(refusal)
    if refusal is not None:
        release(run_dir, fd)
        raise SarcolorError(refusal)
    try:
        yield run_dir
    finally:
        release(run_dir, fd)


def lock_folder(run_dir: Path) -> int:
    """Create ``run_dir`` and take its lock; the descriptor that holds it.

    Raises:
        SarcolorError: another process holds it (its PID, from the lock file, in the message).
    """
    if run_dir.exists() and not run_dir.is_dir():
        raise SarcolorError(f"{quote(run_dir)}: not a folder; --out takes the run folder")
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # not truncated: the holder's id is read
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(fd)
        os.close(fd)
        raise SarcolorError(
            f"{quote(run_dir)}: in use by another sarcolor train ({holder}); "
            "wait for it to finish, or choose another --out"
        ) from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
    os.fsync(fd)
    _held[path] = fd
    return fd


def release(run_dir: Path, fd: int | None) -> None:
    """Drop the lock taken by :func:`lock_folder` (the lock file stays, for the next run)."""
    if fd is not None and _held.pop(run_dir / LOCK_NAME, None) == fd:
        os.close(fd)


def _holder(fd: int) -> str:
    """``PID 1234`` (``on host`` when it is another machine) from a lock file."""
    parts = os.pread(fd, 256, 0).decode("utf-8", "replace").split()
    if not parts or not parts[0].isdigit():
        return "PID unknown: it is starting"
    here = socket.gethostname()
    return f"PID {parts[0]}" + (f" on {parts[1]}" if len(parts) > 1 and parts[1] != here else "")


def _close_in_child() -> None:
    """After a fork: the child lets go of the parent's locks (the parent still holds them)."""
    for fd in _held.values():
        with suppress(OSError):
            os.close(fd)
    _held.clear()


os.register_at_fork(after_in_child=_close_in_child)
