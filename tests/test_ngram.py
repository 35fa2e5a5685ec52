"""charlm.ngram: exactness of mle against the lecture's code, normalisation and non-zero
probabilities of the smoothed models, agreement of kneser_ney with a textbook (dict-based)
implementation, counting against a naive count, save/load, errors, sampling."""

from __future__ import annotations

import json
from collections import Counter, defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from charlm.core.errors import CheckpointError, ParamsError, VocabError
from charlm.ngram import (FALLBACK_DISCOUNTS, NgramCounts, NgramLM, NgramModel, PackedMLE,
                          fit_model, modified_kn_discounts)
from charlm.ngram.counts import sorted_lookup
from charlm.core.vocab import Vocab

from helpers import decode_gram, markov_text, naive_counts
from oracles.lecture_ngram import generate_text, train_char_lm_text   # tests/oracles/: the lecture's code

TEXT = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
        "First Citizen:\nYou are all resolved rather to die than to famish?\n\nAll:\n"
        "Resolved. resolved.\n\nFirst Citizen:\nFirst, you know Caius Marcius is chief enemy "
        "to the people.\n")


def fit(text: str, order: int, smoothing: str, **kw):
    """The model the CLI fits (mle: the packed model)."""
    vocab = Vocab.build(text)
    return fit_model(vocab.encode(text)[0], vocab, order, smoothing, **kw)


# --------------------------------------------------------------------------- mle = lecture

@pytest.mark.parametrize("order", [1, 2, 3, 4, 7])
def test_mle_equals_lecture_dict_of_counters(order):
    lm = train_char_lm_text(TEXT, order)
    model = fit(TEXT, order, "mle")
    for history, dist in lm.items():
        ours = dict(model.query(history))
        assert ours == dict(dist), history          # exactly the same floats
    # and the same ordering convention: most likely first
    q = model.query("Firs" if order == 4 else TEXT[:order])
    assert [p for _, p in q] == sorted((p for _, p in q), reverse=True)


def test_mle_scores_like_the_lecture_and_zero_for_unseen():
    order = 3
    lm = {h: dict(d) for h, d in train_char_lm_text(TEXT, order).items()}
    model = fit(TEXT, order, "mle")
    ids = model.vocab.encode(TEXT)[0]
    p = model.prob_sequence(ids)
    padded = "~" * order + TEXT
    want = [lm[padded[i:i + order]][padded[i + order]] for i in range(len(TEXT))]
    assert p.tolist() == want
    # an unseen event has probability 0 (the lecture's model cannot score held-out text)
    probe = model.vocab.encode("Citizen:\nhear")[0]     # ":\nh" never occurs
    assert (model.prob_sequence(probe) == 0).any()
    assert np.isneginf(model.log2prob_sequence(probe)).any()


def seen_grams(text: str, order: int) -> set[str]:
    """The (order+1)-grams of `text` padded with the lecture's '~' * order."""
    padded = "~" * order + text
    return {padded[i:i + order + 1] for i in range(len(text))}


@pytest.mark.parametrize("order", [2, 4])
def test_mle_sample_follows_lecture_support(order):
    lm = train_char_lm_text(TEXT, order)
    grams = seen_grams(TEXT, order)
    vocab = Vocab.build(TEXT)
    for model in (fit(TEXT, order, "mle"),                   # the packed model
                  NgramModel.fit(vocab.encode(TEXT)[0], vocab, order, "mle")):   # the general
        text = model.sample(300, seed=5)
        assert len(text) == 300 and text == model.sample(300, seed=5)
        assert text != model.sample(300, seed=6)
        assert set(text) <= set(model.vocab.chars)
        # every (order+1)-gram of the sample was seen in training, except after a history
        # training never continues (its last chars): mle backs off there (documented)
        padded = "~" * order + text
        checked = [i for i in range(len(text)) if padded[i:i + order] in lm]
        assert len(checked) > 0.9 * len(text)
        assert all(padded[i:i + order + 1] in grams for i in checked)
    # the baseline's own sampler: same seed, same text, only seen grams
    lec = generate_text(lm, order, 50, seed=1)
    assert len(lec) == 50 and lec == generate_text(lm, order, 50, seed=1)
    padded = "~" * order + lec
    assert all(padded[i:i + order + 1] in grams for i in range(len(lec)))


# --------------------------------------------------------------------------- counting

