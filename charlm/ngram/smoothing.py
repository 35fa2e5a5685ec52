"""Smoothing: each level's own mass and interpolation weight, and the discounts behind them.

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
  KenLM's ``--discount_fallback`` values 0.5, 1, 1.5. Or the discounts are given:
  tuned on val (`charlm.ngram.tune`). The unigram level is interpolated with the
  uniform 1/V over all ids (the unknown id included).
* ``witten_bell``: interpolated Witten-Bell, ``(c(hc) + T(h) P_lower)/(c(h) + T(h))``
  with ``T(h)`` the number of distinct chars seen after ``h``; base uniform.
* ``add_k``: ``(c(hc) + k)/(c(h) + k V)``, top level only.

For every history, seen or not, a smoothed model's probabilities over the V ids
sum to 1 and are all > 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ..core.errors import ParamsError
from .counts import NgramCounts

SMOOTHINGS = ("mle", "kneser_ney", "witten_bell", "add_k")
FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)  # KenLM's --discount_fallback defaults


def check_smoothing(smoothing: str, add_k: float) -> None:
    if smoothing not in SMOOTHINGS:
        raise ParamsError(f"unknown smoothing {smoothing!r}; one of {', '.join(SMOOTHINGS)}")
    if smoothing == "add_k" and not add_k > 0:
        raise ParamsError(f"add_k must be > 0, got {add_k}")


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


# --------------------------------------------------------------------------- levels

@dataclass
class Level:
    w: np.ndarray      # per k-gram (+ sentinel 0 at the end): its own mass
    lam: np.ndarray    # per (k-1)-gram history (+ sentinel 1, or 0 for mle): interpolation weight


def derive_level(c: NgramCounts, s: str, k: int, raw: bool, add_k: float,
                 given: Optional[tuple] = None):
    """w (per k-gram) and lam (per history) of level k under smoothing `s`, and the
    discount info (kneser_ney) or None; kneser_ney uses the `given` discounts if any."""
    sizes = c.sizes
    V = c.vocab_size
    n_h = sizes[k - 1]
    parent = c.parents(k)
    a = (c.counts[k - 1] if raw else c.continuation(k)).astype(np.float64)
    info = None
    if s == "kneser_ney":
        d, fell = (tuple(given), False) if given else modified_kn_discounts(a)
        info = {"level": k, "counts": "raw" if raw else "continuation",
                "D1": d[0], "D2": d[1], "D3+": d[2], "fallback": fell,
                "from": "given" if given else "counts"}
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
    return Level(w, lam), info


def smoothed_level(c: NgramCounts, smoothing: str, k: int, raw: bool,
                   add_k: Optional[float] = 1.0, given: Optional[tuple] = None):
    """(Level, discount info or None) of level k. A level the models of higher orders share
    is cached on the counts (kneser_ney's continuation levels, witten_bell's); a top level
    serves one order and is not kept."""
    make = lambda: derive_level(c, smoothing, k, raw, add_k, given)   # noqa: E731
    if not (smoothing == "witten_bell" or (smoothing == "kneser_ney" and not raw)):
        return make()
    return c.cached((smoothing, k, raw, add_k if smoothing == "add_k" else None, given), make)


@dataclass
class LevelStack:
    """What a model of one order and smoothing interpolates: the base probability, then
    the active levels, lowest first (the order they are applied in), and their tables."""
    base: float
    active: list[int]
    levels: dict[int, Level]
    discounts: list = field(default_factory=list)        # kneser_ney: per level (D1, D2, D3+)
    fallback_levels: list = field(default_factory=list)  # kneser_ney: invalid-estimate levels


def build_levels(c: NgramCounts, order: int, s: str, add_k: Optional[float],
                 given: Optional[dict] = None) -> LevelStack:
    """The levels of the order-`order` model; kneser_ney takes `given` {level: (D1, D2,
    D3+)} (every level) instead of the count-of-counts estimates."""
    top = order + 1
    stack = LevelStack(base=0.0 if s == "mle" else 1.0 / c.vocab_size,
                       active=list(range(1, top + 1)) if s in ("kneser_ney", "witten_bell")
                       else [top], levels={})
    for k in stack.active:
        g = tuple(given[k]) if given else None
        lv, info = smoothed_level(c, s, k, raw=(k == top or s != "kneser_ney"), add_k=add_k,
                                  given=g)
        stack.levels[k] = lv
        if info is not None:
            stack.discounts.append(info)
            if info["fallback"]:
                stack.fallback_levels.append(k)
    return stack
