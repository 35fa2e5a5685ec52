"""The n-gram adapted to the scored text (charlm.ngram.adapt): the vectorised counts are a
plain loop's, nothing after a char steers its score, the trained model is the limit of a
strong prior, a name unseen in training is learned from its earlier occurrences, and the
settings come from val alone."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from charlm.core import paths
from charlm.core.errors import ParamsError
from charlm.evaluate.run import dynamic_scores
from charlm.ngram import NgramModel
from charlm.ngram.adapt import adapted_log2prob, choose
from charlm.params import DynamicParams, NgramAdaptParams
from charlm.data.prepare import save_prepared
from charlm.core.vocab import Vocab
from helpers import markov_text

TEXT = markov_text(6000, "abcdefgh \n", seed=11)


def fitted(order=4):
    vocab = Vocab.build(TEXT + "XYZ")
    return NgramModel.fit(vocab.encode(TEXT)[0], vocab, order, "kneser_ney"), vocab


def loop_log2prob(model, ids, span, strength):
    """The formula of the module doc, one char at a time with dict counts."""
    n, pad = model.order, model.pad
    train = model.counts
    stream = [pad] * n + list(ids)
    static = model.prob_sequence(np.asarray(ids))
    c_h, c_hx = Counter(), Counter()
    out = []
    for i in range(len(ids)):
        t = n + i
        p = static[i]
        for j in range(1, span + 2):
            h = tuple(stream[t - j + 1:t])
            if j == 1:
                n_train = train.n_chars
            else:
                r = train.stream_ranks(np.array(stream[t - j + 1:t]), j - 1)[j - 1][-1]
                n_train = train.counts[j - 2][r] if r >= 0 else 0
            if c_h[h]:
                a = strength + n_train
                p = (c_hx[h + (stream[t],)] + a * p) / (c_h[h] + a)
        for j in range(1, span + 2):
            h = tuple(stream[t - j + 1:t])
            c_h[h] += 1
            c_hx[h + (stream[t],)] += 1
        out.append(np.log2(p))
    return np.array(out)


@pytest.mark.parametrize("span,strength", [(1, 0.5), (3, 2.0), (4, 8.0)])
def test_vectorised_equals_a_plain_loop(span, strength):
    model, vocab = fitted()
    ids = vocab.encode(markov_text(400, "abcdefgh \n", seed=12) + "XYZ abXYZ")[0]
    np.testing.assert_allclose(adapted_log2prob(model, ids, span, strength),
                               loop_log2prob(model, ids, span, strength), rtol=1e-12)


def test_no_score_depends_on_what_follows():
    model, vocab = fitted()
    ids = vocab.encode(markov_text(1000, "abcdefgh \n", seed=13))[0]
    base = adapted_log2prob(model, ids, 4, 2.0)
    for p in (1, 300, 999):
        changed = ids.copy()
        changed[p:] = np.random.default_rng(p).permutation(changed[p:])
        np.testing.assert_array_equal(adapted_log2prob(model, changed, 4, 2.0)[:p], base[:p])


def test_a_strong_prior_is_the_trained_model_and_a_new_name_is_learned():
    model, vocab = fitted()
    ids = vocab.encode("abc XYZ def XYZ gh XYZ")[0]
    static = model.log2prob_sequence(ids)
    np.testing.assert_allclose(adapted_log2prob(model, ids, 4, 1e15), static, atol=1e-9)
    adapted = adapted_log2prob(model, ids, 4, 1.0)
    z = [i for i, c in enumerate("abc XYZ def XYZ gh XYZ") if c == "Z"]
    assert adapted[z[0]] == pytest.approx(static[z[0]], abs=0.01)   # first time: little to recall
    assert adapted[z[2]] > -1.0 > static[z[2]]             # the third 'Z' after 'XY': likely


def test_errors():
    model, vocab = fitted(3)
    ids = vocab.encode("abc")[0]
    with pytest.raises(ParamsError, match="span"):
        adapted_log2prob(model, ids, 4, 1.0)
    with pytest.raises(ParamsError, match="strength"):
        adapted_log2prob(model, ids, 2, 0.0)
    with pytest.raises(ParamsError, match="choose from"):
        choose(model, ids, [], [1.0])
    span, _, grid, _ = choose(model, ids, [2, 5, 6], [1.0])   # beyond the order: cut to it
    assert list(grid) == ["2/1", "3/1"] and span in (2, 3)


def test_settings_come_from_val_alone(tmp_path, monkeypatch):
    """The evaluate stage's adapted n-gram: the same val with a corrupted test split gives
    the same span, strength and val grid; only the test number changes."""
    monkeypatch.chdir(tmp_path)
    model, vocab = fitted(4)
    val = vocab.encode(markov_text(2000, "abcdefgh \n", seed=14))[0]
    test = vocab.encode(markov_text(2000, "abcdefgh \n", seed=15))[0]
    model.save(paths.ngram_dir("toy"))
    dp = DynamicParams(ngram=NgramAdaptParams(spans=[2, 4], strengths=[0.5, 4.0]))

    def run(test_ids):
        save_prepared(paths.prepared("toy"), vocab,
                      {"train": val[:10], "val": val, "test": test_ids}, {})
        return dynamic_scores("toy", "ngram", dp, "cpu")
    clean, s_clean = run(test)
    noisy, s_noisy = run(np.random.default_rng(0).permutation(test))
    assert s_clean == s_noisy and clean["val"]["bpc"] == noisy["val"]["bpc"]
    assert clean["test"]["bpc"] != noisy["test"]["bpc"]
    assert s_clean["val_bpc_grid"][f"{s_clean['span']}/{s_clean['strength']:g}"] == \
        min(s_clean["val_bpc_grid"].values()) == clean["val"]["bpc"]
