"""Character n-gram models: the lecture's unsmoothed model and smoothed ones, vectorised.

Conventions
-----------
* ``order`` is the history length, as in the lecture's ``train_char_lm(fname, order)``:
  an order-4 model predicts a char from the 4 before it (a 5-gram model in the
  usual naming; KenLM's "order 7" is our order 6).
* The text is one stream (contexts run across newlines). It is padded in front
  with ``order`` pad symbols, the lecture's ``"~" * order``. The pad is its own id,
  ``PAD = vocab.size``, used only in histories and never predicted, so a real ``~``
  in the text (LaTeX has them) stays an ordinary character. String queries
  (`NgramModel.query`, ``charlm ngram query``) read a history's *leading* run of
  ``~`` as padding, the lecture's convention, unless ``literal=True``.
* Scoring a split pads it the same way, as if the split began the stream.

Counting
--------
All orders are counted at once, without a Python loop per character. Level ``k``
holds the distinct k-grams of the padded stream. A k-gram is the pair (its
(k-1)-gram prefix, its last symbol), so it gets the integer key
``last * n[k-1] + rank(prefix)``, where ``rank`` is the prefix's index among the
sorted distinct keys of level k-1: keys stay below ``n_symbols * len(stream)``
whatever the order and vocabulary (no base-V overflow). The positions are put in
key order level by level: positions sorted by the prefix's rank (the previous
level's order, shifted by one) are stably re-sorted by the last symbol, a radix
sort of 8/16-bit ids, so each level costs O(n) and no comparison sort is needed.
Lookups of new text go through an open-addressing hash table per level
(vectorised probing). A lone ``mle`` fit (`NgramModel.fit(..., "mle")`, the lecture's
model at one order) takes a faster path where it fits: each (order+1)-gram packed
exactly into one int64 and one sort (`_PackedMLE`); same counts, same probabilities.

Smoothing
---------
Every model is ``P_k(c|h) = w_k(hc) + lam_k(h) * P_{k-1}(c|h')`` from the top
level down to a base distribution (``h'`` is ``h`` less its first symbol; an
unseen history has w = 0, lam = 1):

* ``mle``: the lecture's model, ``c(hc)/c(h)``, top level only, base 0: unseen
  events get probability 0 and an unseen history has no distribution (all zeros;
  the lecture's dict raises KeyError there).
* ``kneser_ney``: interpolated modified Kneser-Ney (Chen & Goodman 1998). The top
  level uses raw counts, lower levels continuation counts N1+(. u); three
  discounts D1, D2, D3+ per level from that level's counts-of-counts,
  ``Y = n1/(n1+2 n2)``, ``D_i = i - (i+1) Y n_{i+1}/n_i``. Where that estimate is
  invalid (some n_i = 0, or a D_i outside (0, i]) the level falls back to
  KenLM's ``--discount_fallback`` values 0.5, 1, 1.5. The unigram level is
  interpolated with the uniform 1/V over all ids (the unknown id included).
* ``witten_bell``: interpolated Witten-Bell, ``(c(hc) + T(h) P_lower)/(c(h) + T(h))``
  with ``T(h)`` the number of distinct chars seen after ``h``; base uniform.
* ``add_k``: ``(c(hc) + k)/(c(h) + k V)``, top level only.

For every history, seen or not, a smoothed model's probabilities over the V ids
sum to 1 and are all > 0.

Files: a model is a directory with ``model.json`` (settings, vocabulary, level
sizes) and ``model.npz`` (compressed; per level: sorted keys, counts, suffix ranks); loaded
with ``np.load(..., allow_pickle=False)``.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from .errors import CheckpointError, ParamsError, VocabError
from .fsutil import atomic_open, write_json
from .vocab import Vocab, smallest_uint

SMOOTHINGS = ("mle", "kneser_ney", "witten_bell", "add_k")
MAX_ORDER = 32                       # beyond this an n-gram model is all memory and no signal
FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)  # KenLM's --discount_fallback defaults
FORMAT = "charlm-ngram"
FORMAT_VERSION = 1

_HASH_MUL = np.uint64(0x9E3779B97F4A7C15)   # Fibonacci hashing


# --------------------------------------------------------------------------- hash index

class _HashIndex:
    """Maps the sorted unique int64 keys of one level to their ranks (open addressing)."""

    def __init__(self, keys: np.ndarray):
        n = len(keys)
        bits = max(4, int(2 * n).bit_length())          # table size >= 2n: load <= 0.5
        self.mask = (1 << bits) - 1
        self.shift = np.uint64(64 - bits)
        size = 1 << bits
        self.slot_key = np.full(size, -1, dtype=np.int64)
        self.slot_val = np.full(size, -1, dtype=np.int32 if n < 2**31 else np.int64)
        pending = np.arange(n, dtype=np.int64)
        pos = self._hash(keys)
        while pending.size:
            free = self.slot_val[pos] == -1
            cand, cpos = pending[free], pos[free]
            self.slot_val[cpos] = cand                  # on a race the last write wins
            won = np.zeros(len(pending), dtype=bool)
            won[np.flatnonzero(free)[self.slot_val[cpos] == cand]] = True
            self.slot_key[pos[won]] = keys[pending[won]]
            pending, pos = pending[~won], (pos[~won] + 1) & self.mask

    def _hash(self, keys: np.ndarray) -> np.ndarray:
        h = np.multiply(keys.astype(np.uint64), _HASH_MUL) >> self.shift
        return h.astype(np.int64)

    def lookup(self, q: np.ndarray) -> np.ndarray:
        """Rank of each query key, -1 where absent (a query of -1 is always absent)."""
        q = np.asarray(q, dtype=np.int64)
        out = np.full(len(q), -1, dtype=np.int64)
        idx = np.arange(len(q))
        pos = self._hash(q)
        while idx.size:
            skey = self.slot_key[pos]
            sval = self.slot_val[pos]
            hit = skey == q[idx]
            out[idx[hit]] = sval[hit]
            more = ~hit & (sval != -1)
            idx, pos = idx[more], (pos[more] + 1) & self.mask
        return out


# --------------------------------------------------------------------------- counts

class NgramCounts:
    """The distinct k-grams (k = 1 .. max_order + 1) of a padded stream, with counts.

    ``keys[k-1]``: sorted int64 keys of level k (see the module doc); ``counts[k-1]``:
    how often each k-gram ends at a text position (the pad region counts 0);
    ``suffix[k-1]``: for k >= 2 the rank at level k-1 of each k-gram's suffix
    (its last k-1 symbols), used for continuation counts.
    """

    def __init__(self, vocab_size: int, max_order: int, keys: list, counts: list,
                 suffix: list, n_chars: int):
        self.vocab_size = int(vocab_size)
        self.pad = self.vocab_size          # the history-only pad symbol
        self.max_order = int(max_order)
        self.keys = keys
        self.counts = counts
        self.suffix = suffix
        self.n_chars = int(n_chars)
        self._index: dict[int, _HashIndex] = {}
        self._cache: dict = {}

    @property
    def sizes(self) -> list[int]:
        """n[k] for k = 0 .. max_order+1 (n[0] = 1: the empty gram)."""
        return [1] + [len(k) for k in self.keys]

    @classmethod
    def fit(cls, ids: np.ndarray, vocab_size: int, max_order: int) -> "NgramCounts":
        ids = np.asarray(ids)
        check_order(max_order, len(ids))
        if len(ids) and (ids.min() < 0 or ids.max() >= vocab_size):
            raise VocabError(f"ids must lie in [0, {vocab_size}), got {ids.min()}..{ids.max()}")
        sym = smallest_uint(vocab_size + 1)
        stream = np.concatenate([np.full(max_order, vocab_size, dtype=sym), ids.astype(sym)])
        L = len(stream)
        idx = np.int32 if L < 2**31 - 1 else np.int64
        first_event = max_order
        keys, counts, suffix = [], [], []
        n_prev = 1
        g_prev = np.zeros(L, dtype=idx)           # level 0: the empty gram, rank 0 everywhere
        cand = np.arange(L, dtype=idx)            # positions sorted by their prefix's rank ...
        cand_parent = np.zeros(L, dtype=idx)      # ... and that rank
        for k in range(1, max_order + 2):
            last = stream[cand]
            o = np.argsort(last, kind="stable")   # radix sort of 8/16-bit ids
            perm = cand[o]
            last = last[o]
            parent = cand_parent[o]
            new = np.empty(len(perm), dtype=bool)
            new[0] = True
            np.not_equal(last[1:], last[:-1], out=new[1:])
            new[1:] |= parent[1:] != parent[:-1]
            rank_sorted = np.cumsum(new, dtype=idx)
            rank_sorted -= 1
            starts = np.flatnonzero(new)
            n_k = len(starts)
            rep = perm[starts]                    # one position where each k-gram ends
            keys.append(last[starts].astype(np.int64) * n_prev + parent[starts])
            # occurrences = run lengths, less those ending in the pad region (j < first_event)
            cnt = np.diff(starts, append=len(perm))
            g = np.empty(L, dtype=idx)            # entries before position k-1 are never read
            g[perm] = rank_sorted
            early = g[k - 1:first_event]
            np.subtract.at(cnt, early, 1)
            counts.append(cnt)
            suffix.append(g_prev[rep] if k > 1 else np.zeros(n_k, dtype=idx))
            # next level: positions j >= k sorted by the rank of the k-gram ending at j-1
            keep = perm < L - 1
            cand = perm[keep] + 1
            cand_parent = rank_sorted[keep]
            g_prev, n_prev = g, n_k
        return cls(vocab_size, max_order, keys, counts, suffix, len(ids))

    def truncated(self, order: int) -> "NgramCounts":
        """The tables an order-`order` model needs (levels 1 .. order+1)."""
        if order > self.max_order:
            raise ParamsError(f"order {order} exceeds the counted max order {self.max_order}")
        t = NgramCounts(self.vocab_size, order, self.keys[:order + 1], self.counts[:order + 1],
                        self.suffix[:order + 1], self.n_chars)
        t._index, t._cache = self._index, self._cache      # same levels: share the work
        return t

    def index(self, level: int) -> _HashIndex:
        ix = self._index.get(level)
        if ix is None:
            ix = self._index[level] = _HashIndex(self.keys[level - 1])
        return ix

    def stream_ranks(self, stream: np.ndarray, levels: int) -> list[np.ndarray]:
        """G[k][j] = rank of the k-gram of `stream` ending at j (-1: unseen), k = 0..levels."""
        stream = np.asarray(stream, dtype=np.int64)
        L = len(stream)
        sizes = self.sizes
        G = [np.zeros(L, dtype=np.int64)]
        for k in range(1, levels + 1):
            par = np.empty(L, dtype=np.int64)
            if L:
                par[0] = 0 if k == 1 else -1
                par[1:] = G[-1][:-1] if k > 1 else 0
            ok = np.flatnonzero(par >= 0)
            g = np.full(L, -1, dtype=np.int64)
            if ok.size:
                g[ok] = self.index(k).lookup(stream[ok] * sizes[k - 1] + par[ok])
            G.append(g)
        return G

    def parents(self, k: int) -> np.ndarray:
        """Rank at level k-1 of each k-gram's prefix (its history)."""
        key = ("parent", k)
        if key not in self._cache:
            p = self.keys[k - 1] % self.sizes[k - 1]
            self._cache[key] = p.astype(np.int32 if self.sizes[k - 1] < 2**31 else np.int64)
        return self._cache[key]

    def continuation(self, k: int) -> np.ndarray:
        """N1+(. u) for each k-gram u: how many distinct seen (k+1)-grams end with u."""
        key = ("cont", k)
        if key not in self._cache:
            up = self.counts[k] > 0
            self._cache[key] = np.bincount(self.suffix[k][up], minlength=self.sizes[k])
        return self._cache[key]

    def smoothed_level(self, smoothing: str, k: int, raw: bool, add_k: float = 1.0):
        """(_Level, discount info or None) of level k; cached (lower levels are shared by
        the models of every order)."""
        ck = (smoothing, k, raw, add_k if smoothing == "add_k" else None)
        if ck not in self._cache:
            self._cache[ck] = _derive_level(self, smoothing, k, raw, add_k)
        return self._cache[ck]

    def nbytes(self, order: Optional[int] = None) -> int:
        top = (self.max_order if order is None else order) + 1
        return int(sum(a.nbytes for lst in (self.keys, self.counts, self.suffix)
                       for a in lst[:top]))

    def n_grams(self, order: Optional[int] = None) -> int:
        top = (self.max_order if order is None else order) + 1
        return int(sum(len(k) for k in self.keys[:top]))


