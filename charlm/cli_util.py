"""Running an entry point: user errors become one line on stderr, exit status 2."""

from __future__ import annotations

import sys
from typing import Callable

from .errors import CharlmError


def run_main(main: Callable[[], int | None]) -> None:
    try:
        code = main()
    except CharlmError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code or 0)
