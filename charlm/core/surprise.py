"""The surprise view's data: per-char -log2 P and the top predictions on a test passage."""

from __future__ import annotations

import numpy as np

from .vocab import Vocab

SURPRISE_CHARS = 1500      # length of the test passage shown in the surprise view
SURPRISE_TOP_K = 5


def surprise_data(dists: np.ndarray, vocab: Vocab, ids: np.ndarray) -> dict:
    """Per-char -log2 P and top predictions on a test passage (for the HTML view), from
    the (len(ids), V) table of log2 next-char distributions."""
    dists = np.asarray(dists, dtype=np.float64)
    top = np.argsort(-dists, axis=1)[:, :SURPRISE_TOP_K]
    table = ["\ufffd"] + vocab.chars
    rows = np.arange(len(ids))
    return {
        "text": [table[i] for i in ids.tolist()],
        "bits": (-dists[rows, ids.astype(np.int64)]).round(3).tolist(),
        "top": [[[table[j], round(float(2.0 ** dists[r, j]), 3)] for j in top[r]]
                for r in range(len(ids))],
    }
