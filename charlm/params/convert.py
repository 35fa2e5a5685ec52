"""Building typed sections from YAML: keys, types and ranges checked, one-line errors.

`from_dict(cls, mapping, where)` builds dataclass `cls`, refusing unknown keys (with a
did-you-mean), wrong types and out-of-range values (each dataclass's `check(where)`),
raising `ParamsError` with a message that names the key path and the offending value
(e.g. ``train.common.batch_size: must be > 0, got 0``).

Why not pydantic (installed with DVC): its errors are several lines per failure
("1 validation error for TrainCommon / batch_size / Input should be greater than 0
[type=greater_than, input_value=0, input_type=int] / For further information visit
..."), they name the field but not the params-file path, have no did-you-mean for a
misspelt key, and coerce "3" to 3 unless every model is made strict. The converter
below is ~100 lines and gives exactly one line.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from typing import Any, Literal, Union

from ..core.errors import ParamsError
from .defaults import UNSET

MAX_INT = 2**53      # no count, size or seed of charlm comes near it: a larger one is a typo


def fail(where: str, msg: str) -> typing.NoReturn:
    raise ParamsError(f"{where}: {msg}" if where else msg)


def did_you_mean(key: str, options: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(options), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _convert(tp: Any, value: Any, where: str) -> Any:
    """Check `value` against the type hint `tp`, converting where lossless."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None:
            if type(None) in args:
                return None
            fail(where, "must not be null")
        arms = [a for a in args if a is not type(None)]
        if isinstance(value, list) and any(typing.get_origin(a) is list for a in arms):
            arms = [a for a in arms if typing.get_origin(a) is list]  # the list's own error
        if len(arms) == 1:
            return _convert(arms[0], value, where)
        errors = []
        for arg in arms:
            try:
                return _convert(arg, value, where)
            except ParamsError as e:
                errors.append(str(e))
        fail(where, errors[0].split(": ", 1)[-1] if errors else "invalid value")
    if origin is Literal:
        if isinstance(value, bool) and ("on" if value else "off") in args:
            return "on" if value else "off"       # YAML 1.1 reads a bare off / on as a bool
        if value not in args:
            fail(where, f"must be one of {', '.join(map(repr, args))}, got {value!r}"
                  + (did_you_mean(str(value), map(str, args)) if isinstance(value, str) else ""))
        return value
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where)
    if origin is list:
        if not isinstance(value, list):
            fail(where, f"must be a list, got {type(value).__name__}")
        return [_convert(args[0], v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            fail(where, f"must be a mapping, got {type(value).__name__}")
        return {str(k): _convert(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            fail(where, f"must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                fail(where, f"must be an integer, got {value!r}")
        if abs(value) > MAX_INT:
            fail(where, f"absurdly large: at most {MAX_INT:,}, got an integer of "
                        f"{len(str(abs(value)))} digits")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            fail(where, f"must be a number, got {value!r}")
        try:
            value = float(value)
        except OverflowError:            # an int beyond float's range
            fail(where, f"must be finite, got an integer of {len(str(abs(value)))} digits")
        if value != value or value in (float("inf"), float("-inf")):
            fail(where, f"must be finite, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            fail(where, f"must be a string, got {value!r}")
        return value
    raise TypeError(f"unsupported type hint {tp!r} at {where}")  # a bug, not user error


def from_dict(cls: type, data: Any, where: str = "") -> Any:
    """Build dataclass `cls` from a mapping, validating keys, types and ranges.

    Range checks live in each dataclass's `check()` method, called after building.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        fail(where, f"must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            fail(f"{where}.{key}" if where else str(key),
                  "unknown key" + did_you_mean(str(key), fields))
    kwargs = {}
    for name, f in fields.items():
        sub = f"{where}.{name}" if where else name
        if name in data:
            kwargs[name] = _convert(hints[name], data[name], sub)
        elif f.default is UNSET or (f.default is dataclasses.MISSING
                                    and f.default_factory is dataclasses.MISSING):
            fail(sub, "missing required key")
    obj = cls(**kwargs)
    check = getattr(obj, "check", None)
    if check is not None:
        check(where)
    return obj


def positive(where: str, name: str, value: float | int | None, zero_ok: bool = False) -> None:
    if value is None:
        return
    if value < 0 or (value == 0 and not zero_ok):
        fail(f"{where}.{name}" if where else name,
              f"must be {'>= 0' if zero_ok else '> 0'}, got {value}")