def check_order(order: int, n_chars: Optional[int] = None) -> None:
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)):
        raise ParamsError(f"order must be an integer, got {order!r}")
    if order < 1:
        raise ParamsError(f"order must be >= 1, got {order}")
    if order > MAX_ORDER:
        raise ParamsError(f"order {order} is absurd for a character n-gram model "
                          f"(at most {MAX_ORDER})")
    if n_chars is not None and order >= n_chars:
        raise ParamsError(f"order {order} is absurd for a training text of {n_chars} chars "
                          "(it must be shorter than the text)")


# --------------------------------------------------------------------------- discounts

def modified_kn_discounts(a: np.ndarray) -> tuple[tuple[float, float, float], bool]:
    """(D1, D2, D3+) from the counts-of-counts of `a` (counts > 0), and whether it fell back."""
    n = np.bincount(np.minimum(a[a > 0], 5).astype(np.int64), minlength=6)[1:5].astype(float)
    n1, n2, n3, n4 = n
    if n1 > 0 and n2 > 0 and n3 > 0 and n4 > 0:
        y = n1 / (n1 + 2 * n2)
        d = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
        if all(np.isfinite(x) and 0 < x <= i + 1 for i, x in enumerate(d)):
            return tuple(float(x) for x in d), False
    return FALLBACK_DISCOUNTS, True


