"""What every benchmark script shares: the repository's paths, the argument parser, the
command and provenance line, the machine it ran on, the lock, the result writers and
best-of timing.

A script in benchmarks/<kind>/ finds this module with the one bootstrap every script
repeats (run it as `python benchmarks/<kind>/<name>.py`, from the repository root):

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # benchmarks/: common
    import common  # noqa: E402

Importing it puts the repository root first on sys.path (so `import charlm` is this
checkout's, and a script imports another kind's module as `speed.bench_amp`) and imports
nothing heavy: `--help` and the report-only modes need no torch.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
RESULTS = BENCHMARKS / "results"
ORACLES = ROOT / "tests" / "oracles"
# One heavy job at a time on the 2-core machine: benchmarks, `dvc repro` and the test
# suite all take this lock (`flock /tmp/charlm-heavy.lock CMD` from a shell).
LOCK = Path("/tmp/charlm-heavy.lock")

if sys.path[:1] != [str(ROOT)]:
    sys.path.insert(0, str(ROOT))


# --------------------------------------------------------------------------- arguments

def parser(doc: str | None, **kwargs: Any) -> argparse.ArgumentParser:
    """The script's argument parser, its docstring as the help text (layout kept)."""
    kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
    return argparse.ArgumentParser(description=doc, **kwargs)


def relative(path: str | os.PathLike) -> str:
    """`path` from the repository root (as given when it lies outside)."""
    p = Path(path).resolve()
    try:
        return p.relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)


def command(file: str, args: list[str] | None = None, env: tuple[str, ...] = ()) -> str:
    """The run as one line to paste: `[VAR=value ...] python benchmarks/<kind>/<name>.py ARGS`
    (`file`: the script's __file__; ARGS: sys.argv[1:] unless given; `env`: variables the
    run depends on, recorded with their values when set)."""
    argv = sys.argv[1:] if args is None else list(args)
    words = [f"{v}={os.environ[v]}" for v in env if os.environ.get(v)]
    words += ["python", relative(file)] + ([shlex.join(argv)] if argv else [])
    return " ".join(words)


def oracle(name: str):
    """A reference implementation the tests check charlm against (tests/oracles/<name>.py,
    e.g. the lecture's n-gram), imported as a module."""
    import importlib.util

    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ORACLES / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name]


# --------------------------------------------------------------------------- the machine

def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo (platform.processor() where there is none)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_flags() -> set[str]:
    """The CPU's feature flags (avx2, avx512_bf16, amx_bf16, ...) from /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_description() -> str:
    """The CPU by its name and the widest vector ISA its flags show, e.g.
    "AMD EPYC ... (AVX-512), 2 cores": what a benchmark ran on, read from the machine."""
    flags = cpu_flags()
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return f"{cpu_name()} ({isa}), {os.cpu_count()} cores"


def git_commit(short: bool = False) -> str:
    """The commit checked out here ("" outside git)."""
    try:
        r = subprocess.run(["git", "rev-parse", *(["--short"] if short else []), "HEAD"],
                           cwd=ROOT, capture_output=True, text=True)
    except OSError:
        return ""
    return r.stdout.strip()


def now() -> str:
    return datetime.datetime.now().isoformat(timespec="seconds")


def provenance(cmd: str, commit: str | None = None, cpu: str | None = None,
               when: str | None = None) -> str:
    """A result's first line: "Made by `CMD` at commit C on CPU, WHEN" (no full stop: the
    script may go on). Commit, CPU and time default to this checkout, this machine and now;
    a result re-rendered from its record passes the recorded ones."""
    commit = git_commit() if commit is None else commit
    cpu = cpu_description() if cpu is None else cpu
    when = now() if when is None else when
    return f"Made by `{cmd}` at commit {commit[:10] or '?'} on {cpu}, {when}"


# --------------------------------------------------------------------------- the lock

def _inherited_lock_fd() -> int | None:
    """A descriptor of LOCK this process inherited (from `flock LOCK python ...`), if any."""
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return None
    target = os.path.realpath(LOCK)
    for fd in fds:
        with contextlib.suppress(OSError, ValueError):
            if os.readlink(f"/proc/self/fd/{fd}") == target:
                return int(fd)
    return None


@contextlib.contextmanager
def heavy_lock() -> Iterator[None]:
    """Hold LOCK while measuring: wait for any other heavy job first. Started under
    `flock /tmp/charlm-heavy.lock ...` the script already holds it (the descriptor it
    inherited) and goes straight on."""
    import fcntl

    fd = _inherited_lock_fd()
    if fd is not None:
        fcntl.flock(fd, fcntl.LOCK_EX)          # the parent's lock: granted at once
        yield
        return
    fd = os.open(LOCK, os.O_RDONLY | os.O_CREAT, 0o666)     # as flock(1) opens it
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for {LOCK} (another heavy job holds it) ...", file=sys.stderr,
                  flush=True)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)                                        # closing it unlocks


# --------------------------------------------------------------------------- results

def out_path(path: str | os.PathLike) -> Path:
    """A result path: a relative one is from the repository root."""
    p = Path(path)
    return p if p.is_absolute() else ROOT / p


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write `text` atomically (a temporary file beside it, then a rename): a reader sees
    the old file or the new one, never half of one."""
    path = out_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        try:
            mode = path.stat().st_mode & 0o777
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def write_json(path: str | os.PathLike, obj: Any, indent: int = 2, ensure_ascii: bool = True) -> Path:
    return write_text(path, json.dumps(obj, indent=indent, ensure_ascii=ensure_ascii) + "\n")


def write_results(out: str | os.PathLike, obj: Any = None, md: str | None = None,
                  indent: int = 2, ensure_ascii: bool = True) -> tuple[Path, Path]:
    """`out`.json (when `obj` is given) and `out`.md (when `md` is, written as it is)."""
    out = out_path(out)
    js, mdp = out.with_suffix(".json"), out.with_suffix(".md")
    if obj is not None:
        write_json(js, obj, indent, ensure_ascii)
    if md is not None:
        write_text(mdp, md)
    return js, mdp


def append_jsonl(path: str | os.PathLike, obj: Any) -> None:
    """One JSON line appended (a record that grows run by run, kept when a run dies)."""
    path = out_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(obj) + "\n")


# --------------------------------------------------------------------------- timing

def best_of(fn: Callable[[], Any], repeats: int) -> tuple[float, float, Any]:
    """fn() run `repeats` times: (the best seconds, the median seconds, the last result)."""
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times), out


def interleaved(fns: dict[str, Callable[[], Any]], rounds: int) -> dict[str, list[Any]]:
    """Each fn called in turn, `rounds` times over; each one's results in order. A machine
    whose speed drifts slows every path of a round alike: best-of over interleaved rounds
    keeps the ratios fair."""
    out: dict[str, list[Any]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            out[name].append(fn())
    return out
