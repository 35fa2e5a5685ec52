"""The `charlm` CLI fuzzer's fast profile (the fuzzer: tests/clifuzz/; issue 27).

Every subcommand is fuzzed from its own argparse definition: a few hundred generated
invocations run in process in a copy of the tiny trained repository (tests/tiny_repo.py),
then a handful of real `python -m charlm.cli` processes (signal deaths, a closed pipe,
Ctrl-C, non-UTF-8 argv bytes). A failure is a traceback, a hang, an exit status other than
0/2 (1 for check-metrics), an error that is not one line on stderr, or a file changed that
the command does not declare as its output: see tests/clifuzz/__init__.py. The profile runs
500 cases or, on a slow machine, as many as fit in 60 s (at least 200).

    CHARLM_FUZZ_SEED=7 pytest -q tests/test_cli_fuzz.py       # another seed (default: fixed)
    CHARLM_FUZZ_CASES=1000 pytest -q tests/test_cli_fuzz.py   # more cases
    python tests/cli_fuzz.py --seed 7 --case 123 -v            # replay one case
    python tests/cli_fuzz.py --cases 2000 --seed 7             # the long profile
"""

from __future__ import annotations

import os

import pytest

from clifuzz import DEFAULT_SEED, DEFAULT_TIMEOUT, Fuzzer, report, snapshot, subprocess_checks
from tiny_repo import build_repo

SEED = int(os.environ.get("CHARLM_FUZZ_SEED") or DEFAULT_SEED)
CASES = int(os.environ.get("CHARLM_FUZZ_CASES") or 500)
TIMEOUT = float(os.environ.get("CHARLM_FUZZ_TIMEOUT") or DEFAULT_TIMEOUT)
BUDGET_S = float(os.environ.get("CHARLM_FUZZ_BUDGET_S") or 60)
SHOWN = 40          # failures listed one per line in the assertion message


@pytest.fixture(scope="module")
def fuzzer(tmp_path_factory) -> Fuzzer:
    built = build_repo(tmp_path_factory.mktemp("fuzz-built") / "repo")
    return Fuzzer(built, tmp_path_factory.mktemp("fuzz-work"), SEED, TIMEOUT)


def _compact(r) -> str:
    last = r.last_err() or (f"{type(r.exc).__name__}: {r.exc}" if r.exc else "")
    kinds = "/".join(k for k, _ in r.failures)
    return f"  [{r.case.index}] {kinds}: {r.case.line()[:220]}  -> exit {r.code}: {last[:160]!r}"


def test_generated_invocations_fail_cleanly(fuzzer):
    print(f"\ncharlm CLI fuzz seed {SEED} (set CHARLM_FUZZ_SEED to change it; replay a case "
          f"with: python tests/cli_fuzz.py --seed {SEED} --case N -v)")
    results = fuzzer.run(CASES, budget_s=BUDGET_S, log=print)
    assert len(results) >= min(CASES, 200), f"only {len(results)} cases in {BUDGET_S:g} s"
    summary = report(results, SEED)
    print(summary)
    fails = [r for r in results if r.failures]
    listing = "\n".join(_compact(r) for r in fails[:SHOWN])
    more = f"\n  ... and {len(fails) - SHOWN} more" if len(fails) > SHOWN else ""
    if fails:
        pytest.fail(f"seed {SEED}: {len(fails)} of {len(results)} generated invocations "
                    f"failed:\n{listing}{more}\n\nby cause:\n{summary}", pytrace=False)


def test_real_processes_end_cleanly(fuzzer):
    """Signal deaths, `| head -c 50`, Ctrl-C while streaming, non-UTF-8 argv bytes."""
    before = snapshot(fuzzer.roots)
    problems = subprocess_checks(fuzzer.repo)
    after = snapshot(fuzzer.roots)
    if after != before:
        fuzzer.restore()
        problems.append(("(the subprocess runs)", "changed files of the repository"))
    if problems:
        pytest.fail("real processes:\n" + "\n".join(f"  {line}\n      {p}" for line, p in problems),
                    pytrace=False)


# --------------------------------------------------------------------------- the harness itself

def _kinds(r) -> set[str]:
    return {k for k, _ in r.failures}


def test_the_harness_accepts_legitimate_runs(fuzzer):
    """No false positives: help, a listing, a declared output written, a corpus added with
    --to-run, the gate failing by design (exit 1)."""
    i = fuzzer.inputs
    cases = [["--help"], ["--version"], ["models"], ["models", "--json"],
             *[[*c.path, "--help"] for c in fuzzer.commands],
             ["score", "--corpus", "tinyshakespeare", "--model", "ngram", "--per-char",
              str(fuzzer.work / "bits.tsv"), str(i / "text.txt")],
             ["corpus", "add", "fzok", str(i / "text.txt"), "--to-run"],
             ["check-metrics", "--current", str(i / "summary_worse.json"),
              "--baseline", str(i / "summary.json")]]
    results = [fuzzer.run_case(fuzzer.make_case(argv)) for argv in cases]
    bad = [f"{r.case.line()}: exit {r.code}, {r.failures}" for r in results if r.failures]
    assert not bad, "\n".join(bad)
    codes = [r.code for r in results]
    assert codes[-1] == 1 and codes[:4] == [0, 0, 0, 0]
    assert snapshot(fuzzer.roots) == fuzzer.clean


def test_the_harness_flags_each_kind_of_failure(fuzzer, monkeypatch):
    """A stand-in for charlm's main that misbehaves in each way is caught, and every tree is
    restored afterwards."""
    import sys
    import time

    import charlm.cli.main as cli_main

    def fake(behaviour):
        def main(argv):
            behaviour()
        return main

    def raise_(): raise KeyError("boom")
    def two_lines(): print("error: one\nand two", file=sys.stderr); sys.exit(2)
    def usage(): print("usage: charlm x\ncharlm x: error: bad", file=sys.stderr); sys.exit(2)
    def exit3(): sys.exit(3)
    def sleep(): time.sleep(30)
    def touch(): (fuzzer.repo / "params.yaml").write_text("clobbered"); sys.exit(0)
    def devnull(): (fuzzer.inputs / "devnull").unlink(); (fuzzer.inputs / "devnull").write_text("x")
    def silent_two(): sys.exit(2)
    expected = [(raise_, {"traceback"}), (two_lines, {"multi-line error"}), (usage, set()),
                (exit3, {"wrong exit"}), (sleep, {"hang"}), (touch, {"files changed"}),
                (devnull, {"files changed"}), (silent_two, {"multi-line error"})]
    monkeypatch.setattr(fuzzer, "timeout", 1.0)
    for behaviour, kinds in expected:
        monkeypatch.setattr(cli_main, "main", fake(behaviour))
        r = fuzzer.run_case(fuzzer.make_case(["models"]))
        assert _kinds(r) == kinds, (behaviour.__name__, r.failures, r.err)
        assert snapshot(fuzzer.roots) == fuzzer.clean, behaviour.__name__
