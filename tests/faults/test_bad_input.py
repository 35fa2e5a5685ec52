"""Bad input through the real commands (subprocesses): one line 'error: ...' naming the
culprit on stderr, exit status 2, no traceback. Corpora, params, sampling and queries."""

from __future__ import annotations

import os

import json
import subprocess
import sys

import numpy as np
import pytest
import yaml

from faultkit import ENV, Project, make_project, one_line_error

PREPARE = [sys.executable, "-m", "stages.prepare", "tiny"]
CLI = [sys.executable, "-m", "charlm.cli"]


def run_all(cmds: dict[str, tuple[list[str], object]]) -> dict:
    """Run {name: (argv, cwd)} concurrently; {name: CompletedProcess-like}."""
    procs = {n: subprocess.Popen(argv, cwd=cwd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True) for n, (argv, cwd) in cmds.items()}
    out = {}
    for n, p in procs.items():
        stdout, stderr = p.communicate(timeout=180)
        out[n] = subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr)
    return out


CORPORA = {   # raw bytes of data/raw/tiny.txt -> what the one-line error must say
    "invalid_utf8": (b"hello world, " * 50 + b"caf\xe9 " + b"more text " * 50,
                     ["data/raw/tiny.txt", "invalid utf-8 at byte offset 653", "0xe9"]),
    "utf16_bom": ("hello world\n".encode("utf-16") * 50, ["data/raw/tiny.txt", "UTF-16", "encoding"]),
    "utf16_no_bom": ("hello world\n".encode("utf-16-le") * 50, ["data/raw/tiny.txt", "NUL character"]),
    "nul_bytes": (b"plain text " * 40 + b"\x00\x01\x02" + b"more " * 40,
                  ["data/raw/tiny.txt", "NUL character at char offset 440"]),
    "single_char": (b"a" * 5000, ["corpus 'tiny'", "1 distinct character"]),
    "too_short": (b"ab", ["corpus 'tiny'", "too small", "split is empty"]),
}


def test_bad_corpora_are_refused_by_the_prepare_stage_in_one_line(tmp_path):
    cmds = {}
    for name, (data, _) in CORPORA.items():
        root = make_project(tmp_path / name, None)
        (root / "data" / "raw").mkdir(parents=True)
        (root / "data" / "raw" / "tiny.txt").write_bytes(data)
        cmds[name] = (PREPARE, root)
    for name, proc in run_all(cmds).items():
        line = one_line_error(proc)
        for part in CORPORA[name][1]:
            assert part in line, (name, line)
        assert not (tmp_path / name / "data" / "prepared" / "tiny" / "train.npy").exists()


def test_vocabulary_over_65535_switches_to_uint32_through_prepare_ngram_and_train(tmp_path):
    rng = np.random.default_rng(0)
    cps = np.concatenate([np.arange(0x4E00, 0x4E00 + 70_000), rng.integers(0x4E00, 0x4E00 + 70_000, 30_000)])
    cps = cps[(cps < 0xD800) | (cps >= 0xE000)]                       # no surrogates
    text = "".join(map(chr, cps.tolist()))
    root = make_project(tmp_path / "big", None, model={"hidden_size": 8, "num_layers": 1,
                                                       "embedding_dim": 4}, ngram={"max_order": 2, "smoothings": ["kneser_ney"],
                                                        "sample_orders": [1, 2], "sample_length": 20},
                        steps=2, eval_every=2, checkpoint_every=2, log_every=1, sample_chars=10)
    raw = yaml.safe_load((root / "params.yaml").read_text(encoding="utf-8"))
    raw["prepare"] = {"split": {"train": 0.98, "val": 0.01, "test": 0.01}}
    (root / "params.yaml").write_text(yaml.safe_dump(raw))
    (root / "data" / "raw").mkdir(parents=True)
    (root / "data" / "raw" / "tiny.txt").write_text(text, encoding="utf-8")
    env = {"cwd": root, "env": ENV, "capture_output": True, "text": True}
    prep = subprocess.run(PREPARE, **env)
    assert prep.returncode == 0, prep.stderr
    stats = json.loads((root / "data" / "prepared" / "tiny" / "stats.json").read_text())
    assert stats["vocab_size"] > 65_536 and stats["dtype"] == "uint32"
    train_ids = np.load(root / "data" / "prepared" / "tiny" / "train.npy", allow_pickle=False)
    assert train_ids.dtype == np.uint32 and int(train_ids.max()) > 65_535
    runs = run_all({"ngram": ([sys.executable, "-m", "stages.ngram", "tiny"], root),
                    "train": ([sys.executable, "-m", "stages.train", "tiny", "lstm", "--progress", "off"], root)})
    assert runs["ngram"].returncode == 0, runs["ngram"].stderr[-2000:]
    assert runs["train"].returncode == 0, runs["train"].stderr[-2000:]
    ngram = json.loads((root / "data" / "ngram" / "tiny" / "fit.json").read_text())
    assert np.isfinite(ngram["test_bpc"]) and ngram["test_bpc"] > 0
    summary = Project(root).summary()
    assert summary["vocab_size"] == stats["vocab_size"] and np.isfinite(summary["best_val_bpc"])


@pytest.fixture(scope="module")
def trained(tmp_path_factory, prepared):
    """A project with a tiny trained model (in process) for the sampling/query commands."""
    from charlm.params import load_params
    from charlm.train.run import train_model
    root = make_project(tmp_path_factory.mktemp("trained") / "p", prepared, steps=10, eval_every=10,
                        checkpoint_every=10)
    p = Project(root)
    train_model(prepared, p.model, load_params(root / "params.yaml").train, "lstm", progress=False,
                log=lambda m: None, ckpt_dir=p.ckpt.parent)
    return p


