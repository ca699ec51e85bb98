"""Options declared once: flag, help, choices, default, range and resume rule on the dataclass field.

Every configurable value of sarcolor is a field of a frozen dataclass (:mod:`sarcolor.config`
for training runs, :class:`sarcolor.inference.options.InferenceOptions` for colorizing), made
with :func:`option`. From that one declaration follow

* the command-line flag (:mod:`sarcolor.flags` derives argparse arguments from it: the
  name, ``--help`` text with the default the code uses, choices from a ``Literal`` type);
* reading YAML and JSON (:func:`from_mapping`: unknown keys, wrong types and values outside
  the declared range are one line naming the file and the field);
* validation of values however they were made (:func:`check_fields`);
* what may change when a run is resumed (``resumable``).

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Demo:
    ...     steps: int = option(10, help="optimisation steps", low=1)
    >>> check_fields(Demo(steps=0), "demo")
    Traceback (most recent call last):
    ...
    sarcolor.errors.SarcolorError: demo: steps must be >= 1, got 0
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field
from typing import Any, Literal, get_args, get_origin

from sarcolor.errors import SarcolorError

OPTION = "sarcolor.option"  # key of the field metadata


@dataclass(frozen=True)
class Option:
    """How one configuration field appears to users.

    Attributes:
        help: what the option does, without its default (the default is appended from the
            field, so the two never disagree).
        flag: the command-line flag; default ``--<field-name>`` with ``-`` for ``_``. For a
            boolean that defaults to true, the flag that turns it off (``--no-flip``).
        metavar: the placeholder shown in ``--help``.
        resumable: may be changed when a run is resumed (budget, device, logging); the model
            and data options may not.
        low, high: inclusive bounds of a number; ``low_open``/``high_open`` make them strict.
        default_text: how the default reads in ``--help`` when it is not a plain value (e.g.
            ``None`` meaning "choose automatically").
        group: a name that selects a subset of fields for one command (e.g. ``split``).
        parse: turns the command-line string into the value (default: by the field's type).
        cli: offered on the command line at all.
    """

    help: str
    flag: str | None = None
    metavar: str | None = None
    resumable: bool = False
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    default_text: str | None = None
    group: str | None = None
    parse: Callable[[str], Any] | None = None
    cli: bool = True


def option(default: Any = MISSING, *, default_factory: Any = MISSING, **spec: Any) -> Any:
    """A dataclass field carrying its :class:`Option` (keyword arguments are its attributes)."""
    meta = {OPTION: Option(**spec)}
    if default_factory is not MISSING:
        return field(default_factory=default_factory, metadata=meta)
    return field(default=default, metadata=meta)


def option_of(f: dataclasses.Field) -> Option | None:
    return f.metadata.get(OPTION)


def flag_of(f: dataclasses.Field, spec: Option) -> str:
    """The command-line flag of a field: ``spec.flag``, else ``--<field-name>``."""
    return spec.flag or "--" + f.name.replace("_", "-")


def field_named(cls: type, name: str) -> dataclasses.Field:
    for f in dataclasses.fields(cls):
        if f.name == name:
            return f
    raise KeyError(name)


def default_of(f: dataclasses.Field) -> Any:
    """A field's default value (calling its factory)."""
    if f.default_factory is not MISSING:
        return f.default_factory()
    return f.default


def choices_of(hint: Any) -> tuple[Any, ...] | None:
    """The values of a ``Literal`` (or ``Literal | None``) type hint, else ``None``."""
    if get_origin(hint) is Literal:
        return get_args(hint)
    inner = [a for a in get_args(hint) if a is not type(None)]
    if len(inner) == 1 and get_origin(inner[0]) is Literal:
        return get_args(inner[0])
    return None


def hints_of(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def check_fields(obj: Any, source: str, prefix: str = "") -> None:
    """Check every option field of a dataclass instance against its type and declared range.

    Raises:
        SarcolorError: ``<source>: <prefix><field> must …, got …`` for the first bad field.
    """
    hints = hints_of(type(obj))
    for f in dataclasses.fields(obj):
        spec = option_of(f)
        if spec is None:
            continue
        value = getattr(obj, f.name)
        where = f"{source}: {prefix}{f.name}"
        _check_value(hints[f.name], value, where)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            _check_range(spec, value, where)


def _check_value(hint: Any, value: Any, where: str) -> None:
    """Type check of an already-built value (the YAML path coerces first)."""
    if value is None:
        if type(None) not in get_args(hint):
            raise SarcolorError(f"{where} may not be empty")
        return
    choices = choices_of(hint)
    if choices is not None and value not in choices:
        raise SarcolorError(f"{where} must be one of {', '.join(map(str, choices))}, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise SarcolorError(f"{where} must be a finite number, got {value!r}")


def _check_range(spec: Option, value: float, where: str) -> None:
    low_bad = spec.low is not None and (value <= spec.low if spec.low_open else value < spec.low)
    high_bad = spec.high is not None and (value >= spec.high if spec.high_open else value > spec.high)
    if not (low_bad or high_bad):
        return
    if spec.low is not None and spec.high is not None:
        interval = (
            f"{'(' if spec.low_open else '['}{spec.low:g}, {spec.high:g}{')' if spec.high_open else ']'}"
        )
        raise SarcolorError(f"{where} must be in {interval}, got {value!r}")
    if low_bad:
        raise SarcolorError(f"{where} must be {'>' if spec.low_open else '>='} {spec.low:g}, got {value!r}")
    raise SarcolorError(f"{where} must be {'<' if spec.high_open else '<='} {spec.high:g}, got {value!r}")


def from_mapping(cls: type, values: dict[str, Any], source: str, prefix: str = "") -> Any:
    """Build the (nested) dataclass ``cls`` from a YAML/JSON mapping, field by field.

    Values are checked against the type hints and gently converted (``1`` for a float field).

    Raises:
        SarcolorError: unknown keys, a value of the wrong type, or a non-mapping section,
            naming ``source`` and the field.
    """
    hints = hints_of(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        where = f"{prefix.rstrip('.')}: " if prefix else ""
        raise SarcolorError(f"{source}: {where}unknown key(s) {', '.join(map(str, unknown))}")
    kwargs = {}
    for name, value in values.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                raise SarcolorError(f"{source}: {prefix}{name} must be a mapping")
            kwargs[name] = from_mapping(typing.cast(type, hint), value, source, f"{prefix}{name}.")
        else:
            kwargs[name] = coerce(hint, value, f"{source}: {prefix}{name}")
    return cls(**kwargs)


def coerce(hint: Any, value: Any, where: str) -> Any:
    """Check (and gently convert) one YAML/JSON value against a field's type hint."""
    origin, args = get_origin(hint), get_args(hint)
    if value is None:
        if type(None) in args:
            return None
        raise SarcolorError(f"{where} may not be empty")
    if origin is Literal:
        if value not in args:
            raise SarcolorError(f"{where} must be one of {', '.join(map(str, args))}, got {value!r}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise SarcolorError(f"{where} must be a list")
        return [coerce(args[0], v, where) for v in value] if args else list(value)
    if args and type(None) in args:  # Optional[X]
        inner = next(a for a in args if a is not type(None))
        return coerce(inner, value, where)
    if hint is bool:
        if not isinstance(value, bool):
            raise SarcolorError(f"{where} must be true or false, got {value!r}")
        return value
    if hint in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SarcolorError(f"{where} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise SarcolorError(f"{where} must be a finite number, got {value!r}")
        if hint is int and float(value) != int(value):
            raise SarcolorError(f"{where} must be an integer, got {value!r}")
        return hint(value)
    if hint is str:
        if isinstance(value, (dict, list)):
            raise SarcolorError(f"{where} must be text, got a {type(value).__name__}")
        return str(value)
    return value


def to_plain(obj: Any) -> Any:
    """A (nested) dataclass as plain dicts and lists, for YAML and JSON."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    return obj
