"""The default run's tiny-shakespeare LSTM: which recipe puts it clearly below the n-gram
on VAL bpc within the default run's training time?

The n-gram's val bpc (metrics/summary.json) is the bar; the default run wants the best
static neural model at least MARGIN below it, in the default (portable, fp32) numerics
and within the time the 15-minute run leaves for this model. Every candidate is the
same 2 x 256 LSTM (the shape default_allocation.py chose for this budget) with one
recipe change, trained for a fixed number of steps (a fixed time: the steps of a slower
candidate are cut by its measured throughput, given in CANDIDATES), val scored about
EVALS times, best-on-val weights. The test split is never read.

    python benchmarks/choices/default_margin.py [--only NAME ...] [--seeds 1337 1338 1339]
    python benchmarks/choices/default_margin.py --report-only      # rewrite the .md

`--seeds` trains each named candidate once per seed (the spread of the chosen recipe).
Results merge into benchmarks/results/default_margin.json (keyed by name and seed);
default_margin.md is rewritten from it.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # benchmarks/: common
import common  # noqa: E402

OUT = common.RESULTS / "default_margin"
JSON_OUT = OUT.with_suffix(".json")
CORPUS = "tinyshakespeare"
MARGIN = 0.07
EVALS = 6
SEED = 1337

SHAPE = dict(arch="lstm", hidden_size=256, num_layers=2, dropout=0.0, embedding_dim=64)
BASE = dict(batch_size=32, seq_len=32, lr=0.005, warmup_steps=25, min_lr=0.0005,
            weight_decay=0.0, grad_clip=1.0, steps=6000)
# name -> overrides of SHAPE and BASE
CANDIDATES: dict[str, dict] = {
    "base": {},
    "cos0_wd01": dict(min_lr=0.0, weight_decay=0.1),
    "lr008": dict(lr=0.008, min_lr=0.0003),
    "drop01": dict(dropout=0.1, steps=4900),       # dropout between layers: 0.82x the chars/s
}


def config_of(name: str) -> dict:
    return {**SHAPE, **BASE, **CANDIDATES[name]}


def describe(c: dict) -> str:
    return (f"LSTM {c['num_layers']}x{c['hidden_size']} drop {c['dropout']:g}, "
            f"{c['batch_size']}x{c['seq_len']}, lr {c['lr']:g} (warm-up {c['warmup_steps']}, "
            f"cosine to {c['min_lr']:g}), wd {c['weight_decay']:g}, clip {c['grad_clip']:g}, "
            f"{c['steps']} steps")


def train(name: str, seed: int, tmp: Path) -> dict:
    """Train the candidate (val only) and its record."""
    from charlm.core import paths
    from charlm.params.sections import ModelSpec, TrainCommon, TrainParams
    from charlm.train.run import train_model

    c = config_of(name)
    shape = {k: c[k] for k in SHAPE}
    run = {k: c[k] for k in BASE}
    tc = TrainCommon(**run, seed=seed, eval_every=max(1, c["steps"] // EVALS), eval_streams=16,
                     eval_overlap=512, checkpoint_every=c["steps"], log_every=100,
                     device="cpu", amp="off")
    t0 = time.perf_counter()
    res = train_model(paths.prepared(CORPUS), tmp / name, TrainParams(
        models={name: ModelSpec(**shape)}, common=tc), name, corpus=CORPUS, progress="off",
        log=lambda m: None, write_outputs=False, fresh=True)
    s = res.summary
    return {"name": name, "seed": seed, "config": c, "chars": s["train_chars"],
            "train_seconds": s["train_seconds"], "wall_seconds": round(time.perf_counter() - t0, 1),
            "chars_per_s": s["chars_per_s"], "threads": s["threads"],
            "best_val_bpc": s["best_val_bpc"], "best_step": s["best_step"],
            "curve": [(h["step"], round(h["val_bpc"], 4)) for h in s["history"]],
            "when": common.now()}


def ngram_val() -> float:
    return json.loads((common.ROOT / "metrics/summary.json").read_text())[CORPUS]["ngram"]["val_bpc"]


def report(doc: dict) -> str:
    runs, bar = doc["runs"], doc["ngram_val_bpc"]
    lines = [common.provenance(doc["command"], doc["commit"], doc["cpu"], doc["when"]) + ".", "",
             f"# The default tiny-shakespeare LSTM's recipe, chosen on val (bar: the n-gram's "
             f"val bpc {bar:.4f}, minus {MARGIN})", "",
             "Each candidate is one change to the base recipe at the same training time, "
             "fp32, portable numerics, 2 threads; val = the whole val split (16 streams, 512 "
             "chars of warm-up), best-on-val weights. The test split is not read.", "",
             "| name | recipe | seed | chars | train s | chars/s | best val bpc (step) | below the n-gram |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in sorted(runs.values(), key=lambda r: r["best_val_bpc"]):
        lines.append(f"| {r['name']} | {describe(r['config'])} | {r['seed']} | {r['chars']:,} | "
                     f"{r['train_seconds']:.0f} | {r['chars_per_s']:,.0f} | "
                     f"{r['best_val_bpc']:.4f} ({r['best_step']}) | {bar - r['best_val_bpc']:+.4f} |")
    lines += ["", "Val-bpc curves (step: bpc):", ""]
    lines += [f"- {r['name']} seed {r['seed']}: " + ", ".join(f"{s}: {v:.4f}" for s, v in r["curve"])
              for r in runs.values()]
    lines += spread(runs, bar)
    return "\n".join(lines) + "\n"


def spread(runs: dict, bar: float) -> list[str]:
    out = []
    for name in sorted({r["name"] for r in runs.values()}):
        vals = [r["best_val_bpc"] for r in runs.values() if r["name"] == name]
        if len(vals) >= 3:
            out += ["", f"**{name} over {len(vals)} seeds**: best val bpc mean "
                    f"{statistics.mean(vals):.4f}, std {statistics.stdev(vals):.4f}, range "
                    f"{min(vals):.4f}-{max(vals):.4f}; the worst seed is "
                    f"{bar - max(vals):.4f} below the n-gram."]
    return out


def main() -> None:
    ap = common.parser(__doc__)
    ap.add_argument("--only", nargs="+", choices=sorted(CANDIDATES), help="run just these")
    ap.add_argument("--seeds", nargs="+", type=int, default=[SEED], help="seeds per candidate")
    ap.add_argument("--report-only", action="store_true", help="rewrite the .md from the .json")
    args = ap.parse_args()
    doc = json.loads(JSON_OUT.read_text()) if JSON_OUT.exists() else {"runs": {}}
    if not args.report_only:
        doc.update(command=common.command(__file__, sys.argv[1:]), commit=common.git_commit(),
                   cpu=common.cpu_description(), when=common.now(), ngram_val_bpc=ngram_val())
        with common.heavy_lock(), tempfile.TemporaryDirectory(prefix="charlm-margin-") as tmp:
            for name in args.only or CANDIDATES:
                for seed in args.seeds:
                    r = train(name, seed, Path(tmp))
                    doc["runs"][f"{name}/{seed}"] = r
                    print(json.dumps({k: r[k] for k in ("name", "seed", "train_seconds",
                                                        "best_val_bpc")}), flush=True)
                    common.write_results(OUT, doc, report(doc), indent=1)
    common.write_results(OUT, doc, report(doc), indent=1)
    print(f"wrote {OUT.with_suffix('.md')}")


if __name__ == "__main__":
    main()
