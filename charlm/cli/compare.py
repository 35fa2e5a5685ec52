"""`charlm compare`: runs side by side, in a table that fits a terminal (charlm.compare.runs).

    charlm compare                         # the workspace, HEAD and HEAD's dvc experiments
    charlm compare HEAD~1 workspace        # a commit against the workspace
    charlm compare h16-lr0.003 h32-lr0.01  # two experiments (names from `dvc exp show`)
    charlm compare --val --md              # val bpc beside test, as Markdown

Shows the params that differ among the runs (a short name: the shortest tail of the key
that is unique) and the bits per char of every corpus x model each run scored (test; val
with --val). One row per run; transposed (a row per param and model, a column per run)
when there are more models than runs. The text table is wrapped to --width columns
(default 120); --md, --csv and --json print everything, unwrapped. Queued experiments
have nothing to show and are left out; a run that lacks a model shows "—".
"""

from __future__ import annotations

import json

from ..compare import runs as R
from ..core.entry import HelpFormatter
from .args import integer, text


def register(sub) -> None:
    p = sub.add_parser("compare", help="runs side by side: params that differ, bpc per model",
                       description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("runs", nargs="*", type=_run_name, metavar="RUN",
                   help="experiment names, git revisions or 'workspace' (default: the "
                        "workspace, HEAD and its experiments)")
    p.add_argument("--val", action="store_true", help="val bpc beside test bpc")
    p.add_argument("--transpose", choices=["auto", "yes", "no"], default="auto",
                   help="a column per run (yes), a row per run (no)")
    p.add_argument("--width", type=integer(40, 1000), default=120,
                   help="wrap the text table to this many columns")
    fmt = p.add_mutually_exclusive_group()
    for f in ("md", "csv", "json"):
        fmt.add_argument(f"--{f}", dest="fmt", action="store_const", const=f,
                         help={"md": "Markdown", "csv": "CSV", "json": "JSON"}[f])
    p.set_defaults(func=_run, fmt="text")


def _run_name(s: str) -> str:
    s = text(s).strip()
    if not s or s.startswith("-"):
        raise ValueError(s)
    return s


_run_name.__name__ = "run name"


def _run(args) -> int:
    runs = R.collect(list(dict.fromkeys(args.runs)))
    if args.fmt == "json":
        print(json.dumps(R.as_json(runs), indent=2))
        return 0
    splits = ("test", "val") if args.val else ("test",)
    transpose = {"auto": None, "yes": True, "no": False}[args.transpose]
    frame = R.table(runs, splits, transpose)
    if args.fmt != "text":
        print(R.render(frame, args.fmt).rstrip("\n"))
        return 0
    what = " and ".join(splits)
    differ = len(R.differing(runs))
    print(f"{len(runs)} runs: {what} bits per char (lower is better); "
          f"{differ or 'no'} param{'s' if differ != 1 else ''} differ{'s' if differ == 1 else ''}")
    print(R.render(frame, "text", args.width))
    return 0
