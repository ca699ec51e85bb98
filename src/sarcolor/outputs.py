"""Writing outputs safely: atomic replacement, and checks made before long work starts.

Every file sarcolor writes — checkpoints, images, GeoTIFFs, JSON, reports, figures — goes
through :func:`atomic_write`: a crash, Ctrl-C or full disk part-way leaves either the previous
file or nothing under the name, never a torn one, and a failed write (a full disk above all) is
one line naming the file. Commands check their output locations with :func:`ensure_writable`
and :func:`check_free_space` before the work, not after it, and :func:`refuse_inside` keeps
outputs out of their inputs' folders.

Outputs never replace inputs or foreign files: :func:`check_output` refuses, before the work,
an output path that is (through symlinks) one of the command's inputs, or an existing file the
command did not write, unless ``--overwrite`` asks for it. While the work runs, a file that
another process puts under a planned name is not replaced: :class:`Expected` records what each
name held at the start, and :func:`atomic_write` renames into place only if that is still so.

Temporary files (and folders, for writers that make their own temp files beside their output,
like safetensors) are named ``.<name>.<pid>-<random>.tmp`` after the process writing them, so
that :func:`remove_stale_temps` deletes those of killed writers and never those of a live one;
:func:`interrupt_on_sigterm` turns SIGTERM into Ctrl-C, so a terminated command removes its own.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sarcolor.errors import SarcolorError, first_line, quote

_TEMP_NAME = re.compile(r"\.(\d+)-[a-z0-9_]+\.tmp$")  # mkstemp's random part: [a-z0-9_]
_FOREIGN_TEMP = re.compile(r"\.tmp[A-Za-z0-9]{6}")  # Rust's tempfile: safetensors' own temp files
_NO_HARD_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK, errno.ENOSYS}
_FULL_BELOW = 1 << 20  # a write that failed with less free than this failed on a full disk


def ensure_writable(folder: str | Path) -> Path:
    """Create ``folder`` and prove a file can be written there, before any long work starts.

    Raises:
        OSError: not creatable or not writable (the CLI prints it as one line).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    # mkstemp opens O_EXCL | O_NOFOLLOW: a planted symlink never makes the probe write elsewhere
    fd, probe = tempfile.mkstemp(prefix=".sarcolor-write-test-", dir=folder)
    os.close(fd)
    os.unlink(probe)
    return folder


@dataclass(frozen=True)
class Expected:
    """What an output name held when the command planned it: nothing, or one file.

    :func:`atomic_write` renames into place only while the name still holds it, so a second
    process writing into the same folder is refused, not silently overwritten (or overwriting).
    ``state`` is ``(inode, size, mtime_ns)``, or ``None`` for no file.
    """

    state: tuple[int, int, int] | None

    @classmethod
    def at(cls, path: str | Path) -> Expected:
        """What ``path`` holds now."""
        return cls(_state(Path(path)))


def _state(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def atomic_write(
    path: str | Path,
    write: Callable[[Path], object],
    *,
    expected: Expected | None = None,
    private_folder: bool = False,
) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it into place.

    A crash or Ctrl-C part-way leaves either the previous file or nothing under ``path``.
    With ``expected``, the rename happens only if ``path`` still holds what it did then (see
    :class:`Expected`). ``private_folder``: ``tmp`` lies in a temporary folder of its own, for
    writers that make temp files beside the file they write (safetensors does), so a killed
    writer's leftovers carry its process id too.

    Raises:
        SarcolorError: the write failed for a reason of the disk (full, read-only, I/O error),
            in one line naming ``path``; the previous file is intact. Another process wrote
            ``path`` since ``expected`` was taken. Other errors of ``write`` pass through unchanged.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging: Path | None = None
    try:
        staging = temp_beside(path, folder=private_folder)
        tmp = staging / path.name if private_folder else staging
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual mode
        _commit(tmp, path, expected)
    except SarcolorError:
        raise
    except Exception as exc:  # the temp file still fills the disk here: measure before removing it
        failure = write_failure(path, exc)
        if failure is None:
            raise
        raise failure from exc
    finally:
        if staging is not None:
            _remove(staging)


def temp_beside(path: Path, suffix: str = ".tmp", folder: bool = False) -> Path:
    """A new empty temp file (or ``folder``) beside ``path``, named for :func:`remove_stale_temps`."""
    prefix, where = f".{path.name}.{os.getpid()}-", path.parent
    if folder:
        return Path(tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=where))
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=where)
    os.close(fd)
    return Path(name)


