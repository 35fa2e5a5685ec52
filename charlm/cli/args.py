"""How every `charlm` subcommand reads what it is given: one parser whose errors are one
line, typed option values checked before use, output files that never replace an input
(input files are read by charlm/core/inputs.py).

    p.add_argument("--length", type=integer(1, MAX_CHARS), default=500)
    p.add_argument("--temperature", type=real(0, 100, low_open=True), default=1.0)
    p.add_argument("--prime", type=text)
    out = output_file(args.per_char, "--per-char", inputs=[args.file], header=HEADER)

Every refusal is one line on stderr and exit status 2 (charlm/core/entry.py).
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

from ..core.errors import CharlmError

MAX_CHARS = 10_000_000        # longest generated text (--length)
MAX_SEED = 2**32 - 1          # seeds: 0 .. 2**32 - 1, for the n-gram and the networks alike
MAX_NAME = 100                # corpus and model names


class Parser(argparse.ArgumentParser):
    """argparse, with a usage error as one line (exit 2) naming the help to read."""

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {message} (see `{self.prog} --help`)\n")


def integer(low: int, high: int):
    """An argparse type: a whole number in low..high (no float, no expression)."""
    def parse(s: str) -> int:
        try:
            v = int(s.strip(), 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, got {s!r}") from None
        if not low <= v <= high:
            raise argparse.ArgumentTypeError(f"must be in {low}..{high:,}, got {s}")
        return v
    parse.__name__ = "integer"
    return parse


def real(low: float, high: float, low_open: bool = False):
    """An argparse type: a finite number in [low, high] (or (low, high] with low_open)."""
    def parse(s: str) -> float:
        try:
            v = float(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, got {s!r}") from None
        if not math.isfinite(v) or v > high or v < low or (low_open and v == low):
            bound = f"> {low:g}" if low_open else f">= {low:g}"
            raise argparse.ArgumentTypeError(f"must be a finite number {bound} and <= {high:g}, "
                                             f"got {s}")
        return v
    parse.__name__ = "number"
    return parse


def seed(s: str) -> int:
    return integer(0, MAX_SEED)(s)


def text(s: str) -> str:
    """An argparse type: text given on the command line, which must be valid UTF-8 (argv's
    undecodable bytes arrive as lone surrogates)."""
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        raw = os.fsencode(s)
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise argparse.ArgumentTypeError(
                f"not valid UTF-8 (byte 0x{raw[e.start]:02x} at offset {e.start})") from None
        raise argparse.ArgumentTypeError("not valid UTF-8 (lone surrogates)") from None
    return s


def name(s: str) -> str:
    """An argparse type: a corpus or model name (checked against the known ones later)."""
    s = text(s)
    if not s or len(s) > MAX_NAME or "/" in s or "\0" in s:
        raise argparse.ArgumentTypeError(f"not a name (1 to {MAX_NAME} chars, no '/'): {s[:40]!r}")
    return s


def path_arg(s: str) -> str:
    """An argparse type: a file path (not empty, valid UTF-8)."""
    if not s:
        raise argparse.ArgumentTypeError("empty path")
    return text(s)


def encoding(s: str) -> str:
    """A codec that decodes bytes to text (utf-8, latin-1, utf-16...)."""
    from ..core.inputs import encoding_problem
    problem = encoding_problem(text(s))
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return s


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except (OSError, RuntimeError):          # RuntimeError: a symlink loop (Python < 3.13)
        return False


def output_file(path: str, flag: str, inputs: list[str], header: str) -> Path:
    """An output path checked before any work: not '-', not a directory, in a folder that
    exists, not one of `inputs`, and, if the file exists, one this command wrote before
    (its first line is `header`): anything else is never replaced."""
    if path == "-":
        raise CharlmError(f"{flag}: give a file name ('-' is not supported here)")
    p = Path(path)
    if p.is_dir():
        raise CharlmError(f"{flag} {path}: is a directory")
    if not p.parent.is_dir():
        raise CharlmError(f"{flag} {path}: the folder {p.parent} does not exist (create it first)")
    for i in inputs:
        if i != "-" and _same_file(p, Path(i)):
            raise CharlmError(f"{flag} {path}: is the input; give another file name")
    if p.exists():
        try:
            with open(p, "rb") as f:
                first = f.readline(len(header) + 2)
        except OSError as e:
            raise CharlmError(f"{flag} {path}: cannot check the existing file "
                              f"({e.strerror or e})") from None
        if first.rstrip(b"\r\n") != header.encode():
            raise CharlmError(f"{flag} {path}: exists and is not an earlier {flag} table; "
                              "not replacing it (remove it or give another name)")
    return p