@pytest.mark.parametrize("vocab_size,max_order", [(5, 4), (800, 3), (70, 10)])
def test_counts_match_naive(vocab_size, max_order):
    rng = np.random.default_rng(vocab_size)
    ids = rng.integers(0, min(vocab_size, 12), 600) if vocab_size < 800 else \
        rng.integers(0, vocab_size, 600)
    c = NgramCounts.fit(ids, vocab_size, max_order)
    want = naive_counts(ids.tolist(), vocab_size, max_order)
    got = {}
    for k in range(1, max_order + 2):
        assert np.all(np.diff(c.keys[k - 1]) > 0)       # sorted, unique
        for r in np.flatnonzero(c.counts[k - 1]):
            got[decode_gram(c, k, r)] = int(c.counts[k - 1][r])
    assert got == dict(want)
    # suffix ranks point at the gram without its first symbol
    for k in range(2, max_order + 2):
        for r in range(0, len(c.keys[k - 1]), 7):
            assert decode_gram(c, k - 1, int(c.suffix[k - 1][r])) == decode_gram(c, k, r)[1:]


@pytest.mark.parametrize("block", [7, 1 << 20])
def test_sorted_lookup_finds_every_key_and_nothing_else(monkeypatch, block):
    """Every key at its rank, in any query order and across blocks; absent keys and -1 not."""
    import charlm.ngram.counts as counts_mod
    monkeypatch.setattr(counts_mod, "LOOKUP_BLOCK", block)
    rng = np.random.default_rng(0)
    keys = np.unique(rng.integers(0, 10**12, 5000))
    perm = rng.permutation(len(keys))
    assert sorted_lookup(keys, keys[perm]).tolist() == perm.tolist()
    others = np.setdiff1d(rng.integers(-5, 10**12 + 5, 5000), keys)
    assert (sorted_lookup(keys, np.r_[others, keys[-1] + 1, -1]) == -1).all()
    mixed = np.r_[keys[:50], others[:50]][rng.permutation(100)]
    want = [int(np.flatnonzero(keys == x)[0]) if x in keys else -1 for x in mixed]
    assert sorted_lookup(keys, mixed, np.int32).tolist() == want
    assert sorted_lookup(keys[:0], keys).tolist() == [-1] * len(keys)


# --------------------------------------------------------------------------- textbook KN

class TextbookKN:
    """Interpolated modified Kneser-Ney written from Chen & Goodman with dicts, slowly."""

    def __init__(self, ids: list[int], V: int, order: int):
        self.V, self.n, self.pad = V, order, V
        s = [self.pad] * order + ids
        self.raw = Counter()                   # all grams up to order+1 at event positions
        for j in range(order, len(s)):
            for k in range(1, order + 2):
                self.raw[tuple(s[j - k + 1:j + 1])] += 1
        left = defaultdict(set)
        for g in self.raw:
            if len(g) >= 2:
                left[g[1:]].add(g[0])
        self.cont = Counter({u: len(a) for u, a in left.items()})
        self.D = {}
        for k in range(1, order + 2):
            table = self.raw if k == order + 1 else self.cont
            cc = Counter(v for g, v in table.items() if len(g) == k and v > 0)
            n1, n2, n3, n4 = (cc[i] for i in (1, 2, 3, 4))
            d = None
            if n1 and n2 and n3 and n4:
                y = n1 / (n1 + 2 * n2)
                d = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
                if not all(0 < x <= i + 1 for i, x in enumerate(d)):
                    d = None
            self.D[k] = d or FALLBACK_DISCOUNTS

    def prob(self, c: int, h: tuple) -> float:
        lower = 1.0 / self.V if len(h) == 0 else self.prob(c, h[1:])
        k = len(h) + 1
        table = self.raw if len(h) == self.n else self.cont
        kids = {g[-1]: v for g, v in table.items() if len(g) == k and g[:-1] == h and v > 0}
        den = sum(kids.values())
        if den == 0:
            return lower
        D = self.D[k]
        disc = lambda a: D[min(a, 3) - 1]  # noqa: E731
        gamma = sum(min(disc(a), a) for a in kids.values())
        a = kids.get(c, 0)
        return (max(a - disc(a), 0) if a else 0.0) / den + gamma / den * lower


