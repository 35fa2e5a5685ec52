"""`params.yaml`: the schema, and validation of every key before any work starts.

Each section is a dataclass; `load_params()` reads the YAML and builds them with
`from_dict()`, which refuses unknown keys (with a did-you-mean), wrong types and
out-of-range values, raising `ParamsError` with a one-line message that names the
key (e.g. ``train.batch_size: must be > 0, got 0``).
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional, Union

import yaml

from .errors import ParamsError

DEFAULT_PARAMS = Path("params.yaml")


# --------------------------------------------------------------------------- generic

def _fail(where: str, msg: str) -> typing.NoReturn:
    raise ParamsError(f"{where}: {msg}" if where else msg)


def _did_you_mean(key: str, options: typing.Iterable[str]) -> str:
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
            _fail(where, "must not be null")
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value, where)
            except ParamsError as e:
                errors.append(str(e))
        _fail(where, errors[0].split(": ", 1)[-1] if errors else "invalid value")
    if origin is Literal:
        if value not in args:
            _fail(where, f"must be one of {', '.join(map(repr, args))}, got {value!r}"
                  + (_did_you_mean(str(value), map(str, args)) if isinstance(value, str) else ""))
        return value
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where)
    if origin is list:
        if not isinstance(value, list):
            _fail(where, f"must be a list, got {type(value).__name__}")
        return [_convert(args[0], v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            _fail(where, f"must be a mapping, got {type(value).__name__}")
        return {str(k): _convert(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            _fail(where, f"must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            _fail(where, f"must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            _fail(where, f"must be a number, got {value!r}")
        value = float(value)
        if value != value or value in (float("inf"), float("-inf")):
            _fail(where, f"must be finite, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            _fail(where, f"must be a string, got {value!r}")
        return value
    raise TypeError(f"unsupported type hint {tp!r} at {where}")  # a bug, not user error


def from_dict(cls: type, data: Any, where: str = "") -> Any:
    """Build dataclass `cls` from a mapping, validating keys, types and ranges.

    Range checks live in each dataclass's `check()` method, called after building.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        _fail(where, f"must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            _fail(f"{where}.{key}" if where else str(key),
                  "unknown key" + _did_you_mean(str(key), fields))
    kwargs = {}
    for name, f in fields.items():
        sub = f"{where}.{name}" if where else name
        if name in data:
            kwargs[name] = _convert(hints[name], data[name], sub)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            _fail(sub, "missing required key")
    obj = cls(**kwargs)
    check = getattr(obj, "check", None)
    if check is not None:
        check(where)
    return obj


def positive(where: str, name: str, value: float | int | None, zero_ok: bool = False) -> None:
    if value is None:
        return
    if value < 0 or (value == 0 and not zero_ok):
        _fail(f"{where}.{name}" if where else name,
              f"must be {'>= 0' if zero_ok else '> 0'}, got {value}")


# --------------------------------------------------------------------------- sections

@dataclass
class Source:
    url: str        # absolute, or relative to the corpus's base_url
    sha256: str     # of the file as downloaded (before unpacking)

    def check(self, where: str) -> None:
        s = self.sha256.lower()
        if len(s) != 64 or any(c not in "0123456789abcdef" for c in s):
            _fail(f"{where}.sha256", f"must be 64 hex digits, got {self.sha256!r}")
        self.sha256 = s


@dataclass
class CorpusSpec:
    sources: list[Source]
    base_url: Optional[str] = None
    unpack: Literal["plain", "bz2", "gz", "zip"] = "plain"
    member: Optional[str] = None          # zip member to extract (unpack: zip)
    encoding: str = "utf-8"
    max_chars: Optional[int] = None       # keep only the first N chars of the corpus (null: all)
    description: str = ""

    def check(self, where: str) -> None:
        if not self.sources:
            _fail(f"{where}.sources", "must list at least one source")
        if self.unpack == "zip" and not self.member:
            _fail(f"{where}.member", "required when unpack is 'zip'")
        positive(where, "max_chars", self.max_chars)
        import codecs
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            _fail(f"{where}.encoding", f"unknown encoding {self.encoding!r}")

    def urls(self) -> list[str]:
        base = self.base_url or ""
        if base and not base.endswith("/"):
            base += "/"
        return [s.url if "://" in s.url else base + s.url for s in self.sources]


