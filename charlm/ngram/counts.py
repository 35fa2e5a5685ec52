"""Counting: the distinct k-grams of a padded stream, all orders at once, and their lookup.

All orders are counted at once, without a Python loop per character. Level ``k``
holds the distinct k-grams of the padded stream. A k-gram is the pair (its
(k-1)-gram prefix, its last symbol), so it gets the integer key
``last * n[k-1] + rank(prefix)``, where ``rank`` is the prefix's index among the
sorted distinct keys of level k-1: keys stay below ``n_symbols * len(stream)``
whatever the order and vocabulary (no base-V overflow). The positions are put in
key order level by level: positions sorted by the prefix's rank (the previous
level's order, shifted by one) are stably re-sorted by the last symbol, a radix
sort of 8/16-bit ids, so each level costs O(n) and no comparison sort is needed. The
passes run in chunks within a memory budget (`charlm.ngram.passes`). Lookups of new text go through an open-addressing hash table per level
(vectorised probing).
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from ..core.errors import ParamsError, VocabError
from ..core.vocab import smallest_uint
from .passes import count_levels, plan

DEFAULT_MEMORY_MB = 1024             # counting's working arrays (ngram.memory_mb)
MAX_ORDER = 32                       # beyond this an n-gram model is all memory and no signal

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
    def fit(cls, ids: np.ndarray, vocab_size: int, max_order: int,
            memory_mb: float = DEFAULT_MEMORY_MB) -> "NgramCounts":
        """Count levels 1..max_order+1 of the padded `ids` in passes (`charlm.ngram.passes`):
        the working arrays within `memory_mb` (spilling to disk past it); the same tables
        whatever the budget."""
        ids = np.asarray(ids)
        check_order(max_order, len(ids))
        if len(ids) and (ids.min() < 0 or ids.max() >= vocab_size):
            raise VocabError(f"ids must lie in [0, {vocab_size}), got {ids.min()}..{ids.max()}")
        sym = smallest_uint(vocab_size + 1)
        stream = np.concatenate([np.full(max_order, vocab_size, dtype=sym), ids.astype(sym)])
        L = len(stream)
        idx = np.dtype(np.int32 if L < 2**31 - 1 else np.int64)
        keys, counts, suffix = count_levels(stream, vocab_size + 1, max_order + 1, max_order,
                                            idx, plan(L, idx, sym, memory_mb))
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
        def make():
            p = self.keys[k - 1] % self.sizes[k - 1]
            return p.astype(np.int32 if self.sizes[k - 1] < 2**31 else np.int64)
        return self.cached(("parent", k), make)

    def continuation(self, k: int) -> np.ndarray:
        """N1+(. u) for each k-gram u: how many distinct seen (k+1)-grams end with u."""
        def make():
            up = self.counts[k] > 0
            return np.bincount(self.suffix[k][up], minlength=self.sizes[k])
        return self.cached(("cont", k), make)

    def cached(self, key, make: Callable[[], object]):
        """`make()`, computed once per key and shared with every truncation of these counts
        (derived tables such as smoothed levels: lower levels serve the models of every order)."""
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

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

