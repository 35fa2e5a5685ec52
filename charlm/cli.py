"""The `charlm` command: add corpora; sample, score and list models; check metrics.

Run it from the repository root (where dvc.yaml and params.yaml are):

    charlm ngram query --corpus tinyshakespeare --order 4 ello
    charlm ngram sample --corpus tinyshakespeare --order 10 --length 500 --seed 1
    charlm sample --corpus tinyshakespeare --model lstm --prime "ROMEO:" --length 300
    charlm score --corpus tinyshakespeare --model lstm my.txt
    charlm models
    charlm corpus add mybook mybook.txt --to-run
    charlm check-metrics --against HEAD --tolerance 0.02
"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__
from .cli_util import HelpFormatter, run_main

# Subcommands live in the modules that own them (each concept keeps its CLI next to its
# code). Modules that add subcommands: each defines `register(subparsers)`; the parser
# it adds sets `func=` to a callable taking the parsed args.
COMMAND_MODULES = ["charlm.corpus_cli", "charlm.ngram_cli", "charlm.sample_cli", "charlm.score_cli",
                   "charlm.models_cli", "charlm.check_metrics"]


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="charlm", description=__doc__,
                                 formatter_class=HelpFormatter)
    ap.add_argument("--version", action="version", version=f"charlm {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:      # that command is not part of this build
                continue
            raise
        mod.register(sub)
    return ap


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    run_main(lambda: args.func(args))


if __name__ == "__main__":
    main(sys.argv[1:])
