"""TOML tables into frozen dataclasses: type checks, ``--set`` overrides, plain dicts.

The generic half of :mod:`atrous.recipe.config`, kept apart so that the config reads as the
paper's protocol and this reads as plumbing. A config table is a frozen dataclass whose
``__post_init__`` calls :func:`coerce_fields` (so a table built in Python is checked exactly
like one read from a file) and then checks its ranges. :func:`build_table` rejects unknown
keys, :func:`parse_override` reads ``table.key=value`` with the value written as in TOML
(a bare word is a string), and :func:`plain` turns a table back into what TOML and JSON hold.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from atrous.base.errors import AtrousError, AtrousFileNotFoundError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def fail(key: str, message: str) -> typing.NoReturn:
    """Raise the ValueError of a bad config value, naming its key."""
    raise AtrousError(f"config key {key!r}: {message}")


def plain(value: Any) -> Any:
    """Dicts, lists, numbers and strings only (tuples become lists)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def coerce(key: str, value: Any, annotation: Any) -> Any:
    """``value`` checked against a field's type; ints become floats, lists tuples."""
    origin = typing.get_origin(annotation)
    if origin is typing.Union or str(origin) == "types.UnionType":
        options = typing.get_args(annotation)
        for option in options:
            try:
                return coerce(key, value, option)
            except ValueError:
                continue
        fail(key, f"expected one of {options}, got {value!r}")
    if annotation is type(None):
        if value is not None:
            fail(key, f"expected None, got {value!r}")
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            fail(key, f"expected true or false, got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            fail(key, f"expected an integer, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            fail(key, f"expected a number, got {value!r}")
        if not math.isfinite(value):
            fail(key, f"expected a finite number, got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            fail(key, f"expected a string, got {value!r}")
        return value
    if origin is tuple:
        return _coerce_tuple(key, value, typing.get_args(annotation))
    if origin is dict:
        if not isinstance(value, dict):
            fail(key, f"expected a table, got {value!r}")
        return dict(value)
    raise TypeError(f"unsupported field type {annotation!r} for {key!r}")  # pragma: no cover


def _coerce_tuple(key: str, value: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
    if not isinstance(value, (list, tuple)):
        fail(key, f"expected a list, got {value!r}")
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(coerce(key, v, args[0]) for v in value)
    if len(value) != len(args):
        fail(key, f"expected a list of {len(args)} values, got {list(value)!r}")
    return tuple(coerce(key, v, a) for v, a in zip(value, args, strict=True))


def coerce_fields(table: Any, name: str) -> None:
    """Check (and normalise) every field of the frozen dataclass ``table`` in place."""
    hints = typing.get_type_hints(type(table))
    for f in dataclasses.fields(table):
        value = coerce(f"{name}.{f.name}", getattr(table, f.name), hints[f.name])
        object.__setattr__(table, f.name, value)


def build_table(cls: type, name: str, values: dict[str, Any]) -> Any:
    """``cls(**values)``, refusing keys that ``cls`` does not have (naming those it has)."""
    if not isinstance(values, dict):
        raise AtrousError(f"config key {name!r} must be a table [{name}], got {values!r}")
    known = {f.name for f in dataclasses.fields(cls)}
    for key in values:
        if key not in known:
            raise AtrousError(
                f"unknown config key '{name}.{key}'; [{name}] has: {', '.join(sorted(known))}"
            )
    return cls(**values)


def parse_override(assignment: str) -> tuple[str, str, Any]:
    """``"table.key=value"`` -> (table, key, value), the value parsed as TOML (bare: a str)."""
    if "=" not in assignment:
        raise AtrousError(f"--set expects table.key=value, got {assignment!r}")
    dotted, text = assignment.split("=", 1)
    if dotted.count(".") != 1:
        raise AtrousError(
            f"--set expects table.key=value (e.g. train.base_lr=0.01), got {dotted!r}"
        )
    table, key = (part.strip() for part in dotted.split("."))
    text = text.strip()
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        value = text  # a bare word: a string
    return table, key, value


def with_overrides(values: dict[str, Any], assignments: Sequence[str]) -> dict[str, Any]:
    """Nested tables with ``table.key=value`` assignments applied (a copy)."""
    values = {k: dict(v) if isinstance(v, dict) else v for k, v in values.items()}
    for assignment in assignments:
        table, key, value = parse_override(assignment)
        values.setdefault(table, {})
        if not isinstance(values[table], dict):
            raise AtrousError(f"config key {table!r} must be a table")
        values[table][key] = value
    return values


def read_toml(path: str | Path) -> dict[str, Any]:
    """The tables of a TOML file; FileNotFoundError or ValueError naming the file."""
    path = Path(path)
    if path.is_dir():
        raise AtrousError(f"config file {str(path)!r} is a folder; give a .toml file")
    if not path.is_file():
        raise AtrousFileNotFoundError(f"config file {str(path)!r} does not exist")
    with path.open("rb") as f:
        try:
            return tomllib.load(f)
        except tomllib.TOMLDecodeError as error:
            raise AtrousError(f"config file {str(path)!r} is not valid TOML: {error}") from None
        except UnicodeDecodeError as error:
            raise AtrousError(
                f"config file {str(path)!r} is not UTF-8 text, as TOML must be: {error}"
            ) from None
