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
    """Count orders 1..cfg.max_order once, score every smoothing x order (x k) on val and
    test, pick each smoothing's order (and k) on val.

    Returns (the chosen smoothing's model at its best order, the fit record, per-order rows
    for the plot, {sample name: text}).
    """
    N = cfg.max_order
    counts, t_count = timed(NgramCounts.fit, train, vocab.size, N, cfg.memory_mb)
    log(f"counted orders 1..{N} of {len(train):,} chars in {t_count:.2f} s "
        f"({counts.n_grams():,} n-grams)")
    ranks = {}
    for name, ids in (("val", val), ("test", test)):
        stream = np.concatenate([np.full(N, counts.pad, dtype=np.int64), ids.astype(np.int64)])
        ranks[name] = counts.stream_ranks(stream, N + 1)
    record: dict = {"train_chars": len(train), "val_chars": len(val), "test_chars": len(test),
                    "vocab_size": vocab.size, "max_order": N,
                    "n_grams_per_level": counts.sizes[1:], "count_seconds": t_count,
                    "smoothings": {}}
    rows = [{"order": o} for o in range(1, N + 1)]
    best_models: dict[str, NgramModel] = {}
    for s in cfg.smoothings:
        summary, best_models[s] = select_order(counts, ranks, vocab, s, cfg, rows)
        counts.forget(s)
        record["smoothings"][s] = summary
        log(f"{s}: order {summary['order']} on val: val {summary['val_bpc']:.4f} / "
            f"test {summary['test_bpc']:.4f} bpc")
    record["mle"] = mle_zero_fractions(counts, ranks, vocab)
    record["lecture_query"] = lecture_query(counts, vocab)
    chosen = best_models[cfg.chosen]
    c = record["smoothings"][cfg.chosen]
    record = {"smoothing": cfg.chosen, "order": c["order"],
              "val_bpc": c["val_bpc"], "test_bpc": c["test_bpc"],
              "val_ppl": c["val_ppl"], "test_ppl": c["test_ppl"],
              "n_grams": chosen.counts.n_grams(), "model_bytes": chosen.counts.nbytes(),
              "fit_seconds": t_count + c["fit_seconds_all_orders"], **record}
    samples = {}
    for o in cfg.sample_orders:
        samples[f"mle_order{o}"] = NgramModel(counts, o, "mle", vocab).sample(
            cfg.sample_length, cfg.seed)
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
    ks = list(cfg.add_k) if s == "add_k" else [None]
    tuner = DiscountTuner(counts, ranks["val"], N) \
        if s == "kneser_ney" and cfg.discounts == "val" else None
    per_order: dict = {}
    fit_s = 0.0
    best, lower = None, {}
    for o in range(1, N + 1):
        cands = []
        for k in ks:
            m, t = timed(NgramModel, counts, o, s, vocab, 1.0 if k is None else k)
            fit_s += t
            b = {split: bpc(np.log2(m.probs_from_ranks(ranks[split], N))) for split in SPLITS}
            cands.append((b["val"], k, m, b))
        vb, k, m, b = min(cands, key=lambda c: c[0])
        entry = {"val_bpc": b["val"], "test_bpc": b["test"],
                 "n_grams": counts.n_grams(o), "bytes": counts.nbytes(o)}
        if tuner:      # val bpc from the tuner (the model's own, tested); m: the discounts
            (m, vb), t = timed(tune_order, tuner, m, lower)
            fit_s += t
            lower = {lv: d for lv, d in m.items() if lv <= o}
            entry = {"val_bpc": vb, "estimated_discounts": {"val_bpc": b["val"],
                                                            "test_bpc": b["test"]},
                     "n_grams": entry["n_grams"], "bytes": entry["bytes"]}
        if s == "add_k":
            entry["k"] = k
            entry["val_bpc_per_k"] = {str(c[1]): c[0] for c in cands}
        per_order[str(o)] = entry
        rows[o - 1][s] = vb
        if best is None or vb < best[0]:
            best = (vb, o, m, b)
    vb, o, m, b = best
    if tuner:
        m, t = timed(NgramModel, counts, o, s, vocab, given_discounts=m)
        fit_s += t
        b = {split: bpc(np.log2(m.probs_from_ranks(ranks[split], N))) for split in SPLITS}
        per_order[str(o)]["test_bpc"] = b["test"]
    summary = {"order": o, "val_bpc": b["val"], "test_bpc": b["test"],
               "val_ppl": perplexity(b["val"]), "test_ppl": perplexity(b["test"]),
               **({"k": m.add_k} if s == "add_k" else {}),
               **({"discounts": m.discounts,
                   "discounts_from": cfg.discounts} if s == "kneser_ney" else {}),
               "fit_seconds_all_orders": fit_s, "orders": per_order}
    return summary, m


def tune_order(tuner: DiscountTuner, est: NgramModel, lower: dict) -> tuple[dict, float]:
    """Discounts of the kneser_ney model `est` tuned on the tuner's val, starting from its
    estimates, or for the levels below its top from the next lower order's tuned values
    (`lower`). Returns (the discounts {level: (D1, D2, D3+)}, val bpc under them)."""
    start = {i["level"]: (i["D1"], i["D2"], i["D3+"]) for i in est.discounts}
    start.update(lower)
    return tuner.tune(est.order, start)


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
