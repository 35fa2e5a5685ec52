"""The transformer: a decoder-only GPT over characters, nanoGPT's model in charlm's shapes.

    ids (T, B) -> token embedding + learned position embedding -> dropout
               -> num_layers x [x + attn(LN(x)), x + MLP(LN(x))]     (pre-LayerNorm blocks)
               -> LN -> logits = h @ embedding.T                        (tied input/output)

Attention is causal, through `torch.nn.functional.scaled_dot_product_attention`; the MLP is
4 x width with GELU; dropout on the embeddings, the attention weights and each residual
branch. The interface is `CharRNN`'s (time-major ids, `(logits, state)` back; the state is
always None: a transformer carries nothing from one window to the next), so the trainer,
fine-tuning, DDP and checkpoints take it as they take the RNNs.

A transformer sees at most `context` chars, so a text longer than that is scored and
sampled with a sliding window whose start jumps by a stride S (`window_start`): the char
after a history of t chars is predicted from the chars since `window_start(t)`, at least
`context - S + 1` of them once the text is longer than the context (docs/evaluation.md).

- `window_log2prob(model, ids, stride)`: every char scored once, windows batched;
- `Generator(model, n, cached)`: one char at a time for sampling, with a KV cache (or,
  `cached=False`, the window recomputed at each step: the same text, tested).
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..core.scoring import LN2

WINDOW_BATCH = 32          # windows per forward call when scoring
Cache = list               # per block: (k, v), each (B, heads, t, head_dim)


def default_stride(context: int) -> int:
    """The scorer's and sampler's stride: half the context (its bpc cost against stride 1 is
    measured in benchmarks/results/gpt_stride.md)."""
    return max(1, context // 2)


def window_start(t: int, context: int, stride: int) -> int:
    """Where the window predicting the char after a history of `t` chars starts: 0 while the
    history fits, else the least multiple of `stride` that leaves at most `context` chars."""
    return 0 if t <= context else stride * -(-(t - context) // stride)


class Block(nn.Module):
    """x + attn(LN(x)), then x + MLP(LN(x)); attention through SDPA, causal."""

    def __init__(self, width: int, heads: int, dropout: float):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv, self.proj = nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.fc, self.out = nn.Linear(width, 4 * width), nn.Linear(4 * width, width)
        self.drop = nn.Dropout(dropout)

    def attend(self, x: torch.Tensor, kv: Optional[tuple]) -> tuple[torch.Tensor, tuple]:
        """x (B, t, W) -> (B, t, W); `kv`: the cached keys and values of earlier positions
        (then t must be 1: one new position attends to all of them)."""
        B, t, W = x.shape
        q, k, v = (a.view(B, t, self.heads, W // self.heads).transpose(1, 2)
                   for a in self.qkv(x).split(W, dim=2))
        if kv is not None:
            k, v = torch.cat([kv[0], k], 2), torch.cat([kv[1], v], 2)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=kv is None and t > 1,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.drop(self.proj(y.transpose(1, 2).reshape(B, t, W))), (k, v)

    def forward(self, x: torch.Tensor, kv: Optional[tuple] = None) -> tuple[torch.Tensor, tuple]:
        a, kv = self.attend(self.ln1(x), kv)
        x = x + a
        return x + self.drop(self.out(F.gelu(self.fc(self.ln2(x))))), kv


class CharGPT(nn.Module):
    """Token + position embeddings -> pre-LN blocks -> LN -> tied output layer."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        W = cfg.hidden_size
        self.embed = nn.Embedding(cfg.vocab_size, W)
        self.pos = nn.Embedding(cfg.context, W)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(W, cfg.heads, cfg.dropout) for _ in range(cfg.num_layers))
        self.ln_f = nn.LayerNorm(W)
        self._init_weights()

    def _init_weights(self) -> None:
        """GPT-2's: N(0, 0.02) weights, zero biases, residual projections / sqrt(2 x layers)."""
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif p.dim() >= 2:
                std = 0.02 / math.sqrt(2 * self.cfg.num_layers) if name.endswith(
                    ("proj.weight", "out.weight")) else 0.02
                nn.init.normal_(p, 0.0, std)

    def forward(self, ids: torch.Tensor, state=None, cache: Optional[Cache] = None,
                offset: int = 0) -> tuple[torch.Tensor, None]:
        """ids (T, B) -> logits (T, B, V), None. T <= context. With `cache` (a list, filled
        in place) the positions start at `offset` and the cached keys are attended to."""
        if state is not None:
            raise ValueError("a transformer carries no state between windows")
        T = ids.shape[0]
        if offset + T > self.cfg.context:
            raise ValueError(f"{offset + T} positions: the transformer's context is {self.cfg.context}")
        pos = torch.arange(offset, offset + T, device=ids.device)
        h = self.drop(self.embed(ids.t()) + self.pos(pos))
        for i, block in enumerate(self.blocks):
            h, kv = block(h, cache[i] if cache and len(cache) > i else None)
            if cache is not None:
                cache[i:i + 1] = [kv]
        return F.linear(self.ln_f(h), self.embed.weight).transpose(0, 1), None

    def empty_history_logits(self) -> torch.Tensor:
        """The first char has no history to attend to: it is scored uniformly over the ids."""
        return torch.zeros(self.cfg.vocab_size, device=self.embed.weight.device)

    def optim_groups(self, weight_decay: float) -> list[dict]:
        """nanoGPT's: weight decay on the matrices (embeddings included), none on biases and norms."""
        decay = [p for p in self.parameters() if p.dim() >= 2]
        rest = [p for p in self.parameters() if p.dim() < 2]
        return [{"params": decay, "weight_decay": weight_decay},
                {"params": rest, "weight_decay": 0.0}]


