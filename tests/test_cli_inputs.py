"""Issue 27's examples, one test each: bad input to `charlm` is one line on stderr and exit
status 2, nothing is overwritten or left behind, a closed pipe ends quietly, and options
that conflict are refused instead of ignored."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from helpers import run_cli
from tiny_repo import CORPUS

SCORE = ["score", "--corpus", CORPUS, "--model", "lstm"]
SAMPLE = ["sample", "--corpus", CORPUS, "--model", "lstm"]


def one_line_error(code, out, err) -> str:
    assert code == 2 and out == "" and err.count("\n") == 1 and err.startswith("error: "), err
    assert "Traceback" not in err
    return err


def test_per_char_never_overwrites_the_input(repo, capsys):
    (repo / "mytext.txt").write_text("the cat sat on the mat\n")
    err = one_line_error(*run_cli(SCORE + ["--per-char", "mytext.txt", "mytext.txt"], capsys))
    assert "--per-char mytext.txt: is the input" in err
    assert (repo / "mytext.txt").read_text() == "the cat sat on the mat\n"


@pytest.mark.parametrize("target,message", [
    ("-", "--per-char: give a file name ('-' is not supported here)"),
    ("nodir/x.tsv", "--per-char nodir/x.tsv: the folder nodir does not exist"),
    ("params.yaml", "--per-char params.yaml: exists and is not an earlier --per-char table"),
    ("data", "--per-char data: is a directory"),
])
def test_per_char_writes_only_a_file_it_may_write(repo, capsys, target, message):
    (repo / "in.txt").write_text("the cat sat\n")
    before = (repo / "params.yaml").read_bytes()
    err = one_line_error(*run_cli(SCORE + ["--per-char", target, "in.txt"], capsys))
    assert message in err
    assert not (repo / "-").exists() and not (repo / "nodir").exists()
    assert (repo / "params.yaml").read_bytes() == before


def test_per_char_replaces_its_own_earlier_table(repo, capsys):
    (repo / "in.txt").write_text("the cat sat\n")
    for _ in range(2):
        code, _, err = run_cli(SCORE + ["--per-char", "bits.tsv", "in.txt"], capsys)
        assert code == 0, err
    assert (repo / "bits.tsv").read_text().startswith("pos\tchar\tbits\ttop\n")


@pytest.mark.parametrize("make,message", [
    (lambda d: None, "missing.txt: no such file"),
    (lambda d: (d / "missing.txt").mkdir(), "missing.txt: is a directory, not a file"),
    (lambda d: (d / "missing.txt").write_bytes("hé".encode("utf-16")),
     "missing.txt: file is UTF-16 (little-endian BOM), not utf-8"),
    (lambda d: (d / "missing.txt").write_bytes(b"\x1f\x8b\x08\x00\xff\xff"),
     "invalid utf-8 at byte offset 1 (byte 0x8b: invalid start byte); the file looks like "
     "gzip data"),
    (lambda d: (d / "missing.txt").write_bytes(b"the\x00cat"),
     "missing.txt: NUL character at char offset 3"),
])
def test_bad_text_files_are_one_line(tmp_path, repo, capsys, make, message):
    target = repo / "missing.txt"
    if target.is_dir():
        target.rmdir()
    elif target.exists():
        target.unlink()
    make(repo)
    assert message in one_line_error(*run_cli(SCORE + ["missing.txt"], capsys))


@pytest.mark.parametrize("argv,message", [
    (["--baseline", "nofile.json"], "nofile.json: no such file"),
    (["--baseline", "data"], "data: is a directory, not a file"),
    (["--current", "bin.json"], "bin.json: file is UTF-16"),
    (["--current", "bin2.json"], "bin2.json: invalid utf-8 at byte offset 0"),
    (["--against", ""], "--against: not a git revision: ''"),
    (["--baseline", "metrics/summary.json", "--against", "HEAD~1"],
     "--against and --baseline: give one of them"),
    (["--noise", "nofile.json", "--baseline", "metrics/summary.json"], "nofile.json: no such file"),
])
def test_check_metrics_refuses_bad_files_and_conflicts(repo, capsys, argv, message):
    (repo / "bin.json").write_bytes(b"\xff\xfe\x00\x01binary")
    (repo / "bin2.json").write_bytes(b"\x80binary")
    (repo / "metrics").mkdir(exist_ok=True)
    (repo / "metrics" / "summary.json").write_text(json.dumps({CORPUS: {"lstm": {"test_bpc": 3.0}}}))
    assert message in one_line_error(*run_cli(["check-metrics", *argv], capsys))


def test_ngram_hints_name_commands_that_exist(repo, capsys):
    err = one_line_error(*run_cli(["ngram", "query", "--corpus", "latex-full", "--order", "2",
                                   "ab"], capsys))
    assert "dvc repro prepare@latex-full" not in err
    assert "dvc exp run -S 'run.corpora=[" in err and "latex-full]'" in err


def test_ngram_add_k_inf_and_mismatch_are_refused(repo, capsys):
    base = ["ngram", "sample", "--corpus", CORPUS, "--order", "2", "--length", "5"]
    err = one_line_error(*run_cli(base + ["--smoothing", "add_k", "--add-k", "inf"], capsys))
    assert "--add-k: must be a finite number > 0" in err
    err = one_line_error(*run_cli(base + ["--add-k", "5"], capsys))
    assert "give --smoothing add_k with it" in err


def test_sample_checkpoint_names_the_model_alone(repo, capsys):
    err = one_line_error(*run_cli(SAMPLE + ["--checkpoint", f"data/models/{CORPUS}/gru"], capsys))
    assert "give either --corpus and --model, or --checkpoint" in err
    code, out, err = run_cli(["sample", "--checkpoint", f"data/models/{CORPUS}/lstm",
                              "--length", "20", "--seed", "1"], capsys)
    assert code == 0 and len(out) > 20, err
    code, again, _ = run_cli(SAMPLE + ["--length", "20", "--seed", "1"], capsys)
    assert again == out                               # the same model, named either way
    ckpt = f"data/checkpoints/{CORPUS}/lstm/last.safetensors"
    code, _, err = run_cli(["sample", "--checkpoint", ckpt, "--length", "5"], capsys)
    assert code == 0, err


def test_score_names_the_model_as_sample_does(repo, capsys):
    """--checkpoint (a model directory or a training checkpoint) scores the same bits as
    --corpus/--model; mixing both, half a name, or an n-gram folder are one-line refusals."""
    (repo / "in.txt").write_text("the cat sat on the mat\n")
    by_name = json.loads(run_cli(SCORE + ["--json", "in.txt"], capsys)[1])
    model_dir = f"data/models/{CORPUS}/lstm"
    by_dir = json.loads(run_cli(["score", "--checkpoint", model_dir, "--json", "in.txt"],
                                capsys)[1])
    assert by_dir["bits"] == by_name["bits"] and by_dir["checkpoint"] == model_dir
    code, out, err = run_cli(["score", "--checkpoint", f"data/checkpoints/{CORPUS}/lstm/last.safetensors",
                              "in.txt"], capsys)
    assert code == 0 and " bpc, perplexity " in out, err
    for argv, message in [
        (SCORE + ["--checkpoint", model_dir, "in.txt"], "give either --corpus and --model"),
        (["score", "--model", "lstm", "in.txt"], "name the model: --corpus C --model M"),
        (["sample", "--checkpoint", f"data/ngram/{CORPUS}"],        # score takes it, sample not
         "not a neural model directory (no config.json) (an n-gram's"),
        (["score", "--checkpoint", "nope", "in.txt"], "--checkpoint nope: no such file"),
    ]:
        assert message in one_line_error(*run_cli(argv, capsys)), argv


@pytest.mark.parametrize("enc,message", [("hex", "'hex' is not a text encoding"),
                                         ("uu", "'uu' is not a text encoding"),
                                         ("nope", "unknown encoding 'nope'")])
def test_corpus_add_takes_only_text_encodings(repo, capsys, enc, message):
    (repo / "book.txt").write_text("the cat sat on the mat. " * 400)
    before = (repo / "corpora.yaml").read_bytes()
    err = one_line_error(*run_cli(["corpus", "add", "book", "book.txt", "--encoding", enc],
                                  capsys))
    assert f"argument --encoding: {message}" in err
    assert (repo / "corpora.yaml").read_bytes() == before


def test_usage_errors_are_one_line(repo, capsys):
    err = one_line_error(*run_cli(["sample", "--length", "abc", "--corpus", CORPUS], capsys))
    assert "argument --length: must be a whole number, got 'abc'" in err
    err = one_line_error(*run_cli(["no-such-command"], capsys))
    assert "invalid choice" in err


def test_a_closed_pipe_ends_quietly(repo):
    cmd = (f"{sys.executable} -m charlm.cli sample --corpus {CORPUS} --model lstm "
           "--length 1000000 | head -c 50")
    r = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True,
                       timeout=120, cwd=repo, env={**os.environ, "CHARLM_NUMERICS": "portable"})
    assert r.returncode in (0, 141) and r.stderr == "", r.stderr
    assert len(r.stdout) == 50


def test_a_corrupt_model_config_is_refused(repo, capsys, tmp_path):
    import shutil
    d = tmp_path / "model"
    shutil.copytree(repo / "data" / "models" / CORPUS / "lstm", d)
    cfg = json.loads((d / "config.json").read_text())
    for change, message in [({"format": "charlm-model/9"}, "format 'charlm-model/9'"),
                            ({"vocab": {**cfg["vocab"], "unk_id": 999}}, "unk_id must be 0"),
                            ({"model": {**cfg["model"], "hidden_size": -3}}, "hidden_size")]:
        (d / "config.json").write_text(json.dumps({**cfg, **change}))
        err = one_line_error(*run_cli(["sample", "--checkpoint", str(d), "--length", "5"], capsys))
        assert message in err, err