MODEL_NAMES = ("ngram", "rnn", "rnn3", "lstm", "gru")


@dataclass
class RunParams:
    corpora: list[str]                    # corpora the pipeline runs on (keys of `corpora`)
    models: list[str] = field(default_factory=lambda: ["rnn", "rnn3", "lstm", "gru"])


@dataclass
class SplitParams:
    train: float = 0.9
    val: float = 0.05
    test: float = 0.05

    def check(self, where: str) -> None:
        for name in ("train", "val", "test"):
            positive(where, name, getattr(self, name))
        total = self.train + self.val + self.test
        if abs(total - 1.0) > 1e-9:
            _fail(where, f"train + val + test must sum to 1, got {total:g}")


@dataclass
class PrepareParams:
    split: SplitParams = field(default_factory=SplitParams)


@dataclass
class Params:
    corpora: dict[str, CorpusSpec]
    run: RunParams
    prepare: PrepareParams = field(default_factory=PrepareParams)
    # Sections owned by later stages are validated by their own dataclasses,
    # registered in SECTIONS below; kept as raw mappings here.
    extra: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        # params.train, params.ngram, ...: the registered sections
        extra = self.__dict__.get("extra", {})
        if name in extra:
            return extra[name]
        raise AttributeError(name)

    def corpus(self, name: str) -> CorpusSpec:
        if name not in self.corpora:
            _fail("corpus", f"unknown corpus {name!r}{_did_you_mean(name, self.corpora)}; "
                  f"known: {', '.join(self.corpora)}")
        return self.corpora[name]


# Other sections (ngram, train, evaluate, ...) register their dataclass here so that
# load_params() validates the whole file up front.
SECTIONS: dict[str, type] = {}


def register_section(name: str):
    def deco(cls):
        SECTIONS[name] = cls
        return cls
    return deco


def _import_sections() -> None:
    # Import modules that register sections (kept light: no torch import here).
    from . import param_sections  # noqa: F401


def parse_params(raw: Any) -> Params:
    _import_sections()
    if not isinstance(raw, dict):
        _fail("params", "the file must be a mapping of sections")
    known = {"corpora", "run", "prepare", *SECTIONS}
    for key in raw:
        if key not in known:
            _fail(str(key), "unknown section" + _did_you_mean(str(key), known))
    for key in ("corpora", "run"):
        if key not in raw:
            _fail(key, "missing required section")
    corpora = _convert(dict[str, CorpusSpec], raw["corpora"], "corpora")
    run = from_dict(RunParams, raw["run"], "run")
    for i, name in enumerate(run.corpora):
        if name not in corpora:
            _fail(f"run.corpora[{i}]", f"unknown corpus {name!r}" + _did_you_mean(name, corpora))
    if not run.corpora:
        _fail("run.corpora", "must list at least one corpus")
    for i, name in enumerate(run.models):
        if name not in MODEL_NAMES:
            _fail(f"run.models[{i}]", f"unknown model {name!r}" + _did_you_mean(name, MODEL_NAMES))
    prepare = from_dict(PrepareParams, raw.get("prepare"), "prepare")
    extra = {name: from_dict(cls, raw.get(name), name) for name, cls in SECTIONS.items()}
    return Params(corpora=corpora, run=run, prepare=prepare, extra=extra)


def load_params(path: str | Path = DEFAULT_PARAMS) -> Params:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ParamsError(f"{path}: file not found (run from the repository root)") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise ParamsError(f"{path}: invalid YAML{at}: {getattr(e, 'problem', e)}") from None
    return parse_params(raw)
