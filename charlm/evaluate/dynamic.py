"""Dynamic evaluation (Krause et al., 2018): the model adapts to the text as it scores it.

The text is cut into segments of `segment` chars. Each segment is first scored with the
current weights (a transformer's from its sliding window, charlm.neural.gpt.segment_logits) (its log2 P are what count), then the model takes one gradient step on
that segment's loss, never on text not yet scored, and carries its hidden state on:

    theta <- theta - lr * grad / rms + decay * (theta_0 - theta)

`rms` is the root mean square of the training loss's gradients (measured on a few train
batches: the RMS normalisation of Krause et al.), and the decay pulls the weights back
toward the trained ones (their global prior). The first char is scored from the empty
history, as every model is. `lr` and `decay` are chosen on val
(benchmarks/choices/dynamic_eval.py); test is scored once with them.
"""

from __future__ import annotations

import copy
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F

from ..neural.gpt import segment_logits
from ..core.scoring import LN2
from ..neural.models import CharRNN, detach_state
from . import bptt

EPS = 1e-8
RMS_FLOOR = 0.3        # x the tensor's mean RMS, chosen on val: benchmarks/results/dynamic_floor.md


def grad_rms(model: CharRNN, train: np.ndarray, batches: int = 20, batch_size: int = 32,
             seq_len: int = 64, seed: int = 0, floor: float = RMS_FLOOR) -> dict[str, torch.Tensor]:
    """Per-parameter RMS of the training loss's gradient over `batches` random windows,
    in train mode: its dropout draws from torch's RNG seeded with `seed` (the caller's RNG
    state is left as it was), so the same model gives the same RMS in any process.

    Each entry is at least `floor` x the mean RMS of its tensor: a weight these windows
    barely moved (the embedding row of a char they did not contain, the head row of a
    char never predicted) would otherwise take a step of lr x grad / ~0 the first time its
    char turns up (the Wikipedia sample's LSTM: 76 val bpc instead of 5.0)."""
    dev = next(model.parameters()).device
    with torch.random.fork_rng(devices=[dev.index or 0] if dev.type == "cuda" else []):
        torch.manual_seed(seed)
        rms = _grad_rms(copy.deepcopy(model).train(), train, batches, batch_size, seq_len, seed)
    return {n: torch.maximum(r, floor * r.mean()) + EPS for n, r in rms.items()}


def _grad_rms(model: CharRNN, train: np.ndarray, batches: int, batch_size: int, seq_len: int,
              seed: int) -> dict[str, torch.Tensor]:
    rng = np.random.default_rng(seed)
    if model.cfg.is_transformer:
        seq_len = min(seq_len, model.cfg.context)
    sq = {n: torch.zeros_like(p) for n, p in model.named_parameters()}
    for _ in range(batches):
        starts = rng.integers(0, len(train) - seq_len - 1, size=batch_size)
        idx = starts[None, :] + np.arange(seq_len + 1)[:, None]
        xy = torch.from_numpy(train[idx].astype(np.int64)).to(next(model.parameters()).device)
        logits, _ = model(xy[:-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), xy[1:].reshape(-1))
        model.zero_grad()
        loss.backward()
        for n, p in model.named_parameters():
            sq[n] += p.grad.detach() ** 2
    return {n: (s / batches).sqrt() for n, s in sq.items()}


def dynamic_log2prob(model: CharRNN, ids: np.ndarray, rms: dict[str, torch.Tensor],
                     lr: float, decay: float, segment: int = 50) -> np.ndarray:
    """log2 P(ids[i] | ids[:i]) for every i, the model adapting after each segment (a copy
    adapts: `model` itself is left as it was)."""
    net = copy.deepcopy(model).eval()       # no dropout: the same function as static scoring
    params = dict(net.named_parameters())
    prior = {n: p.detach().clone() for n, p in params.items()}
    step = {n: -lr / rms[n] for n in params}       # per weight: -lr / its gradient RMS
    x = torch.from_numpy(np.asarray(ids, dtype=np.int64)).to(next(net.parameters()).device)
    out = np.empty(len(ids), dtype=np.float64)
    with torch.no_grad():
        out[0] = F.log_softmax(net.empty_history_logits().float(), -1)[x[0]].item() / LN2
    forward = partial(bptt.stack_forward, net) if bptt.supported(net) else net  # faster grads
    state = None
    for start in range(0, len(ids) - 1, segment):
        tgt = x[start + 1:start + segment + 1]
        if net.cfg.is_transformer:      # no state: each chunk attends to its window
            logits = segment_logits(net, x, start, start + len(tgt))
        else:
            logits, state = forward(x[start:start + len(tgt), None], state)
            logits = logits[:, 0]
        lp = F.log_softmax(logits.float(), -1).gather(1, tgt[:, None])[:, 0]
        out[start + 1:start + 1 + len(tgt)] = lp.detach().double().cpu().numpy() / LN2
        net.zero_grad()
        (-lp.mean()).backward()
        with torch.no_grad():
            for n, p in params.items():
                p.addcmul_(p.grad, step[n]).lerp_(prior[n], decay)
        state = detach_state(state)
    return out


def dynamic_splits(model: CharRNN, train: np.ndarray, splits: dict[str, np.ndarray],
                   lr: float, decay: float, segment: int, workers: int = 2) -> dict[str, dict]:
    """Each split scored dynamically from the trained weights: {split: {log2p, seconds}}.

    On the CPU the splits run side by side, up to `workers` processes at once, each on one
    thread (a step at batch 1 gains little from a second thread; two splits gain ~2x on
    two cores), so the numbers do not depend on `workers` or the machine's core count."""
    rms = grad_rms(model, train)
    jobs = [(model, ids, rms, lr, decay, segment) for ids in splits.values()]
    cpu = next(model.parameters()).device.type == "cpu"
    n = min(workers, len(jobs)) if cpu else 1
    if n > 1:
        ctx = torch.multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(n, mp_context=ctx) as pool:
            results = list(pool.map(_timed, jobs))
    else:
        results = [_timed(job, one_thread=cpu) for job in jobs]
    return dict(zip(splits, results))


def _timed(job: tuple, one_thread: bool = True) -> dict:
    threads = torch.get_num_threads()
    if one_thread:
        torch.set_num_threads(1)
    try:
        t0 = time.perf_counter()
        lp = dynamic_log2prob(*job)
        return {"log2p": lp, "seconds": time.perf_counter() - t0}
    finally:
        torch.set_num_threads(threads)
