"""`NgramModel`: one order and smoothing over shared counts (`NgramCounts`), scored by
interpolating its levels (`charlm.ngram.smoothing`) over binary searches of its counts."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from ..core.errors import CheckpointError, ParamsError, VocabError
from ..core.vocab import Vocab
from .counts import NgramCounts, check_order
from .lm import Shared, checked_history, padded
from .smoothing import build_levels, check_smoothing
from .store import read_model, write_model


class NgramModel(Shared):
    """One model: an order, a smoothing, the counts it needs, and the vocabulary.

    Built from counts of any max order >= `order` (one count serves every order and
    smoothing); `fit` counts a text for one model. kneser_ney takes `given_discounts`
    {level: (D1, D2, D3+)} for every level 1..order+1 (tuned on val: `charlm.ngram.tune`)
    instead of the count-of-counts estimates. Satisfies `charlm.ngram.NgramLM`.
    """

    def __init__(self, counts: NgramCounts, order: int, smoothing: str, vocab: Vocab,
                 add_k: float = 1.0, given_discounts: Optional[dict] = None):
        check_order(order)
        check_smoothing(smoothing, add_k)
        if vocab.size != counts.vocab_size:
            raise VocabError(f"vocabulary of {vocab.size} ids does not match counts of "
                             f"{counts.vocab_size}")
        self.counts = counts if counts.max_order == order else counts.truncated(order)
        self.order = order
        self.smoothing = smoothing
        self.add_k = float(add_k) if smoothing == "add_k" else None
        self.vocab = vocab
        self.given_discounts = check_given(given_discounts, order, smoothing)
        stack = build_levels(self.counts, order, smoothing, self.add_k, self.given_discounts)
        self.base, self.active, self.levels = stack.base, stack.active, stack.levels
        self.discounts: list = stack.discounts              # kneser_ney: per level (D1, D2, D3+)
        self.fallback_levels: list = stack.fallback_levels  # kneser_ney: invalid estimates

    @classmethod
    def fit(cls, ids: np.ndarray, vocab: Vocab, order: int, smoothing: str = "kneser_ney",
            add_k: float = 1.0) -> "NgramModel":
        """Count `ids` up to `order` and build the model (always the general one;
        `charlm.ngram.fit_model` takes the packed path for mle where it fits)."""
        return cls(NgramCounts.fit(ids, vocab.size, order), order, smoothing, vocab, add_k)

    # ------------------------------------------------------------------ probabilities
    def prob_sequence(self, ids: np.ndarray) -> np.ndarray:
        """P(ids[i] | the chars before it in `ids`, padded in front), float64."""
        stream = padded(ids, self.order, self.vocab_size)
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
            e = self.counts.lookup(k, q.ravel()).reshape(rows, V)
            p = lv.w[e] + lv.lam[h][:, None] * p
        return p

    def next_probs(self, ids: np.ndarray) -> np.ndarray:
        """(len(ids), V): row i is P(. | ids[:i]) (padded history), for short passages."""
        stream = padded(ids, self.order, self.vocab_size)
        n = self.order
        G = self.counts.stream_ranks(stream, n)
        hist = [g[n - 1:-1] for g in G]
        return self._dist_from_hist(hist)

    def history_probs(self, history: np.ndarray) -> np.ndarray:
        """P(. | history) for one history of exactly `order` symbols (pad id allowed)."""
        history = checked_history(history, self.order)
        G = self.counts.stream_ranks(history, self.order)
        return self._dist_from_hist([g[-1:] for g in G])[0]

    def lower(self, order: int) -> "NgramModel":
        """This smoothing at a shorter order, on the same counts (estimated discounts:
        given ones belong to this order)."""
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
        if self.given_discounts:
            d["given_discounts"] = {str(k): list(v) for k, v in self.given_discounts.items()}
        return d

    def save(self, path: str | Path) -> None:
        """Write `path`/model.npz (arrays) then `path`/model.json (`charlm.ngram.store`)."""
        write_model(path, self.counts, self.order, self.info(), self.vocab)

    @classmethod
    def load(cls, path: str | Path) -> "NgramModel":
        counts, order, smoothing, vocab, add_k, given = read_model(path)
        try:
            return cls(counts, order, smoothing, vocab, add_k, given)
        except ParamsError as e:
            raise CheckpointError(f"{path}: {e}") from None


def check_given(given: Optional[dict], order: int, smoothing: str) -> Optional[dict]:
    """`given` as {level: (D1, D2, D3+)}, checked: kneser_ney only, every level 1..order+1,
    each D_i in (0, i] (else a level's mass could go negative)."""
    if not given:
        return None
    if smoothing != "kneser_ney":
        raise ParamsError(f"given discounts are for kneser_ney, not {smoothing}")
    out = {int(k): tuple(float(x) for x in v) for k, v in given.items()}
    if sorted(out) != list(range(1, order + 2)):
        raise ParamsError(f"given discounts must cover levels 1..{order + 1}, got {sorted(out)}")
    for k, d in out.items():
        if len(d) != 3 or not all(0 < x <= i + 1 for i, x in enumerate(d)):
            raise ParamsError(f"level {k}: discounts must be (D1, D2, D3+) with 0 < D_i <= i, "
                              f"got {d}")
    return out
