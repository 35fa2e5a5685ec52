"""What portable numerics cost against native: training and dynamic-evaluation chars/s.

Each profile runs in its own process (the profile is applied when charlm is imported):
the default run's tiny-shakespeare LSTM (params.yaml's entry, at its batch and sequence
length) trained for --steps steps, then dynamic evaluation of the first --chars val chars
on one thread, as the evaluate stage does. Profiles alternate for --repeats rounds; the
best round of each counts. Writes benchmarks/results/numerics_cost.json and .md.

    python benchmarks/speed/numerics_cost.py           # needs data/prepared/tinyshakespeare
    python benchmarks/speed/numerics_cost.py --steps 50 --chars 2000 --repeats 1   # a quick look

It takes the heavy-job lock: the numbers are chars/s on a machine doing nothing else.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # benchmarks/: common
import common  # noqa: E402
from common import ROOT  # noqa: E402

PROFILES = ("portable", "native")


def worker(steps: int, chars: int) -> dict:
    """In a process whose CHARLM_NUMERICS is set: train, then adapt; their speeds."""
    from charlm.core import numerics, paths   # first (charlm's __init__ sets the profile)
    import torch

    from charlm.evaluate.dynamic import dynamic_log2prob, grad_rms
    from charlm.params import load_params
    from charlm.core.splits import load_split
    from charlm.train.run import train_model

    numerics.check()
    params = load_params(ROOT / "params.yaml")
    tp = params.train
    prepared = ROOT / paths.prepared("tinyshakespeare")
    with tempfile.TemporaryDirectory() as tmp:
        over = {"steps": steps, "eval_every": steps, "checkpoint_every": steps}
        res = train_model(prepared, Path(tmp) / "m", tp, "lstm", corpus="tinyshakespeare",
                          progress=False, log=lambda m: None, pair=over)
    val = load_split(prepared, "val")[:chars]
    rms = grad_rms(res.model, load_split(prepared, "train"))
    dp = params.evaluate.dynamic
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    dynamic_log2prob(res.model, val, rms, dp.lr, dp.decay, dp.segment)
    secs = time.perf_counter() - t0
    return {"train_chars_per_s": res.summary["chars_per_s"], "dynamic_chars_per_s": chars / secs,
            "capability": torch.backends.cpu.get_cpu_capability()}


def run(profile: str, steps: int, chars: int) -> dict:
    env = {**os.environ, "CHARLM_NUMERICS": profile}
    r = subprocess.run([sys.executable, __file__, "--worker", "--steps", str(steps),
                        "--chars", str(chars)], env=env, capture_output=True, text=True, cwd=ROOT)
    if r.returncode != 0:
        raise SystemExit(f"{profile}: {r.stderr.strip()[-500:]}")
    out = json.loads(r.stdout.strip().splitlines()[-1])
    print(profile, out, flush=True)
    return out


def markdown(res: dict) -> str:
    p, n = res["best"]["portable"], res["best"]["native"]
    lines = [f"# Portable against native numerics ({res['machine']})", "",
             common.provenance(res["command"], res["git_commit"], res["machine"], res["when"])
             + ": the "
             f"default tiny-shakespeare LSTM, {res['steps']} training steps (2 threads) and "
             f"dynamic evaluation of {res['chars']:,} val chars (1 thread), best of "
             f"{res['repeats']} alternating rounds.", "",
             "| | portable | native | portable / native |", "|---|---:|---:|---:|"]
    for key, name in (("train_chars_per_s", "training, chars/s"),
                      ("dynamic_chars_per_s", "dynamic evaluation, chars/s")):
        lines.append(f"| {name} | {p[key]:,.0f} | {n[key]:,.0f} | {p[key] / n[key]:.2f} |")
    lines.append(f"| torch CPU kernels | {p['capability']} | {n['capability']} | |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = common.parser(__doc__)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--chars", type=int, default=5000)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.steps, args.chars)))
        return
    with common.heavy_lock():
        rounds = common.interleaved({p: (lambda p=p: run(p, args.steps, args.chars)) for p in PROFILES},
                                    args.repeats)
    best = {p: {"train_chars_per_s": max(r["train_chars_per_s"] for r in rs),
                "dynamic_chars_per_s": max(r["dynamic_chars_per_s"] for r in rs),
                "capability": rs[0]["capability"]} for p, rs in rounds.items()}
    res = {"steps": args.steps, "chars": args.chars, "repeats": args.repeats, "rounds": rounds,
           "best": best, "machine": common.cpu_description(),
           "command": common.command(__file__),
           "git_commit": common.git_commit(), "when": common.now()}
    common.write_results(common.RESULTS / "numerics_cost", res, markdown(res), indent=1)
    print(markdown(res))


if __name__ == "__main__":
    main()