@dataclass
class _Level:
    w: np.ndarray      # per k-gram (+ sentinel 0 at the end): its own mass
    lam: np.ndarray    # per (k-1)-gram history (+ sentinel 1, or 0 for mle): interpolation weight


def _derive_level(c: NgramCounts, s: str, k: int, raw: bool, add_k: float):
    """w (per k-gram) and lam (per history) of level k under smoothing `s`."""
    sizes = c.sizes
    V = c.vocab_size
    n_h = sizes[k - 1]
    parent = c.parents(k)
    a = (c.counts[k - 1] if raw else c.continuation(k)).astype(np.float64)
    info = None
    if s == "kneser_ney":
        d, fell = modified_kn_discounts(a)
        info = {"level": k, "counts": "raw" if raw else "continuation",
                "D1": d[0], "D2": d[1], "D3+": d[2], "fallback": fell}
        disc = np.array([0.0, *d])[np.minimum(a, 3).astype(np.int64)]
        num = np.maximum(a - disc, 0.0)
        den = np.bincount(parent, weights=a, minlength=n_h)
        gam = np.bincount(parent, weights=a - num, minlength=n_h)
    elif s == "witten_bell":
        num = a
        t = np.bincount(parent, weights=(a > 0).astype(np.float64), minlength=n_h)
        den = np.bincount(parent, weights=a, minlength=n_h) + t
        gam = t
    elif s == "add_k":
        # (c(hc) + k) / (c(h) + kV): the k per char comes through lam * base (1/V)
        kv = add_k * V
        num = a
        den = np.bincount(parent, weights=a, minlength=n_h) + kv
        gam = np.full(n_h, kv)
    else:  # mle
        num = a
        den = np.bincount(parent, weights=a, minlength=n_h)
        gam = np.zeros(n_h)
    lam_unseen = 0.0 if s == "mle" else 1.0
    hp = den > 0
    den_safe = np.where(hp, den, 1.0)          # den = 0: no child has mass, num = 0 there
    w = np.empty(len(num) + 1)                 # + sentinel 0: an unseen k-gram (rank -1)
    np.divide(num, den_safe[parent], out=w[:-1])
    w[-1] = 0.0
    lam = np.full(n_h + 1, lam_unseen)         # + sentinel: an unseen history
    lam[:-1] = np.where(hp, gam / den_safe, lam_unseen)
    return _Level(w, lam), info


