"""`charlm diff REV --out DIR`: the pull-request report of this run against REV's
(charlm.compare.pr_report).

    charlm diff HEAD --out pr-report          # after `dvc repro`: what this change did
    charlm diff main --out pr-report --fail   # and exit 1 where the metrics gate fails

Writes DIR/report.md and one PNG per corpus: per corpus and model the val and test bpc at
REV and now, the change, its verdict against the seed noise and the gate's status, the
params that changed, and the val curves of REV (dashed) against now (solid). CI posts it on
the pull request (`cml comment create DIR/report.md`). DIR is written whole or not at all,
and only replaces an earlier report.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..compare import pr_report
from ..core.entry import HelpFormatter
from .args import path_arg, real
from .check_metrics import _revision


def register(sub) -> None:
    p = sub.add_parser("diff", help="the pull-request report: metrics, params and val curves "
                       "against a revision", description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("rev", type=_revision, metavar="REV", help="the git revision to compare with")
    p.add_argument("--out", required=True, type=_folder,
                   help="the report's folder (report.md and the PNGs)")
    p.add_argument("--tolerance", type=real(0, 1e6), default=0.02,
                   help="the gate's allowed worsening of a test bpc, bits/char")
    p.add_argument("--fail", action="store_true", help="exit 1 where the gate fails")
    p.set_defaults(func=_run)


def _folder(s: str) -> Path:
    return Path(path_arg(s))


_folder.__name__ = "folder"


def _run(args) -> int:
    ok = pr_report.write(args.rev, args.out, args.tolerance)
    print(f"wrote {args.out / 'report.md'} and its charts (gate: {'PASS' if ok else 'FAIL'})",
          file=sys.stderr)
    return 0 if ok or not args.fail else 1
