"""Running an entry point: user errors become one line on stderr, exit status 2."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Callable, Optional

from . import numerics
from .errors import CharlmError, ParamsError

if TYPE_CHECKING:
    from ..params import Params


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Every subcommand's --help: the description as written, and each option's default
    (when it has one worth showing: not None, not a False flag, not a required option)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        shown = (default is not None and default is not False and default != argparse.SUPPRESS
                 and not action.required
                 and (action.option_strings or action.nargs in ("?", "*")))
        if shown and "%(default)" not in text and "default" not in text:
            text += " (default: %(default)s)"
        return text


def run_main(main: Callable[[], int | None]) -> None:
    """Run an entry point: the numerics profile checked first (charlm/core/numerics.py), then
    `main`; a CharlmError, a refused file operation or running out of memory is one line on
    stderr and exit status 2; a closed output pipe ends quietly with status 141 (SIGPIPE's)."""
    try:
        numerics.check()
        code = main()
    except CharlmError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:                  # the reader went away (`| head`): end quietly
        _quiet_stdout()
        sys.exit(141)
    except MemoryError:
        print("error: out of memory (ask for less: a shorter length, fewer samples)",
              file=sys.stderr)
        sys.exit(2)
    except OSError as e:                     # the environment refused: a path, a permission
        where = f"{e.filename}: " if e.filename else ""
        print(f"error: {where}{e.strerror or e}", file=sys.stderr)
        sys.exit(2)
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _quiet_stdout()
        sys.exit(141)
    sys.exit(code or 0)


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush cannot fail again."""
    import os
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def stage_args(doc: str | None, *positionals: str,
               add: Optional[Callable[[argparse.ArgumentParser], None]] = None
               ) -> tuple[argparse.Namespace, "Params"]:
    """The common head of a `stages/` entry point: the positional arguments named in
    `positionals` (e.g. "corpus", "model"), `--params FILE`, whatever `add` adds; then the
    params file is loaded and validated, and a `corpus` argument is checked against it
    (an unknown corpus is a one-line error before any work)."""
    from ..params import load_params

    ap = argparse.ArgumentParser(description=doc)
    for name in positionals:
        ap.add_argument(name)
    ap.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    if add is not None:
        add(ap)
    args = ap.parse_args()
    params = load_params(args.params)
    if params.numerics != numerics.profile():
        raise ParamsError(f"numerics: {args.params} says {params.numerics!r} but this process "
                          f"runs {numerics.profile()!r} (run it through `dvc repro`, or set "
                          f"{numerics.ENV}={params.numerics})")
    if "corpus" in positionals:
        params.corpus(args.corpus)
    return args, params
