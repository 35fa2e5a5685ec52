"""The `ngram` stage's work: count once, score every smoothing x order (x k) on val and
test, pick each smoothing's order (and k) on val only; the per-order table for the plot.
With ``discounts: val`` the kneser_ney discounts of every order are tuned on val
(`charlm.ngram.tune`) before its order is chosen; the estimates' scores are kept beside."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..core.fsutil import write_text
from ..core.scoring import bpc, perplexity
from ..core.vocab import Vocab
from .counts import NgramCounts
from .model import NgramModel
from .smoothing import derive_level
from .tune import DiscountTuner

SPLITS = ("val", "test")
LECTURE_HISTORY = "ello"     # the lecture's lm['ello']
LECTURE_MIN_COUNT = 20       # seen fewer times in train: the most frequent history instead
LECTURE_TOP = 8              # continuations kept


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def fit_and_select(train: np.ndarray, val: np.ndarray, test: np.ndarray, vocab: Vocab,
                   cfg, log=print) -> tuple[NgramModel, dict, list[dict], dict[str, str]]:
    """`count` the train split, then `select` (one call: the caller's `train` stays
    alive throughout; the stage drops it between the two)."""
    counts, t_count = count(train, vocab, cfg, log)
    return select(counts, t_count, val, test, vocab, cfg, log)


def count(train: np.ndarray, vocab: Vocab, cfg, log=print) -> tuple[NgramCounts, float]:
    """Orders 1..cfg.max_order of `train` counted once (within cfg.memory_mb), and seconds."""
    N = cfg.max_order
    counts, t_count = timed(NgramCounts.fit, train, vocab.size, N, cfg.memory_mb)
    log(f"counted orders 1..{N} of {len(train):,} chars in {t_count:.2f} s "
        f"({counts.n_grams():,} n-grams)")
    return counts, t_count


def select(counts: NgramCounts, t_count: float, val: np.ndarray, test: np.ndarray,
           vocab: Vocab, cfg, log=print) -> tuple[NgramModel, dict, list[dict], dict[str, str]]:
    """Score every smoothing x order (x k) of `counts` on val and test, pick each
    smoothing's order (and k) on val. The smoothings run one at a time, the chosen one
    last: only its model is kept (the others' are dropped once scored).

    Returns (the chosen smoothing's model at its best order, the fit record, per-order rows
    for the plot, {sample name: text}).
    """
    N = cfg.max_order
    ranks = {}
    for name, ids in (("val", val), ("test", test)):
        stream = np.concatenate([np.full(N, counts.pad, dtype=np.int64), ids.astype(np.int64)])
        ranks[name] = counts.stream_ranks(stream, N + 1)
    record: dict = {"train_chars": counts.n_chars, "val_chars": len(val), "test_chars": len(test),
                    "vocab_size": vocab.size, "max_order": N,
                    "n_grams_per_level": counts.sizes[1:], "count_seconds": t_count,
                    "smoothings": dict.fromkeys(cfg.smoothings)}
    record["mle"] = mle_zero_fractions(counts, ranks, vocab)
    record["lecture_query"] = lecture_query(counts, vocab)
    samples = {f"mle_order{o}": NgramModel(counts, o, "mle", vocab).sample(cfg.sample_length,
                                                                           cfg.seed)
               for o in cfg.sample_orders}
    rows = [{"order": o} for o in range(1, N + 1)]
    for s in sorted(cfg.smoothings, key=lambda s: s == cfg.chosen):    # the chosen one last
        summary, model = select_order(counts, ranks, vocab, s, cfg, rows)
        counts.forget(s)
        record["smoothings"][s] = summary
        log(f"{s}: order {summary['order']} on val: val {summary['val_bpc']:.4f} / "
            f"test {summary['test_bpc']:.4f} bpc")
        if s == cfg.chosen:
            chosen = model
        del model                                   # another smoothing's: dropped at once
    c = record["smoothings"][cfg.chosen]
    record = {"smoothing": cfg.chosen, "order": c["order"],
              "val_bpc": c["val_bpc"], "test_bpc": c["test_bpc"],
              "val_ppl": c["val_ppl"], "test_ppl": c["test_ppl"],
              "n_grams": chosen.counts.n_grams(), "model_bytes": chosen.counts.nbytes(),
              "fit_seconds": t_count + c["fit_seconds_all_orders"], **record}
    samples[f"{cfg.chosen}_order{chosen.order}"] = chosen.sample(cfg.sample_length, cfg.seed)
    return chosen, record, rows, samples


def select_order(counts: NgramCounts, ranks: dict, vocab: Vocab, s: str, cfg,
                 rows: list[dict]) -> tuple[dict, NgramModel]:
    """Smoothing `s` at every order 1..cfg.max_order (and every k of add_k): the best k per
    order and the best order, both on val; test is only reported. kneser_ney with
    ``discounts: val``: each order's discounts tuned on val, its estimated-discount scores
    kept beside, and only the chosen order's tuned model built and scored on test. Adds
    each order's val bpc to `rows`. Returns (the smoothing's summary, its chosen model)."""
    N = cfg.max_order
    tuner = DiscountTuner(counts, ranks["val"], N) \
        if s == "kneser_ney" and cfg.discounts == "val" else None
    per_order: dict = {}
    fit_s = 0.0
    best, lower = None, {}
    for o, cands, t in _orders(counts, ranks, vocab, s, cfg):
        fit_s += t
        vb, k, discounts, b = min(cands, key=lambda c: c[0])
        entry = {"val_bpc": b["val"], "test_bpc": b["test"],
                 "n_grams": counts.n_grams(o), "bytes": counts.nbytes(o)}
        if tuner:      # val bpc from the tuner (the model's own, tested)
            (discounts, vb), t = timed(tune_order, tuner, discounts, lower)
            fit_s += t
            lower = {lv: d for lv, d in discounts.items() if lv <= o}
            entry = {"val_bpc": vb, "estimated_discounts": {"val_bpc": b["val"],
                                                            "test_bpc": b["test"]},
                     "n_grams": entry["n_grams"], "bytes": entry["bytes"]}
        if s == "add_k":
            entry["k"] = k
            entry["val_bpc_per_k"] = {str(c[1]): c[0] for c in cands}
        per_order[str(o)] = entry
        rows[o - 1][s] = vb
        if best is None or vb < best[0]:
            best = (vb, o, k, discounts if tuner else None, b)
    vb, o, k, given, b = best
    tuned, tuner = tuner is not None, None      # its val tables freed before the model is built
    m, t = timed(NgramModel, counts, o, s, vocab, 1.0 if k is None else k, given_discounts=given)
    fit_s += t
    if tuned:
        b = {split: bpc(np.log2(m.probs_from_ranks(ranks[split], N))) for split in SPLITS}
        per_order[str(o)]["test_bpc"] = b["test"]
    summary = {"order": o, "val_bpc": b["val"], "test_bpc": b["test"],
               "val_ppl": perplexity(b["val"]), "test_ppl": perplexity(b["test"]),
               **({"k": m.add_k} if s == "add_k" else {}),
               **({"discounts": m.discounts,
                   "discounts_from": cfg.discounts} if s == "kneser_ney" else {}),
               "fit_seconds_all_orders": fit_s, "orders": per_order}
    return summary, m


def _orders(counts: NgramCounts, ranks: dict, vocab: Vocab, s: str, cfg):
    """Per order 1..cfg.max_order: (order, candidates [(val bpc, k, estimated discounts
    {level: (D1, D2, D3+)} or None, {split: bpc})], seconds). An interpolated smoothing
    (kneser_ney, witten_bell) scores its orders along one chain of levels: order o is its
    top level applied to the chain of the levels below it, which order o + 1 extends by
    one level, each level derived once and dropped, applied as `NgramModel.probs_from_ranks`
    applies it (the same numbers). add_k and mle have one level per order (and k)."""
    N = cfg.max_order
    if s not in ("kneser_ney", "witten_bell"):
        for o in range(1, N + 1):
            cands, seconds = [], 0.0
            for k in (list(cfg.add_k) if s == "add_k" else [None]):
                m, t = timed(NgramModel, counts, o, s, vocab, 1.0 if k is None else k)
                seconds += t
                b = {sp: bpc(np.log2(m.probs_from_ranks(ranks[sp], N))) for sp in SPLITS}
                cands.append((b["val"], k, None, b))
            yield o, cands, seconds
        return
    kn = s == "kneser_ney"
    t0 = time.perf_counter()
    chain = {sp: np.full(len(G[0]) - N, 1.0 / counts.vocab_size) for sp, G in ranks.items()}
    if not kn:                                   # witten_bell: every level raw, level 1 first
        chain = _applied(derive_level(counts, s, 1, True, None)[0], ranks, 1, N, chain)
    infos = []                                   # kneser_ney: the chain's continuation levels
    for o in range(1, N + 1):
        if kn:
            below, info = derive_level(counts, s, o, False, None)
            chain = _applied(below, ranks, o, N, chain)
            infos.append(info)
            del below
        top, top_info = derive_level(counts, s, o + 1, True, None)
        p = _applied(top, ranks, o + 1, N, chain)
        del top
        est = {i["level"]: (i["D1"], i["D2"], i["D3+"]) for i in [*infos, top_info]} if kn else None
        chain = chain if kn else p
        b = {sp: bpc(np.log2(p[sp])) for sp in SPLITS}
        del p                                    # not held while the caller tunes this order
        yield o, [(b["val"], None, est, b)], time.perf_counter() - t0
        t0 = time.perf_counter()


def _applied(lv, ranks: dict, k: int, n_pad: int, p: dict) -> dict:
    """Each split's probabilities after level k: w(k-gram) + lam(history) * p."""
    out = {}
    for sp, G in ranks.items():
        m = len(G[0]) - n_pad
        e = G[k][n_pad:]
        h = G[k - 1][n_pad - 1:-1] if m else e
        out[sp] = lv.w[e] + lv.lam[h] * p[sp]
    return out


