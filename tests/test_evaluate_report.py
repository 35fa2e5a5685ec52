"""Scoring arithmetic, the report (charts, tables, surprise page) and the metrics gate."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from charlm import paths
from charlm.check_metrics import compare, markdown
from charlm.errors import CharlmError
from charlm.evaluate import Scorer, bpc_stats, surprise_data
from charlm.report import build_report, surprise_html
from charlm.vocab import Vocab

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
    return Scorer("uniform", lambda ids: np.full(len(ids), -math.log2(v)),
                  lambda ids: np.full((len(ids), v), -math.log2(v)), params=0, train_chars=0,
                  train_seconds=0.0, sample_file=None, info={})


def test_surprise_data_and_page():
    vocab = Vocab.build("abc<d>")
    ids, _ = vocab.encode("a<b>")
    data = surprise_data(_uniform_scorer(vocab.size), vocab, ids)
    assert data["text"] == list("a<b>")
    assert data["bits"] == [round(math.log2(vocab.size), 3)] * 4
    assert len(data["top"][0]) == 5
    page = surprise_html("t", {"uniform": data})
    assert page.count('class="c"') == 4
    assert "&lt;" in page and "<b>" not in page.split("<body>")[1].split("<pre>")[1]


def _write_metrics(corpus, model, test_bpc, val_bpc=None, params=1000):
    from charlm.fsutil import write_json
    write_json(paths.metrics_file(corpus, model), {
        "corpus": corpus, "model": model, "test_bpc": test_bpc, "val_bpc": val_bpc or test_bpc,
        "test_ppl": 2 ** test_bpc, "params": params, "train_chars": 12345,
        "train_seconds": 1.5, "eval_chars_per_s": 1e6})


def test_build_report(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for c in ("toy", "toy2"):
        _write_metrics(c, "ngram", 2.4, params=50_000)
        _write_metrics(c, "lstm", 2.1, params=200_000)
        paths.sample_file(c, "lstm").parent.mkdir(parents=True, exist_ok=True)
        paths.sample_file(c, "lstm").write_text("ROMEO: ```code``` and more")
    curve = paths.METRICS / "train" / "toy" / "lstm" / "plots" / "metrics" / "val"
    curve.mkdir(parents=True)
    (curve / "bpc.tsv").write_text("timestamp\tstep\tbpc\n0\t0\t4.0\n0\t100\t2.5\n0\t200\t2.1\n")
    (paths.model_dir("toy", "lstm")).mkdir(parents=True)
    (paths.model_dir("toy", "lstm") / "summary.json").write_text(json.dumps(
        {"train_chars": 409600, "steps": 200}))
    (paths.METRICS / "ngram").mkdir(parents=True)
    (paths.METRICS / "ngram" / "toy_orders.tsv").write_text(
        "order\tkneser_ney\tadd_k\n1\t3.3\t3.3\n2\t2.8\t2.9\n3\t2.5\t2.7\n")
    summ = build_report(["toy", "toy2"], ["ngram", "lstm"])
    assert summ["toy"]["lstm"]["test_bpc"] == 2.1
    assert json.loads(paths.summary_file().read_text()) == summ
    md = (tmp_path / "report.md").read_text()
    assert "| **lstm** | **2.100** |" in md and "| ngram | 2.400 |" in md
    for png in ("toy_curves.png", "toy_ngram_orders.png", "bpc_vs_params.png"):
        data = (tmp_path / "report" / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    assert "`\u200b``code" in md          # a sample cannot break out of its code block
    with pytest.raises(CharlmError, match="missing"):
        build_report(["toy"], ["gru"])


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


def test_gate_cli_fails_on_worsened_and_passes_on_committed(tmp_path):
    committed = ROOT / "metrics" / "summary.json"
    base = committed if committed.exists() else tmp_path / "base.json"
    if not committed.exists():
        base.write_text(json.dumps({"ts": {"lstm": {"test_bpc": 2.1}}}))
    data = json.loads(base.read_text())
    worse = json.loads(json.dumps(data))
    corpus = next(iter(worse))
    model = next(iter(worse[corpus]))
    worse[corpus][model]["test_bpc"] += 0.05
    (tmp_path / "worse.json").write_text(json.dumps(worse))
    cmd = [sys.executable, "-m", "charlm.cli", "check-metrics", "--baseline", str(base)]
    ok = subprocess.run(cmd + ["--current", str(base)], capture_output=True, text=True, cwd=ROOT)
    assert ok.returncode == 0, ok.stderr
    assert "PASS" in ok.stderr
    bad = subprocess.run(cmd + ["--current", str(tmp_path / "worse.json")], capture_output=True,
                         text=True, cwd=ROOT)
    assert bad.returncode == 1
    assert "**WORSE**" in bad.stdout and "+0.0500" in bad.stdout and "FAIL" in bad.stderr
