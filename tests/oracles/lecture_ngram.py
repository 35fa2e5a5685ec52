"""The lecture's character n-gram model, as written there: a dict of Counters.

Yoav Goldberg, "The unreasonable effectiveness of Character-level Language Models"
(the notebook that answers Karpathy's char-rnn post). Kept as the baseline for
`bench_ngram.py` and as the reference the tests check `mle` against.
Only change: `train_char_lm` takes the text itself (`train_char_lm_file` reads a
file, as the lecture's does), and `generate_text` takes an explicit `random.Random`.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict


def train_char_lm_text(data: str, order: int = 4) -> dict:
    lm = defaultdict(Counter)
    pad = "~" * order
    data = pad + data
    for i in range(len(data) - order):
        history, char = data[i:i + order], data[i + order]
        lm[history][char] += 1

    def normalize(counter):
        s = float(sum(counter.values()))
        return [(c, cnt / s) for c, cnt in counter.items()]

    outlm = {hist: normalize(chars) for hist, chars in lm.items()}
    return outlm


def train_char_lm(fname: str, order: int = 4) -> dict:
    with open(fname, encoding="utf-8") as f:
        data = f.read()
    return train_char_lm_text(data, order)


def generate_letter(lm: dict, history: str, order: int, rng: random.Random) -> str:
    history = history[-order:]
    dist = lm[history]
    x = rng.random()
    for c, v in dist:
        x = x - v
        if x <= 0:
            return c
    return dist[-1][0]     # float round-off: the lecture's loop would return None here


def generate_text(lm: dict, order: int, nletters: int = 1000, seed: int = 0) -> str:
    rng = random.Random(seed)
    history = "~" * order
    out = []
    for i in range(nletters):
        c = generate_letter(lm, history, order, rng)
        history = history[-order:] + c
        out.append(c)
    return "".join(out)
