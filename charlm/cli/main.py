"""The `charlm` command: add corpora; sample, score and list models; check metrics.

Run it from the repository root (where dvc.yaml and params.yaml are):

    charlm ngram query --corpus tinyshakespeare --order 4 ello
    charlm ngram sample --corpus tinyshakespeare --order 10 --length 500 --seed 1
    charlm sample --corpus tinyshakespeare --model lstm --prime "ROMEO:" --length 300
    charlm score --corpus tinyshakespeare --model lstm my.txt
    charlm models
    charlm corpus add mybook mybook.txt --to-run
    charlm compare
    charlm diff HEAD --out pr-report
    charlm check-metrics --against HEAD --tolerance 0.02
"""

from __future__ import annotations

import importlib
import sys

from .. import __version__
from ..core.entry import HelpFormatter, run_main
from .args import Parser

# One module per subcommand in charlm/cli/, over the library code it runs: each defines
# `register(subparsers)`; the parser it adds sets `func=` to a callable taking the args.
COMMAND_MODULES = ["charlm.cli.corpus", "charlm.cli.ngram", "charlm.cli.sample", "charlm.cli.score",
                   "charlm.cli.models", "charlm.cli.compare", "charlm.cli.diff",
                   "charlm.cli.check_metrics"]


def build_parser() -> Parser:
    ap = Parser(prog="charlm", description=__doc__,
                                 formatter_class=HelpFormatter)
    ap.add_argument("--version", action="version", version=f"charlm {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return ap


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    run_main(lambda: args.func(args))


if __name__ == "__main__":
    main(sys.argv[1:])
