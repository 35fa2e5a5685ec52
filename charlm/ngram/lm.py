"""What every n-gram model offers (`NgramLM`), and what is built on that alone: checked,
padded input, the lecture's query, and sampling."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional, Protocol, runtime_checkable

import numpy as np

from ..core.errors import ParamsError, VocabError
from ..core.vocab import Vocab


@runtime_checkable
class NgramLM(Protocol):
    """A fitted character n-gram model: the general `NgramModel` or the packed `mle` one."""

    order: int                  # history length
    smoothing: str
    add_k: Optional[float]      # k of add_k smoothing, else None
    vocab: Vocab
    discounts: list             # kneser_ney: per level (D1, D2, D3+); else empty
    fallback_levels: list       # kneser_ney: levels whose discount estimate was invalid

    @property
    def vocab_size(self) -> int: ...

    @property
    def pad(self) -> int: ...

    def prob_sequence(self, ids: np.ndarray) -> np.ndarray:
        """P(ids[i] | the chars before it in `ids`, padded in front), float64."""

    def log2prob_sequence(self, ids: np.ndarray) -> np.ndarray: ...

    def next_probs(self, ids: np.ndarray) -> np.ndarray:
        """(len(ids), V): row i is P(. | ids[:i]) (padded history)."""

    def next_log2probs(self, ids: np.ndarray) -> np.ndarray: ...

    def history_probs(self, history: np.ndarray) -> np.ndarray:
        """P(. | history) for one history of exactly `order` symbols (pad id allowed)."""

    def query(self, history: str, literal: bool = False) -> list[tuple[str, float]]: ...

    def sample(self, length: int, seed: int, prime: Optional[str] = None) -> str: ...

    def info(self) -> dict: ...

    def save(self, path: str | Path) -> None:
        """Write the model in the general format (`NgramModel.load` reads it)."""


class Shared:
    """What both models compute alike from their own `prob_sequence`, `next_probs` and
    `lower`: the vocabulary's sizes, log2 scores, the lecture's query and sampling."""

    order: int
    vocab: Vocab

    @property
    def vocab_size(self) -> int:
        return self.vocab.size

    @property
    def pad(self) -> int:
        """The pad's id: one past the vocabulary, used only in histories."""
        return self.vocab.size

    def log2prob_sequence(self, ids: np.ndarray) -> np.ndarray:
        return log2(self.prob_sequence(ids))

    def next_log2probs(self, ids: np.ndarray) -> np.ndarray:
        return log2(self.next_probs(ids))

    def query(self, history: str, literal: bool = False) -> list[tuple[str, float]]:
        """The lecture's ``lm[history]`` (`query_history`)."""
        return query_history(self, history, literal)

    def sample(self, length: int, seed: int, prime: Optional[str] = None) -> str:
        """`prime` then `length` sampled chars; same seed, same text (`sample_text`)."""
        return sample_text(self, length, seed, prime, self.lower)


def log2(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log2(p)


def padded(ids: np.ndarray, order: int, vocab_size: int) -> np.ndarray:
    """`ids` (checked: 1-d, in [0, vocab_size)) after `order` pads (id vocab_size), int64."""
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise VocabError(f"ids must be a 1-d array, got shape {ids.shape}")
    if len(ids) and (ids.min() < 0 or ids.max() >= vocab_size):
        raise VocabError(f"ids must lie in [0, {vocab_size}), got "
                         f"{int(ids.min())}..{int(ids.max())}")
    return np.concatenate([np.full(order, vocab_size, dtype=np.int64), ids.astype(np.int64)])


def checked_history(history: np.ndarray, order: int) -> np.ndarray:
    history = np.asarray(history, dtype=np.int64)
    if len(history) != order:
        raise VocabError(f"history must have {order} chars (the model's order), "
                         f"got {len(history)}")
    return history


def query_history(model: NgramLM, history: str, literal: bool = False) -> list[tuple[str, float]]:
    """The lecture's ``lm[history]``: [(char, prob)] with prob > 0, most likely first.

    A leading run of ``~`` is the lecture's padding (start of text) unless `literal`.
    """
    if len(history) != model.order:
        raise VocabError(f"history {history!r} has {len(history)} chars; an order-"
                         f"{model.order} model needs exactly {model.order}")
    n_pad = 0 if literal else len(history) - len(history.lstrip("~"))
    ids = model.vocab.encode_strict(history[n_pad:], what=f"history {history!r}")
    hist = np.concatenate([np.full(n_pad, model.pad, dtype=np.int64),
                           ids.astype(np.int64)])
    p = model.history_probs(hist)
    order = np.lexsort((np.arange(len(p)), -p))
    table = ["\ufffd"] + model.vocab.chars
    return [(table[i], float(p[i])) for i in order if p[i] > 0]


def sample_text(model: NgramLM, length: int, seed: int, prime: Optional[str],
           lower: Callable[[int], NgramLM]) -> str:
    """`prime` (if any) followed by `length` chars sampled from `model`; same seed, same text.

    The history starts as the pad (like the lecture's generate_text), then the prime.
    The unknown id is never emitted. An mle history with no continuation (only the
    training text's final chars, or a prime) backs off to its longest suffix that has
    one, scored by ``lower(order)`` (made once per order); the lecture's dict would raise
    KeyError there.
    """
    if length < 0:
        raise ParamsError(f"length must be >= 0, got {length}")
    prime = prime or ""
    prime_ids = model.vocab.encode_strict(prime, what="prime").astype(np.int64)
    n = model.order
    hist = np.concatenate([np.full(n, model.pad, dtype=np.int64), prime_ids])[-n:]
    rng = np.random.default_rng(seed)
    lowers: dict[int, NgramLM] = {}
    out = np.empty(length, dtype=np.int64)
    for t in range(length):
        p = model.history_probs(hist)
        p[0] = 0.0                                 # never emit the unknown id
        m, hh = model, hist
        while p.sum() <= 0 and m.order > 1:        # mle: back off to a shorter history
            o = m.order - 1
            if o not in lowers:
                lowers[o] = lower(o)
            m, hh = lowers[o], hh[1:]
            p = m.history_probs(hh)
            p[0] = 0.0
        cdf = np.cumsum(p)
        c = int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"))
        c = min(c, len(p) - 1)
        out[t] = c
        hist = np.append(hist[1:], c)
    return prime + model.vocab.decode(out)
