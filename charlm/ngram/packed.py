"""The lecture's model at one order, counted with packed int64 keys (`PackedMLE`), and
`fit_model`, which takes that path for ``mle`` where the packing fits."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from ..core.errors import VocabError
from ..core.vocab import Vocab
from .counts import NgramCounts, check_order
from .lm import NgramLM, Shared, checked_history, padded
from .model import NgramModel


def fit_model(ids: np.ndarray, vocab: Vocab, order: int, smoothing: str = "kneser_ney",
              add_k: float = 1.0) -> NgramLM:
    """Fit one model on `ids`: for ``mle`` (the lecture's model at one order) the packed
    model where it fits, else (and for every smoothed model) the general `NgramModel`.
    Both give the same probabilities and save the same files."""
    if smoothing == "mle":
        packed = PackedMLE.try_fit(ids, vocab, order)
        if packed is not None:
            return packed
    return NgramModel.fit(ids, vocab, order, smoothing, add_k)


class PackedMLE(Shared):
    """The lecture's model at one order, counted with packed int64 keys: one sort.

    An (order+1)-gram is packed exactly as ``rank(first m symbols) * B**(order+1-m) +
    base-B digits of the rest`` (B = V + 1 symbols, the pad included), with m the
    shortest prefix (looked up in a direct table of B**m entries) for which the key fits
    in int64. Its history's key is ``key // B``. Probabilities are identical to the
    general `NgramModel`'s (same counts, same division); `general()` builds that model
    from the same text, and `save` writes its files. Satisfies `charlm.ngram.NgramLM`.
    """

    MAX_TABLE = 1 << 22

    def __init__(self, ids: np.ndarray, vocab: Vocab, order: int, m: int,
                 table: Optional[np.ndarray], keys: np.ndarray, counts: np.ndarray):
        """From the text, the packing (prefix length m, its rank table) and the sorted
        distinct packed keys of the (order+1)-grams with their counts (`try_fit`)."""
        self.order, self.smoothing, self.add_k, self.vocab = order, "mle", None, vocab
        self.discounts: list = []            # the NgramLM fields of a model without discounts
        self.fallback_levels: list = []
        self.m, self.B, self.table = m, vocab.size + 1, table
        self._ids = ids
        self.keys, self.counts_ = keys, counts
        E = len(ids)
        h = self.keys // self.B
        hstarts = np.flatnonzero(np.r_[True, h[1:] != h[:-1]]) if E else np.zeros(0, int)
        self.hkeys = h[hstarts]
        self.hcounts = np.add.reduceat(self.counts_, hstarts) if E else np.zeros(0, int)

    @classmethod
    def try_fit(cls, ids: np.ndarray, vocab: Vocab, order: int) -> Optional["PackedMLE"]:
        """The packed model of `ids`, or None where no packing fits in int64."""
        ids = np.asarray(ids)
        check_order(order, len(ids))
        V = vocab.size
        if len(ids) and (ids.min() < 0 or ids.max() >= V):
            raise VocabError(f"ids must lie in [0, {V}), got {ids.min()}..{ids.max()}")
        B, w = V + 1, order + 1
        stream = np.concatenate([np.full(order, V, dtype=np.int64), ids.astype(np.int64)])
        E = len(ids)
        packing = _packing(stream, order, B, E, cls.MAX_TABLE)
        if packing is None:
            return None
        m, table, pk = packing
        if m:
            key = table[pk] * B ** (w - m) + _digits(stream, m, w - m, B, E)
        else:
            key = _digits(stream, 0, w, B, E)
        key.sort()
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if E else np.zeros(0, int)
        return cls(ids, vocab, order, m, table, key[starts], np.diff(starts, append=E))

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
        stream = padded(ids, self.order, self.vocab_size)
        win = np.lib.stride_tricks.sliding_window_view(stream, self.order)[:len(ids)]
        return self._probs(self._history_keys(win), stream[self.order:])

    def next_probs(self, ids: np.ndarray) -> np.ndarray:
        stream = padded(ids, self.order, self.vocab_size)
        win = np.lib.stride_tricks.sliding_window_view(stream, self.order)[:len(ids)]
        return self._probs(self._history_keys(win), np.arange(self.vocab_size)[None, :])

    def history_probs(self, history: np.ndarray) -> np.ndarray:
        history = checked_history(history, self.order)
        hk = self._history_keys(history[None, :])
        return self._probs(hk, np.arange(self.vocab_size)[None, :])[0]

    def lower(self, order: int) -> NgramLM:
        """The lecture's model at a shorter order, from the same text."""
        return fit_model(self._ids, self.vocab, order, "mle")

    def general(self) -> NgramModel:
        """The same model as a general `NgramModel` (counted again: levels, ranks, files)."""
        return NgramModel(NgramCounts.fit(self._ids, self.vocab.size, self.order), self.order,
                          "mle", self.vocab)

    def info(self) -> dict:
        return {"order": self.order, "smoothing": "mle", "vocab_size": self.vocab_size,
                "train_chars": len(self._ids), "n_grams": len(self.keys),
                "n_histories": len(self.hkeys), "packed_prefix": self.m}

    def save(self, path: str | Path) -> None:
        """Write the general model's files (`NgramModel.load` reads them back)."""
        self.general().save(path)


def _digits(stream: np.ndarray, offset: int, width: int, B: int, E: int) -> np.ndarray:
    """Base-B value of stream[i+offset : i+offset+width] for i in 0..E-1 (int64, no overflow
    by the caller's choice of width)."""
    out = np.zeros(E, dtype=np.int64)
    for t in range(width):
        out *= B
        out += stream[offset + t: offset + t + E]
    return out


def _packing(stream: np.ndarray, order: int, B: int, E: int, max_table: int):
    """(m, rank table of the m-symbol prefixes or None, each window's prefix digits or None)
    for the shortest prefix m whose packed (order+1)-gram keys fit in int64; None if none
    does within a table of `max_table` entries."""
    w = order + 1
    for m in range(0, order + 1):
        if B ** m > max_table:
            return None
        if m == 0:
            n_prefix, pk, present = 1, None, None
        else:
            pk = _digits(stream, 0, m, B, E)
            present = np.zeros(B ** m, dtype=bool)
            present[pk] = True
            n_prefix = int(present.sum())
        if n_prefix * B ** (w - m) < 2**63:
            break
    else:
        return None
    if not m:
        return 0, None, None
    table = np.full(B ** m, -1, dtype=np.int64)
    table[present] = np.arange(n_prefix)
    return m, table, pk
