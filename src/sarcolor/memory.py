"""Memory budgets: refusing, from a file's header, work that would not fit in memory.

A decoder asked for more memory than the machine has ends in ``MemoryError``, or in the kernel
killing the process, after minutes of swapping. Readers that know from a header what decoding
will cost (:mod:`sarcolor.data.io`) ask :func:`check_memory` first and refuse in one line that
says how much is needed and how much is available.

Available memory is the kernel's ``MemAvailable``, lowered to what a cgroup (container) limit
leaves; ``SARCOLOR_MEMORY_LIMIT`` (bytes, or with a ``K``/``M``/``G`` suffix) sets it instead.

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


def parse_size(text: str) -> int:
    """``"2G"``, ``"500M"``, ``"123"`` → bytes."""
    text = text.strip().upper().removesuffix("B")
    unit = text[-1:] if text[-1:] in _UNITS else ""
    try:
        value = float(text[: len(text) - len(unit)])
    except ValueError:
        raise SarcolorError(f"{MEMORY_ENV}={text!r}: expected bytes, e.g. 8G or 500M") from None
    if not value >= 0 or value == float("inf"):
        raise SarcolorError(f"{MEMORY_ENV}={text!r}: expected a size ≥ 0")
    return int(value * _UNITS[unit])


def available_memory() -> int | None:
    """Bytes this process may still allocate, or ``None`` when the system does not say."""
    if os.environ.get(MEMORY_ENV):
        return parse_size(os.environ[MEMORY_ENV])
    found = [m for m in (_meminfo_available(), _cgroup_left()) if m is not None]
    return min(found) if found else None


def check_memory(path: str | Path, need: int, what: str, hint: str = "") -> None:
    """Refuse ``what`` (e.g. ``"19000×19000 pixels"``) when ``need`` bytes are not available.

    Raises:
        SarcolorError: ``FILE: 19000×19000 pixels need about 14.4 GB of memory, 8.1 GB available…``.
    """
    free = available_memory()
    if free is not None and need > free:
        raise SarcolorError(
            f"{quote(path)}: {what} need about {need / 1e9:.1f} GB of memory, {free / 1e9:.1f} GB "
            f"available{'; ' + hint if hint else ''} ({MEMORY_ENV} overrides)"
        )


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