# --------------------------------------------------------------------------- model

class NgramModel:
    """One model: an order, a smoothing, the counts it needs, and the vocabulary."""

    def __init__(self, counts: NgramCounts, order: int, smoothing: str, vocab: Vocab,
                 add_k: float = 1.0):
        check_order(order)
        if smoothing not in SMOOTHINGS:
            raise ParamsError(f"unknown smoothing {smoothing!r}; one of {', '.join(SMOOTHINGS)}")
        if smoothing == "add_k" and not add_k > 0:
            raise ParamsError(f"add_k must be > 0, got {add_k}")
        if vocab.size != counts.vocab_size:
            raise VocabError(f"vocabulary of {vocab.size} ids does not match counts of "
                             f"{counts.vocab_size}")
        self.counts = counts if counts.max_order == order else counts.truncated(order)
        self.order = order
        self.smoothing = smoothing
        self.add_k = float(add_k) if smoothing == "add_k" else None
        self.vocab = vocab
        self.discounts: list = []          # kneser_ney: per level (D1, D2, D3+)
        self.fallback_levels: list = []    # kneser_ney: levels whose estimate was invalid
        self._build()

    # ------------------------------------------------------------------ construction
    @property
    def vocab_size(self) -> int:
        return self.vocab.size

    @property
    def pad(self) -> int:
        return self.vocab.size

    @classmethod
    def fit(cls, ids: np.ndarray, vocab: Vocab, order: int, smoothing: str = "kneser_ney",
            add_k: float = 1.0) -> "NgramModel":
        if smoothing == "mle":                     # the lecture's model: one order, fast path
            packed = _PackedMLE.try_fit(ids, vocab, order)
            if packed is not None:
                return packed
        return cls(NgramCounts.fit(ids, vocab.size, order), order, smoothing, vocab, add_k)

    def _build(self) -> None:
        c, n, s = self.counts, self.order, self.smoothing
        top = n + 1
        self.base = 0.0 if s == "mle" else 1.0 / self.vocab_size
        self.active = list(range(1, top + 1)) if s in ("kneser_ney", "witten_bell") else [top]
        self.levels: dict[int, _Level] = {}
        for k in self.active:
            lv, info = c.smoothed_level(s, k, raw=(k == top or s != "kneser_ney"),
                                        add_k=self.add_k)
            self.levels[k] = lv
            if info is not None:
                self.discounts.append(info)
                if info["fallback"]:
                    self.fallback_levels.append(k)

    # ------------------------------------------------------------------ probabilities
    def _padded(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids)
        if ids.ndim != 1:
            raise VocabError(f"ids must be a 1-d array, got shape {ids.shape}")
        if len(ids) and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise VocabError(f"ids must lie in [0, {self.vocab_size}), got "
                             f"{int(ids.min())}..{int(ids.max())}")
        return np.concatenate([np.full(self.order, self.pad, dtype=np.int64),
                               ids.astype(np.int64)])

    def prob_sequence(self, ids: np.ndarray) -> np.ndarray:
        """P(ids[i] | the chars before it in `ids`, padded in front), float64."""
        stream = self._padded(ids)
        return self.probs_from_ranks(self.counts.stream_ranks(stream, self.order + 1), self.order)

    def probs_from_ranks(self, G: list[np.ndarray], n_pad: int) -> np.ndarray:
        """Probabilities of a stream's chars from its gram ranks G (`NgramCounts.stream_ranks`
        of the stream padded with `n_pad` >= order pads, on counts this model shares or
        extends); entry i is the char at stream position n_pad + i."""
        if n_pad < self.order or len(G) < self.order + 2:
            raise ParamsError(f"ranks for {len(G) - 2} levels / {n_pad} pads do not cover "
                              f"an order-{self.order} model")
        m = len(G[0]) - n_pad
        p = np.full(m, self.base)
        for k in self.active:
            lv = self.levels[k]
            e = G[k][n_pad:]
            h = G[k - 1][n_pad - 1:-1] if m else e
            p = lv.w[e] + lv.lam[h] * p
        return p

    def log2prob_sequence(self, ids: np.ndarray) -> np.ndarray:
        """log2 P(ids[i] | preceding chars of `ids`), the first scored after the pad history."""
        with np.errstate(divide="ignore"):
            return np.log2(self.prob_sequence(ids))

    def _dist_from_hist(self, hist: list[np.ndarray]) -> np.ndarray:
        """Rows of P(. | h) for histories given by their ranks hist[k] at levels k = 0..order."""
        V = self.vocab_size
        sizes = self.counts.sizes
        rows = len(hist[0])
        chars = np.arange(V, dtype=np.int64)
        p = np.full((rows, V), self.base)
        for k in self.active:
            lv = self.levels[k]
            h = hist[k - 1]
            q = np.where(h[:, None] >= 0, chars[None, :] * sizes[k - 1] + h[:, None], -1)
            e = self.counts.index(k).lookup(q.ravel()).reshape(rows, V)
            p = lv.w[e] + lv.lam[h][:, None] * p
        return p

    def next_probs(self, ids: np.ndarray) -> np.ndarray:
        """(len(ids), V): row i is P(. | ids[:i]) (padded history), for short passages."""
        stream = self._padded(ids)
        n = self.order
        G = self.counts.stream_ranks(stream, n)
        hist = [g[n - 1:-1] for g in G]
        return self._dist_from_hist(hist)

    def next_log2probs(self, ids: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.log2(self.next_probs(ids))

    def history_probs(self, history: np.ndarray) -> np.ndarray:
        """P(. | history) for one history of exactly `order` symbols (pad id allowed)."""
        history = np.asarray(history, dtype=np.int64)
        if len(history) != self.order:
            raise VocabError(f"history must have {self.order} chars (the model's order), "
                             f"got {len(history)}")
        G = self.counts.stream_ranks(history, self.order)
        return self._dist_from_hist([g[-1:] for g in G])[0]

    def query(self, history: str, literal: bool = False) -> list[tuple[str, float]]:
        """The lecture's ``lm[history]``: [(char, prob)] with prob > 0, most likely first.

        A leading run of ``~`` is the lecture's padding (start of text) unless `literal`.
        """
        if len(history) != self.order:
            raise VocabError(f"history {history!r} has {len(history)} chars; an order-"
                             f"{self.order} model needs exactly {self.order}")
        n_pad = 0 if literal else len(history) - len(history.lstrip("~"))
        ids = self.vocab.encode_strict(history[n_pad:], what=f"history {history!r}")
        hist = np.concatenate([np.full(n_pad, self.pad, dtype=np.int64),
                               ids.astype(np.int64)])
        p = self.history_probs(hist)
        order = np.lexsort((np.arange(len(p)), -p))
        table = ["\ufffd"] + self.vocab.chars
        return [(table[i], float(p[i])) for i in order if p[i] > 0]

    # ------------------------------------------------------------------ sampling
    def sample(self, length: int, seed: int, prime: Optional[str] = None) -> str:
        """`prime` (if any) followed by `length` sampled chars; same seed, same text.

        The history starts as the pad (like the lecture's generate_text), then the prime.
        The unknown id is never emitted. An mle history with no continuation (only the
        training text's final chars, or a prime) backs off to its longest suffix that has
        one; the lecture's dict would raise KeyError there.
        """
        if length < 0:
            raise ParamsError(f"length must be >= 0, got {length}")
        prime = prime or ""
        prime_ids = self.vocab.encode_strict(prime, what="prime").astype(np.int64)
        n = self.order
        hist = np.concatenate([np.full(n, self.pad, dtype=np.int64), prime_ids])[-n:]
        rng = np.random.default_rng(seed)
        lower = None
        out = np.empty(length, dtype=np.int64)
        for t in range(length):
            p = self.history_probs(hist)
            p[0] = 0.0                                 # never emit the unknown id
            model, hh = self, hist
            while p.sum() <= 0 and model.order > 1:    # mle: back off to a shorter history
                lower = lower or {}
                o = model.order - 1
                if o not in lower:
                    lower[o] = self._lower(o)
                model, hh = lower[o], hh[1:]
                p = model.history_probs(hh)
                p[0] = 0.0
            cdf = np.cumsum(p)
            c = int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"))
            c = min(c, len(p) - 1)
            out[t] = c
            hist = np.append(hist[1:], c)
        return prime + self.vocab.decode(out)

    def _lower(self, order: int) -> "NgramModel":
        return NgramModel(self.counts, order, self.smoothing, self.vocab, self.add_k)

    # ------------------------------------------------------------------ info, save, load
    def info(self) -> dict:
        d = {"order": self.order, "smoothing": self.smoothing, "vocab_size": self.vocab_size,
             "train_chars": self.counts.n_chars, "n_grams": self.counts.n_grams(),
             "n_grams_per_level": self.counts.sizes[1:], "bytes": self.counts.nbytes()}
        if self.smoothing == "add_k":
            d["add_k"] = self.add_k
        if self.smoothing == "kneser_ney":
            d["discounts"] = self.discounts
        return d

    def save(self, path: str | Path) -> None:
        """Write `path`/model.npz (arrays) then `path`/model.json (settings, vocab, checksum)."""
        path = Path(path)
        arrays = {}
        c = self.counts
        for k in range(1, self.order + 2):
            arrays[f"keys_{k}"] = c.keys[k - 1].astype(np.int64)
            arrays[f"counts_{k}"] = c.counts[k - 1].astype(smallest_uint(int(c.counts[k - 1].max()) + 1))
            arrays[f"suffix_{k}"] = c.suffix[k - 1].astype(
                smallest_uint(max(c.sizes[k - 1], 1)))
        with atomic_open(path / "model.npz", "wb") as f:
            np.savez_compressed(f, **arrays)    # ~4x smaller (counts, sorted keys)
        digest = _sha256(path / "model.npz")
        meta = {"format": FORMAT, "version": FORMAT_VERSION, **self.info(),
                "vocab": self.vocab.to_json(), "npz_sha256": digest}
        write_json(path / "model.json", meta)

    @classmethod
    def load(cls, path: str | Path) -> "NgramModel":
        path = Path(path)
        try:
            meta = json.loads((path / "model.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CheckpointError(f"{path}: no n-gram model here (model.json missing)") from None
        except (ValueError, UnicodeDecodeError) as e:
            raise CheckpointError(f"{path / 'model.json'}: not valid JSON ({e})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise CheckpointError(f"{path / 'model.json'}: not a charlm n-gram model")
        if meta.get("version") != FORMAT_VERSION:
            raise CheckpointError(f"{path / 'model.json'}: format version {meta.get('version')} "
                                  f"(this code reads {FORMAT_VERSION})")
        npz = path / "model.npz"
        if not npz.exists():
            raise CheckpointError(f"{npz}: missing")
        if _sha256(npz) != meta.get("npz_sha256"):
            raise CheckpointError(f"{npz}: checksum mismatch (corrupt or replaced)")
        try:
            order = int(meta["order"])
            vocab = Vocab(list(meta["vocab"]["chars"]), list(meta["vocab"]["counts"]))
            with np.load(npz, allow_pickle=False) as z:
                keys = [z[f"keys_{k}"].astype(np.int64) for k in range(1, order + 2)]
                counts = [z[f"counts_{k}"].astype(np.int64) for k in range(1, order + 2)]
                suffix = [z[f"suffix_{k}"].astype(np.int64) for k in range(1, order + 2)]
        except (KeyError, TypeError, ValueError, VocabError) as e:
            raise CheckpointError(f"{path}: unreadable n-gram model ({e})") from None
        for k in range(1, order + 2):
            if not (len(keys[k - 1]) == len(counts[k - 1]) == len(suffix[k - 1])):
                raise CheckpointError(f"{path}: level {k} arrays differ in length")
        counts_obj = NgramCounts(vocab.size, order, keys, counts, suffix,
                                 int(meta.get("train_chars", 0)))
        return cls(counts_obj, order, meta["smoothing"], vocab, float(meta.get("add_k", 1.0)))


class _PackedMLE(NgramModel):
    """The lecture's model at one order, counted with packed int64 keys: one sort.

    An (order+1)-gram is packed exactly as ``rank(first m symbols) * B**(order+1-m) +
    base-B digits of the rest`` (B = V + 1 symbols, the pad included), with m the
    shortest prefix (looked up in a direct table of B**m entries) for which the key fits
    in int64. Its history's key is ``key // B``. Probabilities are identical to the
    general path (same counts, same division); `save` writes the general format.
    Used by `NgramModel.fit(..., "mle")` where the packing fits (else the general path).
    """

    MAX_TABLE = 1 << 22

    @classmethod
    def try_fit(cls, ids: np.ndarray, vocab: Vocab, order: int) -> Optional["_PackedMLE"]:
        ids = np.asarray(ids)
        check_order(order, len(ids))
        V = vocab.size
        if len(ids) and (ids.min() < 0 or ids.max() >= V):
            raise VocabError(f"ids must lie in [0, {V}), got {ids.min()}..{ids.max()}")
        B, w = V + 1, order + 1
        stream = np.concatenate([np.full(order, V, dtype=np.int64), ids.astype(np.int64)])
        E = len(ids)
        for m in range(0, order + 1):
            if B ** m > cls.MAX_TABLE:
                return None
            if m == 0:
                n_prefix, table = 1, None
            else:
                pk = _digits(stream, 0, m, B, E)
                present = np.zeros(B ** m, dtype=bool)
                present[pk] = True
                n_prefix = int(present.sum())
            if n_prefix * B ** (w - m) < 2**63:
                break
        else:
            return None
        self = cls.__new__(cls)
        self.order, self.smoothing, self.add_k, self.vocab = order, "mle", None, vocab
        self.m, self.B = m, B
        self.discounts, self.fallback_levels = [], []
        self._ids = ids
        if m:
            table = np.full(B ** m, -1, dtype=np.int64)
            table[present] = np.arange(n_prefix)
            key = table[pk] * B ** (w - m) + _digits(stream, m, w - m, B, E)
        else:
            key = _digits(stream, 0, w, B, E)
        self.table = table
        key.sort()
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if E else np.zeros(0, int)
        self.keys = key[starts]
        self.counts_ = np.diff(starts, append=E)
        h = self.keys // B
        hstarts = np.flatnonzero(np.r_[True, h[1:] != h[:-1]]) if E else np.zeros(0, int)
        self.hkeys = h[hstarts]
        self.hcounts = np.add.reduceat(self.counts_, hstarts) if E else np.zeros(0, int)
        return self

    def _history_keys(self, windows: np.ndarray) -> np.ndarray:
        """Packed keys of histories given as rows of `order` symbols (-1: unseen prefix)."""
        B, m, n = self.B, self.m, self.order
        rest = np.zeros(len(windows), dtype=np.int64)
        for i in range(m, n):
            rest = rest * B + windows[:, i]
        if not m:
            return rest
        pk = np.zeros(len(windows), dtype=np.int64)
        for i in range(m):
            pk = pk * B + windows[:, i]
        r = self.table[pk]
        return np.where(r >= 0, r * B ** (n - m) + rest, -1)

    @staticmethod
    def _find(sorted_keys: np.ndarray, values: np.ndarray, q: np.ndarray) -> np.ndarray:
        i = np.searchsorted(sorted_keys, q)
        i = np.minimum(i, max(len(sorted_keys) - 1, 0))
        if not len(sorted_keys):
            return np.zeros(q.shape)
        return np.where((sorted_keys[i] == q) & (q >= 0), values[i], 0)

    def _probs(self, hk: np.ndarray, chars: np.ndarray) -> np.ndarray:
        ch = self._find(self.hkeys, self.hcounts, hk).astype(np.float64)
        if chars.ndim == 2:
            ch = ch[:, None]
            hk = hk[:, None]
        q = np.where(hk >= 0, hk * self.B + chars, -1)
        c = self._find(self.keys, self.counts_, q).astype(np.float64)
        out = np.zeros(np.broadcast(c, ch).shape)
        np.divide(c, np.broadcast_to(ch, out.shape), out=out, where=np.broadcast_to(ch, out.shape) > 0)
        return out

    def prob_sequence(self, ids: np.ndarray) -> np.ndarray:
        stream = self._padded(ids)
        win = np.lib.stride_tricks.sliding_window_view(stream, self.order)[:len(ids)]
        return self._probs(self._history_keys(win), stream[self.order:])

    def next_probs(self, ids: np.ndarray) -> np.ndarray:
        stream = self._padded(ids)
        win = np.lib.stride_tricks.sliding_window_view(stream, self.order)[:len(ids)]
        return self._probs(self._history_keys(win), np.arange(self.vocab_size)[None, :])

    def history_probs(self, history: np.ndarray) -> np.ndarray:
        history = np.asarray(history, dtype=np.int64)
        if len(history) != self.order:
            raise VocabError(f"history must have {self.order} chars (the model's order), "
                             f"got {len(history)}")
        hk = self._history_keys(history[None, :])
        return self._probs(hk, np.arange(self.vocab_size)[None, :])[0]

    def probs_from_ranks(self, G, n_pad):
        raise ParamsError("a packed mle model has no gram ranks; use prob_sequence")

    def _lower(self, order: int) -> NgramModel:
        return NgramModel.fit(self._ids, self.vocab, order, "mle")

    def _general(self) -> NgramModel:
        return NgramModel(NgramCounts.fit(self._ids, self.vocab.size, self.order), self.order,
                          "mle", self.vocab)

    def info(self) -> dict:
        return {"order": self.order, "smoothing": "mle", "vocab_size": self.vocab_size,
                "train_chars": len(self._ids), "n_grams": len(self.keys),
                "n_histories": len(self.hkeys), "packed_prefix": self.m}

    def save(self, path: str | Path) -> None:
        self._general().save(path)


def _digits(stream: np.ndarray, offset: int, width: int, B: int, E: int) -> np.ndarray:
    """Base-B value of stream[i+offset : i+offset+width] for i in 0..E-1 (int64, no overflow
    by the caller's choice of width)."""
    out = np.zeros(E, dtype=np.int64)
    for t in range(width):
        out *= B
        out += stream[offset + t: offset + t + E]
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --------------------------------------------------------------------------- evaluation

def bpc(log2p: np.ndarray) -> float:
    """Bits per char: mean of -log2 P (inf if any char has probability 0)."""
    return float(-np.mean(log2p)) if len(log2p) else float("nan")


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


# --------------------------------------------------------------------------- the stage

def _ppl(b: float) -> float:
    return float(2.0 ** b) if np.isfinite(b) else float("inf")


def fit_and_select(train: np.ndarray, val: np.ndarray, test: np.ndarray, vocab: Vocab,
                   cfg, log=print) -> tuple[NgramModel, dict, list[dict], dict[str, str]]:
    """Count orders 1..cfg.max_order once, score every smoothing x order (x k) on val and
    test, pick each smoothing's order (and k) on val.

    Returns (the chosen smoothing's model at its best order, metrics, per-order rows for
    the plot, {sample name: text}).
    """
    N = cfg.max_order
    counts, t_count = timed(NgramCounts.fit, train, vocab.size, N)
    log(f"counted orders 1..{N} of {len(train):,} chars in {t_count:.2f} s "
        f"({counts.n_grams():,} n-grams)")
    ranks = {}
    for name, ids in (("val", val), ("test", test)):
        stream = np.concatenate([np.full(N, counts.pad, dtype=np.int64), ids.astype(np.int64)])
        ranks[name], t = timed(counts.stream_ranks, stream, N + 1)
    metrics: dict = {"train_chars": len(train), "val_chars": len(val), "test_chars": len(test),
                     "vocab_size": vocab.size, "max_order": N,
                     "n_grams_per_level": counts.sizes[1:], "count_seconds": t_count,
                     "smoothings": {}}
    rows = [{"order": o} for o in range(1, N + 1)]
    best_models: dict[str, NgramModel] = {}
    for s in cfg.smoothings:
        ks = list(cfg.add_k) if s == "add_k" else [None]
        per_order: dict = {}
        fit_s = 0.0
        best = None
        for o in range(1, N + 1):
            cands = []
            for k in ks:
                m, t = timed(NgramModel, counts, o, s, vocab, 1.0 if k is None else k)
                fit_s += t
                b = {split: bpc(np.log2(m.probs_from_ranks(ranks[split], N)))
                     for split in ("val", "test")}
                cands.append((b["val"], k, m, b))
            vb, k, m, b = min(cands, key=lambda c: c[0])
            entry = {"val_bpc": b["val"], "test_bpc": b["test"],
                     "n_grams": counts.n_grams(o), "bytes": counts.nbytes(o)}
            if s == "add_k":
                entry["k"] = k
                entry["val_bpc_per_k"] = {str(c[1]): c[0] for c in cands}
            per_order[str(o)] = entry
            rows[o - 1][s] = b["val"]
            if best is None or vb < best[0]:
                best = (vb, o, m, b)
        vb, o, m, b = best
        best_models[s] = m
        metrics["smoothings"][s] = {
            "order": o, "val_bpc": b["val"], "test_bpc": b["test"],
            "val_ppl": _ppl(b["val"]), "test_ppl": _ppl(b["test"]),
            **({"k": m.add_k} if s == "add_k" else {}),
            **({"discounts": m.discounts} if s == "kneser_ney" else {}),
            "fit_seconds_all_orders": fit_s, "orders": per_order}
        log(f"{s}: order {o} on val: val {b['val']:.4f} / test {b['test']:.4f} bpc")
    # the lecture's unsmoothed model: how often it gives probability 0 (it cannot be scored)
    mle = {}
    for o in range(1, N + 1):
        m = NgramModel(counts, o, "mle", vocab)
        mle[str(o)] = {f"{split}_zero_prob_fraction":
                       float(np.mean(m.probs_from_ranks(ranks[split], N) == 0))
                       for split in ("val", "test")}
    metrics["mle"] = mle
    chosen = best_models[cfg.chosen]
    c = metrics["smoothings"][cfg.chosen]
    metrics = {"smoothing": cfg.chosen, "order": c["order"],
               "val_bpc": c["val_bpc"], "test_bpc": c["test_bpc"],
               "val_ppl": c["val_ppl"], "test_ppl": c["test_ppl"],
               "n_grams": chosen.counts.n_grams(), "model_bytes": chosen.counts.nbytes(),
               "fit_seconds": t_count + c["fit_seconds_all_orders"], **metrics}
    samples = {}
    for o in cfg.sample_orders:
        samples[f"mle_order{o}"] = NgramModel(counts, o, "mle", vocab).sample(
            cfg.sample_length, cfg.seed)
    samples[f"{cfg.chosen}_order{chosen.order}"] = chosen.sample(cfg.sample_length, cfg.seed)
    return chosen, metrics, rows, samples


def write_orders_tsv(path: str | Path, rows: list[dict], smoothings: list[str]) -> None:
    """Val bpc per order (one column per smoothing), for `dvc plots`."""
    lines = ["\t".join(["order", *smoothings])]
    for r in rows:
        lines.append("\t".join([str(r["order"])] + [f"{r[s]:.6f}" for s in smoothings]))
    from .fsutil import write_text
    write_text(path, "\n".join(lines) + "\n")