def _commit(tmp: Path, path: Path, expected: Expected | None) -> None:
    """Rename ``tmp`` to ``path``; with ``expected``, only over what ``path`` held then."""
    if expected is not None and expected.state is None:
        try:  # a link never replaces: the no-replace rename
            os.link(tmp, path, follow_symlinks=False)
            return
        except FileExistsError:
            raise _written_meanwhile(path) from None
        except OSError as exc:  # a file system without hard links: check, then rename
            if exc.errno not in _NO_HARD_LINKS:
                raise
    if expected is not None and _state(path) != expected.state:
        raise _written_meanwhile(path)
    os.replace(tmp, path)


class WrittenMeanwhile(SarcolorError):
    """Another process wrote an output since this one planned it: the run stops, whatever
    ``--on-bad-sample`` says (it is no problem of one input)."""


def _written_meanwhile(path: Path) -> SarcolorError:
    return WrittenMeanwhile(
        f"{quote(path)}: written by another process since this one started (two commands writing "
        f"into {quote(path.parent)}?); left as it is"
    )


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


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
    """Delete the temp files and folders (:func:`temp_beside`) in ``folder`` whose writer is dead.

    ``unnamed``: also those without a writer's id (written by versions before ids were
    recorded, and Rust's ``.tmpXXXXXX`` of safetensors), for a folder the caller holds
    exclusively (a locked run folder). Returns what was removed.
    """
    removed = []
    for path in sorted(folder.glob(".*")):
        m = _TEMP_NAME.search(path.name)
        if m is None and not (unnamed and (path.suffix == ".tmp" or _FOREIGN_TEMP.fullmatch(path.name))):
            continue
        if m is not None and (int(m[1]) == os.getpid() or process_alive(int(m[1]))):
            continue
        _remove(path)
        removed.append(path)
    return removed


def check_output(
    path: str | Path,
    *,
    command: str,
    suffixes: Iterable[str],
    inputs: Iterable[tuple[str | Path, str]] = (),
    ours: Callable[[Path], bool] = lambda _: False,
    overwrite: bool = False,
    flag: str = "--out",
) -> Path:
    """Refuse, in one line and before any work, an output that would replace an input or a foreign file.

    The rule of every command: ``path`` ends in one of ``suffixes`` (the kind of file
    ``command`` writes); it is not, through symlinks, one of the ``inputs`` (``(path, role)``;
    a folder stands for every file inside it), whatever ``overwrite`` says; and an existing
    ``path`` is replaced only if ``ours(path)`` recognises it as written by ``command``, or with
    ``overwrite``. Returns ``path``.
    """
    path = Path(path)
    kinds = tuple(suffixes)
    if path.suffix.lower() not in kinds:
        raise SarcolorError(f"{quote(path)}: {command} writes {' or '.join(kinds)} files; name {flag} so")
    real = os.path.realpath(path)
    for given, role in inputs:
        where = os.path.realpath(given)
        if real == where or (os.path.isdir(where) and real.startswith(where.rstrip(os.sep) + os.sep)):
            inside = "" if real == where else "inside "
            raise SarcolorError(
                f"{quote(path)}: is {inside}{role} {quote(given)}, an input of {command}; "
                f"choose another {flag}"
            )
    if os.path.isdir(real):
        raise SarcolorError(f"{quote(path)}: is a folder; {flag} names a file")
    if os.path.lexists(path) and not overwrite and not ours(path):
        raise SarcolorError(
            f"{quote(path)}: exists and was not written by sarcolor {command}; choose another {flag} "
            "or pass --overwrite to replace it"
        )
    return path


@contextlib.contextmanager
def interrupt_on_sigterm() -> Iterator[None]:
    """Within the block, SIGTERM raises KeyboardInterrupt like Ctrl-C, so ``finally`` clauses run
    (:func:`atomic_write` removes its temp file). Left alone outside the main thread."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


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
