"""Vocabulary, splits and the prepare stage; `dvc repro` of download + prepare."""

from __future__ import annotations

import json

import numpy as np
import pytest

from charlm.core.errors import CorpusError, VocabError
from charlm.params import SplitParams
from charlm.data.prepare import prepare_text, save_prepared, split_bounds
from charlm.core.splits import load_split
from charlm.core.vocab import UNK_CHAR, UNK_ID, Vocab

from helpers import copy_repo, run_dvc, set_params


def test_vocab_roundtrip_and_oov(tmp_path):
    v = Vocab.build("hello world")
    assert v.chars == sorted(set("hello world"))
    assert v.size == len(set("hello world")) + 1
    ids, n_unknown = v.encode("hello")
    assert n_unknown == 0 and v.decode(ids) == "hello"
    assert ids.dtype == np.uint8 and UNK_ID not in ids
    ids, n_unknown = v.encode("help!")
    assert n_unknown == 2 and ids[3] == UNK_ID and ids[4] == UNK_ID
    assert v.decode(ids) == "hel\ufffd\ufffd"
    with pytest.raises(VocabError, match=r"2 character\(s\) not in the vocabulary: '!', 'p'"):
        v.encode_strict("help!", "prime")
    v.save(tmp_path / "vocab.json")
    w = Vocab.load(tmp_path / "vocab.json")
    assert w.chars == v.chars and w.counts == v.counts
    assert dict(zip(v.chars, v.counts))["l"] == 3


def test_vocab_large_switches_dtype():
    text = "".join(chr(c) for c in range(0x100, 0x100 + 70000) if not 0xD800 <= c < 0xE000)
    v = Vocab.build(text)
    assert v.size > 65536 and v.dtype == np.uint32
    ids, n = v.encode(text[:100])
    assert n == 0 and v.decode(ids) == text[:100]


def test_split_bounds_tinyshakespeare_sizes():
    a, b = split_bounds(1_115_394, SplitParams())
    assert (a, b - a, 1_115_394 - b) == (1_003_854, 55_770, 55_770)


def test_prepare_text_stats_and_oov():
    text = "abcabcabcabcabcabc" * 10 + "xyz" * 4 + "abc"
    vocab, arrays, stats = prepare_text(text, SplitParams(0.8, 0.1, 0.1), "toy")
    assert sum(len(a) for a in arrays.values()) == len(text)
    assert stats["splits"]["train"]["unknown_chars"] == 0
    assert stats["splits"]["test"]["unknown_chars"] + stats["splits"]["val"]["unknown_chars"] > 0
    decoded = "".join(vocab.decode(arrays[k]) for k in ("train", "val", "test"))
    assert decoded.replace("\ufffd", "?") == "".join(
        c if c in vocab.stoi else "?" for c in text)


def test_prepare_refuses_tiny_and_single_char_corpora():
    with pytest.raises(CorpusError, match="too small"):
        prepare_text("ab", SplitParams(), "tiny")
    with pytest.raises(CorpusError, match="1 distinct"):
        prepare_text("a" * 1000, SplitParams(), "mono")


def _round_trip(prepared_dir, segments: dict) -> None:
    """Each split read back from disk and decoded with the saved vocabulary is its segment
    of the corpus, with every char the train split lacks shown as the unknown char."""
    vocab = Vocab.load(prepared_dir / "vocab.json")
    known = set(segments["train"])
    assert set(vocab.chars) == known
    stats = json.loads((prepared_dir / "stats.json").read_text())
    for k, segment in segments.items():
        ids = load_split(prepared_dir, k)
        assert ids.dtype == vocab.dtype and len(ids) == len(segment), k
        assert vocab.decode(ids) == "".join(c if c in known else UNK_CHAR for c in segment), k
        unknown = sum(c not in known for c in segment)
        assert int((ids == UNK_ID).sum()) == unknown == stats["splits"][k]["unknown_chars"], k
        assert stats["splits"][k]["chars"] == len(segment), k


def test_save_and_load_prepared_round_trips_every_split(tmp_path):
    rng = np.random.default_rng(0)
    words = lambda ws, n: " ".join(rng.choice(ws, n))
    train = (words(["the", "quick", "brown", "fox", "jumps"], 400) + " ")[:800]
    val = (words(["the", "fox!", "over"], 60) + " ")[:100]           # '!' and 'v' are unknown
    test = (words(["the", "lazy", "brown", "dog?"], 60) + " ")[:100]  # 'l', 'a', 'z', 'y', 'd', 'g', '?'
    assert len(train) == 800 and len(val) == len(test) == 100
    text = train + val + test
    split = SplitParams(0.8, 0.1, 0.1)
    assert split_bounds(len(text), split) == (800, 900)
    vocab, arrays, stats = prepare_text(text, split, "fox")
    save_prepared(tmp_path, vocab, arrays, stats)
    assert json.loads((tmp_path / "stats.json").read_text())["vocab_size"] == vocab.size
    assert not list(tmp_path.glob(".*.tmp"))
    _round_trip(tmp_path, {"train": train, "val": val, "test": test})
    assert stats["splits"]["train"]["unknown_chars"] == 0
    assert stats["splits"]["val"]["unknown_chars"] > 0 and stats["splits"]["test"]["unknown_chars"] > 0


@pytest.mark.slow
def test_dvc_repro_download_prepare_offline(mirror, tmp_path):
    """`dvc repro prepare` in a fresh copy of the repo, offline with the mirror; then a no-op."""
    repo = copy_repo(tmp_path / "repo")
    set_params(repo, ["run.corpora=[tinyshakespeare]", "~run.pairs", "+run.pairs={}"])
    env = {"CHARLM_MIRROR": str(mirror)}
    run_dvc(["repro", "prepare"], repo, env)
    stats = json.loads((repo / "data/prepared/tinyshakespeare/stats.json").read_text())
    assert [stats["splits"][k]["chars"] for k in ("train", "val", "test")] == [
        1_003_854, 55_770, 55_770]
    assert stats["vocab_size"] == 66
    text = (repo / "data/raw/tinyshakespeare.txt").read_text(encoding="utf-8")
    a, b = 1_003_854, 1_003_854 + 55_770
    _round_trip(repo / "data/prepared/tinyshakespeare",
                {"train": text[:a], "val": text[a:b], "test": text[b:]})
    again = run_dvc(["repro", "prepare"], repo, env)
    assert "didn't change, skipping" in again.stdout or "up to date" in again.stdout
    assert "Running stage" not in again.stdout
