"""The mixture: a corpus's models combined into one next-character distribution.

    P_mix(c | h) = sum_k w_k P_k(c | h),   w_k >= 0, sum_k w_k = 1

The components are the n-gram and every neural model run on the corpus, and the
dynamically evaluated version of each model that has one (`<model>:dynamic`); their
per-char log2 P on val and test were written by the evaluate stages
(data/eval/<corpus>/<model>/log2p.npz). The weights are fitted on val only, by EM (each step lowers val bpc; it
stops when a step gains less than TOL bits/char), then test is scored once with them:
the same formula as every model, bpc = total -log2 P_mix / chars. A mixture of
probabilities is itself a distribution, so the surprise page's top predictions mix the
components' full tables on the passage.
"""

from __future__ import annotations

import numpy as np

from ..core import paths
from ..core.errors import CharlmError
from ..core.scoring import bpc_stats

TOL = 1e-7          # bits/char: EM stops when a step improves val bpc by less
MAX_ITERS = 1000


def mix_log2p(lp: np.ndarray, w: np.ndarray) -> np.ndarray:
    """log2 of sum_k w_k 2^lp[k] per char; lp (K, N) log2 probabilities, w (K,)."""
    with np.errstate(divide="ignore"):
        logw = np.log2(w)[:, None]
    z = lp + logw
    top = z.max(axis=0)
    return top + np.log2(np.exp2(z - top).sum(axis=0))


def fit_weights(val: np.ndarray) -> tuple[np.ndarray, int]:
    """EM for the mixture weights on val (K, N) log2 P: (weights, iterations)."""
    k = val.shape[0]
    w = np.full(k, 1.0 / k)
    prev = np.inf
    for it in range(1, MAX_ITERS + 1):
        mixed = mix_log2p(val, w)
        bits = -mixed.mean()
        if prev - bits < TOL:
            return w, it
        prev = bits
        w = np.exp2(val + np.log2(w)[:, None] - mixed).mean(axis=1)   # mean posterior
        w /= w.sum()
    return w, MAX_ITERS


def load_components(corpus: str, models: list[str]) -> dict[str, np.lib.npyio.NpzFile]:
    """Each model's log2p.npz (val, test, passage), written by its evaluate stage."""
    out = {}
    for m in models:
        f = paths.log2p_file(corpus, m)
        if not f.is_file():
            raise CharlmError(f"{f}: missing (run `dvc repro "
                              f"{paths.evaluate_stage(corpus, m)}`)")
        out[m] = dict(np.load(f, allow_pickle=False))
    return out


def _columns(comps: dict) -> dict[str, tuple[str, str]]:
    """Mixture component -> (model, array suffix): each model's static scores, and its
    dynamic ones (`<model>:dynamic`) where its evaluate stage adapted it."""
    cols = {}
    for m, arrays in comps.items():
        cols[m] = (m, "")
        if "val_dynamic" in arrays:
            cols[f"{m}:dynamic"] = (m, "_dynamic")
    return cols


def mix_corpus(corpus: str, models: list[str]) -> tuple[dict, np.ndarray, np.ndarray]:
    """Fit the weights on val, score test: (the mixture's metrics, the log2 table of its
    next-char distributions on the surprise passage, its exact per-char log2 P there).
    A dynamic component's table is its static one: only its log2 P of the text adapt."""
    comps = load_components(corpus, models)
    cols = _columns(comps)
    val = np.stack([comps[m]["val" + sfx] for m, sfx in cols.values()])
    test = np.stack([comps[m]["test" + sfx] for m, sfx in cols.values()])
    w, iters = fit_weights(val)
    v, mixed_test = bpc_stats(mix_log2p(val, w)), mix_log2p(test, w)
    t = bpc_stats(mixed_test)
    passage = np.stack([comps[m]["passage"].astype(np.float64) for m, _ in cols.values()])
    table = mix_log2p(passage.reshape(len(cols), -1), w).reshape(passage.shape[1:])
    metrics = {
        "corpus": corpus, "model": paths.MIX, "val_bpc": v["bpc"], "val_ppl": v["ppl"],
        "test_bpc": t["bpc"], "test_ppl": t["ppl"], "test_chars": t["chars"],
        "params": int(sum(comps[m]["params"] for m in models)) + len(cols),   # + the weights
        "train_chars": int(sum(comps[m]["train_chars"] for m in models)),
        "weights": {c: float(x) for c, x in zip(cols, w)}, "em_iterations": iters,
    }
    return metrics, table, mixed_test[:len(table)]
