"""How much each number of the default run moves with the seed: the noise the gate judges by.

Trains the default run again at other seeds (`dvc exp run --temp -S train.common.seed=S`,
one after the other; every neural model, its evaluation and the mixtures re-run, the
n-gram is seedless) and reads each run's metrics/summary.json through DVC's Python API.
With the workspace's own run (seed 1337, the committed one) that gives each corpus/model's
test bpc, val bpc and dynamic test bpc at every seed, their mean and their standard
deviation (n - 1 in the denominator). Writes benchmarks/results/seed_noise.json (read by
`charlm check-metrics`: a change within 2 standard deviations is "within noise") and
seed_noise.md.

    CHARLM_MIRROR=../shared/corpora python benchmarks/quality/seed_noise.py      # seeds 1338 1339
    python benchmarks/quality/seed_noise.py --rows-from benchmarks/results/seed_noise.json   # re-render

Re-make it at a re-baseline (docs/reproducibility.md, tools/rebaseline). It takes the
heavy-job lock: each seed is a whole default run (~12 minutes on 2 cores).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # benchmarks/: common
import common  # noqa: E402
from common import RESULTS, ROOT  # noqa: E402

from charlm.params import load_params  # noqa: E402

OUT = RESULTS / "seed_noise"
MD_OUT = OUT.with_suffix(".md")
SUMMARY = "metrics/summary.json"
METRICS = ("test_bpc", "val_bpc", "dynamic_test_bpc")


def run_seed(seed: int, base: dict) -> dict:
    """The default run at `seed` as a temporary DVC experiment (kept if it already ran)."""
    name = f"seed-{seed}"
    found = summary_of(name, base)
    if found is None:
        subprocess.run(["dvc", "exp", "run", "--temp", "--name", name,
                        "-S", f"train.common.seed={seed}"], cwd=ROOT, check=True)
        found = summary_of(name, base)
    if found is None:
        raise SystemExit(f"experiment {name}: not in dvc exp show")
    return found


def summary_of(name: str, base: dict) -> dict | None:
    """corpus -> model -> metrics of the experiment `name` (the corpora and models of the
    base run), from dvc.api.exp_show's rows; None if there is no such experiment."""
    import dvc.api

    for row in dvc.api.exp_show(repo=str(ROOT), num=10, force=True):
        if row.get("Experiment") != name:
            continue
        out: dict = {}
        for corpus, models in base.items():
            for model, metrics in models.items():
                for metric in metrics:
                    key = f"{corpus}.{model}.{metric}"
                    value = row.get(key, row.get(f"{SUMMARY}:{key}"))
                    if value is not None:
                        out.setdefault(corpus, {}).setdefault(model, {})[metric] = value
        return out
    return None


def spread(values: list[float]) -> dict:
    return {"values": values, "mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "range": max(values) - min(values)}


def table(runs: dict[int, dict]) -> list[dict]:
    """One row per corpus/model of the base run (the first): each metric's values over the
    seeds."""
    base = next(iter(runs.values()))
    rows = []
    for corpus, models in base.items():
        for model in models:
            row = {"corpus": corpus, "model": model}
            for metric in METRICS:
                vals = [runs[s].get(corpus, {}).get(model, {}).get(metric) for s in sorted(runs)]
                if all(isinstance(v, (int, float)) for v in vals):
                    row[metric] = spread([float(v) for v in vals])
            rows.append(row)
    return rows


def markdown(result: dict) -> str:
    lines = [f"# Seed noise of the default run ({len(result['seeds'])} seeds: "
             f"{', '.join(map(str, result['seeds']))})", "",
             common.provenance(result["command"], result["git_commit"], result["machine"],
                               result["when"]) + ".", "",
             "Mean and standard deviation (n - 1) of each number over the seeds of "
             "`train.common.seed`; `charlm check-metrics` calls a change of test bpc within "
             "2 standard deviations \"within noise\". The n-gram has no seed (std 0).", "",
             "| corpus | model | test bpc | std | range | val bpc std | dynamic test std |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in result["rows"]:
        t = r["test_bpc"]
        val = r.get("val_bpc", {}).get("std")
        dyn = r.get("dynamic_test_bpc", {}).get("std")
        lines.append(f"| {r['corpus']} | {r['model']} | {t['mean']:.4f} | {t['std']:.4f} | "
                     f"{t['range']:.4f} | {'—' if val is None else f'{val:.4f}'} | "
                     f"{'—' if dyn is None else f'{dyn:.4f}'} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = common.parser(__doc__)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1338, 1339],
                    help="seeds to train besides the workspace's run (params.yaml's seed)")
    ap.add_argument("--rows-from", type=Path, help="re-render the Markdown from this JSON")
    args = ap.parse_args()
    if args.rows_from:
        result = json.loads(args.rows_from.read_text(encoding="utf-8"))
    else:
        base_seed = load_params(ROOT / "params.yaml").train.common.seed
        runs = {base_seed: json.loads((ROOT / SUMMARY).read_text(encoding="utf-8"))}
        with common.heavy_lock():
            for seed in args.seeds:
                runs[seed] = run_seed(seed, runs[base_seed])
        result = {"seeds": sorted(runs), "rows": table(runs), "runs": runs,
                  "command": common.command(__file__, env=("CHARLM_MIRROR",)),
                  "git_commit": common.git_commit(), "machine": common.cpu_description(),
                  "when": common.now()}
    common.write_results(OUT, None if args.rows_from else result, markdown(result), indent=1)
    print(MD_OUT.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
