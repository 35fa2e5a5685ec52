"""`charlm models`: every trained model on disk, its metrics, the best on val per corpus.

The tiny repository of tests/tiny_repo.py (tinyshakespeare: ngram, lstm, gru, all
evaluated), plus folders made here: latex (an ngram and an lstm with metrics where the
lowest test bpc is not the lowest val bpc), enwik8 (known to corpora.yaml but not in
run.corpora; an ngram not evaluated), a corpus unknown to the params, and a neural
folder holding only a training checkpoint.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from charlm.core import paths
from charlm.core.fsutil import read_json, write_json

from helpers import ROOT, run_cli
from tiny_repo import CORPUS, build_repo

NOT_IN_RUN = "enwik8"


def add_folders(root: Path) -> None:
    """The extra corpora and folders described in the module docstring."""
    data = root / "data"
    for c in ("latex", NOT_IN_RUN, "no-such-corpus"):
        shutil.copytree(data / "ngram" / CORPUS, data / "ngram" / c)
    shutil.copytree(data / "models" / CORPUS / "lstm", data / "models" / "latex" / "lstm")
    shutil.copytree(data / "models" / CORPUS / "lstm", data / "models" / "no-such-corpus" / "lstm")
    ckpt_only = data / "checkpoints" / CORPUS / "rnn"
    ckpt_only.mkdir(parents=True)
    (ckpt_only / "last.safetensors").write_bytes(b"partial")
    metrics = root / "metrics" / "eval" / "latex"
    write_json(metrics / "ngram.json", {"val_bpc": 2.0, "test_bpc": 1.5, "params": 1})
    write_json(metrics / "lstm.json", {"val_bpc": 1.9, "test_bpc": 1.8, "params": 1})


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    root = build_repo(tmp_path_factory.mktemp("models") / "repo")
    add_folders(root)
    return root


def test_json_lists_every_trained_model_with_its_metrics(repo, capsys):
    code, out, err = run_cli(["models", "--json"], capsys)
    assert (code, err) == (0, "")
    rows = json.loads(out)
    keys = [(r["corpus"], r["model"]) for r in rows]
    assert keys == [(NOT_IN_RUN, "ngram"), ("latex", "ngram"), ("latex", "lstm"),
                    (CORPUS, "ngram"), (CORPUS, "gru"), (CORPUS, "lstm")]
    fit = read_json(paths.ngram_fit_file(CORPUS))
    for r in rows:
        m = paths.metrics_file(r["corpus"], r["model"])
        metrics = read_json(m) if m.exists() else {}
        assert (r["val_bpc"], r["test_bpc"]) == (metrics.get("val_bpc"), metrics.get("test_bpc"))
        if r["model"] == "ngram":
            assert r["arch"] == f"ngram (kneser_ney, order {fit['order']})"
            assert (r["params"], r["train_chars"]) == (fit["n_grams"], fit["train_chars"])
        else:
            summary = read_json(Path(r["path"]) / "summary.json")
            assert r["arch"] == f"{r['model'] if r['corpus'] == CORPUS else 'lstm'} 1x16"
            assert (r["params"], r["train_chars"]) == (summary["params"], summary["train_chars"])
    ours = {r["model"]: r for r in rows if r["corpus"] == CORPUS}
    assert all(ours[m]["params"] == read_json(paths.metrics_file(CORPUS, m))["params"]
               for m in ours)
    best = {r["corpus"]: r["model"] for r in rows if r["best"]}
    lowest_val = min(ours, key=lambda m: ours[m]["val_bpc"])
    # chosen on val (latex: the ngram has the lower test bpc, the lstm the lower val bpc);
    # enwik8 has nothing evaluated, so no best
    assert best == {CORPUS: lowest_val, "latex": "lstm"}


def test_table_is_aligned_and_marks_the_best_on_val(repo, capsys):
    code, out, _ = run_cli(["models"], capsys)
    lines = out.rstrip("\n").split("\n")
    assert code == 0 and lines[0].split() == ["corpus", "model", "architecture", "params",
                                              "train", "chars", "val", "bpc", "test", "bpc"]
    table, footer = lines[:-1], lines[-1]
    assert len({len(line) for line in table}) == 1          # numbers right-aligned to one edge
    assert footer.startswith("* the best model of its corpus: lowest val bpc")
    rows = {tuple(line.split()[:2]): line for line in table[1:]}
    enwik8 = rows[(NOT_IN_RUN, "ngram")]
    assert enwik8.split()[-2:] == ["-", "-"] and "*" not in enwik8
    assert rows[("latex", "lstm")].split()[2] == "*"
    assert rows[("latex", "ngram")].split()[-2:] == ["2.0000", "1.5000"]
    data = json.loads(run_cli(["models", "--json"], capsys)[1])
    for r in data:
        line = next(v for k, v in rows.items() if k[0] == r["corpus"] and k[1] == r["model"])
        assert (line.split()[2] == "*") == r["best"]
        if r["val_bpc"] is not None:
            assert line.split()[-2:] == [f"{r['val_bpc']:.4f}", f"{r['test_bpc']:.4f}"]


def test_corpus_filter_and_its_errors(repo, capsys):
    code, out, _ = run_cli(["models", "--corpus", "latex", "--json"], capsys)
    assert code == 0 and [r["model"] for r in json.loads(out)] == ["ngram", "lstm"]
    code, out, err = run_cli(["models", "--corpus", "latx"], capsys)
    assert (code, out) == (2, "") and err.startswith(
        "error: corpus: unknown corpus 'latx' (did you mean 'latex'?); known: ")
    assert err.count("\n") == 1
    code, out, _ = run_cli(["models", "--corpus", "enwiki-sample"], capsys)
    assert (code, out) == (0, "no trained models for corpus enwiki-sample yet: run `dvc repro` "
                              "to train and evaluate them\n")


def test_no_models_names_dvc_repro_and_outside_the_root_is_an_error(tmp_path, capsys,
                                                                     monkeypatch):
    for f in ("params.yaml", "corpora.yaml", "dvc.yaml"):
        shutil.copy2(ROOT / f, tmp_path / f)
    monkeypatch.chdir(tmp_path)
    msg = "no trained models yet: run `dvc repro` to train and evaluate them\n"
    assert run_cli(["models"], capsys) == (0, msg, "")
    assert run_cli(["models", "--json"], capsys) == (0, "[]\n", msg)
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    code, out, err = run_cli(["models"], capsys)
    assert (code, out) == (2, "") and err.count("\n") == 1
    assert "charlm runs from the repository root" in err and str(tmp_path.resolve()) in err


def test_models_whose_files_fail_their_checks_are_marked_never_best(built, tmp_path,
                                                                     monkeypatch, capsys):
    """Empty or flipped weights, an invalid config.json, a truncated n-gram: each row is
    marked `!` with the file and the reason, and the best is chosen among the others."""
    root = tmp_path / "repo"
    shutil.copytree(built, root, symlinks=True)
    monkeypatch.chdir(root)
    models = root / "data" / "models"
    (models / CORPUS / "gru" / "model.safetensors").write_bytes(b"")
    w = models / CORPUS / "lstm" / "model.safetensors"
    b = bytearray(w.read_bytes())
    b[-5] ^= 0xFF
    w.write_bytes(bytes(b))
    cfg = models / "latex" / "lstm" / "config.json"
    doc = read_json(cfg)
    write_json(cfg, {**doc, "vocab": {**doc["vocab"], "unk_id": 999}})
    npz = root / "data" / "ngram" / NOT_IN_RUN / "model.npz"
    npz.write_bytes(npz.read_bytes()[:100])
    code, out, err = run_cli(["models", "--json"], capsys)
    rows = {(r["corpus"], r["model"]): r for r in json.loads(out)}
    assert code == 0 and err == ""
    problems = {k: r["problem"] for k, r in rows.items() if r["problem"]}
    assert set(problems) == {(CORPUS, "gru"), (CORPUS, "lstm"), ("latex", "lstm"),
                             (NOT_IN_RUN, "ngram")}, problems
    assert "gru/model.safetensors: unreadable weights" in problems[(CORPUS, "gru")]
    assert "fails its CRC-32 check" in problems[(CORPUS, "lstm")]
    assert "unk_id must be 0" in problems[("latex", "lstm")]
    assert f"{NOT_IN_RUN}/model.npz" in problems[(NOT_IN_RUN, "ngram")]
    best = {c for (c, m), r in rows.items() if r["best"]}
    assert rows[(CORPUS, "ngram")]["best"] and rows[("latex", "ngram")]["best"], best
    code, out, _ = run_cli(["models"], capsys)
    marked = [line.split()[:3] for line in out.splitlines() if line.split()[2:3] == ["!"]]
    assert len(marked) == 4 and out.count("\n! ") == 4 and "fails its checks: " in out
