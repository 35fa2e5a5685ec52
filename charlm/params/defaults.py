"""Each section's defaults, read from the repository's params.yaml: the one place where a
default is written, with its help as the comment beside it.

    @dataclass
    @defaults_from("train.common")
    class TrainCommon:
        steps: int                  # default: params.yaml's train.common.steps
        checkpoint_every: int = resumable()

A field the file does not set has no default: a params file without it is refused with
one line (`missing required key`), never run on a value written somewhere else.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
from pathlib import Path
from typing import Any

from ..core.errors import ParamsError

DEFAULTS_FILE = Path(__file__).resolve().parents[2] / "params.yaml"
UNSET = type("Unset", (), {"__repr__": lambda self: "<not in params.yaml>"})()


def _read() -> dict:
    """The defaults file's mapping; {} if it cannot be read (load_params then says why)."""
    from .yamlfile import read_yaml
    try:
        raw = read_yaml(DEFAULTS_FILE)
    except ParamsError:
        return {}
    return raw if isinstance(raw, dict) else {}


_RAW = _read()


def value(path: str) -> Any:
    """The defaults file's value at dotted `path`, or UNSET."""
    node: Any = _RAW
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return UNSET
        node = node[key]
    return node


def resumable() -> Any:
    """A train.common field whose value does not change what training computes (a
    checkpoint made under another value may be resumed); its default comes from the file."""
    return dataclasses.field(metadata={"resumable": True})


def _default(f: Any, v: Any) -> Any:
    f = f if isinstance(f, dataclasses.Field) else dataclasses.field()
    if isinstance(v, (list, dict)):
        f.default_factory = lambda v=v: copy.deepcopy(v)
    else:
        f.default = v
    return f


def defaults_from(section: str):
    """Class decorator (below @dataclass): every field without a default in the class takes
    the value params.yaml sets at `section`.<field> (UNSET, i.e. required, if none)."""
    def wrap(cls: type) -> type:
        for name in inspect.get_annotations(cls):
            own = cls.__dict__.get(name, dataclasses.MISSING)
            if own is not dataclasses.MISSING and not (
                    isinstance(own, dataclasses.Field) and own.default is dataclasses.MISSING
                    and own.default_factory is dataclasses.MISSING):
                continue                          # a nested section: its own class's defaults
            setattr(cls, name, _default(own, value(f"{section}.{name}")))
        return cls
    return wrap
