"""The project's own error type.

Everything a user can cause (bad files, bad options, missing checkpoints) is raised as
:class:`SarcolorError` with a one-line message that names the file and the problem; the CLI
prints that line instead of a traceback (``--debug`` shows the traceback).
"""

from __future__ import annotations


class SarcolorError(Exception):
    """A problem with the user's input, files or options (not a bug in sarcolor)."""


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message (or its type name)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def quote(name: object) -> str:
    """A file name fit for a one-line message: control characters and undecodable bytes escaped.

    Example:
        >>> quote("a\\nb.png")
        'a\\\\nb.png'
    """
    text = str(name)
    if text.isprintable():
        return text
    return (
        text.encode("utf-8", "backslashreplace")
        .decode("ascii", "backslashreplace")
        .translate({10: "\\n", 13: "\\r", 9: "\\t"})
    )
