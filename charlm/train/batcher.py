"""Training batches: B contiguous streams over the train split, read in order (the
recurrent models), or B windows drawn at random (the transformer: `WindowBatcher`).

The split is cut into `batch_size` equal streams; each `next()` gives the next `seq_len`
chars of every stream as (x, y) with y = x shifted by one char, so a carried hidden
state always continues its own stream. When the streams reach their end all restart
at their beginning (`reset`: the caller zeroes the carried state).
"""

from __future__ import annotations

import numpy as np

from ..core.errors import ParamsError, TrainingError


class StreamBatcher:
    """B contiguous streams over `data`; `next()` gives (x, y, reset) as (T, b) int64 arrays.

    With world_size > 1, rank r takes streams [r*B/W, (r+1)*B/W) of the global B.
    """

    def __init__(self, data: np.ndarray, batch_size: int, seq_len: int,
                 rank: int = 0, world_size: int = 1):
        if batch_size % world_size:
            raise ParamsError(f"train.batch_size {batch_size} is not divisible by nproc {world_size}")
        self.data, self.seq_len = data, seq_len
        self.stream_len = (len(data) - 1) // batch_size
        if self.stream_len < seq_len:
            raise TrainingError(f"the train split ({len(data):,} chars) is too small for "
                                f"{batch_size} streams of seq_len {seq_len}")
        per = batch_size // world_size
        self.starts = (np.arange(rank * per, (rank + 1) * per) * self.stream_len)[None, :]
        self.offsets = np.arange(seq_len)[:, None]
        self.pos = 0              # chars already read from each stream
        self.epoch = 0

    def next(self) -> tuple[np.ndarray, np.ndarray, bool]:
        reset = False
        if self.pos + self.seq_len > self.stream_len:
            self.pos, self.epoch, reset = 0, self.epoch + 1, True
        idx = self.starts + self.pos + self.offsets
        self.pos += self.seq_len
        return self.data[idx].astype(np.int64), self.data[idx + 1].astype(np.int64), reset

    def state(self) -> dict:
        return {"pos": self.pos, "epoch": self.epoch}

    def load_state(self, d: dict) -> None:
        self.pos, self.epoch = int(d["pos"]), int(d["epoch"])


class WindowBatcher:
    """B windows of `seq_len` chars (a transformer's context) at random starts: the windows
    of step k are drawn from a generator seeded with (seed, k), so a resumed run, and every
    rank's share (windows [r*B/W, (r+1)*B/W) of the global B), draw what an uninterrupted
    one-process run draws. `next()` gives (x, y, reset) as (T, b) int64 arrays; nothing is
    carried between windows, so reset is always False."""

    def __init__(self, data: np.ndarray, batch_size: int, seq_len: int, seed: int,
                 rank: int = 0, world_size: int = 1):
        if batch_size % world_size:
            raise ParamsError(f"train.batch_size {batch_size} is not divisible by nproc {world_size}")
        if len(data) <= seq_len + 1:
            raise TrainingError(f"the train split ({len(data):,} chars) is too small for "
                                f"windows of {seq_len} chars")
        self.data, self.seq_len, self.seed, self.batch_size = data, seq_len, seed, batch_size
        per = batch_size // world_size
        self.share = slice(rank * per, (rank + 1) * per)
        self.offsets = np.arange(seq_len)[:, None]
        self.step = 0

    def next(self) -> tuple[np.ndarray, np.ndarray, bool]:
        rng = np.random.default_rng([self.seed % 2**64, self.step])
        starts = rng.integers(0, len(self.data) - self.seq_len, size=self.batch_size)
        idx = starts[self.share][None, :] + self.offsets
        self.step += 1
        return self.data[idx].astype(np.int64), self.data[idx + 1].astype(np.int64), False

    def state(self) -> dict:
        return {"step": self.step}

    def load_state(self, d: dict) -> None:
        self.step = int(d["step"])
