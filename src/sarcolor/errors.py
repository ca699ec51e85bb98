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

    Undecodable bytes of a file name (which Python holds as surrogates) are shown as the bytes
    they were, ``\\xff``; printable text, non-ASCII letters included, is kept.

    Example:
        >>> quote("a\\nb.png"), quote("caf\\udce9.png"), quote("été.png")
        ('a\\\\nb.png', 'caf\\\\xe9.png', 'été.png')
    """
    text = str(name)
    if text.isprintable():
        return text
    try:
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # surrogates that are no escaped bytes
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return "".join(ch if ch.isprintable() else _ESCAPES.get(ch, _escape(ch)) for ch in text)


def one_line(text: str) -> str:
    """A message on one printable line, whatever the file names in it hold (see :func:`quote`)."""
    return quote(text)


_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
