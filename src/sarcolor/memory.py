"""Memory budgets: refusing, from a file's header, work that would not fit in memory.

A decoder asked for more memory than the machine has ends in ``MemoryError``, or in the kernel
killing the process, after minutes of swapping. Readers that know from a header what decoding
will cost (:mod:`sarcolor.data.io`) ask :func:`check_memory` first and refuse in one line that
says how much is needed and how much is available.

Available memory is what this process may still use: the kernel's ``MemAvailable``, lowered to
what a cgroup (container) limit leaves (v2 ``memory.max``, v1 ``memory.limit_in_bytes``) and to
what an address-space limit (``ulimit -v``, ``RLIMIT_AS``) leaves beside the address space already
mapped. ``SARCOLOR_MEMORY_LIMIT`` (bytes, or with a ``K``/``M``/``G`` suffix) replaces the first
two; an address-space limit still applies, since no setting lets the process map more.

Example:
    >>> parse_size("1.5G")
    1500000000
"""

from __future__ import annotations

import os
from pathlib import Path

from sarcolor.errors import SarcolorError, quote

MEMORY_ENV = "SARCOLOR_MEMORY_LIMIT"
_UNITS = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}


def parse_size(text: str, name: str = MEMORY_ENV, what: str = "bytes") -> int:
    """``"2G"``, ``"500M"``, ``"123"`` → bytes (or pixels…), as set in the variable ``name``.

    Raises:
        SarcolorError: not a size ≥ 0, in one line naming the variable and its value.
    """
    given = quote(repr(text))
    text = text.strip().upper().removesuffix("B")
    unit = text[-1:] if text[-1:] in _UNITS else ""
    try:
        value = float(text[: len(text) - len(unit)])
    except ValueError:
        raise SarcolorError(
            f"{name}={given}: expected {what}, a number with K, M or G or none (500M)"
        ) from None
    if not value >= 0 or value == float("inf"):
        raise SarcolorError(f"{name}={given}: expected {what} ≥ 0")
    return int(value * _UNITS[unit])


def env_size(name: str, default: int, what: str = "bytes") -> int:
    """The size set in the environment variable ``name`` (:func:`parse_size`), else ``default``."""
    text = os.environ.get(name, "")
    return parse_size(text, name, what) if text.strip() else default


def available_memory() -> int | None:
    """Bytes this process may still allocate, or ``None`` when the system does not say."""
    return _budget()[0]


def _budget() -> tuple[int | None, bool]:
    """:func:`available_memory`, and whether the address-space limit is what bounds it."""
    if os.environ.get(MEMORY_ENV):
        found = [parse_size(os.environ[MEMORY_ENV])]
    else:
        found = [m for m in (_meminfo_available(), _cgroup_left()) if m is not None]
    space = _address_space_left()
    if space is not None and (not found or space < min(found)):
        return space, True
    return (min(found) if found else None), False


class OverBudget(SarcolorError):
    """Work refused before it starts because it would not fit in the memory available
    (the server answers it 413, as other work too large for it)."""


def check_memory(path: str | Path, need: int, what: str, hint: str = "") -> None:
    """Refuse ``what`` (e.g. ``"19000×19000 pixels"``) when ``need`` bytes are not available.

    Raises:
        OverBudget: ``FILE: 19000×19000 pixels need about 14.4 GB of memory, 8.1 GB available…``.
    """
    free, address_space = _budget()
    if free is not None and need > free:
        bound = "the address-space limit, ulimit -v" if address_space else f"{MEMORY_ENV} overrides"
        raise OverBudget(
            f"{quote(path)}: {what} need about {need / 1e9:.1f} GB of memory, {free / 1e9:.1f} GB "
            f"available{'; ' + hint if hint else ''} ({bound})"
        )


def _address_space_left() -> int | None:
    """What ``RLIMIT_AS`` (``ulimit -v``) leaves beside the address space mapped now (``VmSize``);
    ``None``: no limit. Every allocation counts against it, touched or not."""
    try:
        import resource  # POSIX only

        limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    except (ImportError, OSError, ValueError):
        return None
    if limit == resource.RLIM_INFINITY or limit < 0:
        return None
    return max(0, limit - (_status_bytes("VmSize") or 0))


def _status_bytes(key: str) -> int | None:
    """A ``kB`` figure of ``/proc/self/status`` (``VmSize``, ``VmHWM``…) in bytes."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(f"{key}:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cgroup_left() -> int | None:
    """What a cgroup memory limit leaves (v2 ``memory.max``, v1 ``memory.limit_in_bytes``),
    counting the page cache as free, as ``MemAvailable`` does; ``None``: no limit."""
    for limit_file, usage_file, cache_key in (
        ("memory.max", "memory.current", "file"),
        ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes", "total_cache"),
    ):
        root = Path("/sys/fs/cgroup")
        try:
            if limit_file == "memory.max":
                with open("/proc/self/cgroup") as fh:
                    entry = next((line for line in fh if line.startswith("0::")), "0::/")
                root = root / entry.strip()[3:].lstrip("/")
            limit = (root / limit_file).read_text().strip()
            if limit == "max" or int(limit) >= 1 << 60:
                return None
            stat = (root / limit_file).with_name("memory.stat").read_text().split()
            cache = dict(zip(stat[::2], stat[1::2], strict=False)).get(cache_key, "0")
            return max(0, int(limit) - int((root / usage_file).read_text()) + int(cache))
        except (OSError, ValueError):
            continue
    return None
