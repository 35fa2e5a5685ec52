"""Wall-clock time of the DVC pipeline, per stage: runs `dvc repro` and times it.

Runs `dvc repro <args>` in this repository (every argument not meant for this script is
passed through), streams its output as it comes, timestamps each `Running stage '...'`
line, and writes benchmarks/results/pipeline.md and pipeline.json: seconds per stage (from
its `Running stage` line to the next one, or to the end), per kind of stage, the total,
the stages DVC skipped, the machine (nproc, CPU model), the git commit and the command.

    CHARLM_MIRROR=../shared/corpora python benchmarks/speed/time_pipeline.py          # what changed
    CHARLM_MIRROR=../shared/corpora python benchmarks/speed/time_pipeline.py --force  # every stage

It takes the heavy-job lock: the seconds are wall-clock on a machine doing nothing else.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # benchmarks/: common
import common  # noqa: E402
from common import ROOT  # noqa: E402

RUNNING = re.compile(r"Running stage '([^']+)'")
SKIPPED = re.compile(r"Stage '([^']+)' didn't change, skipping")


def machine() -> dict:
    cpu = common.cpu_name()
    try:
        nproc = len(os.sched_getaffinity(0))
    except AttributeError:
        nproc = os.cpu_count()

    def git(*args: str) -> str:
        r = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return r.stdout.strip()
    dvc = subprocess.run(["dvc", "--version"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    return {"cpu": cpu, "nproc": nproc, "python": platform.python_version(), "dvc": dvc,
            "platform": platform.platform(), "git_commit": git("rev-parse", "HEAD"),
            "git_uncommitted_changes": bool(git("status", "--porcelain", "--untracked-files=no"))}


def run(dvc_args: list[str]) -> dict:
    """`dvc repro` with the stage lines timestamped; the child's output is echoed as it comes."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "DVC_NO_ANALYTICS": "1"}
    cmd = ["dvc", "repro", *dvc_args]
    events, skipped = [], []
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, bufsize=1)
    assert proc.stdout is not None
    for line in proc.stdout:                          # \r (progress bars) reads as a line end
        now = time.perf_counter() - start
        m = RUNNING.search(line)
        if m:
            events.append((m.group(1), now))
            sys.stdout.write(f"[{now:8.1f} s] ")
        s = SKIPPED.search(line)
        if s:
            skipped.append(s.group(1))
        sys.stdout.write(line)
        sys.stdout.flush()
    rc = proc.wait()
    total = time.perf_counter() - start
    stages = []
    for i, (name, t0) in enumerate(events):
        t1 = events[i + 1][1] if i + 1 < len(events) else total
        stages.append({"stage": name, "started_s": round(t0, 1), "seconds": round(t1 - t0, 1)})
    return {"dvc_command": " ".join(cmd), "exit_status": rc, "total_seconds": round(total, 1),
            "before_first_stage_seconds": round(events[0][1] if events else total, 1),
            "stages": stages, "skipped": skipped}


def by_kind(stages: list[dict]) -> dict[str, dict]:
    kinds: dict[str, dict] = {}
    for s in stages:
        k = kinds.setdefault(s["stage"].split("@")[0], {"stages": 0, "seconds": 0.0})
        k["stages"] += 1
        k["seconds"] = round(k["seconds"] + s["seconds"], 1)
    return kinds


def markdown(r: dict) -> str:
    m = r["machine"]
    dirty = " (with uncommitted changes)" if m["git_uncommitted_changes"] else ""
    L = [common.provenance(r["command"], m["git_commit"], when=r["date"])
         + f", which ran `{r['dvc_command']}`.", "",
         "# Pipeline wall-clock time", "",
         f"Machine: {m['cpu']}, nproc {m['nproc']}, Python {m['python']}, DVC {m['dvc']}; commit "
         f"{m['git_commit'][:12]}{dirty}.", "",
         f"**Total {r['total_seconds'] / 60:.1f} minutes** ({r['total_seconds']:.0f} s; exit status "
         f"{r['exit_status']}); {len(r['stages'])} stages ran, {len(r['skipped'])} skipped as unchanged; {r['before_first_stage_seconds']:.0f} s before the first stage started.", "",
         "| kind of stage | stages | seconds | minutes |", "| --- | ---: | ---: | ---: |"]
    L += [f"| {k} | {v['stages']} | {v['seconds']:.0f} | {v['seconds'] / 60:.1f} |"
          for k, v in r["by_kind"].items()]
    L += ["", "Each stage, from its `Running stage` line to the next one (DVC's own bookkeeping "
          "between stages included):", "", "| stage | started at (s) | seconds |", "| --- | ---: | ---: |"]
    L += [f"| {s['stage']} | {s['started_s']:.1f} | {s['seconds']:.1f} |" for s in r["stages"]]
    if r["skipped"]:
        L += ["", "Skipped (unchanged): " + ", ".join(f"`{s}`" for s in r["skipped"]) + "."]
    return "\n".join(L) + "\n"


def main() -> None:
    ap = common.parser(__doc__)
    ap.add_argument("--out", default="benchmarks/results/pipeline",
                    help="where pipeline.md/.json go (without the suffix)")
    args, dvc_args = ap.parse_known_args()
    command = common.command(__file__, env=("CHARLM_MIRROR",))
    date = common.now()
    with common.heavy_lock():
        result = {"command": command, "date": date, "machine": machine(), **run(dvc_args)}
    result["by_kind"] = by_kind(result["stages"])
    js, md = common.write_results(args.out, result, markdown(result))
    print(f"wrote {js} and {md}")
    sys.exit(result["exit_status"])


if __name__ == "__main__":
    main()
