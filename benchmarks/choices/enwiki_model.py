"""The Wikipedia sample's neural model: which LSTM learns in the default run's ~minute, on val.

The default run trained the `lstm` entry (2 x 256) for 300 steps on the Wikipedia sample:
even with its best constant learning rate (benchmarks/results/enwiki_schedule.md) it barely
left the unigram plateau (val 4.12; the unigram entropy is 5.17). This trains a few models
of about the same training time (each scored on the whole val split once, at its end; test
is not read) and writes their val bpc and seconds to benchmarks/results/enwiki_model.md
and .json. One layer costs well under half the time per step (and ~1.6x less per char when
adapting: evaluate.dynamic), so it gets four times the steps.

    python benchmarks/choices/enwiki_model.py           # takes the heavy-job lock
    python benchmarks/choices/enwiki_model.py --add     # only the rows of GRID not in the .json yet
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # benchmarks/: common
import common  # noqa: E402
from common import ROOT  # noqa: E402

import torch  # noqa: E402

from charlm.core import paths  # noqa: E402
from charlm.params import CORPORA_FILE, _read_yaml, _with_corpora, parse_params  # noqa: E402
from charlm.train.run import train_model  # noqa: E402

LSTM = {"arch": "lstm", "dropout": 0.0, "embedding_dim": 64, "seq_len": 32}
SHAPES = {"2x256": {"hidden_size": 256, "num_layers": 2},
          "1x256": {"hidden_size": 256, "num_layers": 1},
          "1x512": {"hidden_size": 512, "num_layers": 1}}


def const(lr: float) -> dict:
    return {"lr": lr, "min_lr": lr, "warmup_steps": 0}


GRID = [("2x256", 300, const(0.002)),          # the default run's model before
        ("1x256", 1200, const(0.002)), ("1x256", 1200, const(0.003)),
        ("1x256", 1200, const(0.005)),
        ("1x256", 1200, {"lr": 0.005, "min_lr": 0.0005, "warmup_steps": 25}),
        ("1x512", 600, const(0.003)),
        ("1x256", 1200, const(0.008)), ("1x256", 1200, const(0.012))]   # 0.005 was the edge


def key(model: str, pair: dict) -> tuple:
    """What tells two rows of the grid apart."""
    return (model, pair["steps"], pair["lr"], pair["min_lr"], pair["warmup_steps"])


def main() -> None:
    ap = common.parser(__doc__)
    ap.add_argument("--add", action="store_true",
                    help="keep the rows of the .json and run only the rest of GRID")
    args = ap.parse_args()
    torch.set_num_threads(2)
    raw = _with_corpora(_read_yaml(ROOT / "params.yaml"), ROOT / CORPORA_FILE)
    raw["train"]["models"].update({s: {**LSTM, **shape} for s, shape in SHAPES.items()})
    tp = parse_params(raw).train
    out = common.RESULTS / "enwiki_model"
    rows = json.loads(out.with_suffix(".json").read_text())["rows"] if args.add else []
    done = [key(r["model"], r) for r in rows]
    with common.heavy_lock():
        for shape, steps, sched in GRID:
            pair = {"steps": steps, "eval_every": steps, **sched}
            if key(shape, pair) in done:
                continue
            with tempfile.TemporaryDirectory() as tmp:
                t0 = time.time()
                r = train_model(ROOT / paths.prepared("enwiki-sample"), tmp, tp, shape,
                                progress="off", pair=pair, log=lambda m: None)
                rows.append({"model": shape, **pair, "val_bpc": r.summary["best_val_bpc"],
                             "seconds": round(time.time() - t0, 1)})
            print(rows[-1], flush=True)
    best = min(rows, key=lambda r: r["val_bpc"])
    cmd = common.command(__file__, []) + (", then again with --add" if done else "")
    lines = ["# The Wikipedia sample's LSTM: shape and schedule for its minute, chosen on val\n",
             common.provenance(cmd) + ": "
             "LSTMs (embedding 64, seq_len 32, batch 32) on the Wikipedia sample, val bpc over "
             "the whole val split after the last step (test not read), 2 threads; seconds "
             "include that one evaluation.\n",
             "| model | steps | lr | min_lr | warm-up | val bpc | seconds |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['model']} | {r['steps']} | {r['lr']:g} | {r['min_lr']:g} | "
              f"{r['warmup_steps']} | {r['val_bpc']:.4f} | {r['seconds']:.0f} |" for r in rows]
    lines += ["", f"Best on val: **{best['model']}, {best['steps']} steps, lr {best['lr']:g} → "
              f"{best['min_lr']:g}** (params.yaml: train.models.lstm1, run.pairs.enwiki-sample-lstm1)."]
    common.write_results(out, {"command": cmd, "rows": rows, "best": best},
                         "\n".join(lines) + "\n", indent=1)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
