"""The `charlm` subcommands as the generator sees them, read from their own argparse definition."""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
from pathlib import Path
from typing import Any, Optional


PATH_WORDS = ("file", "path", "dir", "checkpoint", "baseline", "current", "per-char",
              "per_char", "prime-file", "prime_file", "source", "noise")


@dataclasses.dataclass
class Opt:
    """One argparse action of a leaf subcommand, as the generator sees it."""
    dest: str
    strings: list[str]           # option strings; [] for a positional
    kind: str                    # flag int float choice path outpath corpus model newname text...
    nargs: Any
    required: bool
    default: Any
    choices: Optional[list]
    help: str

    @property
    def positional(self) -> bool:
        return not self.strings


@dataclasses.dataclass
class Command:
    path: tuple[str, ...]        # e.g. ("ngram", "query")
    opts: list[Opt]

    @property
    def name(self) -> str:
        return " ".join(self.path)


def _type_kind(t) -> Optional[str]:
    """int, float or path for an argparse `type` (int, float, Path, or a checking callable
    probed with a few harmless strings); None for text-like types."""
    if t is None or t is str:
        return None
    if t is int or t is float:
        return t.__name__
    if t is Path or (isinstance(t, type) and issubclass(t, os.PathLike)):
        return "path"
    for probe in ("1", "5", "100", "0.5", "0"):
        try:
            r = t(probe)
        except Exception:           # noqa: BLE001  (a checking type refusing the probe)
            continue
        if isinstance(r, bool):
            return None
        if isinstance(r, int):
            return "int"
        if isinstance(r, float):
            return "float"
        if isinstance(r, os.PathLike):
            return "path"
        return None
    return None


def _kind(a: argparse.Action) -> str:
    """What values an action takes, from its definition (dest, type, choices, help)."""
    if a.nargs == 0:
        return "flag"
    if a.choices is not None:
        return "choice"
    tk = _type_kind(a.type)
    if tk in ("int", "float"):
        return tk
    dest = a.dest
    if dest in ("corpus",):
        return "corpus"
    if dest in ("model",):
        return "model"
    if dest == "name":
        return "newname"
    if dest in ("history", "prime", "description"):
        return dest
    if dest in ("encoding", "member", "against"):
        return dest
    words = " ".join([dest, a.help or "", str(a.metavar or ""), *a.option_strings]).lower()
    is_path = tk == "path" or any(re.search(rf"\b{re.escape(w)}\b", words) for w in PATH_WORDS)
    if is_path:
        out = "write" in words or "out" in str(a.metavar or "").lower() or dest == "per_char"
        return "outpath" if out else "path"
    return "text"


def commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[Command]:
    """Every leaf subcommand of `parser`, nested subparsers included."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        opts = [Opt(a.dest, list(a.option_strings), _kind(a), a.nargs, bool(a.required),
                    a.default, list(a.choices) if a.choices is not None else None, a.help or "")
                for a in parser._actions
                if not isinstance(a, (argparse._HelpAction, argparse._VersionAction))]
        return [Command(prefix, opts)]
    out = []
    for sub in subs:
        for name, p in sub.choices.items():
            out += commands(p, prefix + (name,))
    return out
