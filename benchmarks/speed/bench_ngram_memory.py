"""N-gram counting's peak memory and time on latex-full (24.9 M train chars, orders 1..10):
counting all at once (the implementation at a git revision, before the passes) against
the passes in RAM (the default budget) and spilled to disk (a small budget), the tables
compared by sha256; and the whole `ngram` stage's peak. Each measure runs in a fresh
process (peak RSS from getrusage); the corpus is downloaded (from $CHARLM_MIRROR) and
prepared in a temporary directory.

    CHARLM_MIRROR=../shared/corpora python benchmarks/speed/bench_ngram_memory.py --before f0a76a6

Writes benchmarks/results/ngram_memory.json and ngram_memory.md. It takes the heavy-job lock.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # benchmarks/: common
import common  # noqa: E402
from common import ROOT  # noqa: E402

CORPUS = "latex-full"

CHILD = r"""
import hashlib, json, resource, sys, time
from pathlib import Path
import numpy as np
sys.path.insert(0, sys.argv[1])
what, prepared = sys.argv[2], Path(sys.argv[3])
train = np.load(prepared / "train.npy")
vocab_size = json.loads((prepared / "vocab.json").read_text())["size"]
t0 = time.perf_counter()
if what == "stage":
    from charlm.ngram import fit_and_select
    from charlm.params import load_params
    try:
        from charlm.core.splits import load_split
        from charlm.core.vocab import Vocab
    except ImportError:              # a revision before the package's reorganisation
        from charlm.prepare import load_split
        from charlm.vocab import Vocab
    cfg = load_params(Path(sys.argv[1]) / "params.yaml").ngram
    model, record, _, _ = fit_and_select(train, load_split(prepared, "val"),
                                         load_split(prepared, "test"),
                                         Vocab.load(prepared / "vocab.json"), cfg, log=lambda m: None)
    tables = [*model.counts.keys, *model.counts.counts, *model.counts.suffix]
    for k in ("count_seconds", "fit_seconds"):
        record.pop(k, None)
    for s in record["smoothings"].values():
        s.pop("fit_seconds_all_orders", None)
    extra = {"order": record["order"], "test_bpc": record["test_bpc"], "record_sha256":
             hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()}
else:
    from charlm.ngram.counts import NgramCounts
    c = NgramCounts.fit(train, vocab_size, 10, **({} if what == "default" else
                                                  {"memory_mb": float(what)}))
    tables, extra = [*c.keys, *c.counts, *c.suffix], {"n_grams": c.n_grams()}
seconds = time.perf_counter() - t0
h = hashlib.sha256()
for a in tables:
    h.update(a.dtype.str.encode()); h.update(a.tobytes())
print(json.dumps({"seconds": seconds, "peak_rss_mb": resource.getrusage(
    resource.RUSAGE_SELF).ru_maxrss / 1024, "sha256": h.hexdigest(), **extra}))
"""


def prepare(tmp: Path) -> Path:
    """latex-full downloaded and prepared by the pipeline's own stages, in `tmp`."""
    for f in ("params.yaml", "corpora.yaml"):
        shutil.copy(ROOT / f, tmp / f)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for stage in ("download", "prepare"):
        subprocess.run([sys.executable, "-m", f"stages.{stage}", CORPUS], cwd=tmp, env=env,
                       check=True, capture_output=True)
    return tmp / "data" / "prepared" / CORPUS


def checkout(rev: str, dst: Path) -> Path:
    """The repository at `rev` (its charlm package) in `dst`, for an implementation before."""
    subprocess.run(["git", "worktree", "add", "--detach", str(dst), rev], cwd=ROOT,
                   check=True, capture_output=True)
    return dst


def measure(code_root: Path, what: str, prepared: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(code_root), what, str(prepared)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = common.parser(__doc__)
    ap.add_argument("--before", required=True, help="git revision counting all at once")
    ap.add_argument("--stage-before", help="git revision of the whole stage before (default: --before)")
    ap.add_argument("--spill-mb", type=float, default=400, help="the small budget")
    args = ap.parse_args()
    args.stage_before = args.stage_before or args.before
    with common.heavy_lock(), tempfile.TemporaryDirectory(prefix="charlm-bench-") as t:
        tmp = Path(t)
        prepared, before = prepare(tmp), checkout(args.before, tmp / "before")
        stage_before = before if args.stage_before == args.before else \
            checkout(args.stage_before, tmp / "stage-before")
        try:
            runs = {"before": measure(before, "default", prepared),
                    "passes_ram": measure(ROOT, "default", prepared),
                    "passes_spilled": measure(ROOT, str(args.spill_mb), prepared),
                    "stage_before": measure(stage_before, "stage", prepared),
                    "stage": measure(ROOT, "stage", prepared)}
        finally:
            for tree in {before, stage_before}:
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT)
    write(runs, args)


def _same(runs: dict, key: str) -> str:
    a, b = runs["stage"].get(key), runs["stage_before"].get(key)
    return "not compared" if a is None or b is None else "identical" if a == b else "DIFFERENT"


def write(runs: dict, args) -> None:
    res = {"date": common.now(), "cpu": common.cpu_name(),
           "command": common.command(__file__, env=("CHARLM_MIRROR",)),
           "before": args.before, "stage_before": args.stage_before, "spill_mb": args.spill_mb, "runs": runs}
    b = runs["before"]
    same = all(r["sha256"] == b["sha256"] for k, r in runs.items() if not k.startswith("stage"))
    rows = [("counting, all at once (before)", b),
            ("counting in passes, streams in RAM (default budget, 1024 MB)", runs["passes_ram"]),
            (f"counting in passes, streams spilled ({args.spill_mb:g} MB budget)",
             runs["passes_spilled"]),
            (f"the whole ngram stage (before, at {args.stage_before})", runs["stage_before"]),
            ("the whole ngram stage (now)", runs["stage"])]
    lines = [common.provenance(res["command"], when=res["date"]) + "; each row a fresh "
             "process, peak RSS from getrusage.", "",
             f"# N-gram counting's memory: {CORPUS}, orders 1..10", "",
             "| run | seconds | peak RSS (MB) | tables sha256 |", "|---|---:|---:|---|"]
    lines += [f"| {name} | {r['seconds']:.1f} | {r['peak_rss_mb']:,.0f} | {r['sha256'][:16]} |"
              for name, r in rows]
    lines += ["", f"Counting's tables identical in all three: **{same}**. The stage's chosen "
              f"model: order {runs['stage']['order']}, test {runs['stage']['test_bpc']:.4f} bpc "
              f"(before: order {runs['stage_before']['order']}, "
              f"{runs['stage_before']['test_bpc']:.4f}; model tables "
              f"{'identical' if runs['stage']['sha256'] == runs['stage_before']['sha256'] else 'DIFFERENT'}"
              f"; the fit record, every bpc and tuned discount in it, "
              f"{_same(runs, 'record_sha256')})."]
    common.write_results(common.RESULTS / "ngram_memory", res, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
