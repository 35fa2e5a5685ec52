"""`charlm check-metrics`: the regression gate on test bpc.

Compares metrics/summary.json in the working tree with the same file at a git
revision (default HEAD), prints a Markdown table of every corpus/model, and
exits 1 when any test bpc is worse than the baseline by more than the
tolerance (in bits per char), or when a baseline entry is missing now.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from . import paths
from .errors import CharlmError


def load_at_rev(rev: str, path: Path) -> dict:
    proc = subprocess.run(["git", "show", f"{rev}:{path.as_posix()}"], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        raise CharlmError(f"cannot read {path} at {rev}: {proc.stderr.strip().splitlines()[-1:]}")
    return json.loads(proc.stdout)


def compare(old: dict, new: dict, tolerance: float) -> tuple[list[dict], bool]:
    rows, ok = [], True
    for corpus in sorted(set(old) | set(new)):
        for model in sorted(set(old.get(corpus, {})) | set(new.get(corpus, {}))):
            a = old.get(corpus, {}).get(model, {}).get("test_bpc")
            b = new.get(corpus, {}).get(model, {}).get("test_bpc")
            if a is None:
                status = "new"
            elif b is None:
                status, ok = "MISSING", False
            elif b - a > tolerance:
                status, ok = "WORSE", False
            elif a - b > tolerance:
                status = "better"
            else:
                status = "ok"
            rows.append({"corpus": corpus, "model": model, "old": a, "new": b, "status": status})
    return rows, ok


def markdown(rows: list[dict], tolerance: float, against: str) -> str:
    def f(x):
        return "—" if x is None else f"{x:.4f}"
    lines = [f"Test bpc against `{against}` (tolerance {tolerance:g} bits/char)", "",
             "| corpus | model | baseline | now | change | status |", "|---|---|---:|---:|---:|---|"]
    for r in rows:
        d = "—" if r["old"] is None or r["new"] is None else f"{r['new'] - r['old']:+.4f}"
        s = f"**{r['status']}**" if r["status"] in ("WORSE", "MISSING") else r["status"]
        lines.append(f"| {r['corpus']} | {r['model']} | {f(r['old'])} | {f(r['new'])} | {d} | {s} |")
    return "\n".join(lines)


def check(against: str, tolerance: float, current: Path | None = None,
          baseline: Path | None = None) -> tuple[str, bool]:
    current = current or paths.summary_file()
    if not current.exists():
        raise CharlmError(f"{current}: not found (run `dvc repro report`)")
    new = json.loads(current.read_text(encoding="utf-8"))
    old = (json.loads(baseline.read_text(encoding="utf-8")) if baseline
           else load_at_rev(against, paths.summary_file()))
    rows, ok = compare(old, new, tolerance)
    return markdown(rows, tolerance, str(baseline or against)), ok


def register(sub) -> None:
    p = sub.add_parser("check-metrics", help="fail if any test bpc worsened beyond a tolerance",
                       description=__doc__)
    p.add_argument("--against", default="HEAD", help="git revision of the baseline (default HEAD)")
    p.add_argument("--baseline", type=Path, help="a baseline summary.json file instead of a revision")
    p.add_argument("--current", type=Path, help="the summary to check (default metrics/summary.json)")
    p.add_argument("--tolerance", type=float, default=0.02, help="allowed worsening, bits/char")
    p.set_defaults(func=_run)


def _run(args) -> int:
    if args.tolerance < 0:
        raise CharlmError("--tolerance must be >= 0")
    table, ok = check(args.against, args.tolerance, args.current, args.baseline)
    print(table)
    print("\nmetrics gate: " + ("PASS" if ok else "FAIL"), file=sys.stderr)
    return 0 if ok else 1
