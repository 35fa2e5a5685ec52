"""Dynamic evaluation's speed: PyTorch's own backward against charlm.evaluate.bptt's layers.

For each trained model of the default run (the GRU and RNNs have both paths; the LSTM only
its module, oneDNN), it scores the first `--chars` val chars dynamically (one process, one
thread, the settings of params.yaml), the paths in turn, best of `--rounds`, and checks
that both give the same bits. Writes benchmarks/results/dynamic_speed.md and .json.

    python benchmarks/speed/bench_dynamic.py

It takes the heavy-job lock: the speeds are wall-clock.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # benchmarks/: common
import common  # noqa: E402
from common import ROOT  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from charlm.evaluate import bptt  # noqa: E402
from charlm.core import paths  # noqa: E402
from charlm.evaluate.dynamic import dynamic_log2prob, grad_rms  # noqa: E402
from charlm.neural.models import load_trained  # noqa: E402
from charlm.params import load_params  # noqa: E402
from charlm.core.splits import load_split  # noqa: E402

RUNS = ["tinyshakespeare/gru", "tinyshakespeare/rnn3", "tinyshakespeare/rnn",
        "tinyshakespeare/lstm"]
SUPPORTED = bptt.supported


def timed(net, ids, rms, dp, fast: bool) -> tuple[float, np.ndarray]:
    bptt.supported = SUPPORTED if fast else (lambda net: False)
    try:
        t0 = time.perf_counter()
        lp = dynamic_log2prob(net, ids, rms, dp.lr, dp.decay, dp.segment)
        return len(ids) / (time.perf_counter() - t0), lp
    finally:
        bptt.supported = SUPPORTED


def main() -> None:
    ap = common.parser(__doc__)
    ap.add_argument("--chars", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=str(common.RESULTS / "dynamic_speed"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    dp = load_params(ROOT / "params.yaml").evaluate.dynamic
    rows = {}
    with common.heavy_lock():
        for run in RUNS:
            corpus, model = run.split("/")
            net, _, _ = load_trained(ROOT / paths.model_dir(corpus, model))
            prep = ROOT / paths.prepared(corpus)
            ids = load_split(prep, "val")[:args.chars]
            rms = grad_rms(net, load_split(prep, "train"))
            paths_ = [False, True] if bptt.supported(net) else [False]
            res = common.interleaved({p: (lambda p=p: timed(net, ids, rms, dp, p)) for p in paths_},
                                     args.rounds)
            best = {p: max(speed for speed, _ in r) for p, r in res.items()}
            lps = {p: r[-1][1] for p, r in res.items()}
            diff = float(np.abs(lps[True] - lps[False]).max()) if True in lps else 0.0
            rows[run] = {"module": best[False], "bptt": best.get(True), "max_abs_diff_bits": diff}
            print(run, rows[run], flush=True)
    cmd = common.command(__file__)
    lines = ["# Dynamic evaluation: chars/s, PyTorch's backward against charlm.evaluate.bptt\n",
             common.provenance(cmd) + f": the first {args.chars:,} val "
             f"chars, one process, one thread, lr {dp.lr:g}, decay {dp.decay:g}, segment "
             f"{dp.segment}; the paths in turn, best of {args.rounds}.\n",
             "| run | module (PyTorch's backward) | bptt layers | speed-up | max difference (bits/char) |",
             "|---|---:|---:|---:|---:|"]
    for run, r in rows.items():
        fast = f"{r['bptt']:,.0f}" if r["bptt"] else "- (oneDNN's fused LSTM)"
        ratio = f"{r['bptt'] / r['module']:.2f}x" if r["bptt"] else "-"
        lines.append(f"| {run} | {r['module']:,.0f} | {fast} | {ratio} | {r['max_abs_diff_bits']:.1e} |")
    common.write_results(args.out, {"command": cmd, "rows": rows}, "\n".join(lines) + "\n",
                         indent=1)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
