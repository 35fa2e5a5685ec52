"""Contiguous train/val/test splits, the vocabulary, and the encoded arrays.

Layout of ``data/prepared/<corpus>/``: ``train.npy``, ``val.npy``, ``test.npy``
(ids in the smallest unsigned dtype that fits), ``vocab.json``, ``stats.json``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.errors import CorpusError
from ..core.fsutil import save_npy, write_json
from ..core.vocab import Vocab
from ..params import SplitParams


def split_bounds(n: int, split: SplitParams) -> tuple[int, int]:
    """Split points: train = [0, a), val = [a, b), test = [b, n), floor of cumulative fractions."""
    a = int(np.floor(n * split.train))
    b = int(np.floor(n * (split.train + split.val)))
    return a, b


def prepare_text(text: str, split: SplitParams, name: str = "corpus") -> tuple[Vocab, dict, dict]:
    """Return (vocab, {split: ids}, stats) for a whole corpus text."""
    n = len(text)
    a, b = split_bounds(n, split)
    parts = {"train": text[:a], "val": text[a:b], "test": text[b:]}
    for k, v in parts.items():
        if not v:
            raise CorpusError(f"corpus {name!r} ({n} chars) is too small: its {k} split is empty")
    vocab = Vocab.build(parts["train"])
    if len(vocab.chars) < 2:
        raise CorpusError(f"corpus {name!r}: the train split has {len(vocab.chars)} distinct "
                          "character(s); nothing to model")
    arrays, stats = {}, {"corpus": name, "chars": n, "vocab_size": vocab.size,
                         "dtype": str(vocab.dtype), "splits": {}}
    for k, v in parts.items():
        ids, n_unknown = vocab.encode(v)
        arrays[k] = ids
        stats["splits"][k] = {"chars": len(ids), "unknown_chars": n_unknown,
                              "unknown_rate": n_unknown / len(ids)}
    return vocab, arrays, stats


def save_prepared(out_dir: Path, vocab: Vocab, arrays: dict, stats: dict) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for k, ids in arrays.items():
        save_npy(out_dir / f"{k}.npy", ids)
    vocab.save(out_dir / "vocab.json")
    write_json(out_dir / "stats.json", stats)
