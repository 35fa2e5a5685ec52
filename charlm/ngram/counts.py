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
passes run in chunks within a memory budget (`charlm.ngram.passes`). Lookups of new text
are binary searches of each level's sorted keys (`sorted_lookup`): no table beside them.
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from ..core.errors import ParamsError, VocabError
from ..core.vocab import smallest_uint
from .passes import count_levels, plan

DEFAULT_MEMORY_MB = 1024             # counting's working arrays (ngram.memory_mb)
MAX_ORDER = 32                       # beyond this an n-gram model is all memory and no signal

# --------------------------------------------------------------------------- lookup

LOOKUP_BLOCK = 1 << 20               # queries sorted and searched per block


def sorted_lookup(keys: np.ndarray, q: np.ndarray, dtype=np.int64) -> np.ndarray:
    """Rank of each query in the sorted unique `keys`, -1 where absent (a query of -1 is
    always absent: keys are >= 0). A binary search of the queries in sorted order, a block
    at a time: nothing is built beside the keys, and the searches walk them in order."""
    q = np.asarray(q, dtype=np.int64)
    out = np.full(len(q), -1, dtype=dtype)
    n = len(keys)
    if not n:
        return out
    for a in range(0, len(q), LOOKUP_BLOCK):
        block = q[a:a + LOOKUP_BLOCK]
        order = np.argsort(block, kind="stable")
        sq = block[order]
        pos = np.minimum(np.searchsorted(keys, sq), n - 1)
        out[a + order] = np.where(keys[pos] == sq, pos, -1)
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
        t._cache = self._cache                              # same levels: share the work
        return t

    @property
    def rank_dtype(self) -> np.dtype:
        """The dtype of a rank (int32 while every level has fewer than 2**31 grams)."""
        return np.dtype(np.int32 if max(self.sizes) < 2**31 else np.int64)

    def lookup(self, level: int, q: np.ndarray) -> np.ndarray:
        """Rank at `level` of each key in `q` (-1 where the gram was not counted)."""
        return sorted_lookup(self.keys[level - 1], q, self.rank_dtype)

    def stream_ranks(self, stream: np.ndarray, levels: int) -> list[np.ndarray]:
        """G[k][j] = rank of the k-gram of `stream` ending at j (-1: unseen), k = 0..levels."""
        stream = np.asarray(stream, dtype=np.int64)
        L = len(stream)
        sizes = self.sizes
        G = [np.zeros(L, dtype=self.rank_dtype)]
        for k in range(1, levels + 1):
            par = np.empty(L, dtype=np.int64)
            if L:
                par[0] = 0 if k == 1 else -1
                par[1:] = G[-1][:-1] if k > 1 else 0
            ok = np.flatnonzero(par >= 0)
            g = np.full(L, -1, dtype=self.rank_dtype)
            if ok.size:
                g[ok] = self.lookup(k, stream[ok] * sizes[k - 1] + par[ok])
            G.append(g)
        return G

    def parents(self, k: int) -> np.ndarray:
        """Rank at level k-1 of each k-gram's prefix (its history). Computed at each call
        (one pass over the keys), not kept: 4 bytes an n-gram."""
        p = self.keys[k - 1] % self.sizes[k - 1]
        return p.astype(np.int32 if self.sizes[k - 1] < 2**31 else np.int64)

    def continuation(self, k: int) -> np.ndarray:
        """N1+(. u) for each k-gram u: how many distinct seen (k+1)-grams end with u."""
        def make():
            up = self.counts[k] > 0
            n = np.bincount(self.suffix[k][up], minlength=self.sizes[k])
            return n.astype(np.min_scalar_type(int(n.max(initial=0))))   # <= V + 1
        return self.cached(("cont", k), make)

    def cached(self, key, make: Callable[[], object]):
        """`make()`, computed once per key and shared with every truncation of these counts
        (derived tables such as smoothed levels: lower levels serve the models of every order)."""
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def forget(self, first: str) -> None:
        """Drop the cached tables whose key starts with `first` (a smoothing's levels once
        its orders are chosen: a model built from them keeps its own)."""
        for key in [k for k in self._cache if k[0] == first]:
            del self._cache[key]

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