@pytest.mark.parametrize("order", [1, 2, 3])
def test_kneser_ney_agrees_with_textbook(order):
    text = markov_text(1500, "abcdefg \n", seed=order)
    vocab = Vocab.build(text)
    ids = vocab.encode(text)[0]
    model = NgramModel.fit(ids, vocab, order, "kneser_ney")
    assert len(model.fallback_levels) < order + 1     # some discounts are really estimated
    tb = TextbookKN(ids.tolist(), vocab.size, order)
    pad = vocab.size
    rng = np.random.default_rng(order)
    hists = {h[-order:] for h in tb.raw if len(h) == order + 1 for h in [h[:-1]]}
    hists = list(hists)[:25] + [tuple(rng.integers(0, vocab.size, order)) for _ in range(10)]
    hists.append((pad,) * order)
    for h in hists:
        ours = model.history_probs(np.array(h))
        want = np.array([tb.prob(c, tuple(h)) for c in range(vocab.size)])
        np.testing.assert_allclose(ours, want, rtol=1e-12, atol=0)
        assert abs(ours.sum() - 1) < 1e-12


def test_discounts_estimate_and_fallback():
    a = np.array([1] * 50 + [2] * 20 + [3] * 10 + [4] * 5 + [9] * 3)
    (d1, d2, d3), fell = modified_kn_discounts(a)
    y = 50 / (50 + 40)
    assert not fell and d1 == pytest.approx(1 - 2 * y * 20 / 50)
    assert d3 == pytest.approx(3 - 4 * y * 5 / 10)
    # no singletons (character unigrams): the estimate is invalid -> fallback
    assert modified_kn_discounts(np.array([2, 3, 4, 7, 8])) == (FALLBACK_DISCOUNTS, True)


# --------------------------------------------------------------------------- normalisation

SMOOTHED = ["kneser_ney", "witten_bell", "add_k"]


@settings(max_examples=40, deadline=None)
@given(text=st.text(alphabet="ab c\n~", min_size=5, max_size=80),
       order=st.integers(1, 4), smoothing=st.sampled_from(SMOOTHED),
       hist_seed=st.integers(0, 2**31 - 1))
def test_smoothed_distributions_sum_to_one_and_are_positive(text, order, smoothing, hist_seed):
    if order >= len(text):
        return
    model = fit(text, order, smoothing, add_k=0.5)
    V = model.vocab_size
    rng = np.random.default_rng(hist_seed)
    # random histories over every symbol, the pad and the unknown id included
    hists = rng.integers(0, V + 1, size=(6, order))
    hists[0] = V                                     # the all-pad start history
    for h in hists:
        p = model.history_probs(h)
        assert p.shape == (V,)
        assert (p > 0).all()
        assert abs(p.sum() - 1) < 1e-12
    ids = model.vocab.encode(text)[0]
    rows = model.next_probs(ids)
    np.testing.assert_allclose(rows.sum(1), 1, atol=1e-12)
    lp = model.log2prob_sequence(ids)
    assert np.isfinite(lp).all()
    np.testing.assert_allclose(lp, np.log2(rows[np.arange(len(ids)), ids]), rtol=1e-12)


def test_unknown_id_gets_mass_in_smoothed_models():
    for s in SMOOTHED:
        m = fit(TEXT, 3, s)
        lp = m.log2prob_sequence(np.array([0, 0, 5]))   # id 0 = unknown char
        assert np.isfinite(lp).all(), s


def test_witten_bell_and_add_k_formulas():
    text = "abracadabra"
    m = fit(text, 1, "add_k", add_k=0.5)
    V = m.vocab_size
    # P(b | a): c(ab) = 2, c(a.) = 4 (a is followed by b, c, d, b; the final a by nothing)
    pb = m.history_probs(np.array([m.vocab.stoi["a"]]))[m.vocab.stoi["b"]]
    assert pb == pytest.approx((2 + 0.5) / (4 + 0.5 * V))
    wb = fit(text, 1, "witten_bell")
    p = wb.history_probs(np.array([wb.vocab.stoi["a"]]))
    counts = Counter(text)
    uni = {c: (counts[c] + 5 / V) / (11 + 5) for c in "abcdr"}   # T(.) = 5 distinct chars
    t = 3                                                       # a -> {b, c, d}
    assert p[wb.vocab.stoi["b"]] == pytest.approx((2 + t * uni["b"]) / (4 + t))
    assert p[wb.vocab.stoi["r"]] == pytest.approx(t * uni["r"] / (4 + t))


