"""`charlm ngram query|sample` and the `ngram` stage's library driver, on a tiny corpus."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers import ROOT, run_cli, toy_params

from charlm.core import paths
from charlm.ngram import NgramModel, fit_and_select, write_orders_tsv
from charlm.params import NgramParams, ParamsError, SplitParams, from_dict
from charlm.data.prepare import prepare_text, save_prepared

TEXT = ("hello world, hello there.\nthe yellow fellow sells shells.\n" * 40
        + "a cello in the hall.\n" * 10)


@pytest.fixture
def corpus(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    toy_params(tmp_path, "tiny")
    vocab, arrays, stats = prepare_text(TEXT, SplitParams(0.8, 0.1, 0.1), "tiny")
    save_prepared(paths.prepared("tiny"), vocab, arrays, stats)
    return tmp_path


def test_query_prints_distribution_most_likely_first(corpus, capsys):
    code, out, _ = run_cli(["ngram", "query", "--corpus", "tiny", "--order", "4", "ello"], capsys)
    assert code == 0
    rows = [line.split("\t") for line in out.strip().splitlines()]
    probs = [float(p) for _, p in rows]
    assert probs == sorted(probs, reverse=True) and abs(sum(probs) - 1) < 1e-5
    assert rows[0][0] == "' '"                     # "hello " / "fellow": 'ello' -> ' ' or 'w'
    assert {r[0] for r in rows} == {"' '", "'w'"}


@pytest.mark.parametrize("argv,msg", [
    (["query", "--order", "4", "ell"], "needs exactly 4"),
    (["query", "--order", "4", "el#o"], "'#'"),
    (["query", "--order", "0", "x"], ">= 1"),
    (["sample", "--order", "3", "--prime", "Q!"], "'!', 'Q'"),
    (["sample", "--order", "5000"], "--order: must be in 0..1,000, got 5000"),
    (["query", "--order", "3", "lll"], "never occurs"),
])
def test_cli_errors_are_one_line(corpus, capsys, argv, msg):
    code, _, err = run_cli(["ngram", argv[0], "--corpus", "tiny", *argv[1:]], capsys)
    assert code == 2 and msg in err and err.count("\n") == 1 and err.startswith("error: ")


def test_sample_is_reproducible(corpus, capsys):
    argv = ["ngram", "sample", "--corpus", "tiny", "--order", "3", "--length", "60",
            "--seed", "4", "--prime", "hel", "--smoothing", "kneser_ney"]
    a = run_cli(argv, capsys)[1]
    assert a == run_cli(argv, capsys)[1]
    assert a.startswith("hel") and len(a) == 3 + 60 + 1


def test_fit_and_select_writes_consistent_metrics(corpus, tmp_path):
    vocab, arrays, _ = prepare_text(TEXT, SplitParams(0.8, 0.1, 0.1), "tiny")
    cfg = from_dict(NgramParams, {"max_order": 4, "add_k": [1.0, 0.1], "sample_orders": [2, 4],
                                  "sample_length": 40}, "ngram")
    model, m, rows, samples = fit_and_select(arrays["train"], arrays["val"], arrays["test"],
                                             vocab, cfg, log=lambda _: None)
    assert m["smoothing"] == "kneser_ney" and m["order"] == model.order
    kn = m["smoothings"]["kneser_ney"]
    best = min(range(1, 5), key=lambda o: kn["orders"][str(o)]["val_bpc"])
    assert m["order"] == best                                   # chosen on val
    assert m["test_bpc"] == kn["orders"][str(best)]["test_bpc"]
    assert m["test_ppl"] == pytest.approx(2 ** m["test_bpc"])
    # the reported bpc is the model's own scoring of the split
    lp = model.log2prob_sequence(arrays["test"])
    assert m["test_bpc"] == pytest.approx(-lp.mean(), rel=1e-12)
    assert set(samples) == {"mle_order2", "mle_order4", f"kneser_ney_order{best}"}
    assert all(len(t) == 40 for t in samples.values())
    write_orders_tsv(tmp_path / "o.tsv", rows, cfg.smoothings)
    table = list(csv.DictReader(open(tmp_path / "o.tsv"), delimiter="\t"))
    assert [int(r["order"]) for r in table] == [1, 2, 3, 4]
    assert set(table[0]) == {"order", "kneser_ney", "witten_bell", "add_k"}


def test_selection_ignores_the_test_split():
    """Order, k and model are chosen on val only: a corrupted test split changes the
    reported test bpc and nothing else."""
    vocab, arrays, _ = prepare_text(TEXT, SplitParams(0.8, 0.1, 0.1), "tiny")
    cfg = from_dict(NgramParams, {"max_order": 5, "add_k": [1.0, 0.1, 0.01],
                                  "sample_orders": [2], "sample_length": 40}, "ngram")
    rng = np.random.default_rng(0)
    test = arrays["test"]
    corrupt = {"shuffled": rng.permutation(test),
               "random": rng.integers(0, vocab.size, len(test)).astype(test.dtype)}

    def run(test_ids):
        model, m, rows, samples = fit_and_select(arrays["train"], arrays["val"], test_ids,
                                                 vocab, cfg, log=lambda _: None)
        chosen = {s: (r["order"], r.get("k"), r["val_bpc"], r.get("discounts"),
                      [(o["val_bpc"], o.get("k")) for o in r["orders"].values()])
                  for s, r in m["smoothings"].items()}
        return (m["smoothing"], m["order"], model.order, model.add_k, chosen, rows,
                samples), m
    want, m0 = run(test)
    for name, ids in corrupt.items():
        got, m = run(ids)
        assert got == want, name
        assert m["test_bpc"] != m0["test_bpc"], name        # the corruption did reach test


def test_params_validation():
    with pytest.raises(ParamsError, match="max_order"):
        from_dict(NgramParams, {"max_order": 0}, "ngram")
    with pytest.raises(ParamsError, match="sample_orders"):
        from_dict(NgramParams, {"max_order": 3, "sample_orders": [4]}, "ngram")
    with pytest.raises(ParamsError, match="chosen"):
        from_dict(NgramParams, {"smoothings": ["add_k"]}, "ngram")


def test_stage_end_to_end(corpus):
    (corpus / "params.yaml").write_text((ROOT / "params.yaml").read_text().replace(
        "max_order: 10", "max_order: 4").replace("sample_orders: [4, 10]", "sample_orders: [4]"))
    if (ROOT / "corpora.yaml").exists():            # the corpora, read from beside params.yaml
        shutil.copy(ROOT / "corpora.yaml", corpus / "corpora.yaml")
    r = subprocess.run([sys.executable, "-m", "stages.ngram", "tinyshakespeare"], cwd=corpus,
                       env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
                       capture_output=True, text=True)
    assert r.returncode == 2 and "prepare" in r.stderr     # not prepared here: one clear line
    prepared = paths.prepared("tinyshakespeare")
    paths.prepared("tiny").rename(prepared)
    r = subprocess.run([sys.executable, "-m", "stages.ngram", "tinyshakespeare"], cwd=corpus,
                       env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    m = json.loads(paths.ngram_fit_file("tinyshakespeare").read_text())
    assert not Path("metrics/ngram/tinyshakespeare.json").exists()   # the record is no metric
    assert paths.ngram_orders_tsv("tinyshakespeare").exists()
    model = NgramModel.load(paths.ngram_dir("tinyshakespeare"))
    assert (model.order, model.smoothing) == (m["order"], "kneser_ney")
    test = np.load(prepared / "test.npy", allow_pickle=False)
    assert -model.log2prob_sequence(test).mean() == pytest.approx(m["test_bpc"], rel=1e-12)
    names = sorted(p.name for p in (paths.ngram_dir("tinyshakespeare") / "samples").iterdir())
    assert names == sorted(["mle_order4.txt", f"kneser_ney_order{m['order']}.txt"])


def test_unknown_or_unprepared_corpus_says_what_to_do(corpus, capsys):
    code, _, err = run_cli(["ngram", "query", "--corpus", "tinyy", "--order", "2", "el"], capsys)
    assert code == 2 and "unknown corpus 'tinyy' (did you mean 'tiny'?)" in err
    shutil.rmtree(corpus / "data" / "prepared" / "tiny")
    code, _, err = run_cli(["ngram", "query", "--corpus", "tiny", "--order", "2", "el"], capsys)
    assert code == 2 and err.endswith("run `dvc repro prepare@tiny`\n") and err.count("\n") == 1


@pytest.mark.parametrize("discounts", ["val", "counts"])
def test_every_orders_scores_are_its_own_models(discounts):
    """The selection scores the orders of an interpolated smoothing along one chain of
    levels: each order's val and test bpc equal its own model's scoring exactly (kneser_ney
    with the estimated discounts, as recorded beside the tuned ones), and add_k's each k's."""
    from charlm.core.scoring import bpc
    from charlm.ngram import NgramCounts
    vocab, arrays, _ = prepare_text(TEXT, SplitParams(0.8, 0.1, 0.1), "tiny")
    cfg = from_dict(NgramParams, {"max_order": 5, "add_k": [1.0, 0.1], "discounts": discounts,
                                  "sample_orders": [2], "sample_length": 10}, "ngram")
    _, m, _, _ = fit_and_select(arrays["train"], arrays["val"], arrays["test"], vocab, cfg,
                                log=lambda _: None)
    counts = NgramCounts.fit(arrays["train"], vocab.size, 5)
    for s, summary in m["smoothings"].items():
        for o, r in summary["orders"].items():
            est = r.get("estimated_discounts", r)
            own = NgramModel(counts, int(o), s, vocab, **({"add_k": r["k"]} if s == "add_k" else {}))
            for split in ("val", "test"):
                assert est[f"{split}_bpc"] == bpc(np.log2(own.prob_sequence(arrays[split])))
