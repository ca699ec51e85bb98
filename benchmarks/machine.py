"""What the benchmarks share: the machine they ran on, and writing their section into a docs page."""

from __future__ import annotations

import platform
import re
from pathlib import Path


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo (e.g. "AMD EPYC"), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def write_section(doc: Path, begin: str, end: str, section: str, title: str = "# Benchmarks") -> None:
    """Put ``section`` between the markers ``begin`` and ``end`` in ``doc``, or append it there;
    nothing else in the page changes (a missing page starts with ``title``)."""
    text = doc.read_text() if doc.exists() else title + "\n"
    block = f"{begin}\n{section.rstrip()}\n{end}\n"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end) + r"\n?", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + block
    doc.write_text(text)
