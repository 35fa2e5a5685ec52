"""`python -m charlm.cli` is the `charlm` command."""

import sys

from .main import main

main(sys.argv[1:])
