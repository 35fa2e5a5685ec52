"""A fuzzer over every `charlm` subcommand, generated from the CLI's own argparse definition.

    python tests/cli_fuzz.py --cases 2000 --seed 7            # the long profile
    python tests/cli_fuzz.py --seed 7 --case 123 -v           # replay one case of it
    python tests/cli_fuzz.py --repo /tmp/built/repo ...       # reuse a tiny_repo.build_repo tree

`commands(build_parser())` walks `charlm.cli.main.build_parser()` down to every leaf
subcommand (`ngram query`, `ngram sample`, `corpus add`, `sample`, ...) and reads each
action's option strings, type, choices, nargs, required flag and default. `Fuzzer.case(i)`
builds one argv from that: every option gets random valid, boundary or invalid values of its
kind (int, float, choice, flag, path, output path, corpus/model name, text...). Case `i` of
seed `s` depends on (s, i) only, so any failure is replayed with `--seed s --case i`.

Each case runs in process through `charlm.cli.main.main(argv)` with the fixture repository
as cwd, stdin/stdout/stderr replaced, under a wall-clock guard (an interval timer raising
`FuzzTimeout`: a "hang"). A case FAILS when
  - an exception other than SystemExit escapes, or stderr holds a traceback  ("traceback")
  - the guard fires                                                          ("hang")
  - the exit status is not 0 or 2 (1 is allowed for check-metrics: the gate) ("wrong exit")
  - status 2 does not print exactly one non-empty line on stderr; argparse's
    usage errors ("usage: ..." then "...: error: ...") are accepted          ("multi-line error")
  - a file of the repository or of the inputs folder outside the command's
    declared outputs changed, appeared or disappeared                        ("files changed")
Declared outputs: `score --per-char PATH` (and the folders above it) when the command exits
0, unless PATH is the very file it scores; `corpus add`'s corpora.yaml, data/raw, data/cache
(and params.yaml with --to-run) when it exits 0. Nothing else, and nothing on an error exit.
Between cases the cwd, torch's thread count, the environment and (when anything changed)
both trees are restored from a pristine copy.

Paths are only ever generated inside the fuzzer's work folder: an output path that should be
/dev/null is a symlink to /dev/null there (a command that replaces the symlink instead of
writing through it would have replaced /dev/null itself).
"""

from __future__ import annotations

from .common import DEFAULT_SEED, DEFAULT_TIMEOUT, ROOT
from .harness import Fuzzer
from .processes import subprocess_checks
from .results import format_failure, report
from .trees import snapshot

__all__ = ["DEFAULT_SEED", "DEFAULT_TIMEOUT", "ROOT", "Fuzzer", "format_failure", "report",
           "snapshot", "subprocess_checks"]
