"""Sampling text from a trained neural model, one character at a time.

    for ch in sample_stream(model, vocab, length=500, seed=1, prime="ROMEO:"):
        print(ch, end="", flush=True)
    text = sample(model, vocab, 500, seed=1, prime="ROMEO:", temperature=0.8, top_k=20)
    texts = sample_batch(model, vocab, n=4, length=500, seed=1)   # 4 samples, one batch

The prime is run through the model in one fused call and warms the hidden state;
then each step feeds the last character (batch 1, or n for `sample_batch`). A transformer
attends over a sliding window of its context instead, with a KV cache ("stepper") or the
window recomputed at every char ("module"): the same text (charlm.neural.gpt.Generator). On CPU the
one-step calls run with oneDNN switched off: PyTorch's oneDNN RNN path is several
times slower for single-step calls (measured in benchmarks/results/train.md), while
the prime (a long sequence) and training keep it on. The unknown id is never sampled.
Same model + seed + options give the same text.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator, Optional

import numpy as np
import torch
import torch.nn.functional as F

from ..core.errors import ParamsError
from ..core.vocab import UNK_ID, Vocab
from ..neural.gpt import Generator
from ..neural.models import CharRNN, mkldnn_enabled
from ..params.sections import MIN_TEMPERATURE


def _check(length: int, temperature: float, top_k: Optional[int]) -> None:
    if length < 0:
        raise ParamsError(f"length: must be >= 0, got {length}")
    if not MIN_TEMPERATURE <= temperature <= 100:
        raise ParamsError(f"temperature: must be in {MIN_TEMPERATURE:g}..100, got {temperature}")
    if top_k is not None and top_k < 1:
        raise ParamsError(f"top_k: must be >= 1, got {top_k}")


def encode_prime(vocab: Vocab, prime: Optional[str], unknown_ok: bool = False) -> np.ndarray:
    """The prime's ids; unknown characters raise VocabError naming them, unless
    `unknown_ok` (then they become the unknown id)."""
    if not prime:
        return np.zeros(0, dtype=np.int64)
    if unknown_ok:
        return vocab.encode(prime)[0].astype(np.int64)
    return vocab.encode_strict(prime, what="prime").astype(np.int64)


def next_probs(logits: torch.Tensor, temperature: float, top_k: Optional[int]) -> torch.Tensor:
    """(B, V) logits -> (B, V) float64 CPU probabilities (unknown id masked, top-k, temperature)."""
    logits = logits.float() / temperature
    logits[:, UNK_ID] = float("-inf")
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return F.softmax(logits, dim=-1).double().cpu()


# How one generation step runs: "stepper" (`OneStep`: plain matmuls, the fast path), or
# the fused nn.LSTM/GRU/RNN module called on one step, with oneDNN off ("module") or on
# ("module-mkldnn"); benchmarks/speed/bench_train.py compares them.
ONE_STEP_PATHS = ("stepper", "module", "module-mkldnn")


class OneStep:
    """One recurrent step for a batch of n ids, with plain matmuls on pre-transposed weights.

    The same equations as PyTorch's nn.RNN (tanh) / nn.LSTM (gates i, f, g, o) / nn.GRU
    (gates r, z, n); the fused modules' single-step CPU path is several times slower
    (measured in benchmarks/results/train.md), so sampling steps run through this.
    Layer 0's input projection is a table lookup: embedding @ W_ih0.T + b_ih0. Every
    other matrix is applied by `linear` (fp32; reading the matrices as fp16 or int8 does
    not pay on an AVX2 CPU: benchmarks/results/sampling.md).
    """

    def __init__(self, model: CharRNN):
        rnn, c = model.rnn, model.cfg
        self.arch, self.layers, self.hidden = c.arch, c.num_layers, c.hidden_size
        w = lambda name: getattr(rnn, name).detach()  # noqa: E731
        self.table0 = (model.embed.weight.detach() @ w("weight_ih_l0").T + w("bias_ih_l0")).contiguous()
        self.ih = [None] + [self.linear(w(f"weight_ih_l{i}"), w(f"bias_ih_l{i}"))
                            for i in range(1, self.layers)]
        self.hh = [self.linear(w(f"weight_hh_l{i}"), w(f"bias_hh_l{i}"))
                   for i in range(self.layers)]
        self.head = self.linear(model.head.weight.detach(), model.head.bias.detach())
        self.device = model.head.weight.device

    def linear(self, w: torch.Tensor, b: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        """x -> x @ W.T + b for W (out, in): addmm on a pre-transposed W. A subclass may
        apply W another way (the sampling benchmark reads it as fp16 or int8)."""
        wt = w.T.contiguous()
        return lambda x: torch.addmm(b, x, wt)

    def state_from(self, state, n: int) -> list:
        """Per-layer states (h or (h, c), each (n, H)) from the fused module's state."""
        if state is None:
            z = torch.zeros(n, self.hidden, device=self.device)
            return [(z, z) if self.arch == "lstm" else z for _ in range(self.layers)]
        if self.arch == "lstm":
            return [(state[0][i], state[1][i]) for i in range(self.layers)]
        return [state[i] for i in range(self.layers)]

    def __call__(self, ids: torch.Tensor, states: list) -> torch.Tensor:
        """ids (n,) -> logits (n, V); `states` (a list per layer) is updated in place."""
        x = None
        for i in range(self.layers):
            gi = self.table0[ids] if i == 0 else self.ih[i](x)
            if self.arch == "lstm":
                h, c = states[i]
                g = self.hh[i](h).add_(gi)
                ig, fg, gg, og = g.chunk(4, 1)
                c = torch.sigmoid(fg) * c + torch.sigmoid(ig) * torch.tanh(gg)
                h = torch.sigmoid(og) * torch.tanh(c)
                states[i] = (h, c)
            elif self.arch == "gru":
                h = states[i]
                gh = self.hh[i](h)
                ir, iz, in_ = gi.chunk(3, 1)
                hr, hz, hn = gh.chunk(3, 1)
                r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
                h = torch.lerp(torch.tanh(in_ + r * hn), h, z)    # (1 - z) * n + z * h
                states[i] = h
            else:
                h = torch.tanh(self.hh[i](states[i]).add_(gi))
                states[i] = h
            x = h
        return self.head(x)


