"""The enwik8 stand-in benchmark (benchmarks/speed/bench_ngram_enwik8.py) at small scale: its
text is the sources' paragraphs shuffled to the length asked, and the real `ngram` stage run
under an address-space limit (RLIMIT_AS) writes the same files as without one, while a limit
too small for it ends in one line of error with nothing written."""

from __future__ import annotations

import importlib.util
import os
import sys

import pytest

from helpers import ROOT

SOURCES = ("tinyshakespeare", "enwiki-sample")
CHARS = 3_000_000
LIMIT_MB = 1024        # the address space of the run that must succeed
TOO_SMALL_MB = 300     # an interpreter with numpy fits; the stage's arrays do not


def _bench():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location(
        "charlm_bench_ngram_enwik8", ROOT / "benchmarks" / "speed" / "bench_ngram_enwik8.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_standin_is_the_sources_paragraphs_shuffled_to_the_length():
    bench = _bench()
    texts = ["a1\n\na2\n\na3", "b1\n\nb2"]
    s = bench.standin_text(texts, 40, seed=3)
    assert len(s) == 40 and s == bench.standin_text(texts, 40, seed=3)
    paras = s.split("\n\n")
    assert set(paras[:-1]) <= {"a1", "a2", "a3", "b1", "b2"}
    assert sorted(paras[:5]) == ["a1", "a2", "a3", "b1", "b2"]       # each copy: all, once
    assert paras[:5] != ["a1", "a2", "a3", "b1", "b2"]                # and shuffled
    assert bench.standin_text(texts, 40, seed=4) != s
    with pytest.raises(ValueError):
        bench.standin_text(["\n\n"], 10)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_stage_writes_the_same_files_inside_an_address_space_limit(mirror, tmp_path):
    bench = _bench()
    env = {**bench._env(), "CHARLM_MIRROR": str(mirror)}
    repo = bench.make_repo(tmp_path, CHARS, SOURCES, env=env)
    limited = bench.run_stage(repo, LIMIT_MB, env=env)
    assert limited["returncode"] == 0, limited["last_line"]
    free = bench.run_stage(repo, None, env=env)
    assert free["returncode"] == 0
    assert limited["outputs"] == free["outputs"]
    assert {"data/ngram/enwik8-standin/model.npz", "data/ngram/enwik8-standin/fit.json",
            "metrics/ngram/enwik8-standin_orders.tsv"} <= set(free["outputs"])
    refused = bench.run_stage(repo, TOO_SMALL_MB, env=env)
    assert refused["returncode"] == 2
    assert refused["last_line"].startswith("error: out of memory"), refused["last_line"]
    assert not (repo / "data" / "ngram" / "enwik8-standin").exists()
