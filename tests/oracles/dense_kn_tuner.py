"""The Kneser-Ney discount tuner as it was before its tables were kept compact (commit
6c0fe3c's charlm/ngram/tune.py): every level's tables A, O, L0, Nn and their seen-row
copies held dense for the whole tuning, (w, lam) and (alpha, beta) of every level kept.
tests/test_ngram_tune.py checks that charlm's compact tuner returns its discounts and
bpc bit for bit; the Newton block solve is charlm's own (`_solve_block`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from charlm.ngram.counts import NgramCounts
from charlm.ngram.tune import LOWER, MAX_SWEEPS, TOL_BPC, UPPER, _solve_block  # noqa: F401


@dataclass
class _Gathered:
    """One level at the val positions, as ``w = A + D . O`` and ``lam = L0 + D . Nn``
    (an unseen history: w = 0, lam = 1). O and Nn are 3 x m (one contiguous row per
    discount); `rows` are the seen histories, the only positions whose probability
    depends on the level's discounts, and `A_r`, `O_r`, `Nn_r` those columns."""
    A: np.ndarray
    O: np.ndarray
    L0: np.ndarray
    Nn: np.ndarray
    rows: np.ndarray
    A_r: np.ndarray
    O_r: np.ndarray
    Nn_r: np.ndarray


def _gather(c: NgramCounts, k: int, raw: bool, e: np.ndarray, h: np.ndarray) -> _Gathered:
    """Level k's tables at the positions whose k-gram has rank `e` and history rank `h`."""
    a_all = (c.counts[k - 1] if raw else c.continuation(k)).astype(np.float64)
    parent = c.parents(k)
    n_h = c.sizes[k - 1]
    cls_all = np.minimum(a_all, 3).astype(np.int64)
    den_all = np.bincount(parent, weights=a_all, minlength=n_h)
    n_all = np.stack([np.bincount(parent[cls_all == j], minlength=n_h) for j in (1, 2, 3)])
    a = np.where(e >= 0, a_all[np.maximum(e, 0)], 0.0)
    hs = np.maximum(h, 0)
    den = np.where(h >= 0, den_all[hs], 0.0)
    seen = den > 0
    inv = np.where(seen, 1.0 / np.where(seen, den, 1.0), 0.0)
    onehot = np.minimum(a, 3).astype(np.int64)[None, :] == np.arange(1, 4)[:, None]
    A, O, Nn = a * inv, -(onehot * inv), n_all[:, hs] * inv
    rows = np.flatnonzero(seen)
    return _Gathered(A=A, O=O, L0=(~seen).astype(np.float64), Nn=Nn, rows=rows,
                     A_r=A[rows], O_r=np.ascontiguousarray(O[:, rows]),
                     Nn_r=np.ascontiguousarray(Nn[:, rows]))


def _wl(g: _Gathered, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(w, lam) of the level at the val positions under discounts `d`."""
    return g.A + d @ g.O, g.L0 + d @ g.Nn


class DenseTuner:
    """Tunes the kneser_ney discounts of any order on one held-out stream (val): its gram
    ranks G (`NgramCounts.stream_ranks` of the stream with `n_pad` pads in front). The
    gathered tables of each level are shared by the orders (only the top level differs)."""

    def __init__(self, c: NgramCounts, G: list[np.ndarray], n_pad: int):
        self.c, self.G, self.n_pad = c, G, n_pad
        self.m = len(G[0]) - n_pad
        self._gathered: dict = {}

    def gathered(self, k: int, raw: bool) -> _Gathered:
        """Level k's tables; a lower level's (continuation counts) are kept for the next
        orders, a top level's (raw counts) serve one order only and are not kept."""
        if (k, raw) in self._gathered:
            return self._gathered[k, raw]
        G, n, m = self.G, self.n_pad, self.m
        g = _gather(self.c, k, raw, G[k][n:], G[k - 1][n - 1:n - 1 + m])
        if not raw:
            self._gathered[k, raw] = g
        return g

    def tune(self, order: int, start: dict[int, tuple]) -> tuple[dict[int, tuple], float]:
        """Discounts {level: (D1, D2, D3+)} of the order-`order` model minimising the
        stream's bpc, from `start`. Returns (the discounts, bpc under them)."""
        top, m = order + 1, self.m
        gs = {k: self.gathered(k, k == top) for k in range(1, top + 1)}
        d = {k: np.clip(np.array(start[k], dtype=np.float64), LOWER, UPPER) for k in gs}
        wl = {k: _wl(gs[k], d[k]) for k in gs}
        best = np.inf
        for _ in range(MAX_SWEEPS):
            alpha, beta = {top: np.zeros(m)}, {top: np.ones(m)}
            for k in range(top, 1, -1):                    # p_top = alpha_k + beta_k p_k
                alpha[k - 1] = alpha[k] + beta[k] * wl[k][0]
                beta[k - 1] = beta[k] * wl[k][1]
            p_prev = np.full(m, 1.0 / self.c.vocab_size)
            for k in range(1, top + 1):
                g, r = gs[k], gs[k].rows          # elsewhere p does not depend on d[k]
                b = beta[k][r]
                P = alpha[k][r] + b * g.A_r
                Q = b * (g.O_r + g.Nn_r * p_prev[r])
                d[k] = _solve_block(P, Q, d[k])
                wl[k] = w, lam = _wl(g, d[k])
                p_prev = w + lam * p_prev
            val = float(-np.mean(np.log2(p_prev)))
            if best - val < TOL_BPC:
                best = min(best, val)
                break
            best = val
        return {k: tuple(float(x) for x in d[k]) for k in gs}, best
