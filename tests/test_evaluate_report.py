"""Scoring arithmetic, the report (charts, tables, surprise page) and the metrics gate."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from charlm.core import paths
from charlm.compare.check_metrics import compare, markdown
from charlm.core.errors import CharlmError
from charlm.evaluate.run import Scorer, bpc_stats, surprise_data
from charlm.compare.report import build_report, surprise_html
from charlm.core.vocab import Vocab

from helpers import ROOT


def test_bpc_is_mean_negative_log2_and_ppl_is_two_to_it():
    lp = np.log2(np.array([0.5, 0.25, 0.125, 1.0]))
    s = bpc_stats(lp)
    assert s["bpc"] == pytest.approx((1 + 2 + 3 + 0) / 4)
    assert s["ppl"] == pytest.approx(2 ** 1.5)
    assert s["chars"] == 4
    # uniform over V symbols: bpc = log2 V, perplexity = V
    assert bpc_stats(np.full(10, -math.log2(65)))["ppl"] == pytest.approx(65)
    with pytest.raises(CharlmError, match="probability 0"):
        bpc_stats(np.array([-1.0, -np.inf]))
    with pytest.raises(CharlmError, match="empty"):
        bpc_stats(np.array([]))


def _uniform_scorer(v: int) -> Scorer:
    seq = lambda ids: np.full(len(ids), -math.log2(v))       # noqa: E731
    return Scorer("uniform", seq, lambda ids: np.full((len(ids), v), -math.log2(v)), seq,
                  params=0, train_chars=0, sample=lambda sp: "", info={})


def test_surprise_data_and_page():
    vocab = Vocab.build("abc<d>")
    ids, _ = vocab.encode("a<b>")
    data = surprise_data(_uniform_scorer(vocab.size).next_log2probs(ids), vocab, ids)
    assert data["text"] == list("a<b>")
    assert data["bits"] == [round(math.log2(vocab.size), 3)] * 4
    assert len(data["top"][0]) == 5
    page = surprise_html("t", {"uniform": data})
    assert page.count('class="c"') == 4
    assert "&lt;" in page and "<b>" not in page.split("<body>")[1].split("<pre>")[1]


def _write_metrics(corpus, model, test_bpc, val_bpc=None, params=1000, **extra):
    from charlm.core.fsutil import write_json
    write_json(paths.metrics_file(corpus, model), {
        "corpus": corpus, "model": model, "test_bpc": test_bpc, "val_bpc": val_bpc or test_bpc,
        "test_ppl": 2 ** test_bpc, "params": params, "train_chars": 12345, **extra})


def _write_fit(corpus):
    from charlm.core.fsutil import write_json
    write_json(paths.ngram_fit_file(corpus), {
        "smoothing": "kneser_ney", "order": 3, "max_order": 3, "train_chars": 5000,
        "smoothings": {"kneser_ney": {}, "add_k": {}},
        "mle": {str(o): {"val_zero_prob_fraction": z, "test_zero_prob_fraction": z}
                for o, z in ((1, 0.0), (2, 0.0004), (3, 0.25))},
        "lecture_query": {"history": "ello", "chosen": "the lecture's", "order": 4,
                          "train_count": 116, "continuations": 3,
                          "top": [["w", 0.875], [" ", 0.1], ["|", 0.025]]}})
    paths.ngram_samples(corpus).mkdir(parents=True)
    for o, text in ((3, "the order-3 sample"), (1, "the order-1 sample")):
        (paths.ngram_samples(corpus) / f"mle_order{o}.txt").write_text(text)


def test_build_report(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    from charlm.core.fsutil import write_json
    for c in ("toy", "toy2"):
        _write_metrics(c, "ngram", 2.4, params=50_000, dynamic_val_bpc=2.3, dynamic_test_bpc=2.35)
        _write_metrics(c, "lstm", 2.1, params=200_000, train_chars=409600, steps=200,
                       dynamic_val_bpc=1.9, dynamic_test_bpc=1.95)
        # the gru is best on test but not on val: the report's "best RNN" is chosen on val
        _write_metrics(c, "gru", 2.0, val_bpc=2.6, params=200_000, train_chars=409600, steps=200)
        paths.sample_file(c, "lstm").parent.mkdir(parents=True, exist_ok=True)
        paths.sample_file(c, "lstm").write_text("ROMEO: ```code``` and more")
        for m in ("ngram", "lstm", "gru"):
            write_json(paths.surprise_data(c, m), {"text": ["a", "b"], "bits": [1.0, 2.0],
                                                   "top": [[["a", 0.5]], [["b", 0.25]]]})
    _write_metrics("toy", "mix", 1.8, val_bpc=1.7, params=450_000,
                   weights={"ngram": 0.0001, "ngram:dynamic": 0.3, "lstm": 0.0, "lstm:dynamic": 0.6,
                            "gru": 0.0999})
    _write_fit("toy")
    curve = paths.val_curve("toy", "lstm")
    curve.parent.mkdir(parents=True)
    curve.write_text("timestamp\tstep\tbpc\n0\t0\t4.0\n0\t100\t2.5\n0\t200\t2.1\n")
    (paths.METRICS / "ngram").mkdir(parents=True)
    (paths.METRICS / "ngram" / "toy_orders.tsv").write_text(
        "order\tkneser_ney\tadd_k\n1\t3.3\t3.3\n2\t2.8\t2.9\n3\t2.5\t2.7\n")
    summ = build_report({"toy": ["ngram", "lstm", "gru", "mix"], "toy2": ["ngram", "lstm"]})
    assert summ["toy"]["lstm"]["test_bpc"] == 2.1 and set(summ["toy2"]) == {"ngram", "lstm"}
    assert json.loads(paths.summary_file().read_text()) == summ
    # the declared metrics: five numbers per model (and the adapted pair), no timings
    assert set(summ["toy"]["gru"]) == {"test_bpc", "val_bpc", "test_ppl", "params", "train_chars"}
    assert set(summ["toy"]["lstm"]) - set(summ["toy"]["gru"]) == {"dynamic_test_bpc",
                                                                   "dynamic_val_bpc"}
    md = (tmp_path / "report.md").read_text()
    head, toy = md.split("## toy\n")[0], md.split("## toy\n")[1].split("## toy2\n")[0]
    # the opening row: the best neural model on val (lstm: val 2.1 < gru's 2.6) against the
    # n-gram, the gap signed, the mixture
    assert "| [toy](#toy) | 2.400 / 2.400 | lstm | 2.100 / 2.100 | -0.300 / -0.300 | " \
           "1.700 / 1.800 |" in head
    # the lecture's walk, in order
    steps = ["### 1. The unsmoothed n-gram", "`lm['ello']`", "Order 1 writes", "Order 3 writes",
             "| test chars with P = 0 | 0.0 % | 0.04 % | 25.0 % |", "### 2. The smoothed n-gram",
             "Kneser-Ney at order 3, chosen on val among orders 1–3 of Kneser-Ney, add-k",
             "### 3. The neural models", "**lstm**, is 0.300 bpc below the smoothed n-gram on val",
             "### 4. The mixture"]
    where = [toy.index(s) for s in steps]
    assert where == sorted(where)
    assert "| next char | `w` | space | `\\|` |" in toy and "| P | 0.875 | 0.100 | 0.025 |" in toy
    # one table: static and adapted side by side, mixture weights static / adapted
    assert "| lstm | 200.00 k | 409.60 k | 2.100 | 2.100 | 1.900 | 1.950 | 0.000 / 0.600 |" in toy
    assert "| gru | 200.00 k | 409.60 k | 2.600 | 2.000 | — | — | 0.100 / — |" in toy
    assert "ngram, adapted 0.300, lstm, adapted 0.600, gru 0.100 (the rest below 0.001)" in toy
    assert "the best single model on val (lstm, adapted) 1.900 and 1.950" in toy
    # toy2 has no fit record and no mixture: its sections say so instead of failing
    assert "(No n-gram fit in this run.)" in md.split("## toy2")[1]
    # the dvc plots data: a series per model, and the n-gram's orders per corpus
    rows = (tmp_path / "plots" / "val_bpc" / "toy.tsv").read_text().splitlines()
    assert rows == ["series\tchars\tval_bpc", "lstm\t0\t4.0", "lstm\t204800\t2.5",
                    "lstm\t409600\t2.1"]
    orders = (tmp_path / "plots" / "ngram_orders.tsv").read_text().splitlines()
    assert orders == ["series\torder\tval_bpc", "toy\t1\t3.3", "toy\t2\t2.8", "toy\t3\t2.5"]
    page = (tmp_path / "report" / "surprise_toy.html").read_text()
    assert "<h2>lstm, test bpc 2.100 (" in page and "<h2>gru" not in page
    for png in ("toy_curves.png", "toy_ngram_orders.png", "bpc_vs_params.png"):
        data = (tmp_path / "report" / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    assert "`\u200b``code" in md          # a sample cannot break out of its code block
    with pytest.raises(CharlmError, match="missing"):
        build_report({"toy": ["rnn"]})


def test_gate_compare():
    old = {"ts": {"ngram": {"test_bpc": 2.30}, "lstm": {"test_bpc": 2.10}}}
    same = json.loads(json.dumps(old))
    rows, ok = compare(old, same, 0.02)
    assert ok and {r["status"] for r in rows} == {"ok"}
    worse = {"ts": {"ngram": {"test_bpc": 2.30}, "lstm": {"test_bpc": 2.15}}}
    rows, ok = compare(old, worse, 0.02)
    assert not ok and [r["status"] for r in rows] == ["WORSE", "ok"]
    assert "**WORSE**" in markdown(rows, 0.02, "HEAD")
    rows, ok = compare(old, {"ts": {"ngram": {"test_bpc": 2.0}}}, 0.02)
    assert not ok and [r["status"] for r in rows] == ["MISSING", "better"]
    # tolerance 0: not worse at all (equal passes, the smallest worsening fails)
    assert compare(old, same, 0.0)[1]
    rows, ok = compare(old, {"ts": {"ngram": {"test_bpc": 2.30}, "lstm": {"test_bpc": 2.1000001}}}, 0)
    assert not ok and [r["status"] for r in rows] == ["WORSE", "ok"]
    rows, ok = compare(old, {"ts": {"ngram": {"test_bpc": 2.30}, "lstm": {"test_bpc": 2.0999999}}}, 0)
    assert ok and [r["status"] for r in rows] == ["better", "ok"]
    # a model with no baseline is reported, and does not fail the gate
    rows, ok = compare(old, {"ts": {**same["ts"], "gru": {"test_bpc": 2.5}}}, 0.02)
    assert ok and [r["status"] for r in rows] == ["new", "ok", "ok"]


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf"), "2.1", True, [2.1],
                                 {"v": 2.1}])
def test_gate_compare_fails_on_a_value_that_is_not_a_finite_number(bad):
    """NaN compares False with everything: `nan - a > tolerance` would pass the gate."""
    old = {"ts": {"ngram": {"test_bpc": 2.30}, "lstm": {"test_bpc": 2.10}}}
    for tol in (0.0, 0.02, 1e9):
        rows, ok = compare(old, {"ts": {"ngram": {"test_bpc": 2.30}, "lstm": {"test_bpc": bad}}}, tol)
        assert not ok and [r["status"] for r in rows] == ["INVALID", "ok"], (bad, tol)
        # a broken baseline cannot be compared with either
        rows, ok = compare({"ts": {"lstm": {"test_bpc": bad}}}, {"ts": {"lstm": {"test_bpc": 2.1}}}, tol)
        assert not ok and [r["status"] for r in rows] == ["INVALID"], (bad, tol)
        # nor does a new model pass with it
        rows, ok = compare({}, {"ts": {"lstm": {"test_bpc": bad}}}, tol)
        assert not ok and [r["status"] for r in rows] == ["INVALID"], (bad, tol)
    table = markdown(rows, 0.02, "HEAD")
    assert "**INVALID**" in table and table.splitlines()[-1].count("|") == 9   # still 8 cells
    for tol in (float("nan"), float("inf"), -0.01):
        with pytest.raises(CharlmError, match="tolerance"):
            compare(old, old, tol)


# git in the throw-away repo only: no GIT_DIR & co. inherited from a hook or a wrapper
_ENV = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}


def _git(cwd, *args):
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t",
                           "-c", "commit.gpgsign=false", *args],
                          cwd=cwd, check=True, capture_output=True, text=True, env=_ENV)


def _gate(cwd, *args):
    """`charlm check-metrics ARGS` as CI runs it, in a subprocess with `cwd` as the repo."""
    env = {**_ENV, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "charlm.cli", "check-metrics", *args],
                          cwd=cwd, capture_output=True, text=True, env=env)


COMMITTED = {"latex": {"gru": {"test_bpc": 1.62, "val_bpc": 1.5}},
             "ts": {"lstm": {"test_bpc": 2.10, "val_bpc": 2.0}, "ngram": {"test_bpc": 2.30}}}


def _changed(lstm=None, drop=None, add=None) -> str:
    data = json.loads(json.dumps(COMMITTED))
    if lstm is not None:
        data["ts"]["lstm"]["test_bpc"] = lstm
    if drop:
        del data[drop[0]][drop[1]]
    if add:
        data["ts"][add] = {"test_bpc": 2.2}
    return json.dumps(data)          # NaN and Infinity as Python's json writes (and reads) them


@pytest.fixture(scope="module")
def gate_repo(tmp_path_factory):
    """A throw-away git repo whose HEAD holds COMMITTED as metrics/summary.json."""
    repo = tmp_path_factory.mktemp("gate") / "repo"
    (repo / "metrics").mkdir(parents=True)
    _git(repo, "init", "-q")
    (repo / "metrics" / "summary.json").write_text(json.dumps(COMMITTED))
    _git(repo, "add", "metrics/summary.json")
    _git(repo, "commit", "-qm", "baseline")
    return repo


@pytest.mark.parametrize("working_copy,tolerance,passes,status,change", [
    (_changed(), "0.02", True, "ok", "+0.0000"),                       # unchanged
    (_changed(), "0", True, "ok", "+0.0000"),                          # tolerance 0: equal passes
    (_changed(lstm=2.0), "0", True, "better", "-0.1000"),
    (_changed(lstm=2.115), "0.02", True, "ok", "+0.0150"),             # within the tolerance
    (_changed(lstm=2.15), "0.02", False, "**WORSE**", "+0.0500"),
    (_changed(lstm=2.1001), "0", False, "**WORSE**", "+0.0001"),       # tolerance 0: any worsening
    (_changed(drop=("ts", "lstm")), "0.02", False, "**MISSING**", "—"),
    (_changed(lstm=float("nan")), "0.02", False, "**INVALID**", "—"),
    (_changed(lstm=float("inf")), "0.02", False, "**INVALID**", "—"),
    (_changed(lstm="2.1"), "0.02", False, "**INVALID**", "—"),
    (_changed(add="gru"), "0.02", True, None, None),                   # a new model
], ids=["equal", "equal-tol0", "better", "within", "worse", "worse-tol0", "missing", "nan", "inf",
        "string", "new"])
def test_gate_against_head_in_a_git_repo(gate_repo, working_copy, tolerance, passes, status, change):
    """What CI runs: `charlm check-metrics --against HEAD --tolerance T` in a git checkout whose
    working copy changed metrics/summary.json after the commit."""
    (gate_repo / "metrics" / "summary.json").write_text(working_copy)
    r = _gate(gate_repo, "--against", "HEAD", "--tolerance", tolerance)
    assert r.returncode == (0 if passes else 1), r.stdout + r.stderr
    assert ("metrics gate: PASS" if passes else "metrics gate: FAIL") in r.stderr
    assert "Traceback" not in r.stderr
    rows = {tuple(c.strip() for c in line.split("|")[1:3]): [line.split("|")[i].strip() for i in (3, 4, 5, 8)]
            for line in r.stdout.splitlines()[4:]}
    assert r.stdout.startswith(f"Test bpc against `HEAD` (tolerance {float(tolerance):g} bits/char)")
    assert rows[("latex", "gru")] == ["1.6200", "1.6200", "+0.0000", "ok"]
    assert rows[("ts", "ngram")] == ["2.3000", "2.3000", "+0.0000", "ok"]
    if status is not None:
        assert rows[("ts", "lstm")][0] == "2.1000"                   # the committed baseline
        assert rows[("ts", "lstm")][2:] == [change, status]
    else:
        assert rows[("ts", "gru")] == ["—", "2.2000", "—", "new"]


def test_gate_against_an_older_revision_and_a_bad_one(gate_repo):
    """--against REV reads the file at REV, not at HEAD: a second commit moves HEAD on."""
    repo = gate_repo
    (repo / "metrics" / "summary.json").write_text(_changed(lstm=2.5))
    _git(repo, "commit", "-qam", "worse run committed")
    try:
        assert _gate(repo, "--against", "HEAD", "--tolerance", "0").returncode == 0
        r = _gate(repo, "--against", "HEAD~1", "--tolerance", "0.02")
        assert r.returncode == 1 and "| ts | lstm | 2.1000 | 2.5000 | +0.4000 | — | noise not measured | **WORSE** |" in r.stdout
        r = _gate(repo, "--against", "no-such-rev")
        assert r.returncode == 2 and r.stderr.startswith("error: cannot read metrics/summary.json "
                                                         "at no-such-rev: ") and "Traceback" not in r.stderr
        r = _gate(repo, "--against", "HEAD", "--tolerance", "nan")
        assert r.returncode == 2 and "--tolerance: must be a finite number >= 0" in r.stderr
    finally:
        _git(repo, "reset", "-q", "--hard", "HEAD~1")


def test_gate_with_a_baseline_file(tmp_path):
    """--baseline FILE instead of a revision; the committed summary, if any, is the baseline
    (so the gate reads the real file's format), the current file a changed copy of it."""
    committed = ROOT / "metrics" / "summary.json"
    base = committed if committed.exists() else tmp_path / "base.json"
    if not committed.exists():
        base.write_text(json.dumps(COMMITTED))
    data = json.loads(base.read_text())
    corpus = next(iter(data))
    model = next(iter(data[corpus]))
    cmd = ["--baseline", str(base), "--tolerance", "0.02", "--current"]
    for delta, code, status in ((-0.05, 0, "better"), (0.05, 1, "**WORSE**")):
        changed = json.loads(json.dumps(data))
        changed[corpus][model]["test_bpc"] += delta
        (tmp_path / "now.json").write_text(json.dumps(changed))
        r = _gate(tmp_path, *cmd, str(tmp_path / "now.json"))
        assert r.returncode == code, r.stdout + r.stderr
        assert f"{delta:+.4f} | " in r.stdout and f" | {status} |" in r.stdout
        assert ("PASS" if code == 0 else "FAIL") in r.stderr
        assert r.stdout.count("| ok |") == sum(len(m) for m in data.values()) - 1


def test_gate_judges_each_change_against_the_seed_noise_in_both_directions(tmp_path):
    """2 standard deviations of the seeds' test bpc: within is noise, beyond is a change
    (better or worse); 0 is "same"; a row without a measured spread says so."""
    from charlm.compare.check_metrics import load_noise, verdict
    noise = tmp_path / "noise.json"
    noise.write_text(json.dumps({"rows": [
        {"corpus": "ts", "model": "lstm", "test_bpc": {"std": 0.01}},
        {"corpus": "ts", "model": "ngram", "test_bpc": {"std": 0.0}}]}))
    spread = load_noise(noise)
    assert spread == {("ts", "lstm"): 0.01, ("ts", "ngram"): 0.0}
    old = {"ts": {"ngram": {"test_bpc": 2.3}, "lstm": {"test_bpc": 2.1}, "gru": {"test_bpc": 2.5}}}
    for new_lstm, expected in ((2.1, "same"), (2.115, "within noise"), (2.085, "within noise"),
                               (2.125, "beyond noise, worse"), (2.075, "beyond noise, better")):
        new = {"ts": {**old["ts"], "lstm": {"test_bpc": new_lstm}}}
        rows, _ = compare(old, new, 1.0, spread)
        assert {r["model"]: r["verdict"] for r in rows}["lstm"] == expected, new_lstm
    rows, _ = compare(old, {"ts": {"ngram": {"test_bpc": 2.3 + 1e-12}, "lstm": {"test_bpc": 2.1},
                                   "gru": {"test_bpc": 2.49}}}, 1.0, spread)
    got = {r["model"]: r["verdict"] for r in rows}
    assert got == {"ngram": "beyond noise, worse", "lstm": "same", "gru": "noise not measured"}
    assert verdict(None, 2.0, 0.1) == "—"
    noise.write_text("[1, 2]")
    with pytest.raises(CharlmError, match="not a seed-noise table"):
        load_noise(noise)
    with pytest.raises(CharlmError, match="absent.json: no such file"):   # named: must exist
        load_noise(tmp_path / "absent.json")
