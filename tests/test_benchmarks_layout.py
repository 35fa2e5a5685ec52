"""benchmarks/ keeps its shape: every script is in the index (benchmarks/README.md) under a
kind folder, the shared preamble (paths, arguments, provenance line, lock, result writers)
lives once in benchmarks/common.py, and every script answers --help."""

from __future__ import annotations

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


def test_every_script_answers_help():
    """--help in one interpreter per script (no torch needed for it, so this is quick)."""
    bad = []
    for script in SCRIPTS:
        if not re.search(r"common\.parser\(", script.read_text(encoding="utf-8")):
            continue                    # a module other scripts import (no command line)
        r = subprocess.run([sys.executable, str(script), "--help"], cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0 or "usage:" not in r.stdout:
            bad.append(f"{script.relative_to(BENCH)}: rc {r.returncode} {r.stderr[-300:]}")
    assert not bad, "\n".join(bad)
