"""Kneser-Ney discounts tuned on val: block-coordinate Newton on the val log-likelihood.

The count-of-counts estimates (`smoothing.modified_kn_discounts`) are a closed form for
held-out likelihood under assumptions that char n-grams break; Chen & Goodman (1998)
report that discounts optimised on held-out data do better. Here they are fitted on val
(never test) for one order at a time, starting from the estimates.

Why it is cheap and exact: a level's probability is
``p_k = (a - D[min(a,3)] + (D . n(h)) p_{k-1}) / c(h)`` for a seen history (``n(h)``: how
many of its continuations have count 1, 2, 3+), and ``p_{k-1}`` for an unseen one, so
with the other levels fixed the final probability is *affine* in that level's three
discounts, ``p = P + Q . D``, and the val negative log-likelihood is convex in them.
Each block is solved by projected Newton steps inside the box ``0 < D_i <= i``; sweeps
over the levels stop when val improves by less than `TOL_BPC`. Only the val positions'
entries are gathered, so a sweep costs O(val chars x levels), not O(n-grams).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .counts import NgramCounts

LOWER = 1e-3                       # the box: D1 in [LOWER, 1], D2 in [LOWER, 2], D3+ in [LOWER, 3]
UPPER = np.array([1.0, 2.0, 3.0])
TOL_BPC = 1e-4                     # stop when a sweep gains less than this on val
MAX_SWEEPS = 30
NEWTON_STEPS = 20


@dataclass
class _Gathered:
    """One level at the val positions, as ``w = A + D . O`` and ``lam = L0 + D . Nn``
    (an unseen history: w = 0, lam = 1). Kept compact, in the smallest unsigned types
    (~8 bytes a position): the k-gram's count `a`, its history's c(h) (`den`, 0 where it
    is unseen) and n1, n2, n3+ (`n`, 3 x m); `mass()`, `weight()` and `at_rows()` rebuild
    A, O, L0, Nn (3 x m rows each) by the same expressions when a level is applied or
    solved."""
    a: np.ndarray
    den: np.ndarray
    n: np.ndarray

    @property
    def rows(self) -> np.ndarray:
        """The seen histories' positions: the only ones whose probability depends on the
        level's discounts."""
        return np.flatnonzero(self.den)

    def _inv(self) -> tuple[np.ndarray, np.ndarray]:
        """(seen, 1 / c(h) where seen else 0)."""
        den = self.den.astype(np.float64)
        seen = den > 0
        return seen, np.where(seen, 1.0 / np.where(seen, den, 1.0), 0.0)

    def mass(self) -> tuple[np.ndarray, np.ndarray]:
        """(A, O) at every position: w = A + D . O."""
        a = self.a.astype(np.float64)
        _, inv = self._inv()
        onehot = np.minimum(a, 3).astype(np.int64)[None, :] == np.arange(1, 4)[:, None]
        return a * inv, -(onehot * inv)

    def weight(self) -> tuple[np.ndarray, np.ndarray]:
        """(L0, Nn) at every position: lam = L0 + D . Nn."""
        seen, inv = self._inv()
        return (~seen).astype(np.float64), self.n * inv

    def at_rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(A, O, Nn) at the seen histories' positions, built from those positions' entries
        only (the same expressions, element by element: the same numbers)."""
        r = self.rows
        sub = _Gathered(self.a[r], self.den[r], np.ascontiguousarray(self.n[:, r]))
        A, O = sub.mass()
        return A, O, sub.n * sub._inv()[1]          # Nn as `weight` makes it (no L0 here)


def _small(x: np.ndarray) -> np.ndarray:
    """Non-negative whole numbers in the smallest unsigned type that holds them."""
    return x.astype(np.min_scalar_type(int(x.max(initial=0))))


def _gather(c: NgramCounts, k: int, raw: bool, e: np.ndarray, h: np.ndarray) -> _Gathered:
    """Level k's tables at the positions whose k-gram has rank `e` and history rank `h`."""
    src = c.counts[k - 1] if raw else c.continuation(k)
    a_all = src.astype(np.float64)
    parent = c.parents(k)
    n_h = c.sizes[k - 1]
    cls_all = np.minimum(a_all, 3).astype(np.int64)
    den_all = np.bincount(parent, weights=a_all, minlength=n_h)     # sums of counts: whole
    n_all = _small(np.stack([np.bincount(parent[cls_all == j], minlength=n_h)
                             for j in (1, 2, 3)]))                  # <= V + 1 each
    del a_all, cls_all
    hs = np.maximum(h, 0)
    return _Gathered(a=_small(np.where(e >= 0, src[np.maximum(e, 0)], 0)),
                     den=_small(np.where(h >= 0, den_all[hs], 0.0)), n=n_all[:, hs])


