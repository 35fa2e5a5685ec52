"""Counting all levels in passes over position streams, within a memory budget.

Level k's distinct k-grams are the text positions ordered by (last symbol, rank of the
(k-1)-gram prefix). The positions come ordered by their prefix's rank from level k-1;
two passes then make level k:

* **distribute**: a stable radix pass on the last symbol. The bucket of each symbol is
  known in advance (its count in the text), so every chunk of the input writes its
  bucket runs straight to their final places;
* **scan**: the bucket-ordered positions are read in order and ranked (a new k-gram
  starts where the symbol or the prefix rank changes), which gives the level's keys,
  counts and one position per k-gram, and level k+1's input (each position + 1, with
  its k-gram's rank), already ordered by that rank.

Both passes read their input in chunks, so the position streams (two pairs of int32
arrays, 16 bytes per char) live in RAM when the budget allows and otherwise in files on
disk (an external sort by distribution: the budget then bounds them by the chunk
size). What stays in RAM whatever the budget is the text and the rank of the gram
ending at each position at this level and the one below (random access: 9 bytes per
char with int32 ranks), and the tables themselves.

The result is the same, array for array and dtype for dtype, as counting everything at
once (tests/test_ngram_passes.py checks both modes against the naive count).
"""

from __future__ import annotations

import os
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass

import numpy as np

from ..core.errors import ParamsError

MB = 2**20
TEMP_BYTES_PER_ELEMENT = 48   # a chunk's temporaries: argsort (8), sorted copies, flags...
MIN_CHUNK = 1 << 16
MAX_CHUNK = 1 << 22        # bigger chunks gain nothing measurable


@dataclass(frozen=True)
class CountPlan:
    """Where the position streams live and how big a chunk is."""
    on_disk: bool
    chunk: int
    ram_bytes: int        # the estimate for the streams, the ranks and the text (no tables)