@torch.no_grad()
def sample_ids(model: CharRNN, prime_ids: np.ndarray, length: int, seed: int, n: int = 1,
               temperature: float = 1.0, top_k: Optional[int] = None,
               one_step: str = "stepper") -> Iterator[np.ndarray]:
    """Yield `length` arrays of `n` sampled ids each (n samples generated as one batch)."""
    _check(length, temperature, top_k)
    if one_step not in ONE_STEP_PATHS:
        raise ParamsError(f"one_step: must be one of {', '.join(ONE_STEP_PATHS)}, got {one_step!r}")
    if top_k is not None and top_k > model.cfg.vocab_size - 1:
        raise ParamsError(f"top_k: must be <= {model.cfg.vocab_size - 1} (the characters in "
                          f"the vocabulary), got {top_k}")
    model.eval()
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(int(seed))
    if model.cfg.is_transformer:
        yield from _sample_gpt(model, prime_ids, length, gen, n, temperature, top_k,
                               cached=one_step == "stepper")
        return
    state = None
    if len(prime_ids):
        x = torch.as_tensor(prime_ids, dtype=torch.long, device=device)[:, None].expand(-1, n)
        logits, state = model(x.contiguous(), state)       # one fused call, oneDNN as usual
        logits = logits[-1]
    else:
        logits = model.empty_history_logits()[None].expand(n, -1)
    if one_step == "stepper":
        step, states = OneStep(model), None
        states = step.state_from(state, n)
        for _ in range(length):
            ids = torch.multinomial(next_probs(logits, temperature, top_k), 1, generator=gen)[:, 0]
            yield ids.numpy()
            logits = step(ids.to(device), states)
        return
    cpu = device.type == "cpu"
    with mkldnn_enabled(one_step == "module-mkldnn") if cpu else contextlib.nullcontext():
        for _ in range(length):
            ids = torch.multinomial(next_probs(logits, temperature, top_k), 1, generator=gen)[:, 0]
            yield ids.numpy()
            logits, state = model(ids.to(device)[None, :], state)
            logits = logits[0]


def _sample_gpt(model, prime_ids: np.ndarray, length: int, gen: torch.Generator, n: int,
                temperature: float, top_k: Optional[int], cached: bool) -> Iterator[np.ndarray]:
    """The transformer's loop: its window and KV cache are charlm.neural.gpt.Generator's
    ("stepper": cached; "module": the window recomputed every char, the same text)."""
    step = Generator(model, n, cached)
    if len(prime_ids):
        prime = torch.as_tensor(prime_ids, dtype=torch.long)[None, :].expand(n, -1)
        logits = step.feed(prime)
    else:
        logits = model.empty_history_logits()[None].expand(n, -1)
    for _ in range(length):
        ids = torch.multinomial(next_probs(logits, temperature, top_k), 1, generator=gen)[:, 0]
        yield ids.numpy()
        logits = step.feed(ids)


def sample_stream(model: CharRNN, vocab: Vocab, length: int, seed: int, prime: Optional[str] = None,
                  temperature: float = 1.0, top_k: Optional[int] = None,
                  unknown_ok: bool = False, one_step: str = "stepper") -> Iterator[str]:
    """Yield the sampled characters one by one (the prime itself is not yielded)."""
    prime_ids = encode_prime(vocab, prime, unknown_ok)
    table = vocab.chars
    for ids in sample_ids(model, prime_ids, length, seed, 1, temperature, top_k, one_step):
        yield table[int(ids[0]) - 1]


def sample(model: CharRNN, vocab: Vocab, length: int, seed: int, prime: Optional[str] = None,
           temperature: float = 1.0, top_k: Optional[int] = None, unknown_ok: bool = False,
           one_step: str = "stepper") -> str:
    """`length` sampled characters as one string (without the prime)."""
    return "".join(sample_stream(model, vocab, length, seed, prime, temperature, top_k, unknown_ok,
                                 one_step))


def sample_batch(model: CharRNN, vocab: Vocab, n: int, length: int, seed: int,
                 prime: Optional[str] = None, temperature: float = 1.0,
                 top_k: Optional[int] = None, unknown_ok: bool = False,
                 one_step: str = "stepper") -> list[str]:
    """`n` independent samples generated together as one batch."""
    if n < 1:
        raise ParamsError(f"n: must be >= 1, got {n}")
    prime_ids = encode_prime(vocab, prime, unknown_ok)
    steps = list(sample_ids(model, prime_ids, length, seed, n, temperature, top_k, one_step))
    if not steps:
        return [""] * n
    ids = np.stack(steps, axis=1)            # (n, length)
    return [vocab.decode(row) for row in ids]
