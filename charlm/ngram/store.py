"""The n-gram model files: a directory with ``model.json`` (settings, vocabulary, level
sizes, the checksum of the arrays) and ``model.npz`` (compressed; per level: sorted keys,
counts, suffix ranks), loaded with ``np.load(..., allow_pickle=False)``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..core.errors import CheckpointError, VocabError
from ..core.fsutil import atomic_open, sha256_file, write_json
from ..core.vocab import Vocab, smallest_uint
from .counts import NgramCounts

FORMAT = "charlm-ngram"
FORMAT_VERSION = 1


def write_model(path: str | Path, counts: NgramCounts, order: int, info: dict,
                vocab: Vocab) -> None:
    """Write `path`/model.npz (arrays of levels 1..order+1) then `path`/model.json (`info`,
    vocab, checksum)."""
    path = Path(path)
    arrays = {}
    c = counts
    for k in range(1, order + 2):
        arrays[f"keys_{k}"] = c.keys[k - 1].astype(np.int64)
        arrays[f"counts_{k}"] = c.counts[k - 1].astype(smallest_uint(int(c.counts[k - 1].max()) + 1))
        arrays[f"suffix_{k}"] = c.suffix[k - 1].astype(
            smallest_uint(max(c.sizes[k - 1], 1)))
    with atomic_open(path / "model.npz", "wb") as f:
        np.savez_compressed(f, **arrays)    # ~4x smaller (counts, sorted keys)
    digest = sha256_file(path / "model.npz")
    meta = {"format": FORMAT, "version": FORMAT_VERSION, **info,
            "vocab": vocab.to_json(), "npz_sha256": digest}
    write_json(path / "model.json", meta)


def _read_meta(path: Path) -> dict:
    try:
        meta = json.loads((path / "model.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no n-gram model here (model.json missing)") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path / 'model.json'}: not valid JSON ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path / 'model.json'}: not a charlm n-gram model")
    if meta.get("version") != FORMAT_VERSION:
        raise CheckpointError(f"{path / 'model.json'}: format version {meta.get('version')} "
                              f"(this code reads {FORMAT_VERSION})")
    return meta


def read_model(path: str | Path) -> tuple[NgramCounts, int, str, Vocab, float, dict | None]:
    """(counts, order, smoothing, vocab, add_k, given discounts) of the model saved in
    `path`, checked."""
    path = Path(path)
    meta = _read_meta(path)
    npz = path / "model.npz"
    if not npz.exists():
        raise CheckpointError(f"{npz}: missing")
    if sha256_file(npz) != meta.get("npz_sha256"):
        raise CheckpointError(f"{npz}: checksum mismatch (corrupt or replaced)")
    try:
        order = int(meta["order"])
        vocab = Vocab(list(meta["vocab"]["chars"]), list(meta["vocab"]["counts"]))
        with np.load(npz, allow_pickle=False) as z:
            keys = [z[f"keys_{k}"].astype(np.int64) for k in range(1, order + 2)]
            counts = [z[f"counts_{k}"].astype(np.int64) for k in range(1, order + 2)]
            suffix = [z[f"suffix_{k}"].astype(np.int64) for k in range(1, order + 2)]
    except (KeyError, TypeError, ValueError, VocabError) as e:
        raise CheckpointError(f"{path}: unreadable n-gram model ({e})") from None
    for k in range(1, order + 2):
        if not (len(keys[k - 1]) == len(counts[k - 1]) == len(suffix[k - 1])):
            raise CheckpointError(f"{path}: level {k} arrays differ in length")
    counts_obj = NgramCounts(vocab.size, order, keys, counts, suffix,
                             int(meta.get("train_chars", 0)))
    return (counts_obj, order, meta["smoothing"], vocab, float(meta.get("add_k", 1.0)),
            meta.get("given_discounts"))