def plan(L: int, idx: np.dtype, sym: np.dtype, budget_mb: float) -> CountPlan:
    """The streams stay in RAM if they fit in the budget with the ranks, the text and a
    chunk's temporaries; else they spill and the chunk shrinks to fit. One line of error
    if even the ranks and the text do not fit. (The tables counted come on top.)"""
    budget = int(budget_mb * MB)
    fixed = L * (2 * idx.itemsize + sym.itemsize)           # two rank arrays + the text
    streams = 4 * L * idx.itemsize
    chunk = min(L, MAX_CHUNK)
    if fixed + streams + TEMP_BYTES_PER_ELEMENT * chunk <= budget:
        return CountPlan(False, chunk, fixed + streams)
    chunk = min(chunk, (budget - fixed) // TEMP_BYTES_PER_ELEMENT)
    if chunk < min(L, MIN_CHUNK):
        need = (fixed + TEMP_BYTES_PER_ELEMENT * min(L, MIN_CHUNK)) // MB + 1
        raise ParamsError(f"counting {L:,} chars needs ngram.memory_mb >= {need} (the text "
                          f"and two ranks per char stay in RAM); it is {budget_mb:g}")
    return CountPlan(True, chunk, fixed)


class PairStream:
    """n (position, rank) pairs as two arrays of one dtype, in RAM or in a file; read and
    written in contiguous runs."""

    def __init__(self, n: int, dtype: np.dtype, path: str | None = None):
        self.n, self.dtype = n, np.dtype(dtype)
        self.fd = None
        if path is None:
            self.pos, self.rank = np.empty(n, self.dtype), np.empty(n, self.dtype)
        else:
            self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
            os.ftruncate(self.fd, 2 * n * self.dtype.itemsize)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def write(self, start: int, pos: np.ndarray, rank: np.ndarray) -> None:
        if self.fd is None:
            self.pos[start:start + len(pos)] = pos
            self.rank[start:start + len(rank)] = rank
            return
        isz = self.dtype.itemsize
        for base, a in ((0, pos), (self.n * isz, rank)):
            buf = memoryview(np.ascontiguousarray(a, dtype=self.dtype)).cast("B")
            off = base + start * isz
            while len(buf):                              # pwrite may write less
                done = os.pwrite(self.fd, buf, off)
                buf, off = buf[done:], off + done

    def read(self, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        if self.fd is None:
            return self.pos[a:b], self.rank[a:b]
        isz = self.dtype.itemsize
        return tuple(self._pread(base + a * isz, (b - a) * isz)
                     for base in (0, self.n * isz))

    def _pread(self, off: int, size: int) -> np.ndarray:
        out = np.empty(size // self.dtype.itemsize, self.dtype)
        view, got = memoryview(out).cast("B"), 0
        while got < size:
            n = os.preadv(self.fd, [view[got:]], off + got)
            if n == 0:
                raise OSError("the counting spill file ended early")
            got += n
        return out


def distribute(stream: np.ndarray, src: PairStream, n: int, dst: PairStream,
               bucket_sizes: np.ndarray, chunk: int) -> None:
    """dst = src's first n pairs stably sorted by the symbol at each position."""
    ptr = np.cumsum(bucket_sizes) - bucket_sizes
    for a in range(0, n, chunk):
        pos, rank = src.read(a, min(a + chunk, n))
        last = stream[pos]
        o = np.argsort(last, kind="stable")               # radix sort of 8/16-bit ids
        pos, rank = pos[o], rank[o]
        bc = np.bincount(last, minlength=len(bucket_sizes))
        cs = np.cumsum(bc) - bc
        for b in np.flatnonzero(bc):
            s, c = cs[b], bc[b]
            dst.write(int(ptr[b]), pos[s:s + c], rank[s:s + c])
        ptr += bc


@dataclass
class Level:
    keys: np.ndarray         # sorted int64 keys: last * n_prev + prefix rank
    counts: np.ndarray       # int64 run lengths (the pad region not yet taken out)
    reps: np.ndarray         # one position where each k-gram ends


def scan(perm: PairStream, bucket_sizes: np.ndarray, n_prev: int, g: np.ndarray,
         nxt: PairStream, L: int, chunk: int) -> tuple[Level, int]:
    """Rank the bucket-ordered pairs: g[position] = its k-gram's rank; writes level k+1's
    input pairs (position + 1, rank) to `nxt`. Returns (the level, pairs written)."""
    n = int(bucket_sizes.sum())
    ends = np.cumsum(bucket_sizes)
    prev = (-1, -1)                                         # (symbol, prefix rank)
    rank0, w = 0, 0
    starts, keys, reps = [], [], []
    for a in range(0, n, chunk):
        b = min(a + chunk, n)
        pos, par = perm.read(a, b)
        last = bucket_symbols(ends, a, b)
        new = np.empty(len(pos), dtype=bool)
        new[0] = int(last[0]) != prev[0] or int(par[0]) != prev[1]
        np.not_equal(last[1:], last[:-1], out=new[1:])
        new[1:] |= par[1:] != par[:-1]
        r = np.cumsum(new, dtype=g.dtype)
        r += rank0 - 1
        st = np.flatnonzero(new)
        starts.append(st + a)
        keys.append(last[st].astype(np.int64) * n_prev + par[st])
        reps.append(pos[st])
        g[pos] = r
        keep = pos < L - 1
        nxt.write(w, pos[keep] + 1, r[keep])
        w += int(np.count_nonzero(keep))
        rank0, prev = int(r[-1]) + 1, (int(last[-1]), int(par[-1]))
    starts = np.concatenate(starts)
    return Level(np.concatenate(keys), np.diff(starts, append=n), np.concatenate(reps)), w


def bucket_symbols(ends: np.ndarray, a: int, b: int) -> np.ndarray:
    """The symbol of each place a..b-1 of a bucket-ordered stream (buckets end at `ends`)."""
    lo, hi = np.searchsorted(ends, [a, b - 1], side="right")
    runs = np.minimum(ends[lo:hi + 1], b) - np.maximum(ends[lo:hi + 1] - np.diff(
        ends[lo:hi + 1], prepend=ends[lo - 1] if lo else 0), a)
    return np.repeat(np.arange(lo, hi + 1, dtype=np.int64), runs)


def count_levels(stream: np.ndarray, n_symbols: int, levels: int, first_event: int,
                 idx: np.dtype, cp: CountPlan) -> tuple[list, list, list]:
    """(keys, counts, suffix) of levels 1..`levels` of `stream` (see `NgramCounts`)."""
    L = len(stream)
    with ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="charlm-count-")) \
            if cp.on_disk else None
        pairs = []
        for name in ("a", "b"):
            p = PairStream(L, idx, os.path.join(tmp, name) if tmp else None)
            stack.callback(p.close)
            pairs.append(p)
        src, dst = pairs
        for a in range(0, L, cp.chunk):                     # level 1's input: every position
            b = min(a + cp.chunk, L)
            src.write(a, np.arange(a, b, dtype=idx), np.zeros(b - a, dtype=idx))
        keys, counts, suffix = [], [], []
        g_prev, n_prev, n = None, 1, L
        for k in range(1, levels + 1):
            sizes = np.bincount(stream[k - 1:], minlength=n_symbols)
            distribute(stream, src, n, dst, sizes, cp.chunk)
            g = np.empty(L, dtype=idx)        # entries before position k-1 are never read
            lv, n = scan(dst, sizes, n_prev, g, src, L, cp.chunk)
            np.subtract.at(lv.counts, g[k - 1:first_event], 1)     # pad-region endings
            keys.append(lv.keys)
            counts.append(lv.counts)
            suffix.append(g_prev[lv.reps] if k > 1 else np.zeros(len(lv.keys), dtype=idx))
            g_prev, n_prev = g, len(lv.keys)
            del lv
        return keys, counts, suffix
