"""`charlm check-metrics`: the regression gate on test bpc (charlm.compare.check_metrics)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..compare import check_metrics as gate
from ..compare.check_metrics import NOISE_FILE, check
from ..core.entry import HelpFormatter
from ..core.errors import CharlmError
from .args import path_arg, real, text


def register(sub) -> None:
    p = sub.add_parser("check-metrics", help="fail if any test bpc worsened beyond a tolerance",
                       description=gate.__doc__, formatter_class=HelpFormatter)
    p.add_argument("--against", default=None, type=_revision,
                   help="git revision of the baseline (default: HEAD)")
    p.add_argument("--baseline", type=_path, help="a baseline summary.json file instead of a revision")
    p.add_argument("--current", type=_path, help="the summary to check (default: metrics/summary.json)")
    p.add_argument("--tolerance", type=real(0, 1e6), default=0.02,
                   help="allowed worsening, bits/char (0: not worse at all)")
    p.add_argument("--noise", type=_path, default=NOISE_FILE,
                   help="the seed-noise table whose spreads judge each change")
    p.set_defaults(func=_run)


def _revision(s: str) -> str:
    """A git revision: not empty (git would read the index), not an option."""
    s = text(s).strip()
    if not s or s.startswith("-"):
        raise argparse.ArgumentTypeError(f"not a git revision: {s!r}")
    return s


def _path(s: str) -> Path:
    return Path(path_arg(s))


def _run(args) -> int:
    if args.baseline is not None and args.against is not None:
        raise CharlmError("--against and --baseline: give one of them (a revision or a file)")
    table, ok = check(args.against or "HEAD", args.tolerance, args.current, args.baseline,
                      args.noise)
    print(table)
    print("\nmetrics gate: " + ("PASS" if ok else "FAIL"), file=sys.stderr)
    return 0 if ok else 1
