"""Choices are made on val: corrupting every test number changes no choice of the
benchmark scripts that pick the default schedules and rank the LSTM sweep (the n-gram's
order and smoothing: tests/test_ngram_cli.py; the report's best RNN: test_evaluate_report)."""

from __future__ import annotations

import copy
import importlib.util
import json
import random
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _module(path: str):
    """A benchmark script as a module, from its path under benchmarks/ ("choices/x.py")."""
    name = Path(path).stem
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _corrupt(obj, rng: random.Random):
    """Every test number replaced so that test ranks things in the reverse order of val
    (20 - val beside a val number, noise elsewhere): a choice that reads test flips."""
    if isinstance(obj, dict):
        val = obj.get("val_bpc", obj.get("best_val_bpc"))
        return {k: ((20.0 - val if isinstance(val, float) else rng.uniform(0.5, 9.0))
                    if "test" in k and isinstance(v, float) else _corrupt(v, rng))
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [_corrupt(v, rng) for v in obj]
    return obj


def test_schedule_choice_ignores_test(monkeypatch):
    sc = _module("choices/schedule_choice.py")
    real = sc.git_show
    rng = random.Random(0)

    def corrupted(rev, path):
        text = real(rev, path)
        if path.endswith("summary.json"):
            return json.dumps(_corrupt(json.loads(text), rng))
        return text

    honest = sc.choose("d65f104~1", "d65f104", None)[1]
    monkeypatch.setattr(sc, "git_show", corrupted)
    noisy = sc.choose("d65f104~1", "d65f104", None)[1]
    pick = lambda rows: [(r["model"], r.get("choice"), [p.get("val_prefers") for p in r["per_corpus"]])
                         for r in rows]
    assert pick(honest) == pick(noisy)
    assert [r["mean"]["new_test"] for r in honest] != [r["mean"]["new_test"] for r in noisy]


def test_sweep_ranking_and_pick_ignore_test():
    sw = _module("gpu/gpu_lstm_sweep.py")
    lines = [json.loads(x) for x in
             (ROOT / "benchmarks/results/gpu_lstm_sweep.jsonl").read_text().splitlines() if x.strip()]
    noisy = _corrupt(copy.deepcopy(lines), random.Random(1))
    ranks = lambda md: re.findall(r"^\| \d+ \| (\d+) \| ([^|]*) \|", md, re.M)
    pick = lambda md: re.search(r"Val alone picks \*\*(.*?)\*\*", md).group(1)
    a, b = sw.markdown(lines), sw.markdown(noisy)
    assert ranks(a) == ranks(b) and len(ranks(a)) >= 20
    assert pick(a) == pick(b)


def test_the_transformer_sweep_never_reads_test(prepared, monkeypatch):
    """gpt_sweep trains and ranks on val alone: no configuration opens the test split, no
    row carries a test number, and the table ranks by best val."""
    import charlm.core.splits as splits
    import charlm.train.run as run
    sw = _module("choices/gpt_sweep.py")
    opened = []
    real = splits.load_split

    def spy(d, split):
        opened.append(split)
        return real(d, split)

    monkeypatch.setattr(run, "load_split", spy)
    monkeypatch.setattr(splits, "load_split", spy)
    tiny = {"steps": 6, "width": 16, "heads": 2, "layers": 1, "context": 8, "batch_size": 4}
    rows = [{**sw.run_one(prepared, {**tiny, "lr": lr}), "round": 1, "cpu": "x"}
            for lr in (3e-3, 1e-4)]
    assert "test" not in opened and "val" in opened
    assert not [k for r in rows for k in r if "test" in k]
    assert [len(r["curve"]) for r in rows] == [6, 6]          # val every 1/16 of 6 steps: each
    best = min(rows, key=lambda r: r["best_val_bpc"])
    md = sw.markdown(rows, "x", "cmd")
    assert f"Val so far picks **{sw._ov(best['overrides'])}**" in md
    assert md.index(f"| 1 | 1 | {sw._ov(best['overrides'])} |") > 0