# --------------------------------------------------------------------------- scoring

def window_plan(n: int, context: int, stride: int) -> list[tuple[int, int, int]]:
    """(window start, first input position scored, end) per window over the n - 1 input
    positions of an n-char text: input p predicts char p + 1 from the window that
    `window_start(p + 1)` begins. Every window is `context` long but the last (and a short
    text's); each scores the `stride` positions after the previous window's."""
    plan, done, k = [], 0, 0
    while done < n - 1:
        end = min(context + k * stride, n - 1)
        plan.append((window_start(done + 1, context, stride), done, end))
        done, k = end, k + 1
    return plan


def _scored_windows(model: CharGPT, x: torch.Tensor, stride: int, batch: int):
    """(first, end, log-probs (end - first, V)) per window of `window_plan`: the rows of
    log P(. | window) for input positions first..end-1, `batch` windows per forward call."""
    plan = window_plan(len(x), model.cfg.context, stride)
    full, last = plan[:-1], plan[-1:]                # the last window may be shorter
    for part in [full[i:i + batch] for i in range(0, len(full), batch)] + [last] * bool(last):
        L = part[0][2] - part[0][0]
        starts = torch.tensor([s for s, _, _ in part], device=x.device)
        win = x[starts[:, None] + torch.arange(L, device=x.device)[None, :]]     # (b, L)
        logits, _ = model(win.t())
        lp = F.log_softmax(logits.float(), -1).transpose(0, 1)                    # (b, L, V)
        for j, (s, first, end) in enumerate(part):
            yield first, end, lp[j, first - s:end - s]


@torch.no_grad()
def window_log2prob(model: CharGPT, ids: np.ndarray, device=None, stride: Optional[int] = None,
                    batch: int = WINDOW_BATCH, table: bool = False) -> np.ndarray:
    """log2 P(ids[i] | the window before i) for every i (float64), the first char from the
    empty history; `table`: the (len(ids), V) rows of log2 P(. | window before i) instead."""
    device = torch.device(device) if device is not None else model.embed.weight.device
    stride = stride or default_stride(model.cfg.context)
    n, V = len(ids), model.cfg.vocab_size
    out = np.empty((n, V) if table else n, dtype=np.float64)
    if n == 0:
        return out
    was_training = model.training
    model.eval()
    try:
        x = torch.from_numpy(np.asarray(ids).astype(np.int64)).to(device)
        first_row = F.log_softmax(model.empty_history_logits().float(), -1)
        out[0] = (first_row if table else first_row[x[0]]).double().cpu().numpy() / LN2
        for first, end, lp in _scored_windows(model, x, stride, batch):
            rows = lp if table else lp.gather(1, x[first + 1:end + 1, None])[:, 0]
            out[first + 1:end + 1] = rows.double().cpu().numpy() / LN2
    finally:
        model.train(was_training)
    return out


@torch.no_grad()
def window_tops(model: CharGPT, ids: np.ndarray, device=None):
    """The most likely next id at each position (the first from the empty history), window by
    window as `window_log2prob` scores them: arrays that concatenate to len(ids) - 1 + 1."""
    device = torch.device(device) if device is not None else model.embed.weight.device
    was_training = model.training
    model.eval()
    try:
        x = torch.from_numpy(np.asarray(ids).astype(np.int64)).to(device)
        yield model.empty_history_logits().argmax().view(1).cpu().numpy()
        for _, _, lp in _scored_windows(model, x, default_stride(model.cfg.context), WINDOW_BATCH):
            yield lp.argmax(-1).cpu().numpy()
    finally:
        model.train(was_training)


def segment_logits(model: CharGPT, x: torch.Tensor, start: int, end: int) -> torch.Tensor:
    """Logits (end - start, V) for input positions start..end-1 of the 1-D ids `x`, with the
    graph (dynamic evaluation): each position from the window `window_start` gives it, one
    forward call per window met, so a segment sees what the static scorer's windows see."""
    C = model.cfg.context
    S, parts, a = default_stride(C), [], start
    while a < end:
        w = window_start(a + 1, C, S)
        b = min(end, w + C)              # the positions this window serves
        logits, _ = model(x[w:b, None])
        parts.append(logits[a - w:, 0])
        a = b
    return torch.cat(parts)


# --------------------------------------------------------------------------- sampling

class Generator:
    """Logits for the next char of n parallel texts, fed one char at a time.

    The window follows `window_start` with the default stride. `cached`: keys and values of
    the window are kept (one position computed per char; the window re-run once each time
    its start jumps); otherwise the whole window is recomputed every char."""

    def __init__(self, model: CharGPT, n: int, cached: bool = True):
        self.model, self.n, self.cached = model, n, cached
        self.C = model.cfg.context
        self.S = default_stride(self.C)
        self.device = model.embed.weight.device
        self.hist = torch.zeros(n, 0, dtype=torch.long, device=self.device)
        self.start, self.cache = 0, []

    def feed(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (n,) or (n, t) appended to the history -> logits (n, V) for the next char."""
        ids = ids.to(self.device).long().reshape(self.n, -1)
        self.hist = torch.cat([self.hist, ids], 1)
        t = self.hist.shape[1]
        start = window_start(t, self.C, self.S)
        if self.cached and start == self.start and self.cache and ids.shape[1] == 1:
            logits, _ = self.model(ids.t(), cache=self.cache, offset=t - 1 - start)
        else:
            self.cache = [] if self.cached else None
            logits, _ = self.model(self.hist[:, start:].t(), cache=self.cache)
        self.start = start
        return logits[-1]
