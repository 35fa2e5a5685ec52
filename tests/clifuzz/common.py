"""What every part of the fuzzer shares: the checkout fuzzed, the fixture's names, the guard."""

from __future__ import annotations

import os
from pathlib import Path

import charlm  # noqa: F401  (first: sets the numerics profile before torch or numpy computes)


ROOT = Path(charlm.__file__).resolve().parents[1]     # the checkout whose charlm is fuzzed
CHARLM_DIR = str(ROOT / "charlm") + os.sep
CORPUS = "tinyshakespeare"
TRAINED = ("ngram", "lstm", "gru")
DEFAULT_SEED = 20240527
DEFAULT_TIMEOUT = 10.0
# a guard timeout is "slow" (reported, not a failure) when the case asked for more than
# SLOW_OK[0] and at most SLOW_OK[1] chars (length x num_samples): tiny models generate some
# 10^4-10^5 chars/s here; beyond SLOW_OK[1] (or with no such request) it is a "hang"
SLOW_OK = (10**5, 10**7)


class FuzzTimeout(BaseException):
    """The wall-clock guard fired (a BaseException: `except Exception` does not swallow it)."""