# --------------------------------------------------------------------------- padding, queries

def test_pad_is_distinct_from_a_real_tilde():
    text = "~a~b~a~b" * 5
    m = fit(text, 2, "mle")
    # leading '~' are padding: the start of the text ("~a" follows the 2-pad history)
    assert m.query("~~") == [("~", 1.0)]
    # literal: "~~" never occurs in the text -> no distribution
    assert m.query("~~", literal=True) == []
    assert m.query("~a", literal=True) == [("~", 1.0)]
    assert m.query("~a") == []          # pad then 'a': the text does not start with 'a'
    assert m.query("~~")[0][0] == "~" and m.query("a~", literal=True) == [("b", 1.0)]


def test_query_errors():
    m = fit(TEXT, 4, "mle")
    with pytest.raises(VocabError, match="needs exactly 4"):
        m.query("ell")
    with pytest.raises(VocabError, match="'#'"):
        m.query("el#o")
    with pytest.raises(VocabError, match="'§'"):
        m.sample(10, seed=0, prime="§x")


def test_order_errors():
    vocab = Vocab.build("abcabc")
    ids = vocab.encode("abcabc")[0]
    with pytest.raises(ParamsError, match=">= 1"):
        NgramModel.fit(ids, vocab, 0)
    with pytest.raises(ParamsError, match="absurd"):
        NgramModel.fit(ids, vocab, 6)
    with pytest.raises(ParamsError, match="absurd"):
        NgramModel.fit(np.zeros(1000, dtype=np.uint8) + 1, vocab, 33)
    with pytest.raises(ParamsError, match="smoothing"):
        NgramModel.fit(ids, vocab, 2, "kneser-ney")


# --------------------------------------------------------------------------- sampling

def test_sample_reproducible_and_well_formed():
    m = fit(TEXT, 3, "kneser_ney")
    a = m.sample(200, seed=7, prime="First")
    assert a == m.sample(200, seed=7, prime="First")
    assert a != m.sample(200, seed=8, prime="First")
    assert a.startswith("First") and len(a) == 205
    assert "\ufffd" not in a                       # the unknown id is never emitted
    assert set(a) <= set(TEXT)


# --------------------------------------------------------------------------- save / load

def test_save_load_round_trip(tmp_path):
    text = markov_text(3000, "abcdefgh \n", seed=3)
    for s in ("kneser_ney", "add_k", "mle"):
        m = fit(text, 4, s, add_k=0.25)
        m.save(tmp_path / s)
        meta = json.loads((tmp_path / s / "model.json").read_text())
        assert meta["order"] == 4 and meta["smoothing"] == s
        m2 = NgramModel.load(tmp_path / s)
        assert (m2.order, m2.smoothing, m2.vocab_size, m2.add_k) == \
            (m.order, m.smoothing, m.vocab_size, m.add_k)
        probe = m.vocab.encode(text[:500])[0]
        np.testing.assert_array_equal(m2.log2prob_sequence(probe), m.log2prob_sequence(probe))
        assert m2.sample(50, 1) == m.sample(50, 1)
    with np.load(tmp_path / "mle" / "model.npz", allow_pickle=False) as z:
        assert all(z[k].dtype != object for k in z.files)


