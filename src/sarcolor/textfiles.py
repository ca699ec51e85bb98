"""Reading the small text files users hand to sarcolor: YAML configurations and JSON metadata.

Both are bounded before they are parsed: a file over :data:`MAX_TEXT_BYTES` is refused, and
YAML anchors and aliases are refused outright (a 442-byte "billion laughs" file of nested
aliases otherwise expands to gigabytes). Every failure is one line naming the file.

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

from sarcolor.errors import SarcolorError, first_line

MAX_TEXT_BYTES = 1 << 20  # configurations and split files are a few kB


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
        return yaml.load(text, Loader=_NoAliases)
    except yaml.YAMLError as exc:
        raise SarcolorError(f"{path}: not a readable YAML file ({first_line(exc)})") from None


def read_json(path: str | Path) -> Any:
    """Parse a small JSON file."""
    text = read_text(path)
    try:
        return json.loads(text)
    except ValueError as exc:
        raise SarcolorError(f"{path}: not a readable JSON file ({first_line(exc)})") from None
