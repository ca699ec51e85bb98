"""argparse flags derived from the option declarations on the config dataclasses (the CLI and
``sarcolor serve``'s launcher both build their parsers with them).

Nothing about an option is written here: name, help, choices, default and type come from the
field (:func:`sarcolor.options.option`). Flags default to ``None`` ("not given"), so a flag
overrides a YAML file or a checkpoint only when the user typed it; :func:`given` collects them.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Iterable
from types import UnionType
from typing import Any, Union, get_args, get_origin

from sarcolor.options import Option, choices_of, default_of, flag_of, hints_of, option_of


def default_display(f: dataclasses.Field, spec: Option) -> str:
    """How a field's default reads in ``--help``."""
    if spec.default_text is not None:
        return spec.default_text
    value = default_of(f)
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value)) or "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def help_of(f: dataclasses.Field, spec: Option) -> str:
    if default_of(f) is True:  # the flag (--no-…) turns a default-on behaviour off
        return f"{spec.help} (default: {f.name} on)"
    return f"{spec.help} (default {default_display(f, spec)})"


def option_fields(
    cls: type, *, group: str | None = None, names: Iterable[str] | None = None
) -> list[tuple[dataclasses.Field, Option]]:
    """The command-line option fields of ``cls``, optionally one ``group`` or some ``names``."""
    wanted = set(names) if names is not None else None
    out = []
    for f in dataclasses.fields(cls):
        spec = option_of(f)
        if spec is None or not spec.cli:
            continue
        if group is not None and spec.group != group:
            continue
        if wanted is not None and f.name not in wanted:
            continue
        out.append((f, spec))
    return out


def add_options(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    cls: type,
    *,
    prefix: str = "",
    group: str | None = None,
    names: Iterable[str] | None = None,
    defaults: bool = False,
) -> None:
    """Add one flag per option field of ``cls`` (dest ``<prefix><field>``).

    With ``defaults`` the flags take the fields' defaults (for commands whose options are not
    merged into a configuration); otherwise a flag not given is ``None``.
    """
    hints = hints_of(cls)
    for f, spec in option_fields(cls, group=group, names=names):
        hint = hints[f.name]
        help_text = help_of(f, spec).replace("%", "%%")  # argparse formats help with %
        kwargs: dict[str, Any] = {"dest": prefix + f.name, "help": help_text}
        kwargs["default"] = default_of(f) if defaults else None
        kwargs["metavar"] = spec.metavar or f.name.upper()
        if hint is bool:
            del kwargs["metavar"]
            kwargs.update(action="store_const", const=not default_of(f))
        elif (sequence := _sequence(hint)) is not None:
            element = get_args(sequence)[0]
            kwargs.update(action="append", type=spec.parse or _scalar(element))
            if defaults:
                kwargs["default"] = None  # append to a fresh list; None stands for the default
        else:
            choices = choices_of(hint)
            if choices is not None and spec.parse is None:
                kwargs["choices"] = choices
                if not spec.metavar:
                    del kwargs["metavar"]  # argparse shows {a,b,c}
            kwargs["type"] = spec.parse or _scalar(hint)
        parser.add_argument(flag_of(f, spec), **kwargs)


def given(args: argparse.Namespace, cls: type, prefix: str = "") -> dict[str, Any]:
    """The option fields of ``cls`` the user gave on the command line: ``{field: value}``."""
    out = {}
    for f, _ in option_fields(cls):
        value = getattr(args, prefix + f.name, None)
        if value is not None:
            out[f.name] = value
    return out


def build(args: argparse.Namespace, cls: type, prefix: str = "", **fixed: Any) -> Any:
    """An instance of ``cls`` from flags added with ``defaults=True`` (``None`` → the default)."""
    return cls(**given(args, cls, prefix), **fixed)


def _sequence(hint: Any) -> Any:
    """The list or tuple type of a repeatable flag's field (``list[str] | None`` → ``list[str]``),
    else ``None``: an optional list is repeatable too, not one string."""
    inner = [a for a in get_args(hint) if a is not type(None)] if _is_union(hint) else [hint]
    return inner[0] if len(inner) == 1 and get_origin(inner[0]) in (list, tuple) else None


def _is_union(hint: Any) -> bool:
    return get_origin(hint) in (Union, UnionType)


def _scalar(hint: Any) -> Any:
    """The argparse ``type`` of a field: int, float or str (``X | None`` → X)."""
    inner = [a for a in get_args(hint) if a is not type(None)] or [hint]
    base = inner[0]
    if choices_of(base) is not None:
        return str
    return base if base in (int, float) else str
