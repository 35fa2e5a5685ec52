"""Bits per character: the one formula every model's number goes through.

bpc = total -log2 P over the chars scored / their count; perplexity = 2 ** bpc.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import CharlmError

LN2 = math.log(2.0)        # nats per bit: a network's log-softmax / LN2 is its log2 P


def bpc(log2p: np.ndarray) -> float:
    """Mean -log2 P of the scored chars (inf if any char has probability 0, nan if none)."""
    log2p = np.asarray(log2p, dtype=np.float64)
    return float(-np.mean(log2p)) if log2p.size else float("nan")


def perplexity(bits: float) -> float:
    return float(2.0 ** bits) if np.isfinite(bits) else float("inf")


def bpc_stats(log2p: np.ndarray) -> dict:
    """bpc, perplexity and char count; an empty split or a zero/NaN probability is an error."""
    log2p = np.asarray(log2p, dtype=np.float64)
    if log2p.size == 0:
        raise CharlmError("cannot score an empty split")
    if not np.all(np.isfinite(log2p)):
        bad = int(np.sum(~np.isfinite(log2p)))
        raise CharlmError(f"{bad} char(s) got probability 0 or NaN: the model is not smoothed")
    bits = bpc(log2p)
    return {"bpc": bits, "ppl": perplexity(bits), "chars": int(log2p.size)}