def tune_order(tuner: DiscountTuner, est: dict, lower: dict) -> tuple[dict, float]:
    """The kneser_ney discounts of one order tuned on the tuner's val, starting from its
    estimates `est` {level: (D1, D2, D3+)}, or for the levels below its top from the next
    lower order's tuned values (`lower`). Returns (the discounts, val bpc under them)."""
    start = {**est, **lower}
    return tuner.tune(max(est) - 1, start)


def mle_zero_fractions(counts: NgramCounts, ranks: dict, vocab: Vocab) -> dict:
    """The lecture's unsmoothed model at every order: how often it gives probability 0 on
    each split (it cannot be scored)."""
    N = counts.max_order
    mle = {}
    for o in range(1, N + 1):
        m = NgramModel(counts, o, "mle", vocab)
        mle[str(o)] = {f"{split}_zero_prob_fraction":
                       float(np.mean(m.probs_from_ranks(ranks[split], N) == 0))
                       for split in SPLITS}
    return mle


def lecture_query(counts: NgramCounts, vocab: Vocab) -> dict:
    """The lecture's ``lm['ello']`` on this corpus: the unsmoothed order-4 model's most
    likely continuations of LECTURE_HISTORY, or of the train split's most frequent 4-char
    history where that one is rare (LaTeX has no 'ello'; ties: the first in id order). A
    model counted below order 4 is asked with the history's last max_order chars. Read
    from the count tables (the train text is not scanned again)."""
    order = min(len(LECTURE_HISTORY), counts.max_order)
    grams, n = text_grams(counts, order)
    history, why = LECTURE_HISTORY[-order:], "the lecture's"
    wanted, unknown = vocab.encode(history)
    seen = 0 if unknown else int(n[(grams == wanted.astype(np.int64)).all(axis=1)].sum())
    if seen < LECTURE_MIN_COUNT:
        tied = np.flatnonzero(n == n.max())
        first = tied[np.lexsort(grams[tied].T[::-1])[0]]
        history, why, seen = vocab.decode(grams[first]), "the most frequent", int(n[first])
    table = NgramModel(counts, order, "mle", vocab).query(history, literal=True)
    return {"history": history, "chosen": why, "order": order, "train_count": seen,
            "top": [[c, p] for c, p in table[:LECTURE_TOP]], "continuations": len(table)}