SAMPLE = ["sample", "--corpus", "tiny", "--model", "lstm", "--length", "20"]
NGRAM_SAMPLE = ["ngram", "sample", "--corpus", "tiny", "--order", "3"]
NGRAM_QUERY = ["ngram", "query", "--corpus", "tiny", "--order", "3"]
BAD_ARGS = {    # argv after `charlm` -> parts of the one-line error
    "prime_unknown": (SAMPLE + ["--prime", "Zebra§"], ["prime has 2 character(s) not in the vocabulary", "'Z'", "'§'"]),
    "length_0": (SAMPLE + ["--length", "0"], ["--length: must be in 1..10,000,000, got 0"]),
    "length_negative": (SAMPLE + ["--length", "-5"], ["--length: must be in 1..10,000,000, got -5"]),
    "temperature_0": (SAMPLE + ["--temperature", "0"], ["--temperature: must be a finite number >= 0.001 and <= 100, got 0"]),
    "temperature_negative": (SAMPLE + ["--temperature", "-1"], ["--temperature: must be a finite number >= 0.001 and <= 100, got -1"]),
    "top_k_too_big": (SAMPLE + ["--top-k", "1000"], ["top_k: must be <= 18", "got 1000"]),
    "top_k_0": (SAMPLE + ["--top-k", "0"], ["--top-k: must be in 1..1,000,000, got 0"]),
    "ngram_prime_unknown": (NGRAM_SAMPLE + ["--prime", "Zeb"], ["prime has 1 character(s) not in the vocabulary: 'Z'"]),
    "ngram_length_0": (NGRAM_SAMPLE + ["--length", "0"], ["--length: must be in 1..10,000,000, got 0"]),
    "ngram_order_0": (NGRAM_SAMPLE + ["--order", "0"], ["order must be >= 1, got 0"]),
    "ngram_query_unknown": (NGRAM_QUERY + ["Zé!"], ["history 'Zé!' has 3 character(s) not in the vocabulary"]),
    "ngram_query_length": (NGRAM_QUERY + ["ab"], ["history 'ab' has 2 chars; an order-3 model needs exactly 3"]),
    # issue 27: values that used to overflow, stream forever or pass unchecked
    "length_huge": (SAMPLE + ["--length", str(10**30)], ["--length: must be in 1..10,000,000"]),
    "num_samples_huge": (SAMPLE + ["--num-samples", "100000000"], ["--num-samples: must be in 1..1,000"]),
    "batch_too_big": (SAMPLE + ["--num-samples", "1000", "--length", "1000000"],
                      ["--num-samples x --length: at most 10,000,000 chars"]),
    "seed_huge": (SAMPLE + ["--seed", str(10**30)], ["--seed: must be in 0..4,294,967,295"]),
    "seed_negative": (SAMPLE + ["--seed", "-1"], ["--seed: must be in 0..4,294,967,295, got -1"]),
    "temperature_inf": (SAMPLE + ["--temperature", "inf"], ["--temperature: must be a finite number"]),
    "temperature_denormal": (SAMPLE + ["--temperature", "1e-320"], ["--temperature: must be a finite number >= 0.001"]),
    "prime_not_utf8": (SAMPLE + ["--prime", os.fsdecode(b"\xff\xfe")],
                       ["--prime: not valid UTF-8 (byte 0xff at offset 0)"]),
    "checkpoint_and_names": (SAMPLE + ["--checkpoint", "data/models/tiny/lstm"],
                             ["give either --corpus and --model, or --checkpoint"]),
    "ngram_prime_not_utf8": (NGRAM_SAMPLE + ["--prime", os.fsdecode(b"\xff")],
                             ["--prime: not valid UTF-8 (byte 0xff at offset 0)"]),
    "ngram_length_huge": (NGRAM_SAMPLE + ["--length", str(10**30)], ["--length: must be in 1..10,000,000"]),
    "ngram_seed_negative": (NGRAM_SAMPLE + ["--seed", "-1"], ["--seed: must be in 0..4,294,967,295, got -1"]),
    "ngram_add_k_without_add_k": (NGRAM_QUERY + ["--add-k", "5", "abc"],
                                  ["--add-k is the k of add_k smoothing: give --smoothing add_k"]),
    "ngram_add_k_inf": (NGRAM_SAMPLE + ["--smoothing", "add_k", "--add-k", "inf"],
                        ["--add-k: must be a finite number > 0"]),
}


def test_bad_sampling_and_query_arguments_are_one_line_errors(trained):
    results = run_all({n: (CLI + argv, trained.root) for n, (argv, _) in BAD_ARGS.items()})
    for name, proc in results.items():
        line = one_line_error(proc)
        for part in BAD_ARGS[name][1]:
            assert part in line, (name, line)
        assert proc.stdout == "", name                   # nothing sampled before the error


def test_unknown_params_key_and_too_small_corpus_via_the_train_stage(tmp_path, prepared):
    typo = make_project(tmp_path / "typo", prepared)
    raw = yaml.safe_load((typo / "params.yaml").read_text())
    raw["train"]["common"]["batch_sise"] = 8
    (typo / "params.yaml").write_text(yaml.safe_dump(raw))
    small = make_project(tmp_path / "small", prepared, batch_size=64, seq_len=512)
    cmd = [sys.executable, "-m", "stages.train", "tiny", "lstm", "--progress", "off"]
    res = run_all({"typo": (cmd, typo), "small": (cmd, small)})
    assert one_line_error(res["typo"]) == \
        "error: train.common.batch_sise: unknown key (did you mean 'batch_size'?)"
    line = one_line_error(res["small"])
    assert "train split" in line and "too small for 64 streams of seq_len 512" in line
    for root in (typo, small):
        assert not (root / "data" / "models").exists()     # refused before any work