def _wl(g: _Gathered, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(w, lam) of the level at the val positions under discounts `d` (one half of the
    tables rebuilt at a time)."""
    A, O = g.mass()
    w = A + d @ O
    del A, O
    L0, Nn = g.weight()
    return w, L0 + d @ Nn


def _solve_block(P: np.ndarray, Q: np.ndarray, d: np.ndarray) -> np.ndarray:
    """argmin over the box of -sum log(P + d . Q) (Q: 3 x m), by projected Newton from `d`."""
    p = P + d @ Q
    fx = None                                     # the objective, computed once it is needed
    for _ in range(NEWTON_STEPS):
        r = Q * (1.0 / p)
        grad = -r.sum(1)
        step = np.linalg.solve(r @ r.T + 1e-9 * np.eye(3), grad)
        if grad @ step < 1e-6 * len(P):            # the Newton decrement: little left to gain
            break
        if fx is None:
            fx = -np.sum(np.log(p))
        t = 1.0
        while t > 1e-4:
            cand = np.clip(d - t * step, LOWER, UPPER)
            pc = P + cand @ Q
            fc = -np.sum(np.log(pc))
            if fc < fx:
                break
            t *= 0.5
        else:
            break
        d, p, fx = cand, pc, fc
    return d


class DiscountTuner:
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

    def _above(self, gs: dict, d: dict, top: int) -> dict:
        """p_top = alpha_k + beta_k p_k: (alpha_k, beta_k) of every level k under the
        discounts `d`, kept at k's seen positions only (where its block reads them)."""
        alpha, beta = np.zeros(self.m), np.ones(self.m)
        out = {top: (alpha[gs[top].rows], beta[gs[top].rows])}
        for k in range(top, 1, -1):
            w, lam = _wl(gs[k], d[k])
            alpha = alpha + beta * w
            beta = beta * lam
            out[k - 1] = (alpha[gs[k - 1].rows], beta[gs[k - 1].rows])
        return out

    def tune(self, order: int, start: dict[int, tuple]) -> tuple[dict[int, tuple], float]:
        """Discounts {level: (D1, D2, D3+)} of the order-`order` model minimising the
        stream's bpc, from `start`. Returns (the discounts, bpc under them)."""
        top, m = order + 1, self.m
        gs = {k: self.gathered(k, k == top) for k in range(1, top + 1)}
        d = {k: np.clip(np.array(start[k], dtype=np.float64), LOWER, UPPER) for k in gs}
        best = np.inf
        for _ in range(MAX_SWEEPS):
            above = self._above(gs, d, top)
            p_prev = np.full(m, 1.0 / self.c.vocab_size)
            for k in range(1, top + 1):
                g, r = gs[k], gs[k].rows          # elsewhere p does not depend on d[k]
                a_r, b = above.pop(k)
                P, O_r, Q = g.at_rows()           # P = a_r + b A_r, Q = b (O_r + Nn_r p_prev),
                P *= b                             # in place (the same numbers: + and * commute)
                P += a_r
                Q *= p_prev[r]
                Q += O_r
                Q *= b
                del O_r, a_r
                d[k] = _solve_block(P, Q, d[k])
                w, lam = _wl(g, d[k])
                p_prev = w + lam * p_prev
            val = float(-np.mean(np.log2(p_prev)))
            if best - val < TOL_BPC:
                best = min(best, val)
                break
            best = val
        return {k: tuple(float(x) for x in d[k]) for k in gs}, best
