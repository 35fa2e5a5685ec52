"""The `charlm` CLI fuzzer's command line (the fuzzer: tests/clifuzz/; its fast profile in the
suite: tests/test_cli_fuzz.py).

    python tests/cli_fuzz.py --cases 2000 --seed 7 --subprocess   # the long profile
    python tests/cli_fuzz.py --seed 7 --case 123 -v               # replay one case of it
    python tests/cli_fuzz.py --repo /tmp/built/repo ...           # reuse a tiny_repo.build_repo tree
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))      # run as a script: tests/ imports

from clifuzz import DEFAULT_TIMEOUT, Fuzzer, format_failure, report, subprocess_checks  # noqa: E402


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=None, help="default: random (printed)")
    ap.add_argument("--case", type=int, action="append", help="replay only this case (repeatable)")
    ap.add_argument("--start", type=int, default=0, help="first case index")
    ap.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per case")
    ap.add_argument("--only", action="append", help="only this subcommand (e.g. 'ngram query')")
    ap.add_argument("--repo", type=Path, help="a tree built by tiny_repo.build_repo (else built)")
    ap.add_argument("--workdir", type=Path, help="default: a new temporary folder")
    ap.add_argument("--subprocess", action="store_true", help="also the subprocess checks")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every case")
    args = ap.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**9)
    print(f"charlm CLI fuzz: seed {seed} (rerun: python tests/cli_fuzz.py --seed {seed} "
          f"--cases {args.cases})", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="charlm-fuzz-"))
    repo = args.repo
    if repo is None:
        from tiny_repo import build_repo
        print("building the tiny repository ...", flush=True)
        repo = build_repo(tmp / "built")
    fz = Fuzzer(repo, args.workdir or tmp / "work", seed, args.timeout, args.only)
    t0 = time.monotonic()
    results = []
    indices = args.case or range(args.start, args.start + args.cases)
    for i in indices:
        r = fz.run_case(fz.case(i))
        results.append(r)
        if r.failures:
            print(format_failure(r), flush=True)
        elif args.verbose:
            print(f"[case {i}] ok exit {r.code} {r.seconds:.2f}s: {r.case.line()[:200]}\n"
                  f"    {r.last_err()[:160]!r}", flush=True)
        if args.verbose and r.tb:
            print(r.tb)
    print(f"\n{len(results)} cases in {time.monotonic() - t0:.1f}s; slowest:")
    for r in sorted(results, key=lambda r: -r.seconds)[:8]:
        print(f"  {r.seconds:5.1f}s exit {r.code} [case {r.case.index}] {r.case.line()[:150]}")
    print()
    print(report(results, seed))
    sub = subprocess_checks(fz.repo) if args.subprocess else []
    for line, problem in sub:
        print(f"subprocess: {line}\n    {problem}")
    fz.restore()
    return 1 if any(r.failures for r in results) or sub else 0


if __name__ == "__main__":
    sys.exit(main())
