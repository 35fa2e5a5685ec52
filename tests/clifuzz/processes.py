"""A few runs of `python -m charlm.cli` as real processes: what an in-process run cannot see."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from .common import CORPUS, ROOT
from .results import _quote


def subprocess_checks(repo: Path, timeout: float = 90.0) -> list[tuple[str, str]]:
    """A few runs of `python -m charlm.cli` as a real process: signal deaths, a closed pipe,
    Ctrl-C while sampling, non-UTF-8 argv bytes. Returns [(command line, problem)]."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), os.environ.get("PYTHONPATH", "")]).strip(os.pathsep)}
    py = [sys.executable, "-m", "charlm.cli"]
    problems: list[tuple[str, str]] = []

    def check(line: str, proc_rc: int, err: bytes, ok_codes: tuple, quiet: bool = False):
        text = err.decode("utf-8", "backslashreplace")
        lines = [x for x in text.splitlines() if x.strip()]
        last = lines[-1] if lines else ""
        if proc_rc < 0:
            problems.append((line, f"killed by signal {-proc_rc} "
                                   f"({signal.Signals(-proc_rc).name}); last stderr: {last!r}"))
        elif proc_rc not in ok_codes:
            problems.append((line, f"exit {proc_rc} (expected {ok_codes}); last stderr: {last!r}"))
        if "Traceback (most recent call last)" in text or (quiet and (
                "BrokenPipeError" in text or "Exception ignored" in text)):
            problems.append((line, f"noise on stderr: {last!r}"))
        elif proc_rc == 2 and len(lines) != 1 and "usage:" not in text:
            problems.append((line, f"{len(lines)} stderr lines for an error"))

    def simple(args: list, ok: tuple, stdin: bytes = b""):
        line = "charlm " + " ".join(_quote(os.fsdecode(a)) for a in args)
        try:
            p = subprocess.run(py + args, cwd=repo, env=env, input=stdin, capture_output=True,
                               timeout=timeout)
        except subprocess.TimeoutExpired:
            problems.append((line, f"hang: no exit after {timeout:g}s"))
            return
        check(line, p.returncode, p.stderr, ok)

    # 1. a closed pipe: `charlm sample ... --length 1000000 | head -c 50`
    args = ["sample", "--corpus", CORPUS, "--model", "lstm", "--length", "1000000"]
    line = "charlm " + " ".join(args) + " | head -c 50"
    p = subprocess.Popen(py + args, cwd=repo, env=env, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    got = p.stdout.read(50)
    p.stdout.close()
    try:
        _, err = p.communicate(timeout=timeout)
        rc = p.returncode
        check(line, 141 if rc == -signal.SIGPIPE else rc, err, (0, 141), quiet=True)
        if len(got) < 50:
            problems.append((line, f"only {len(got)} bytes before the pipe closed"))
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        problems.append((line, f"hang: still running {timeout:g}s after the reader went away"))
    # 2. Ctrl-C while streaming: exit 130, one line. SIGINT as a terminal delivers it: a job
    # started in the background by a non-interactive shell (CI) inherits SIGINT ignored, and
    # Python then keeps it ignored, as it should
    args = ["sample", "--corpus", CORPUS, "--model", "gru", "--length", "10000000"]
    line = "charlm " + " ".join(args) + "   (SIGINT once it streams)"
    p = subprocess.Popen(py + args, cwd=repo, env=env, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    first = p.stdout.read(1)
    if first:
        p.send_signal(signal.SIGINT)
    try:
        _, err = p.communicate(timeout=timeout)
        check(line, p.returncode, err, (130,))
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        problems.append((line, f"hang: no exit {timeout:g}s after SIGINT"))
    # 3.-6. plain runs
    simple(["models"], (0,))
    simple(["score", "--corpus", CORPUS, "--model", "ngram"], (2,), stdin=b"\xff\xfe the cat")
    simple([b"sample", b"--corpus", CORPUS.encode(), b"--model", b"lstm", b"--length", b"5",
            b"--echo-prime", b"--unknown-ok", b"--prime", b"the \xff\xfe"], (0, 2))
    simple(["ngram", "query", "--corpus", CORPUS, "--order", "2", b"\xff\xfe"], (0, 2))
    return problems