def test_load_refuses_missing_and_corrupt(tmp_path):
    with pytest.raises(CheckpointError, match="no n-gram model"):
        NgramModel.load(tmp_path)
    m = fit(TEXT, 2, "kneser_ney")
    m.save(tmp_path)
    data = bytearray((tmp_path / "model.npz").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "model.npz").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="checksum"):
        NgramModel.load(tmp_path)
    (tmp_path / "model.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="JSON"):
        NgramModel.load(tmp_path)


def test_scoring_split_pads_like_stream_start():
    text = markov_text(2000, "abcde \n", seed=1)
    vocab = Vocab.build(text)
    ids = vocab.encode(text)[0]
    m = NgramModel.fit(ids[:1500], vocab, 3, "kneser_ney")
    held = ids[1500:]
    lp = m.log2prob_sequence(held)
    rows = m.next_log2probs(held[:50])
    assert rows.shape == (50, vocab.size)
    np.testing.assert_allclose(lp[:50], rows[np.arange(50), held[:50]], rtol=1e-12)
    # position 0 is scored after the all-pad history
    p0 = m.history_probs(np.full(3, vocab.size))[held[0]]
    assert lp[0] == pytest.approx(np.log2(p0))
    # one fit of all orders serves every order: same as fitting that order alone
    c = NgramCounts.fit(ids[:1500], vocab.size, 6)
    for o in (1, 3, 6):
        np.testing.assert_allclose(
            NgramModel(c, o, "kneser_ney", vocab).log2prob_sequence(held),
            NgramModel.fit(ids[:1500], vocab, o, "kneser_ney").log2prob_sequence(held),
            rtol=1e-12)


@pytest.mark.parametrize("V,order", [(66, 10), (66, 3), (12, 1), (800, 10)])
def test_mle_fast_path_equals_general_counts(V, order):
    rng = np.random.default_rng(V + order)
    chars = [chr(0x100 + i) for i in range(V - 1)]
    vocab = Vocab(chars, [1] * (V - 1))
    # a text that repeats itself (so long grams recur) over a skewed alphabet
    base = rng.zipf(1.5, 3000) % (V - 1) + 1
    ids = np.concatenate([base, base[:1000], rng.integers(1, V, 500)]).astype(np.uint16)
    fast = fit_model(ids, vocab, order, "mle")
    general = NgramModel(NgramCounts.fit(ids, V, order), order, "mle", vocab)
    assert type(fast) is (NgramModel if V == 800 else PackedMLE)
    assert isinstance(fast, NgramLM) and isinstance(general, NgramLM)
    if isinstance(fast, PackedMLE):         # asked for explicitly: the same general model
        np.testing.assert_array_equal(fast.general().prob_sequence(ids[:500]),
                                      general.prob_sequence(ids[:500]))
    probe = np.concatenate([ids[2000:2600], rng.integers(0, V, 100)])
    np.testing.assert_array_equal(fast.prob_sequence(probe), general.prob_sequence(probe))
    np.testing.assert_array_equal(fast.next_probs(probe[:40]), general.next_probs(probe[:40]))
    h = np.full(order, V)
    np.testing.assert_array_equal(fast.history_probs(h), general.history_probs(h))
    assert fast.sample(100, seed=2) == general.sample(100, seed=2)


def test_the_lecture_query_is_the_unsmoothed_count_ratio_of_ello():
    """lm['ello'] for the report: the order-4 mle continuations, as the lecture's dict has
    them; a text without 'ello' gets its most frequent history; a model counted to order 2
    is asked with 'lo'."""
    from charlm.ngram.select import lecture_query, text_grams

    text = "hello world, yellow fellow. " * 10 + "hello, bellows!" * 15
    vocab = Vocab.build(text)
    ids, _ = vocab.encode(text)
    q = lecture_query(NgramCounts.fit(ids, vocab.size, 4), vocab)
    lm = train_char_lm_text(text, 4)
    expected = lm["ello"]
    assert (q["history"], q["chosen"], q["order"]) == ("ello", "the lecture's", 4)
    assert q["train_count"] == text.count("ello") and q["continuations"] == len(expected)
    assert sorted((round(p, 12), c) for c, p in q["top"]) == \
        sorted((round(p, 12), c) for c, p in expected)
    assert [p for _, p in q["top"]] == sorted((p for _, p in q["top"]), reverse=True)

    plain = "abcabcabd" * 30
    v2 = Vocab.build(plain)
    ids2, _ = v2.encode(plain)
    q2 = lecture_query(NgramCounts.fit(ids2, v2.size, 4), v2)
    windows = Counter(plain[i:i + 4] for i in range(len(plain) - 3))
    tied = [w for w, c in windows.items() if c == max(windows.values())]
    first = min(tied, key=lambda w: v2.encode(w)[0].tolist())          # ties: id order
    assert len(tied) > 1 and (q2["chosen"], q2["history"]) == ("the most frequent", first)
    assert q2["train_count"] == max(windows.values()) == windows[q2["history"]]

    q3 = lecture_query(NgramCounts.fit(ids, vocab.size, 2), vocab)
    grams, n = text_grams(NgramCounts.fit(ids, vocab.size, 5), 3)
    assert {vocab.decode(g): int(c) for g, c in zip(grams, n)} == \
        Counter(text[i:i + 3] for i in range(len(text) - 2))
    assert (q3["history"], q3["order"]) == ("lo", 2)
