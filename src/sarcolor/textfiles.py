"""Reading the small text files users hand to sarcolor: YAML configurations and JSON metadata.

Both are bounded before they are parsed: a file over :data:`MAX_TEXT_BYTES` is refused, and
YAML anchors and aliases are refused outright (a 442-byte "billion laughs" file of nested
aliases otherwise expands to gigabytes). Every failure is one line naming the file.

Nesting is bounded too: a document deeper than :data:`MAX_DEPTH` (900 brackets fit in 1.8 kB)
is refused as "nested too deeply", whether the parser itself runs out of stack (PyYAML does
at a few hundred levels, ``json`` at a few thousand) or the code that walks the parsed value
would. :func:`loads_json` is the one place JSON text from a user's file (checkpoint metadata,
reports, manifests) is parsed.

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "bomb.yaml"
    >>> _ = path.write_text("a: &a [x, x]\\nb: [*a, *a]\\n")
    >>> read_yaml(path)
    Traceback (most recent call last):
    ...
    sarcolor.errors.SarcolorError: .../bomb.yaml: YAML anchors and aliases are not accepted (line 1)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sarcolor.errors import SarcolorError, first_line, quote

MAX_TEXT_BYTES = 1 << 20  # configurations and split files are a few kB
MAX_DEPTH = 64  # sarcolor's own files nest 4 levels; Python's stack holds ~1000 frames


def read_text(path: str | Path, limit: int = MAX_TEXT_BYTES) -> str:
    """The text of a small file, refused beyond ``limit`` bytes or when not UTF-8."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except FileNotFoundError:
        raise SarcolorError(f"{path}: file not found") from None
    except OSError as exc:
        raise SarcolorError(f"{path}: cannot read ({exc.strerror or first_line(exc)})") from None
    if len(data) > limit:
        raise SarcolorError(f"{path}: larger than {limit // 1024} kB; not a sarcolor configuration")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise SarcolorError(f"{path}: not a UTF-8 text file") from None


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file with the safe loader, refusing anchors and aliases."""
    import yaml

    class _NoAliases(yaml.SafeLoader):
        def compose_node(self, parent, index):  # type: ignore[no-untyped-def,unused-ignore]
            event = self.peek_event()
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                line = event.start_mark.line + 1 if event.start_mark else "?"
                raise SarcolorError(f"{path}: YAML anchors and aliases are not accepted (line {line})")
            return super().compose_node(parent, index)

    text = read_text(path)
    try:
        return check_depth(yaml.load(text, Loader=_NoAliases), path)
    except RecursionError:
        raise too_deep(path) from None
    except yaml.YAMLError as exc:
        raise SarcolorError(f"{path}: not a readable YAML file ({first_line(exc)})") from None


def read_json(path: str | Path) -> Any:
    """Parse a small JSON file."""
    text = read_text(path)
    try:
        return loads_json(text, path)
    except ValueError as exc:
        raise SarcolorError(f"{path}: not a readable JSON file ({first_line(exc)})") from None


def loads_json(text: str | bytes, source: object) -> Any:
    """``json.loads`` of text read from ``source`` (a file, named in the error), nesting bounded.

    Raises:
        SarcolorError: nested deeper than :data:`MAX_DEPTH`.
        ValueError: not JSON (callers word that for the file they read).
    """
    try:
        return check_depth(json.loads(text), source)
    except RecursionError:
        raise too_deep(source) from None


def check_depth(value: Any, source: object, limit: int = MAX_DEPTH) -> Any:
    """``value`` when its lists and mappings nest at most ``limit`` levels (walked without
    recursion), else :func:`too_deep`.

    Example:
        >>> check_depth({"a": [[1]]}, "f.json")
        {'a': [[1]]}
        >>> check_depth([[[]]], "f.json", limit=2)
        Traceback (most recent call last):
        ...
        sarcolor.errors.SarcolorError: f.json: nested too deeply (more than 2 levels of lists or maps)
    """
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            raise too_deep(source, limit)
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return value


def too_deep(source: object, limit: int = MAX_DEPTH) -> SarcolorError:
    """The one-line refusal of a document nested deeper than ``limit``."""
    return SarcolorError(f"{quote(source)}: nested too deeply (more than {limit} levels of lists or maps)")
