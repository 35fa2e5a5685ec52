"""One case, its result, and the report that groups failures by cause."""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from typing import Optional


@dataclasses.dataclass
class Case:
    index: int
    command: str
    argv: list[str]
    stdin: bytes

    def line(self) -> str:
        return "charlm " + " ".join(_quote(a) for a in self.argv)


@dataclasses.dataclass
class Result:
    case: Case
    code: Optional[int]
    out: str
    err: str
    seconds: float
    exc: Optional[BaseException] = None
    tb: str = ""
    where: str = ""              # innermost charlm frame of the traceback (file:function:line)
    deepest: str = ""            # innermost frame at all
    changed: list[str] = dataclasses.field(default_factory=list)    # undeclared changes
    failures: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (kind, detail)
    notes: list[tuple[str, str]] = dataclasses.field(default_factory=list)     # not failures

    def last_err(self) -> str:
        lines = [x for x in self.err.splitlines() if x.strip()]
        return lines[-1] if lines else ""

    def signature(self) -> tuple:
        """What makes two failures the same cause (for the deduplicated summary)."""
        kinds = tuple(sorted({k for k, _ in self.failures}))
        if self.exc is not None:
            where = (self.where or self.deepest).rsplit(":", 1)[0]     # file:function
            return kinds + (self.case.command, type(self.exc).__name__, where)
        if "files changed" in kinds:
            return kinds + (self.case.command, tuple(sorted({_shape(p) for p in self.changed})))
        return kinds + (self.case.command, self.code, _shape_msg(self.last_err()))


def _quote(a: str) -> str:
    if a and re.fullmatch(r"[\w@%+=:,./-]+", a):
        return a
    return repr(a) if any(not c.isprintable() or c in "\udcff\udcfe" for c in a) or "'" in a \
        else f"'{a}'"


def _shape(p: str) -> str:
    p = re.sub(r"^(repo/data/cache)(/.*)?$", r"\1/…", p)
    return re.sub(r"\d+", "N", re.sub(r"[0-9a-f]{16,}", "<sha256>", p))


def _shape_msg(msg: str) -> str:
    msg = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", msg)
    return re.sub(r"\d+", "N", msg)[:90]


def format_failure(r: Result) -> str:
    kinds = ", ".join(f"{k}: {d}" for k, d in r.failures)
    return (f"[case {r.case.index}] {r.case.line()}\n    exit {r.code}; {kinds}\n"
            f"    last stderr line: {r.last_err()[:200]!r}")


def summarize(results: list[Result]) -> list[tuple[tuple, list[Result]]]:
    """Failures grouped by cause (signature), most frequent first."""
    groups: dict[tuple, list[Result]] = {}
    for r in results:
        if r.failures:
            groups.setdefault(r.signature(), []).append(r)
    return sorted(groups.items(), key=lambda kv: (kv[0][0], -len(kv[1])))


def report(results: list[Result], seed: int) -> str:
    fails = [r for r in results if r.failures]
    lines = [f"charlm CLI fuzz: seed {seed}, {len(results)} cases, {len(fails)} failing, "
             f"{sum(r.seconds for r in results):.1f}s in cases"]
    codes = Counter((r.case.command, r.code) for r in results)
    lines.append("exit statuses: " + ", ".join(f"{c}={k}:{n}" for (c, k), n in sorted(
        codes.items(), key=lambda kv: (kv[0][0], str(kv[0][1])))))
    notes = Counter((r.case.command, k) for r in results for k, _ in r.notes)
    for (c, k), n in sorted(notes.items()):
        ex = next(r for r in results
                  if r.case.command == c and any(kk == k for kk, _ in r.notes))
        lines.append(f"- (not a failure) {k} x{n} [{c}] e.g. case {ex.case.index}: "
                     f"{ex.case.line()[:200]}: {ex.notes[0][1][:200]}")
    for sig, rs in summarize(results):
        r = rs[0]
        lines.append(f"- {' / '.join(k for k, _ in r.failures)} x{len(rs)} [{r.case.command}] "
                     f"{r.where or r.deepest or ''}")
        lines.append(f"    e.g. case {r.case.index}: {r.case.line()[:300]}")
        lines.append(f"    exit {r.code}; " + "; ".join(d for _, d in r.failures)[:300])
    return "\n".join(lines)
