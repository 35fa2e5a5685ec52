"""Dynamic evaluation of a trained model against its static score, everything chosen on val.

For one trained model (default: the default run's tinyshakespeare LSTM) it scores val for
each (lr, decay, segment) of a small grid with charlm.evaluate.dynamic, picks the best on val,
then scores test once with it, next to the static (exact, stateful) val and test bpc.
Writes benchmarks/results/dynamic_eval.md and .json (each figure with the command).

    python benchmarks/choices/dynamic_eval.py
    python benchmarks/choices/dynamic_eval.py --corpus latex --model lstm --threads 2

It takes the heavy-job lock: the speeds are wall-clock.
"""

from __future__ import annotations

import itertools
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # benchmarks/: common
import common  # noqa: E402
from common import ROOT  # noqa: E402

import torch  # noqa: E402

from charlm.core import paths  # noqa: E402
from charlm.evaluate.dynamic import dynamic_log2prob, grad_rms  # noqa: E402
from charlm.neural.models import load_trained, log2prob_sequence  # noqa: E402
from charlm.core.splits import load_split  # noqa: E402
from charlm.core.scoring import bpc  # noqa: E402


def timed(fn, ids) -> tuple[float, float]:
    """(bpc, chars/s) of one scoring pass."""
    t0 = time.perf_counter()
    b = bpc(fn(ids))
    return b, len(ids) / (time.perf_counter() - t0)


def main() -> None:
    ap = common.parser(__doc__)
    ap.add_argument("--corpus", default="tinyshakespeare")
    ap.add_argument("--model", default="lstm")
    ap.add_argument("--lrs", default="3e-5,1e-4,2e-4")
    ap.add_argument("--decays", default="0,0.001")
    ap.add_argument("--segments", default="20,50")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(common.RESULTS / "dynamic_eval"))
    args = ap.parse_args()
    with common.heavy_lock():
        result = measure(args)
    write(Path(args.out), result)


def measure(args) -> dict:
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net, _, _ = load_trained(ROOT / paths.model_dir(args.corpus, args.model))
    prep = ROOT / paths.prepared(args.corpus)
    val, test = load_split(prep, "val"), load_split(prep, "test")
    rms = grad_rms(net, load_split(prep, "train"))
    static = {s: timed(lambda ids: log2prob_sequence(net, ids), ids)
              for s, ids in (("val", val), ("test", test))}
    grid = []
    for lr, decay, seg in itertools.product(*(map(float, a.split(",")) for a in
                                              (args.lrs, args.decays, args.segments))):
        b, speed = timed(lambda ids: dynamic_log2prob(net, ids, rms, lr, decay, int(seg)), val)
        grid.append({"lr": lr, "decay": decay, "segment": int(seg), "val_bpc": b,
                     "chars_per_s": speed})
        print(f"lr {lr:g} decay {decay:g} segment {int(seg)}: val {b:.4f} ({speed:,.0f} chars/s)",
              flush=True)
    best = min(grid, key=lambda g: g["val_bpc"])
    test_b, test_speed = timed(lambda ids: dynamic_log2prob(
        net, ids, rms, best["lr"], best["decay"], best["segment"]), test)
    return {"corpus": args.corpus, "model": args.model, "command": common.command(__file__),
            "static": {s: {"bpc": b, "chars_per_s": v} for s, (b, v) in static.items()},
            "grid": grid, "chosen_on_val": best,
            "dynamic_test": {"bpc": test_b, "chars_per_s": test_speed}}


def write(out: Path, r: dict) -> None:
    st, best, dt = r["static"], r["chosen_on_val"], r["dynamic_test"]
    lines = [f"# Dynamic evaluation: {r['corpus']}/{r['model']}", "",
             common.provenance(r["command"]) + "; every choice on val, test read once.", "",
             "| scoring | val bpc | test bpc | chars/s (test) |", "|---|---:|---:|---:|",
             f"| static (exact, stateful) | {st['val']['bpc']:.4f} | {st['test']['bpc']:.4f} | "
             f"{st['test']['chars_per_s']:,.0f} |",
             f"| dynamic (lr {best['lr']:g}, decay {best['decay']:g}, segment {best['segment']}) | "
             f"{best['val_bpc']:.4f} | {dt['bpc']:.4f} | {dt['chars_per_s']:,.0f} |", "",
             f"Gain on test: {st['test']['bpc'] - dt['bpc']:.4f} bpc. The val grid:", "",
             "| lr | decay | segment | val bpc | chars/s |", "|---:|---:|---:|---:|---:|"]
    lines += [f"| {g['lr']:g} | {g['decay']:g} | {g['segment']} | {g['val_bpc']:.4f} | "
              f"{g['chars_per_s']:,.0f} |" for g in r["grid"]]
    common.write_results(out, r, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
