"""`charlm check-metrics`: the regression gate on test bpc (charlm.compare.check_metrics)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

from ..compare import check_metrics as gate
from ..compare.check_metrics import NOISE_FILE, check
from ..core.entry import HelpFormatter
from ..core.errors import CharlmError


def register(sub) -> None:
    p = sub.add_parser("check-metrics", help="fail if any test bpc worsened beyond a tolerance",
                       description=gate.__doc__, formatter_class=HelpFormatter)
    p.add_argument("--against", default="HEAD", help="git revision of the baseline")
    p.add_argument("--baseline", type=Path, help="a baseline summary.json file instead of a revision")
    p.add_argument("--current", type=Path, help="the summary to check (default: metrics/summary.json)")
    p.add_argument("--tolerance", type=float, default=0.02,
                   help="allowed worsening, bits/char (0: not worse at all)")
    p.add_argument("--noise", type=Path, default=NOISE_FILE,
                   help="the seed-noise table whose spreads judge each change")
    p.set_defaults(func=_run)


def _run(args) -> int:
    if not (math.isfinite(args.tolerance) and args.tolerance >= 0):
        raise CharlmError(f"--tolerance must be a finite number >= 0, got {args.tolerance}")
    table, ok = check(args.against, args.tolerance, args.current, args.baseline, args.noise)
    print(table)
    print("\nmetrics gate: " + ("PASS" if ok else "FAIL"), file=sys.stderr)
    return 0 if ok else 1