def text_grams(counts: NgramCounts, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k-grams of the text itself (no pad in them), as (their symbols, first symbol
    first: (g, k)), and how often each occurs in it: a level's keys decoded through the
    prefix ranks of the levels below."""
    sizes = counts.sizes
    sym = np.empty((sizes[k], k), dtype=np.int64)
    r = np.arange(sizes[k])
    for j in range(k, 0, -1):            # level j's key: last symbol * n[j-1] + prefix rank
        key = counts.keys[j - 1][r]
        sym[:, j - 1], r = key // sizes[j - 1], key % sizes[j - 1]
    n = counts.counts[k - 1]
    keep = (n > 0) & (sym != counts.pad).all(axis=1)
    return sym[keep], n[keep].astype(np.int64)


def pop_timings(record: dict) -> dict:
    """Take the seconds out of a fit record (they vary run to run; the record must not)."""
    out = {k: record.pop(k) for k in ("count_seconds", "fit_seconds") if k in record}
    for s, summary in record.get("smoothings", {}).items():
        out[f"{s}_fit_seconds_all_orders"] = summary.pop("fit_seconds_all_orders", None)
    return out


def write_orders_tsv(path: str | Path, rows: list[dict], smoothings: list[str]) -> None:
    """Val bpc per order (one column per smoothing), for `dvc plots`."""
    lines = ["\t".join(["order", *smoothings])]
    for r in rows:
        lines.append("\t".join([str(r["order"])] + [f"{r[s]:.6f}" for s in smoothings]))
    write_text(path, "\n".join(lines) + "\n")
