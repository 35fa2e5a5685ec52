"""`charlm score`: the evaluate stage's exact numbers for any text, per-char output, errors.

A tiny repository is built once: a prepared corpus (named tinyshakespeare, so the real
params know it), its n-gram, a tiny LSTM and GRU trained for a few steps, all evaluated.
The repository is tiny_repo.build_repo's (also read by tests/test_models_cli.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from charlm.core import paths
from charlm.cli import score as score_cli
from charlm.core.errors import CharlmError
from charlm.evaluate.run import load_scorer
from charlm.core.fsutil import read_json
from charlm.core.device import pick_device
from charlm.neural.models import load_trained, next_log2probs
from charlm.ngram import NgramModel
from charlm.params import load_params
from charlm.core.splits import load_split
from charlm.core.scoring import bpc_stats
from charlm.core.vocab import Vocab

from helpers import ROOT, run_cli
from tiny_repo import CORPUS


def split_text(split: str = "test") -> str:
    """The prepared split of the tiny corpus, as text."""
    vocab = Vocab.load(paths.prepared(CORPUS) / "vocab.json")
    return vocab.decode(load_split(paths.prepared(CORPUS), split))


@pytest.mark.parametrize("model", ["ngram", "lstm"])
def test_json_equals_the_evaluate_stage_on_the_test_split(repo, capsys, model):
    (repo / "test.txt").write_text(split_text(), encoding="utf-8")
    code, out, err = run_cli(["score", "--corpus", CORPUS, "--model", model, "--json",
                              "--device", "cpu", "test.txt"], capsys)
    assert code == 0, err
    got = json.loads(out)
    ids = load_split(paths.prepared(CORPUS), "test")
    want = bpc_stats(load_scorer(CORPUS, model, "cpu").log2prob_sequence(ids))
    metrics = read_json(paths.metrics_file(CORPUS, model))
    assert got["chars"] == len(ids) == metrics["test_chars"]
    assert abs(got["bpc"] - want["bpc"]) < 1e-9
    assert abs(got["bpc"] - metrics["test_bpc"]) < 1e-9
    assert abs(got["ppl"] - metrics["test_ppl"]) < 1e-6
    assert abs(got["bits"] - got["bpc"] * got["chars"]) < 1e-6
    assert (got["corpus"], got["model"], got["file"], got["device"]) == (CORPUS, model,
                                                                         "test.txt", "cpu")
    assert (got["unknown_chars"], got["unknown"]) == (0, [])


@pytest.mark.parametrize("model", ["ngram", "lstm"])
def test_unknown_chars_are_counted_and_scored_as_the_unknown_id(repo, capsys, monkeypatch, model):
    text = "the cat\tsat é on ß the mat é.\n"          # \t, é, ß: not in the tiny vocabulary
    code, out, _ = run_cli(["score", "--corpus", CORPUS, "--model", model, "--json", "-"],
                           capsys, monkeypatch, text.encode())
    got = json.loads(out)
    assert code == 0 and got["unknown_chars"] == 4 and got["unknown"] == ["\t", "é", "ß"]
    vocab = Vocab.load(paths.prepared(CORPUS) / "vocab.json")
    ids = np.array([vocab.stoi.get(c, 0) for c in text])
    assert np.count_nonzero(ids == 0) == 4
    want = bpc_stats(load_scorer(CORPUS, model, "cpu").log2prob_sequence(ids))
    assert got["chars"] == len(text) and abs(got["bpc"] - want["bpc"]) < 1e-9
    code, out, _ = run_cli(["score", "--corpus", CORPUS, "--model", model],
                           capsys, monkeypatch, text.encode())
    assert out == (f"{CORPUS}/{model} on stdin: {len(text)} chars, {want['bpc']:.4f} bpc, "
                   f"perplexity {want['ppl']:.3f} (4 unknown chars: '\\t', 'é', 'ß')\n")


def read_tsv(path: Path) -> list[list[str]]:
    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines[-1] == ""
    return [line.split("\t") for line in lines[:-1]]


def unescape(cell: str) -> str:
    return cell.encode("latin-1", "backslashreplace").decode("unicode_escape")


@pytest.mark.parametrize("model", ["ngram", "lstm"])
def test_per_char_tsv_rows_bits_and_top_predictions(repo, capsys, monkeypatch, model):
    text = split_text()[:300] + "\\ tab\there é\n"
    (repo / "in.txt").write_text(text, encoding="utf-8")
    (repo / "out").mkdir(exist_ok=True)                # an output's folder is never created
    monkeypatch.setattr(score_cli, "TOP_BLOCK", 7)     # many blocks: the history is carried
    code, out, err = run_cli(["score", "--corpus", CORPUS, "--model", model, "--json",
                              "--per-char", "out/bits.tsv", "in.txt"], capsys)
    assert code == 0, err
    rows = read_tsv(repo / "out" / "bits.tsv")
    assert rows[0] == ["pos", "char", "bits", "top"]
    rows = rows[1:]
    assert len(rows) == len(text) and all(len(r) == 4 for r in rows)
    assert [int(r[0]) for r in rows] == list(range(len(text)))
    assert "".join(unescape(r[1]) for r in rows) == text
    assert rows[-1][1] == "\\n" and rows[text.index("\t")][1] == "\\t"
    assert rows[300][1] == "\\\\" and rows[-2][1] == "é"
    total = json.loads(out)["bits"]
    assert abs(sum(float(r[2]) for r in rows) - total) < 1e-6 * len(rows)
    # the top column: the argmax of the whole text's next-char table, computed at once
    if model == "ngram":
        m = NgramModel.load(paths.ngram_dir(CORPUS))
        vocab, table = m.vocab, m.next_log2probs(m.vocab.encode(text)[0])
    else:
        net, vocab, _ = load_trained(paths.model_dir(CORPUS, model))
        table = next_log2probs(net, vocab.encode(text)[0])
    chars = ["\ufffd"] + vocab.chars
    assert [unescape(r[3]) for r in rows] == [chars[i] for i in table.argmax(axis=1)]
    assert not list((repo / "out").glob(".*.tmp"))


def expected_errors(root: Path) -> list[tuple[list[str], str]]:
    """(argv after `score`, the exact stderr) of each user error."""
    params = load_params(root / "params.yaml")
    corpora, models = ", ".join(params.corpora), ", ".join(["ngram", *params.train.models])
    return [
        (["--corpus", "tinyshakespear", "--model", "lstm"],
         f"corpus: unknown corpus 'tinyshakespear' (did you mean 'tinyshakespeare'?); "
         f"known: {corpora}"),
        (["--corpus", CORPUS, "--model", "lstn"],
         f"unknown model 'lstn' (did you mean 'lstm'?); known: {models}"),
        (["--corpus", CORPUS, "--model", "rnn"],
         f"{CORPUS}/rnn is not trained yet (no data/models/{CORPUS}/rnn/model.safetensors): "
         f"run `dvc repro train@{CORPUS}-rnn`"),
        (["--corpus", "latex", "--model", "ngram"],
         "latex/ngram is not trained yet (no data/ngram/latex/model.npz): "
         "run `dvc repro ngram@latex`"),
        (["--corpus", CORPUS, "--model", "lstm", "missing.txt"], "missing.txt: no such file"),
    ]


@pytest.mark.parametrize("case", range(5))
def test_name_and_file_errors_are_one_exact_line_and_write_nothing(repo, capsys, case):
    argv, msg = expected_errors(repo)[case]
    code, out, err = run_cli(["score", *argv, "--per-char", "never.tsv"], capsys)
    assert (code, out, err) == (2, "", f"error: {msg}\n")
    assert not (repo / "never.tsv").exists()


@pytest.mark.parametrize("data,msg", [
    (b"", "stdin: no text to score (the input is empty)"),
    (b"\xef\xbb\xbf", "stdin: no text to score (the input is empty)"),
    (b"the cat\xffsat", "stdin: invalid utf-8 at byte offset 7 (byte 0xff: invalid start byte)"),
    (b"\xef\xbb\xbfthe \xc3", "stdin: invalid utf-8 at byte offset 7 "
                              "(byte 0xc3: unexpected end of data)"),
])
@pytest.mark.parametrize("model", ["ngram", "lstm"])
def test_input_errors_are_one_exact_line_and_write_nothing(repo, capsys, monkeypatch, data, msg,
                                                           model):
    code, out, err = run_cli(["score", "--corpus", CORPUS, "--model", model, "--per-char",
                              "never.tsv", "-"], capsys, monkeypatch, data)
    assert (code, out, err) == (2, "", f"error: {msg}\n")
    assert not (repo / "never.tsv").exists()


def test_outside_the_repository_root_says_so(repo, capsys, monkeypatch):
    (repo / "sub").mkdir(exist_ok=True)
    monkeypatch.chdir(repo / "sub")
    code, out, err = run_cli(["score", "--corpus", CORPUS, "--model", "lstm", "--per-char",
                              "never.tsv", "x.txt"], capsys)
    assert (code, out) == (2, "")
    assert err == (f"error: no params.yaml in {Path.cwd()}: charlm runs from the repository "
                   f"root (cd {repo.resolve()} first)\n")
    assert not (repo / "sub" / "never.tsv").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error without a GPU")
def test_device_cuda_without_a_gpu_is_an_error_but_the_ngram_ignores_it(repo, capsys, monkeypatch):
    code, _, err = run_cli(["score", "--corpus", CORPUS, "--model", "lstm", "--device", "cuda",
                            "--per-char", "never.tsv", "-"], capsys, monkeypatch, b"the cat")
    with pytest.raises(CharlmError) as e:      # the shared helper's wording
        pick_device("cuda")
    assert (code, err) == (2, f"error: {e.value}\n") and "cuda" in err
    assert not (repo / "never.tsv").exists()
    code, out, _ = run_cli(["score", "--corpus", CORPUS, "--model", "ngram", "--device", "cuda",
                            "--json", "-"], capsys, monkeypatch, b"the cat")
    assert code == 0 and json.loads(out)["device"] == "cpu"


def test_help_shows_every_default(capsys):
    code, out, _ = run_cli(["score", "--help"], capsys)
    assert code == 0
    for text in ("(default: -)", "(default: auto)", "(default: off)", "(default: none)"):
        assert text in " ".join(out.split()), text


def test_command_line_in_a_subprocess_reads_stdin(repo):
    text = split_text()[:500]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "charlm.cli", "score", "--corpus", CORPUS,
                        "--model", "lstm", "--device", "cpu"], input=text.encode(),
                       capture_output=True, cwd=repo, env=env)
    assert r.returncode == 0, r.stderr.decode()
    ids = load_split(paths.prepared(CORPUS), "test")[:500]
    want = bpc_stats(load_scorer(CORPUS, "lstm", "cpu").log2prob_sequence(ids))
    assert r.stdout.decode() == (f"{CORPUS}/lstm on stdin: 500 chars, {want['bpc']:.4f} bpc, "
                                 f"perplexity {want['ppl']:.3f}\n")
