"""The n-gram adapted to the text it scores: counts of the already-scored text on top of
the trained model (the n-gram's dynamic evaluation, a cache model).

Scoring a stream, the char at position t gets, from the shortest history up to
`span` chars (levels j = 1 .. span+1, history h = the j-1 chars before t):

    p_j = (c(h x) + a(h) p_{j-1}) / (c(h) + a(h)),   a(h) = strength + n_train(h)
    p_0 = the trained model's P(x | its own history)

c(.) counts occurrences among the positions *before t* of the scored stream only (never
the char being scored or anything after it), n_train(h) is how often h occurs in the
training text. So the trained model is the prior, as strong as the evidence it rests
on: a context seen 10,000 times in training barely moves, while a name the training text
never saw is predicted from its earlier occurrences in this text after one or two of
them. A level whose history has not occurred yet keeps p_{j-1}. `span` and `strength` are
chosen on val (`choose`). Vectorised: every count is a stable sort per level.
"""

from __future__ import annotations

import itertools

import numpy as np

from ..core.errors import ParamsError
from .model import NgramModel


def _gram_ids(stream: np.ndarray, levels: int) -> list[np.ndarray]:
    """ids[j][t]: an id of the j-gram ending at stream position t (equal ids: equal grams)."""
    ids = [np.zeros(len(stream), dtype=np.int64)]
    base = int(stream.max()) + 2 if len(stream) else 1
    for _ in range(levels):
        prev = np.concatenate([[-1], ids[-1][:-1]])
        ids.append(np.unique(prev * base + stream + 1, return_inverse=True)[1].astype(np.int64))
    return ids


def _earlier(keys: np.ndarray) -> np.ndarray:
    """For each position, how many earlier positions hold the same key."""
    order = np.argsort(keys, kind="stable")
    k = keys[order]
    starts = np.maximum.accumulate(np.where(np.r_[True, k[1:] != k[:-1]], np.arange(len(k)), 0))
    out = np.empty(len(k), dtype=np.int64)
    out[order] = np.arange(len(k)) - starts
    return out


class Adapter:
    """One text's counts, computed once for spans up to `max_span`: then any (span,
    strength) is one cheap pass over the levels (`log2prob`), so a grid costs little more
    than one point."""

    def __init__(self, model: NgramModel, ids: np.ndarray, max_span: int):
        if not 1 <= max_span <= model.order:
            raise ParamsError(f"span must be in 1..{model.order} (the model's order), "
                              f"got {max_span}")
        ids = np.asarray(ids, dtype=np.int64)
        n, m = model.order, len(ids)
        stream = np.concatenate([np.full(n, model.pad, dtype=np.int64), ids])
        ranks = model.counts.stream_ranks(stream, n + 1)   # train ranks: the model's, histories'
        grams = _gram_ids(stream, max_span + 1)
        self.static = model.probs_from_ranks(ranks, n)
        self.levels = []                     # per level j: (c(h), c(hx), n_train(h))
        for j in range(1, max_span + 2):
            if j == 1:
                n_train = np.full(m, float(model.counts.n_chars))
            else:
                r = ranks[j - 1][n - 1:-1]
                n_train = np.where(r >= 0, model.counts.counts[j - 2][np.maximum(r, 0)], 0)
            self.levels.append((_earlier(grams[j - 1][n - 1:-1]), _earlier(grams[j][n:]),
                                n_train))

    def log2prob(self, span: int, strength: float) -> np.ndarray:
        if not 1 <= span < len(self.levels):
            raise ParamsError(f"span must be in 1..{len(self.levels) - 1}, got {span}")
        if not strength > 0:
            raise ParamsError(f"strength must be > 0, got {strength}")
        p = self.static
        for c_h, c_hx, n_train in self.levels[:span + 1]:
            a = strength + n_train
            p = np.where(c_h > 0, (c_hx + a * p) / (c_h + a), p)
        with np.errstate(divide="ignore"):
            return np.log2(p)


def adapted_log2prob(model: NgramModel, ids: np.ndarray, span: int,
                     strength: float) -> np.ndarray:
    """log2 P of each char of `ids` under `model` adapted to the chars of `ids` before it."""
    return Adapter(model, ids, span).log2prob(span, strength)


def choose(model: NgramModel, val: np.ndarray, spans: list[int],
           strengths: list[float]) -> tuple[int, float, dict, np.ndarray]:
    """The (span, strength) of the grid best on val: (span, strength, {"span/strength":
    val bpc}, val's log2 P under it); a span beyond the model's order is cut to it."""
    spans = sorted({min(s, model.order) for s in spans})
    if not spans or not strengths:
        raise ParamsError("no span x strength to choose from")
    adapter = Adapter(model, val, spans[-1])
    scored = {f"{s}/{a:g}": (adapter.log2prob(s, a), s, a)
              for s, a in itertools.product(spans, strengths)}
    grid = {k: float(-lp.mean()) for k, (lp, _, _) in scored.items()}
    lp, s, a = scored[min(grid, key=grid.get)]
    return s, a, grid, lp
