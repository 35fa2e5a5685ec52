"""Running one case in process through `charlm.cli.main.main(argv)` and judging it."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import signal
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import Callable, Optional

from .common import CHARLM_DIR, DEFAULT_SEED, DEFAULT_TIMEOUT, ROOT, SLOW_OK, FuzzTimeout
from .generate import Generator
from .results import Case, Result, format_failure
from .spec import commands
from .trees import _how, diff, snapshot
from .workdir import Workdir


class Fuzzer(Workdir, Generator):
    """Fuzz the `charlm` CLI in `workdir` (a copy of `repo`, plus an inputs folder)."""

    def __init__(self, repo: Path, workdir: Path, seed: int = DEFAULT_SEED,
                 timeout: float = DEFAULT_TIMEOUT, only: Optional[list[str]] = None):
        from charlm.cli.main import build_parser
        self.seed, self.timeout = seed, timeout
        self.commands = [c for c in commands(build_parser())
                         if not only or c.name in only or c.path[0] in only]
        if not self.commands:
            raise ValueError(f"no subcommand matches {only}")
        self.work = Path(workdir).resolve()
        self.repo = self.work / "repo"
        self.inputs = self.work / "inputs"
        self.pristine = self.work / "pristine"
        self._setup(Path(repo))

    # ----------------------------------------------------------------- running
    @staticmethod
    def _namespace(argv: list[str]) -> Optional[argparse.Namespace]:
        from charlm.cli.main import build_parser
        try:
            with contextlib.redirect_stdout(io.StringIO()), \
                    contextlib.redirect_stderr(io.StringIO()):
                return build_parser().parse_args(argv)
        except SystemExit:
            return None

    def requested_chars(self, argv: list[str]) -> Optional[int]:
        """How many chars the case asks to generate (product of its length-like values)."""
        ns = self._namespace(argv)
        vals = [v for k, v in vars(ns or argparse.Namespace()).items()
                if re.search(r"length|num_samples|chars", k) and isinstance(v, int)]
        if not vals:
            return None
        n = 1
        for v in vals:
            n *= max(v, 1)
        return n

    def declared(self, argv: list[str], code: int) -> tuple[set[str], set[str], list[str]]:
        """(paths a successful run may change, path prefixes it may change, problems) for
        `argv` as argparse parses it."""
        ns = self._namespace(argv)
        if ns is None:
            return set(), set(), []
        exact: set[str] = set()
        prefixes: set[str] = set()
        problems: list[str] = []
        if code != 0:
            return exact, prefixes, problems
        cmd = getattr(ns, "command", None)
        if cmd == "score" and getattr(ns, "per_char", None) is not None:
            out = os.path.abspath(os.path.join(self.repo, ns.per_char))
            src = ns.file
            if src not in (None, "-") and os.path.realpath(os.path.join(self.repo, src)) == \
                    os.path.realpath(out) and os.path.isfile(os.path.join(self.repo, src)):
                problems.append(f"--per-char {ns.per_char} is the FILE it scores: the input "
                                "was overwritten")
            else:
                exact.add(out)
                parent = os.path.dirname(out)
                while parent.startswith(str(self.work)) and parent != str(self.work):
                    exact.add(parent)
                    parent = os.path.dirname(parent)
        if cmd == "corpus" and getattr(ns, "corpus_command", None) == "add":
            exact |= {str(self.repo / "corpora.yaml"), str(self.repo / "data")}
            prefixes |= {str(self.repo / "data" / "raw"), str(self.repo / "data" / "cache")}
            if ns.to_run:
                exact.add(str(self.repo / "params.yaml"))
        return exact, prefixes, problems

    def run_case(self, case: Case) -> Result:
        """Run one case in process; classify it; restore everything it changed."""
        import torch
        env = dict(os.environ)
        stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", newline=None,
                                  errors=getattr(sys.__stdout__, "errors", None) or "strict",
                                  write_through=True)
        stderr = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="backslashreplace",
                                  write_through=True)
        stdin = io.TextIOWrapper(io.BytesIO(case.stdin), encoding="utf-8",
                                 errors=getattr(sys.__stdin__, "errors", None) or "strict")
        code: Optional[int] = None
        exc: Optional[BaseException] = None
        tb = ""
        old_cwd, old_stdin = os.getcwd(), sys.stdin
        outer = (0.0, 0.0)
        old_handler = signal.signal(signal.SIGALRM, _on_alarm)
        t0 = time.monotonic()
        try:
            os.chdir(self.repo)
            sys.stdin = stdin
            with warnings.catch_warnings(), contextlib.redirect_stdout(stdout), \
                    contextlib.redirect_stderr(stderr):
                _python_default_warnings()
                outer = signal.setitimer(signal.ITIMER_REAL, self.timeout)  # e.g. pytest-timeout's
                try:
                    from charlm.cli.main import main
                    main(list(case.argv))
                    code = 0
                except SystemExit as e:
                    code = _exit_code(e, stderr)
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
        except BaseException as e:                # noqa: B036  (a traceback, or the guard)
            exc = e
            tb = "".join(traceback.format_exception(type(e), e, e.__traceback__))
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old_handler)
            if outer[0] > 0:                      # the outer timer goes on where it was
                signal.setitimer(signal.ITIMER_REAL,
                                 max(outer[0] - (time.monotonic() - t0), 0.001), outer[1])
            sys.stdin = old_stdin
            os.chdir(old_cwd)
            if torch.get_num_threads() != self.threads:
                torch.set_num_threads(self.threads)
            if os.environ != env:
                os.environ.clear()
                os.environ.update(env)
        seconds = time.monotonic() - t0
        res = Result(case, code, _read(stdout), _read(stderr), seconds, exc, tb)
        if exc is not None:
            res.where, res.deepest = _frames(exc)
        after = snapshot(self.roots)
        self._classify(res, after)
        if after != self.clean:
            self.restore()
        return res

    def _classify(self, res: Result, after: dict) -> None:
        f = res.failures
        cmd = res.case.command
        if isinstance(res.exc, FuzzTimeout):
            work = self.requested_chars(res.case.argv)
            msg = (f"no exit after {self.timeout:g}s ({len(res.out):,} chars out, "
                   f"{work if work is not None else '?'} requested); stopped in {res.where}")
            if work is not None and SLOW_OK[0] < work <= SLOW_OK[1]:
                res.notes.append(("slow", msg))     # a big but bounded request: not a failure
            else:
                f.append(("hang", msg))
        elif res.exc is not None:
            f.append(("traceback", f"{type(res.exc).__name__}: {_one_line(res.exc)} "
                                   f"at {res.where or res.deepest}"))
        elif "Traceback (most recent call last)" in res.err:
            f.append(("traceback", "a traceback on stderr: " + res.last_err()))
        if res.code is not None:
            allowed = {0, 2} | ({1} if cmd == "check-metrics" else set())
            if res.code not in allowed:
                f.append(("wrong exit", f"exit {res.code}: {res.last_err()}"))
            if res.code == 2:
                lines = [x for x in res.err.splitlines() if x.strip()]
                usage = "usage:" in res.err and lines and ": error: " in lines[-1]
                if not usage and len(lines) != 1:
                    f.append(("multi-line error", f"{len(lines)} non-empty stderr lines: "
                              + " | ".join(x[:80] for x in lines[:4])))
                elif not usage and res.err.count("\n") > 1:
                    f.append(("multi-line error", "blank lines around the error line"))
        exact, prefixes, problems = self.declared(res.case.argv, res.code if res.code is not
                                                  None else -1)
        changed = []
        for p in diff(self.clean, after):
            if p in exact or any(p == q or p.startswith(q + os.sep) for q in prefixes):
                continue
            changed.append(p)
        devnull = str(self.inputs / "devnull")
        if after.get(devnull) != ("l", "/dev/null"):
            problems.append("replaced the symlink to /dev/null instead of writing through it "
                            "(as root on /dev/null itself: the device node replaced)")
        if changed or problems:
            res.changed = [self._short(p) for p in changed]
            cache = str(self.repo / "data" / "cache")
            if not problems and all(p == cache or p.startswith(cache + os.sep) for p in changed):
                problems.append("download cache only (on an error exit)")
            what = "; ".join(problems + [f"{self._short(p)} {_how(self.clean.get(p), after.get(p))}"
                                         for p in changed[:6]])
            f.append(("files changed", what + (" ..." if len(changed) > 6 else "")))

    def _short(self, p: str) -> str:
        return os.path.relpath(p, self.work)

    def run(self, n: int, start: int = 0, log: Callable[[str], None] = lambda s: None,
            budget_s: Optional[float] = None) -> list[Result]:
        """Cases start..start+n-1 (stopping early when `budget_s` seconds are spent)."""
        results = []
        t0 = time.monotonic()
        for i in range(start, start + n):
            if budget_s is not None and time.monotonic() - t0 > budget_s:
                log(f"time budget of {budget_s:g}s spent after {len(results)} cases")
                break
            r = self.run_case(self.case(i))
            results.append(r)
            if r.failures:
                log(format_failure(r))
        return results


def _on_alarm(signum, frame):
    raise FuzzTimeout()


def _python_default_warnings() -> None:
    """The warning filters of a plain `python` process (not pytest's)."""
    warnings.resetwarnings()
    warnings.simplefilter("default", DeprecationWarning, append=False)
    for cat in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
        warnings.filterwarnings("ignore", category=cat)
    warnings.filterwarnings("default", category=DeprecationWarning, module="__main__")


def _exit_code(e: SystemExit, stderr) -> int:
    """The status a process exits with for this SystemExit (a message is printed, status 1)."""
    if e.code is None:
        return 0
    if isinstance(e.code, int):
        return e.code
    print(e.code, file=stderr)
    return 1


def _read(stream: io.TextIOWrapper) -> str:
    with contextlib.suppress(Exception):
        stream.flush()
    return stream.buffer.getvalue().decode("utf-8", errors="backslashreplace")


def _frames(exc: BaseException) -> tuple[str, str]:
    frames = traceback.extract_tb(exc.__traceback__)
    here = str(Path(__file__).resolve())
    fmt = lambda fr: f"{os.path.relpath(fr.filename, ROOT) if fr.filename.startswith(str(ROOT)) else fr.filename}:{fr.name}:{fr.lineno}"  # noqa: E731
    ours = [fr for fr in frames if fr.filename.startswith(CHARLM_DIR)]
    deepest = [fr for fr in frames if fr.filename != here]
    return (fmt(ours[-1]) if ours else "", fmt(deepest[-1]) if deepest else "")


def _one_line(exc: BaseException) -> str:
    s = str(exc).strip().splitlines()
    return (s[0] if s else "")[:160]
