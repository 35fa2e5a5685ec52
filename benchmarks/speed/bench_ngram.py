"""Benchmark the n-gram models on tiny-shakespeare's train split against the lecture's code.

Run from the repository root (it takes the heavy-job lock):
    python benchmarks/speed/bench_ngram.py
Writes benchmarks/results/ngram.json and ngram.md. Timings are the best of R runs
(wall clock, one process); nothing here is asserted. The lecture's code is the test
oracle in tests/oracles/lecture_ngram.py.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # benchmarks/: common
import common  # noqa: E402
from common import ROOT, best_of  # noqa: E402

import numpy as np  # noqa: E402

from charlm.ngram import NgramCounts, NgramModel, fit_model  # noqa: E402
from charlm.ngram.select import select_order  # noqa: E402
from charlm.params import NgramParams  # noqa: E402
from charlm.core.splits import load_split  # noqa: E402
from charlm.core.scoring import bpc  # noqa: E402
from charlm.core.vocab import Vocab  # noqa: E402

train_char_lm_text = common.oracle("lecture_ngram").train_char_lm_text   # the tests' oracle


def main() -> None:
    ap = common.parser(__doc__)
    ap.add_argument("--corpus", default="tinyshakespeare")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=str(common.RESULTS / "ngram"))
    args = ap.parse_args()
    with common.heavy_lock():
        res = measure(args)
    write(res, args)


def measure(args) -> dict:
    R = args.repeats
    src = ROOT / "data" / "prepared" / args.corpus
    vocab = Vocab.load(src / "vocab.json")
    train, val, test = (load_split(src, s) for s in ("train", "val", "test"))
    text = vocab.decode(train)
    n = len(train)
    res: dict = {"machine": {"cpu": common.cpu_name(), "cores": os.cpu_count(),
                             "python": platform.python_version(), "numpy": np.__version__,
                             "platform": platform.platform()},
                 "corpus": args.corpus, "train_chars": n, "repeats": R}

    # 1. order-10 mle fit: the lecture's dict of Counters (from the text) vs ours, from the
    #    prepared ids (what the stage and the CLI fit from) and from the text (vocab + encode)
    lec_best, lec_med, _ = best_of(lambda: train_char_lm_text(text, 10), R)

    def ours_from_text():
        v = Vocab.build(text)
        return fit_model(v.encode(text)[0], v, 10, "mle")
    our_best, our_med, _ = best_of(lambda: fit_model(train, vocab, 10, "mle"), R)
    txt_best, txt_med, _ = best_of(ours_from_text, R)
    res["mle_order10_fit"] = {
        "lecture_seconds": lec_best, "lecture_median_seconds": lec_med,
        "lecture_chars_per_second": n / lec_best,
        "ours_seconds": our_best, "ours_median_seconds": our_med,
        "ours_chars_per_second": n / our_best, "speedup": lec_best / our_best,
        "ours_from_text_seconds": txt_best, "ours_from_text_median_seconds": txt_med,
        "speedup_from_text": lec_best / txt_best,
        "target_speedup": 30}

    # 2. kneser_ney for all orders 1..10: count once, derive the 10 models
    def kn_all():
        c = NgramCounts.fit(train, vocab.size, 10)
        return c, [NgramModel(c, o, "kneser_ney", vocab) for o in range(1, 11)]
    kn_best, kn_med, (counts, models) = best_of(kn_all, R)
    cnt_best, _, _ = best_of(lambda: NgramCounts.fit(train, vocab.size, 10), R)
    res["kneser_ney_fit_orders_1_10"] = {"seconds": kn_best, "median_seconds": kn_med,
                                         "counting_seconds": cnt_best,
                                         "n_grams": counts.n_grams(),
                                         "target_seconds": 1.0}

    # 3. the stage's kneser_ney: count, lookup tables, discounts tuned on val at every
    #    order 1..10, val and test scored at every order, the order chosen on val
    def kn_tuned():
        c = NgramCounts.fit(train, vocab.size, 10)
        ranks = {split: c.stream_ranks(np.concatenate([np.full(10, c.pad), ids]), 11)
                 for split, ids in (("val", val), ("test", test))}
        return select_order(c, ranks, vocab, "kneser_ney", NgramParams(discounts="val"),
                            [{"order": o} for o in range(1, 11)])
    tu_best, tu_med, (tuned, tuned_model) = best_of(kn_tuned, R)
    res["kneser_ney_tuned_fit_orders_1_10"] = {
        "seconds": tu_best, "median_seconds": tu_med, "target_seconds": 2.0,
        "order_chosen_on_val": tuned["order"], "val_bpc": tuned["val_bpc"],
        "test_bpc": tuned["test_bpc"], "target_test_bpc": 2.25,
        "val_bpc_per_order": [o["val_bpc"] for o in tuned["orders"].values()],
        "discounts": tuned["discounts"]}

    # 4. scoring: lookup tables are built once, lazily, at the first scoring (timed apart)
    t0 = time.perf_counter()
    for k in range(1, 12):
        counts.index(k)
    index_s = time.perf_counter() - t0
    val_bpc = [bpc(m.log2prob_sequence(val)) for m in models]
    chosen = models[int(np.argmin(val_bpc))]
    sc: dict = {"index_build_seconds_all_levels": index_s}
    for label, m in (("chosen", chosen), ("tuned", tuned_model), ("order10", models[-1])):
        for split, ids in (("test", test), ("train", train)):
            b, med, lp = best_of(lambda: m.log2prob_sequence(ids), R)
            sc[f"{label}_order{m.order}_{split}"] = {
                "chars": len(ids), "seconds": b, "median_seconds": med,
                "chars_per_second": len(ids) / b, "bpc": bpc(lp)}
    sc["target_chars_per_second"] = 1e6
    res["scoring"] = sc
    res["kneser_ney_quality"] = {"order_chosen_on_val": chosen.order,
                                 "val_bpc": val_bpc[chosen.order - 1],
                                 "test_bpc": bpc(chosen.log2prob_sequence(test)),
                                 "val_bpc_per_order": val_bpc,
                                 "target_test_bpc": 2.30}
    mle = res["mle_order10_fit"]
    kn = res["kneser_ney_fit_orders_1_10"]
    tu = res["kneser_ney_tuned_fit_orders_1_10"]
    worst_scoring = min(v["chars_per_second"] for k, v in sc.items() if isinstance(v, dict))
    res["targets_met"] = {"mle_speedup_30x": mle["speedup"] >= 30,
                          "kneser_ney_all_orders_under_1s": kn["seconds"] < 1.0,
                          "scoring_over_1M_chars_per_s": worst_scoring > 1e6,
                          "kneser_ney_test_bpc_under_2.30":
                              res["kneser_ney_quality"]["test_bpc"] < 2.30,
                          "tuned_all_orders_under_2s": tu["seconds"] < 2.0,
                          "tuned_test_bpc_under_2.25": tu["test_bpc"] < 2.25}
    return res


def write(res: dict, args) -> None:
    R, n = res["repeats"], res["train_chars"]
    mle, kn = res["mle_order10_fit"], res["kneser_ney_fit_orders_1_10"]
    tu, sc = res["kneser_ney_tuned_fit_orders_1_10"], res["scoring"]
    index_s = sc["index_build_seconds_all_levels"]
    q = res["kneser_ney_quality"]
    cmd = common.command(__file__)
    res["command"] = cmd
    md = [common.provenance(cmd) + ".", "", f"# n-gram benchmark ({args.corpus}, train {n:,} chars)", "",
          f"Machine: {res['machine']['cpu']}, {res['machine']['cores']} cores, "
          f"Python {res['machine']['python']}, numpy {res['machine']['numpy']}. "
          f"Best of {R} runs each.", "",
          "| measure | result | target |", "| --- | --- | --- |",
          f"| order-10 mle fit, lecture's dict of Counters | {mle['lecture_seconds']:.2f} s "
          f"({mle['lecture_chars_per_second'] / 1e6:.2f} M chars/s) | |",
          f"| order-10 mle fit, ours, from the prepared ids | {mle['ours_seconds']:.3f} s "
          f"({mle['ours_chars_per_second'] / 1e6:.1f} M chars/s), **{mle['speedup']:.0f}x** | >= 30x |",
          f"| order-10 mle fit, ours, from the text (vocab + encode + fit) | "
          f"{mle['ours_from_text_seconds']:.3f} s, {mle['speedup_from_text']:.0f}x | |",
          f"| kneser_ney, all orders 1..10 (count + 10 models) | **{kn['seconds']:.3f} s** "
          f"(counting {kn['counting_seconds']:.3f} s) | < 1 s |",
          f"| kneser_ney, discounts tuned on val, all orders 1..10 (count + lookup tables + "
          f"tune + score val and test, order chosen on val) | **{tu['seconds']:.3f} s** | < 2 s |",
          f"| scoring lookup tables, all 11 levels (once, lazily) | {index_s:.3f} s | |"]
    for k, v in sc.items():
        if isinstance(v, dict):
            md.append(f"| scoring {k} ({v['chars']:,} chars) | **{v['chars_per_second'] / 1e6:.2f} M "
                      f"chars/s** (bpc {v['bpc']:.4f}) | > 1 M chars/s |")
    md.append(f"| kneser_ney order chosen on val | order {q['order_chosen_on_val']}: val "
              f"{q['val_bpc']:.4f}, **test {q['test_bpc']:.4f} bpc** | < 2.30 |")
    md.append(f"| kneser_ney, discounts tuned on val, order chosen on val | order "
              f"{tu['order_chosen_on_val']}: val {tu['val_bpc']:.4f}, **test "
              f"{tu['test_bpc']:.4f} bpc** | < 2.25 |")
    md += ["", "Order = history length (the lecture's); our order 6 is KenLM's order 7. The "
           "tuned discounts (charlm/ngram/tune.py) are the stage's default (`ngram.discounts: "
           "val`); the estimated ones are Chen & Goodman's count-of-counts formula.", ""]
    common.write_results(args.out, res, "\n".join(md), ensure_ascii=False)
    print("\n".join(md))


if __name__ == "__main__":
    main()
