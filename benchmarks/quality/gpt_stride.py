"""The transformer's scoring stride: what bpc a stride S costs against stride 1, and its speed.

A transformer sees at most `context` chars, so charlm scores a text with a sliding window
whose start jumps by S (charlm.neural.gpt.window_plan): each char is predicted from at
least `context - S + 1` chars of history (all there is near the start). S = 1 gives every
char its longest history and costs a forward pass of `context` chars per char; larger S
is up to S times cheaper and gives some chars shorter histories.

This trains a transformer on tiny-shakespeare with charlm's trainer (nanoGPT's CPU "baby"
configuration by default: 4 layers, 4 heads, width 128, context 64, batch 12; fp32), then
scores the WHOLE val split at every stride of `--strides` (test is not read), timing each,
and writes benchmarks/results/gpt_stride.md and .json. The rule, fixed before the run: the
default stride (charlm.neural.gpt.default_stride) must be within 0.002 bpc of stride 1.

    python benchmarks/quality/gpt_stride.py          # ~6 min on 2 cores; takes the heavy-job lock
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # benchmarks/: common
import common  # noqa: E402
from common import ROOT  # noqa: E402

from charlm.core import paths  # noqa: E402
from charlm.core.scoring import bpc  # noqa: E402
from charlm.core.splits import load_split  # noqa: E402
from charlm.neural.gpt import default_stride, window_log2prob  # noqa: E402
from charlm.params import ModelSpec, TrainCommon, TrainParams  # noqa: E402
from charlm.train.run import train_model  # noqa: E402

TOLERANCE = 0.002


def train(a, prep: Path, out: Path):
    spec = ModelSpec(arch="transformer", hidden_size=a.width, num_layers=a.layers, heads=a.heads,
                     context=a.context, dropout=a.dropout)
    common_ = TrainCommon(seed=1337, steps=a.steps, batch_size=a.batch_size, seq_len=a.context,
                          lr=a.lr, warmup_steps=a.steps // 20, min_lr=a.lr / 10, weight_decay=0.1,
                          grad_clip=1.0, eval_every=a.steps, checkpoint_every=a.steps,
                          log_every=max(1, a.steps // 10), device="cpu")
    res = train_model(prep, out, TrainParams(models={"gpt": spec}, common=common_), "gpt",
                      corpus="tinyshakespeare", progress="lines")
    return res.model, res.summary


def main() -> None:
    ap = common.parser(__doc__)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--context", type=int, default=64)
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--batch-size", type=int, default=12)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--strides", default="1,4,8,16,32,48,64")
    ap.add_argument("--out", default=str(common.RESULTS / "gpt_stride"))
    a = ap.parse_args()
    cmd = common.command(__file__)
    prep = ROOT / paths.prepared("tinyshakespeare")
    val = load_split(prep, "val")
    strides = [int(s) for s in a.strides.split(",") if 1 <= int(s) <= a.context]
    with common.heavy_lock(), tempfile.TemporaryDirectory() as tmp:
        net, summary = train(a, prep, Path(tmp) / "gpt")
        rows = {}
        for s in strides:
            t0 = time.perf_counter()
            b = bpc(window_log2prob(net, val, "cpu", stride=s))
            rows[s] = {"val_bpc": b, "seconds": round(time.perf_counter() - t0, 2)}
            print(f"stride {s}: val {b:.5f} bpc in {rows[s]['seconds']} s", flush=True)
    base = rows[1]["val_bpc"]
    for r in rows.values():
        r["cost_bpc"] = r["val_bpc"] - base
        r["chars_per_s"] = round(len(val) / max(r["seconds"], 1e-9))
    chosen = default_stride(a.context)
    ok = chosen in rows and rows[chosen]["cost_bpc"] <= TOLERANCE
    model = (f"transformer {a.layers} layers x {a.width}, {a.heads} heads, context {a.context}, "
             f"{summary['params']:,} weights; {a.steps} steps of {a.batch_size} windows, lr {a.lr:g}")
    res = {"command": cmd, "provenance": common.provenance(cmd), "model": model,
           "train_seconds": summary["train_seconds"], "val_chars": int(len(val)),
           "strides": rows, "default_stride": chosen, "tolerance_bpc": TOLERANCE, "passes": ok}
    lines = [f"# The transformer's scoring stride: bpc cost against stride 1", "",
             f"{common.provenance(cmd)}", "", f"Model: {model} (trained {summary['train_seconds']:.0f} s, "
             f"best val {summary['best_val_bpc']:.4f} bpc at the default stride).",
             f"Scored: the whole val split of tiny-shakespeare ({len(val):,} chars), fp32.", "",
             "| stride | min history (chars) | val bpc | cost vs stride 1 | seconds | chars/s |",
             "|---:|---:|---:|---:|---:|---:|"]
    for s, r in rows.items():
        lines.append(f"| {s}{' (default)' if s == chosen else ''} | {a.context - s + 1} | "
                     f"{r['val_bpc']:.5f} | {r['cost_bpc']:+.5f} | {r['seconds']} | {r['chars_per_s']:,} |")
    lines += ["", f"Rule (fixed before the run): the default stride, context / 2 = {chosen}, within "
              f"{TOLERANCE} bpc of stride 1: **{'holds' if ok else 'FAILS'}**."]
    common.write_results(a.out, res, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
