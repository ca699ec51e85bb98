"""One training process per run folder: an exclusive OS lock held for the whole run.

:func:`claim_run_folder` is the first thing ``train`` does to its run folder, before anything
is written there: it refuses a run folder inside the data folder, creates the folder and takes
an exclusive ``flock`` on ``RUN_DIR/.sarcolor-train.lock`` (which records the holder's process
id, host and command). A second ``train`` (or ``train --resume``, or ``train-terrain``, which
holds its ``--out`` the same way) on the same folder is refused in one line naming the folder
and the holder's PID. The lock file is opened without following links and written only when
it is a plain file of this user: a symbolic link planted there in a run folder handed over by
someone else is refused, never truncated through. The kernel drops the lock when the holder's
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

import errno
import fcntl
import os
import socket
import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from sarcolor.checkpoint import CHECKPOINT_DIR, list_checkpoints
from sarcolor.errors import SarcolorError, quote
from sarcolor.outputs import refuse_inside, remove_stale_temps
from sarcolor.parallel import DistContext

LOCK_NAME = ".sarcolor-train.lock"
_held: dict[Path, int] = {}  # lock file → descriptor, in this process


@contextmanager
def claim_run_folder(
    run_dir: Path,
    data_root: str | None,
    *,
    resume: bool,
    ctx: DistContext | None = None,
    command: str = "train",
) -> Iterator[Path]:
    """Hold ``run_dir`` exclusively for the ``with`` block (see the module docstring).

    ``command`` (``train``, ``train-terrain``) is recorded in the lock and named in refusals.

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
            fd = lock_folder(run_dir, command=command)
            if not resume and list_checkpoints(run_dir):
                hint = "use --resume or another --out" if command == "train" else "choose another --out"
                raise SarcolorError(f"{quote(run_dir)}: run folder already has checkpoints; {hint}")
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


def lock_folder(run_dir: Path, command: str = "train") -> int:
    """Create ``run_dir`` and take its lock for ``sarcolor COMMAND``; the descriptor that holds it.

    Raises:
        SarcolorError: another process holds it (its command and PID, from the lock file, in the
            message), or the lock file is a link or not this user's (see :func:`_open_lock`).
    """
    if run_dir.exists() and not run_dir.is_dir():
        raise SarcolorError(f"{quote(run_dir)}: not a folder; --out takes the run folder")
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_NAME
    fd = _open_lock(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(fd)
        os.close(fd)
        raise SarcolorError(
            f"{quote(run_dir)}: in use by another sarcolor {holder}; "
            "wait for it to finish, or choose another --out"
        ) from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()} {socket.gethostname()} {command}\n".encode(), 0)
    os.fsync(fd)
    _held[path] = fd
    return fd


def _open_lock(path: Path) -> int:
    """Open (or create) the lock file itself, never what a link there points to.

    A run folder may come from someone else: a symbolic link, a hard link or a FIFO planted as
    the lock would make this process truncate and write a file it was never asked to touch.
    The lock is opened without following links (``O_NOFOLLOW``), not truncated, and used only
    when it is a regular file of this user with no other name.

    Raises:
        SarcolorError: the lock path is a link, or not a regular file of this user.
    """
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o644)  # not truncated: the holder's id is read
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        raise SarcolorError(
            f"{quote(path)}: the run lock is a symbolic link; sarcolor does not follow it "
            "(remove it if the run folder is yours)"
        ) from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1 or info.st_uid != os.getuid():
        os.close(fd)
        raise SarcolorError(
            f"{quote(path)}: the run lock is not a plain file of yours (a hard link, a device or "
            "another user's); sarcolor does not write to it (remove it if the run folder is yours)"
        )
    return fd


def release(run_dir: Path, fd: int | None) -> None:
    """Drop the lock taken by :func:`lock_folder` (the lock file stays, for the next run)."""
    if fd is not None and _held.pop(run_dir / LOCK_NAME, None) == fd:
        os.close(fd)


def _holder(fd: int) -> str:
    """``train (PID 1234)`` (``on host`` when it is another machine) from a lock file."""
    parts = os.pread(fd, 256, 0).decode("utf-8", "replace").split()
    command = quote(parts[2]) if len(parts) > 2 else "train"  # older lock files: train's
    if not parts or not parts[0].isdigit():
        return f"{command} (PID unknown: it is starting)"
    here = socket.gethostname()
    where = f" on {quote(parts[1])}" if len(parts) > 1 and parts[1] != here else ""
    return f"{command} (PID {parts[0]}{where})"


def _close_in_child() -> None:
    """After a fork: the child lets go of the parent's locks (the parent still holds them)."""
    for fd in _held.values():
        with suppress(OSError):
            os.close(fd)
    _held.clear()


os.register_at_fork(after_in_child=_close_in_child)
