"""The floor under dynamic evaluation's gradient RMS, chosen on val over the default run's models.

charlm.evaluate.dynamic divides each step by the gradient RMS measured on 20 train windows. A
weight those windows barely moved gets a near-zero RMS and a huge step when its char
turns up. `grad_rms(floor=f)` raises each entry to at least f x its tensor's mean RMS.
For each trained model of the default run and each floor of the grid, this scores the
first `--chars` chars of val dynamically (lr, decay, segment from params.yaml) and writes
benchmarks/results/dynamic_floor.md and .json. Test is not read.

The rule: among the floors under which no model scores worse adapted than static on val,
the one with the best mean val bpc over the runs the default run adapts
(evaluate.dynamic.pairs). `--earlier REV` keeps the rows of the models that the file at
git revision REV scored and the default run no longer trains (also its own `earlier`
rows): a floor that broke one of them is not safe either, though they are not in the mean.

    python benchmarks/choices/dynamic_floor.py --earlier 22836ff
    python benchmarks/choices/dynamic_floor.py --rows-from benchmarks/results/dynamic_floor.json

Scoring takes the heavy-job lock (a re-render with --rows-from scores nothing).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # benchmarks/: common
import common  # noqa: E402
from common import ROOT  # noqa: E402

import torch  # noqa: E402

from charlm.core import paths  # noqa: E402
from charlm.evaluate.dynamic import dynamic_log2prob, grad_rms  # noqa: E402
from charlm.neural.models import load_trained, log2prob_sequence  # noqa: E402
from charlm.params import load_params  # noqa: E402
from charlm.core.splits import load_split  # noqa: E402
from charlm.core.scoring import bpc  # noqa: E402


def default_runs(params) -> dict[str, str]:
    """{"<corpus>/<model>": its run key} for every neural run of the default run."""
    return {f"{p.corpus}/{p.model}": key for key, p in params.run.pairs.items()}


def earlier_rows(rev: str, now: dict) -> dict:
    """The rows (and earlier rows) of this script's .json at git `rev` that are not in `now`."""
    proc = subprocess.run(["git", "show", f"{rev}:benchmarks/results/dynamic_floor.json"],
                          cwd=ROOT, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"--earlier {rev}: {(proc.stderr.strip().splitlines() or ['git show failed'])[-1]}")
    old = json.loads(proc.stdout)
    rows = {**old.get("earlier", {}), **old["rows"]}
    return {run: {"rev": rev, **row} for run, row in rows.items() if run not in now}


def score(run: str, floors: list[float], chars: int, dp) -> dict:
    corpus, model = run.split("/")
    net, _, _ = load_trained(ROOT / paths.model_dir(corpus, model))
    prep = ROOT / paths.prepared(corpus)
    val, train = load_split(prep, "val")[:chars], load_split(prep, "train")
    row = {"static": bpc(log2prob_sequence(net, val))}
    for f in floors:
        rms = grad_rms(net, train, floor=f)
        row[f"floor {f:g}"] = bpc(dynamic_log2prob(net, val, rms, dp.lr, dp.decay, dp.segment))
    return row


def main() -> None:
    ap = common.parser(__doc__)
    ap.add_argument("--floors", default="0,0.1,0.3,0.5,1")
    ap.add_argument("--chars", type=int, default=20000)
    ap.add_argument("--out", default=str(common.RESULTS / "dynamic_floor"))
    ap.add_argument("--rows-from", help="a .json this script wrote: its scores, not re-run")
    ap.add_argument("--earlier", metavar="REV", help="keep the rows of models gone since REV")
    args = ap.parse_args()
    torch.set_num_threads(1)
    floors = [float(f) for f in args.floors.split(",")]
    params = load_params(ROOT / "params.yaml")
    dp, runs = params.evaluate.dynamic, default_runs(params)
    cmd = common.command(__file__)
    loaded = json.loads(Path(args.rows_from).read_text()) if args.rows_from else {}
    rows, made_by = loaded.get("rows", {}), loaded.get("command", cmd)
    if args.rows_from and not made_by.endswith(cmd):     # a re-render keeps it
        made_by = f"{made_by}`, then `{cmd}"
    todo = [r for r in runs if r not in rows]
    if todo:
        with common.heavy_lock():
            for run in todo:
                rows[run] = score(run, floors, args.chars, dp)
                print(run, {k: round(v, 4) for k, v in rows[run].items()}, flush=True)
    cols = [f"floor {f:g}" for f in floors]
    adapted = [r for r in rows if runs.get(r) in dp.pairs]
    earlier = earlier_rows(args.earlier, rows) if args.earlier else loaded.get("earlier", {})
    safe = [c for c in cols
            if all(r[c] <= r["static"] for r in [*rows.values(), *earlier.values()])]
    mean = {c: sum(rows[r][c] for r in adapted) / len(adapted) for c in cols}
    best = min(safe, key=mean.get)
    lines = ["# Dynamic evaluation: the floor under the gradient RMS\n",
             common.provenance(made_by) + " (one thread). The first "
             f"{args.chars:,} val chars of each model of the default run, lr {dp.lr:g}, decay "
             f"{dp.decay:g}, segment {dp.segment}; val bpc (test not read). Floor f: each RMS "
             f"entry raised to at least f x its tensor's mean RMS.\n",
             "| run | static | " + " | ".join(cols) + " |",
             "|---|---:|" + "---:|" * len(cols)]
    lines += [f"| {run} | {r['static']:.4f} | " + " | ".join(f"{r[c]:.4f}" for c in cols) + " |"
              for run, r in rows.items()]
    lines += [f"| {run} (earlier: {r['rev']}) | {r['static']:.4f} | "
              + " | ".join(f"{r[c]:.4f}" for c in cols) + " |" for run, r in earlier.items()]
    lines += ["| mean of the adapted runs | | " + " | ".join(f"{mean[c]:.4f}" for c in cols) + " |",
              "", f"Adapted in the default run (evaluate.dynamic.pairs): {', '.join(adapted)}. "
              + (f"Earlier models (trained by an earlier default run): {', '.join(earlier)}. "
                 if earlier else "")
              + f"No model worse adapted than static: {', '.join(safe)}. Of those, the best mean "
              f"over the adapted runs: **{best}** (charlm.evaluate.dynamic.RMS_FLOOR)."]
    common.write_results(args.out, {"command": made_by, "chars": args.chars, "rows": rows,
                                    "earlier": earlier, "adapted": adapted, "safe": safe,
                                    "mean": mean, "best": best},
                         "\n".join(lines) + "\n", indent=1)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
