"""Dynamic evaluation's segment length (with its lr and decay), chosen on val, with its speed.

A step of charlm.evaluate.dynamic costs a fixed overhead per segment (oneDNN's LSTM call, the
graph, the update of every weight) besides its work per char, so longer segments adapt
faster per char; each step then sees more chars, so lr and decay are tried scaled with it.
For each run the default run adapts (evaluate.dynamic.pairs; a pair that is not trained
is skipped) this scores the first `--chars` val chars for every setting of the grid (one
process, one thread: the speed is wall-clock) and writes
benchmarks/results/dynamic_segment.md and .json. Test is not read.

The rule, fixed before the runs: the fastest setting (mean chars/s over the runs) whose
mean val bpc over the runs is within `--slack` (0.005) of the best setting's.

    python benchmarks/choices/dynamic_segment.py      # takes the heavy-job lock
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # benchmarks/: common
import common  # noqa: E402
from common import ROOT  # noqa: E402

import torch  # noqa: E402

from charlm.core import paths  # noqa: E402
from charlm.evaluate.dynamic import dynamic_log2prob, grad_rms  # noqa: E402
from charlm.neural.models import load_trained  # noqa: E402
from charlm.params import load_params  # noqa: E402
from charlm.core.splits import load_split  # noqa: E402
from charlm.core.scoring import bpc  # noqa: E402

# (segment, lr, decay): the settings before (50, 1e-4, 1e-3), then longer segments with
# the same lr, and lr and decay scaled with the segment (the same step and pull per char)
GRID = [(50, 1e-4, 1e-3),
        (100, 1e-4, 1e-3), (100, 2e-4, 1e-3), (100, 2e-4, 2e-3),
        (200, 2e-4, 2e-3), (200, 4e-4, 2e-3), (200, 4e-4, 4e-3)]


def name(setting: tuple) -> str:
    return "segment {} lr {:g} decay {:g}".format(*setting)


def score(corpus: str, model: str, chars: int) -> dict:
    net, _, _ = load_trained(ROOT / paths.model_dir(corpus, model))
    prep = ROOT / paths.prepared(corpus)
    val = load_split(prep, "val")[:chars]
    rms = grad_rms(net, load_split(prep, "train"))
    row = {}
    for seg, lr, decay in GRID:
        t0 = time.perf_counter()
        b = bpc(dynamic_log2prob(net, val, rms, lr, decay, seg))
        row[name((seg, lr, decay))] = {"val_bpc": b, "chars_per_s": len(val) / (time.perf_counter() - t0)}
    return row


def main() -> None:
    ap = common.parser(__doc__)
    ap.add_argument("--chars", type=int, default=20000)
    ap.add_argument("--slack", type=float, default=0.005)
    ap.add_argument("--out", default=str(common.RESULTS / "dynamic_segment"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    params = load_params(ROOT / "params.yaml")
    rows = {}
    with common.heavy_lock():
        for key in params.evaluate.dynamic.pairs:
            pair = params.run.pairs.get(key)
            if pair is None or not (ROOT / paths.model_dir(pair.corpus, pair.model)).is_dir():
                continue
            rows[key] = score(pair.corpus, pair.model, args.chars)
            print(key, {k: round(v["val_bpc"], 4) for k, v in rows[key].items()}, flush=True)
    cols = [name(s) for s in GRID]
    mean = {c: sum(r[c]["val_bpc"] for r in rows.values()) / len(rows) for c in cols}
    speed = {c: sum(r[c]["chars_per_s"] for r in rows.values()) / len(rows) for c in cols}
    near = [c for c in cols if mean[c] <= min(mean.values()) + args.slack]
    best = max(near, key=speed.get)
    cmd = common.command(__file__)
    lines = ["# Dynamic evaluation: segment length, lr and decay, with their speed\n",
             common.provenance(cmd) + " (one process, one thread). The "
             f"first {args.chars:,} val chars of each run the default run adapts; val bpc "
             "(test not read), chars/s in brackets.\n",
             "| setting | " + " | ".join(rows) + " | mean val bpc | mean chars/s |",
             "|---|" + "---:|" * (len(rows) + 2)]
    lines += [f"| {c} | " + " | ".join(f"{r[c]['val_bpc']:.4f} ({r[c]['chars_per_s']:,.0f})"
                                       for r in rows.values())
              + f" | {mean[c]:.4f} | {speed[c]:,.0f} |" for c in cols]
    lines += ["", f"Within {args.slack:g} bpc of the best mean val bpc: {', '.join(near)}. "
              f"Of those, the fastest: **{best}** (params.yaml, evaluate.dynamic)."]
    common.write_results(args.out, {"command": cmd, "chars": args.chars, "grid": GRID,
                                    "rows": rows, "mean": mean, "speed": speed, "near": near,
                                    "best": best},
                         "\n".join(lines) + "\n", indent=1)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
