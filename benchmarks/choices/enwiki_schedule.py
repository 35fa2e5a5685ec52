"""The Wikipedia sample's LSTM: its learning-rate schedule for the default run's 300 steps, on val.

The default run's enwiki-sample-lstm pair trains the `lstm` entry (whose schedule was made
for tiny-shakespeare's 2,800 steps: lr 0.005, 25 warm-up steps, cosine to 0.0005) for 300
steps; it stayed on the unigram plateau (val 5.05 bpc; the unigram entropy is 5.17).
This trains the same model and steps with that schedule and with constant learning
rates, and writes the best val bpc of each (whole val split; test not read) to
benchmarks/results/enwiki_schedule.md and .json. (The default run has since replaced that
pair: one layer learns in the same time, enwiki_model.py beside this.)

    python benchmarks/choices/enwiki_schedule.py      # takes the heavy-job lock
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # benchmarks/: common
import common  # noqa: E402
from common import ROOT  # noqa: E402

import torch  # noqa: E402

from charlm.core import paths  # noqa: E402
from charlm.params import load_params  # noqa: E402
from charlm.train.run import train_model  # noqa: E402

GRID = {"the lstm entry's (lr 0.005, warm-up 25, cosine to 0.0005)": {},
        **{f"constant {lr:g}": {"lr": lr, "min_lr": lr, "warmup_steps": 0}
           for lr in (0.001, 0.002, 0.003, 0.005, 0.01)}}


def main() -> None:
    common.parser(__doc__).parse_args()
    torch.set_num_threads(2)
    p = load_params(ROOT / "params.yaml")
    pair = {"steps": 300, "eval_every": 75}    # the pair then (now: enwiki_model.py)
    rows = {}
    with common.heavy_lock():
        for name, override in GRID.items():
            with tempfile.TemporaryDirectory() as out:
                t0 = time.time()
                r = train_model(ROOT / paths.prepared("enwiki-sample"), out, p.train, "lstm",
                                progress="off", pair={**pair, **override}, log=lambda m: None)
                rows[name] = {"override": override, "val_bpc": r.summary["best_val_bpc"],
                              "seconds": round(time.time() - t0, 1)}
            print(name, rows[name], flush=True)
    cmd = common.command(__file__)
    best = min(rows, key=lambda n: rows[n]["val_bpc"])
    lines = ["# The Wikipedia sample's LSTM: learning rate for 300 steps, chosen on val\n",
             common.provenance(cmd) + ": the "
             f"default run's enwiki-sample-lstm ({pair}), best val bpc over the whole val split "
             "(test not read), 2 threads.\n",
             "| schedule | best val bpc | seconds |", "|---|---:|---:|"]
    lines += [f"| {n} | {r['val_bpc']:.4f} | {r['seconds']:.0f} |" for n, r in rows.items()]
    lines += ["", f"Best on val: **{best}** (then the run.pairs.enwiki-sample-lstm of params.yaml; "
              "since replaced: enwiki_model.md)."]
    common.write_results(common.RESULTS / "enwiki_schedule",
                         {"command": cmd, "pair": pair, "rows": rows, "best": best},
                         "\n".join(lines) + "\n", indent=1)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
