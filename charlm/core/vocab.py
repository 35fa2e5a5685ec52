"""Character vocabulary: built from the train split, with a reserved unknown id.

Ids: 0 is the unknown character (`UNK_ID`), then the train split's characters in
code-point order. Building and encoding are vectorised (code points → `np.bincount`
and a code-point → id lookup table), a few milliseconds per million chars.
Saved as JSON with the counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import VocabError
from .fsutil import read_json, write_json

UNK_ID = 0
UNK_CHAR = "\ufffd"   # how the unknown id is shown when decoding


def codepoints(text: str) -> np.ndarray:
    """The text's code points as a uint32 array (no Python loop per char)."""
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


def smallest_uint(n_values: int) -> np.dtype:
    for dt in (np.uint8, np.uint16, np.uint32):
        if n_values <= np.iinfo(dt).max + 1:
            return np.dtype(dt)
    raise VocabError(f"vocabulary of {n_values} ids does not fit in uint32")


@dataclass
class Vocab:
    chars: list[str]            # id -> char for ids 1..; id 0 is UNK
    counts: list[int]           # train count of each char (same order as chars)

    def __post_init__(self) -> None:
        self._cps = np.array([ord(c) for c in self.chars], dtype=np.uint32)
        if len(self._cps) > 1 and not np.all(self._cps[1:] > self._cps[:-1]):
            raise VocabError("vocabulary characters must be unique and sorted")
        self.stoi = {c: i + 1 for i, c in enumerate(self.chars)}

    @property
    def size(self) -> int:
        """Number of ids, the unknown id included."""
        return len(self.chars) + 1

    @property
    def dtype(self) -> np.dtype:
        return smallest_uint(self.size)

    @classmethod
    def build(cls, text: str) -> "Vocab":
        counts = np.bincount(codepoints(text))
        cps = np.flatnonzero(counts)
        return cls([chr(c) for c in cps.tolist()], counts[cps].tolist())

    def encode(self, text: str) -> tuple[np.ndarray, int]:
        """Encode to ids; characters not in the vocabulary become UNK_ID.

        Returns (ids, number of unknown characters).
        """
        cps = codepoints(text)
        if len(cps) == 0:
            return np.zeros(0, dtype=self.dtype), 0
        table = np.full(int(cps.max()) + 1, UNK_ID, dtype=self.dtype)   # code point -> id
        in_range = self._cps[self._cps < len(table)]
        table[in_range] = np.arange(1, len(in_range) + 1, dtype=self.dtype)
        ids = table[cps]
        return ids, int(np.count_nonzero(ids == UNK_ID))

    def encode_strict(self, text: str, what: str = "text") -> np.ndarray:
        """Encode, refusing unknown characters with an error that names them."""
        ids, n_unknown = self.encode(text)
        if n_unknown:
            unknown = sorted({c for c in text if c not in self.stoi})
            shown = ", ".join(repr(c) for c in unknown[:10])
            raise VocabError(f"{what} has {len(unknown)} character(s) not in the vocabulary: {shown}")
        return ids

    def decode(self, ids) -> str:
        table = np.array([UNK_CHAR] + self.chars, dtype=object)
        return "".join(table[np.asarray(ids, dtype=np.int64)].tolist())

    def to_json(self) -> dict:
        return {"unk_id": UNK_ID, "size": self.size, "chars": self.chars, "counts": self.counts}

    def save(self, path: str | Path) -> None:
        write_json(path, self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> "Vocab":
        try:
            d = read_json(path)
            return cls(list(d["chars"]), list(d["counts"]))
        except FileNotFoundError:
            raise VocabError(f"{path}: vocabulary not found (run the prepare stage)") from None
        except (KeyError, TypeError, ValueError) as e:
            raise VocabError(f"{path}: not a charlm vocabulary ({e})") from None
