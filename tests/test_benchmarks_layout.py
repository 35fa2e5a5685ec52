"""benchmarks/ keeps its shape: every script is in the index (benchmarks/README.md) under a
kind folder, the shared preamble (paths, arguments, provenance line, lock, result writers)
lives once in benchmarks/common.py, and every script answers --help."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
SCRIPTS = sorted(p for p in BENCH.rglob("*.py") if p.name != "common.py" and "__pycache__" not in p.parts)
# What common.py does and no script may do again (the pattern, what to use instead).
PREAMBLE = [
    (re.compile(r"^ROOT\s*=", re.M), "common.ROOT"),
    (re.compile(r"charlm-heavy\.lock"), "common.heavy_lock()"),
    (re.compile(r"argparse\.ArgumentParser\("), "common.parser(__doc__)"),
    (re.compile(r"[\"']Made by"), "common.provenance(...)"),
    (re.compile(r"sys\.path\.insert\(0, str\(ROOT"), "the one bootstrap line"),
    # a result names the CPU it ran on from its flags, never by a fixed word
    (re.compile(r"\bthis (AVX2|AVX-512|AVX512|Zen ?\d|EPYC|Xeon)\b"), "common.cpu_description()"),
]


def test_there_are_scripts_in_kind_folders():
    assert len(SCRIPTS) >= 20
    top = [p.name for p in SCRIPTS if p.parent == BENCH]
    assert not top, f"scripts belong in a kind folder (speed/, choices/, ...): {top}"


def test_the_index_lists_every_script():
    index = (BENCH / "README.md").read_text(encoding="utf-8")
    missing = [p.relative_to(BENCH).as_posix() for p in SCRIPTS
               if p.relative_to(BENCH).as_posix() not in index]
    assert not missing, f"benchmarks/README.md does not list {missing}"


def test_the_index_names_a_status_for_each_script():
    index = (BENCH / "README.md").read_text(encoding="utf-8")
    for p in SCRIPTS:
        rel = p.relative_to(BENCH).as_posix()
        rows = [x for x in index.splitlines() if x.startswith("|") and rel in x]
        assert rows, rel
        assert re.search(r"\b(live|decided|superseded|helper|oracle)\b", rows[0]), rows[0]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.relative_to(BENCH).as_posix())
def test_no_script_repeats_the_shared_preamble(script):
    text = script.read_text(encoding="utf-8")
    found = [use for pattern, use in PREAMBLE if pattern.search(text)]
    assert not found, f"{script.name}: use {', '.join(found)} from benchmarks/common.py"


_HELP_DRIVER = """
import contextlib, io, json, runpy, sys
bad = []
for path in sys.argv[1:]:
    out = io.StringIO()
    sys.argv = [path, "--help"]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            runpy.run_path(path, run_name="__main__")
        code = 0
    except SystemExit as e:
        code = e.code or 0
    except BaseException as e:
        code = f"{type(e).__name__}: {e}"
    if code != 0 or "usage:" not in out.getvalue():
        bad.append(f"{path}: {code} {out.getvalue()[-300:]}")
print(json.dumps(bad))
"""


def test_every_script_answers_help():
    """--help of every script, run as __main__ one after another in one interpreter (each
    would otherwise pay torch's import: most of the time here)."""
    scripts = [str(s) for s in SCRIPTS
               if re.search(r"common\.parser\(", s.read_text(encoding="utf-8"))]
    assert len(scripts) >= 10                 # the others are modules other scripts import
    r = subprocess.run([sys.executable, "-c", _HELP_DRIVER, *scripts], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    bad = json.loads(r.stdout.strip().splitlines()[-1])
    assert not bad, "\n".join(bad)
