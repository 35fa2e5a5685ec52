"""The trainer: truncated BPTT over B parallel contiguous streams, resumable, reproducible.

The train split is cut into `batch_size` contiguous streams; each step takes the next
`seq_len` chars of every stream, runs ONE fused recurrent call on the (seq_len, batch)
block, and carries the (detached) hidden state to the next step, so every stream reads
its text in order. When a stream reaches its end all streams restart at their
beginning with a zero state. Loss: `F.cross_entropy` on the logits; AdamW (plain Adam
when weight_decay is 0), global gradient-norm clipping, linear warm-up then cosine
decay to `min_lr`, dropout, a fixed number of steps.

Validation: val bpc on the whole val split every `eval_every` steps and at the end,
with `models.log2prob_sequence` (the evaluate stage's routine); the best-on-val weights
are kept. Checkpoints (charlm.checkpoint) every `checkpoint_every` steps, at the end,
and on SIGINT/SIGTERM; a rerun resumes from them and ends with the same metrics as an
uninterrupted run (CPU, same machine).

Distributed (torchrun, charlm.distributed): each rank takes its contiguous share of
the B streams (`StreamBatcher(rank, world_size)`), the model is wrapped in
DistributedDataParallel (gradients averaged across ranks; `no_sync` on all but the
last micro-batch of a step), so a step sees the same global batch as one process.
One small all-reduce a step gives every rank the global mean loss and any rank's stop
flag, so all ranks stop (signal, NaN loss) at the same step. Rank 0 scores val and
broadcasts the number, and alone writes checkpoints, DVCLive logs, summary, sample and
the model. Checkpoints hold the hidden states in the global stream order (gathered
from the ranks), so a run resumes under another nproc.

    summary = train_model(prepared_dir, out_dir, params.train, "lstm", live_dir=...)
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import random
import signal
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
import torch.distributed
import torch.nn.functional as F

from . import checkpoint as ckpt
from .distributed import (DistInfo, all_reduce_sum, barrier, broadcast_float, gather_batch,
                          shard_batch)
from .errors import CheckpointError, CharlmError, ParamsError, TrainingError
from .fsutil import remove_stale_temps, write_json, write_text
from .models import (LN2, CharRNN, ModelConfig, State, describe, detach_state, log2prob_sequence,
                     memory_estimate, parameter_count, save_trained)
from .param_sections import ModelSpec, TrainParams
from .prepare import load_split
from .vocab import Vocab

STOP_ENV = "CHARLM_STOP_AFTER_STEPS"     # test hook: behave as if SIGTERM arrived after step k
STOP_RANK_ENV = "CHARLM_STOP_RANK"       # ... on this rank only (default: every rank)
FRESH_ENV = "CHARLM_FRESH"               # 1: move an existing checkpoint aside and start afresh
DIVERGED_FACTOR = 10.0                   # loss > 10 x ln(vocab size) (uniform model's) = diverged


def _kept(ckpt_path: Path) -> str:
    return f"last good checkpoint kept: {ckpt_path}" if ckpt_path.is_file() else "no checkpoint written yet"


class TrainingInterrupted(CharlmError):
    """SIGINT/SIGTERM (or the test hook) stopped training after a checkpoint was written."""


# --------------------------------------------------------------------------- config

def resolve(tp: TrainParams, model_name: str) -> tuple[ModelSpec, TrainParams]:
    """The model's spec and the train params with its per-model overrides applied."""
    if model_name not in tp.models:
        raise ParamsError(f"train.models: no entry for model {model_name!r}; "
                          f"defined: {', '.join(tp.models) or 'none'}")
    spec = tp.models[model_name]
    over = {k: getattr(spec, k) for k in ("steps", "lr", "warmup_steps", "min_lr", "batch_size",
                                          "seq_len") if getattr(spec, k) is not None}
    run = dataclasses.replace(tp, models={}, **over)
    if run.min_lr > run.lr:
        run = dataclasses.replace(run, min_lr=run.lr)
    if run.batch_size % run.grad_accum:
        raise ParamsError(f"train.models.{model_name}: batch_size {run.batch_size} is not "
                          f"divisible by grad_accum {run.grad_accum}")
    return spec, run


def model_config(spec: ModelSpec, vocab_size: int) -> ModelConfig:
    return ModelConfig(arch=spec.arch, vocab_size=vocab_size, hidden_size=spec.hidden_size,
                       num_layers=spec.num_layers, dropout=spec.dropout,
                       embedding_dim=spec.embedding_dim)


def lr_at(step: int, run: TrainParams) -> float:
    """Linear warm-up over warmup_steps, then cosine decay from lr to min_lr at the last step."""
    if run.warmup_steps and step < run.warmup_steps:
        return run.lr * (step + 1) / run.warmup_steps
    span = max(1, run.steps - run.warmup_steps)
    frac = min(1.0, (step - run.warmup_steps) / span)
    return run.min_lr + 0.5 * (run.lr - run.min_lr) * (1.0 + math.cos(math.pi * frac))


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainingError("train.device is 'cuda' but no CUDA device is available")
    return torch.device(name)


# --------------------------------------------------------------------------- data

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


# --------------------------------------------------------------------------- helpers

def bpc(model: CharRNN, ids: np.ndarray, device, run: TrainParams) -> float:
    """Mean bits per char of `ids` (the evaluate stage's routine)."""
    lp = log2prob_sequence(model, ids, device, streams=run.eval_streams, overlap=run.eval_overlap)
    return float(-lp.mean())


def _state_tensors(states: list[Optional[State]], info: DistInfo) -> dict[str, torch.Tensor]:
    """The carried hidden states as `hidden.<j>` (num_layers, B, hidden) in the GLOBAL stream order.

    Micro-batches are concatenated, then every rank's share gathered (a collective: all
    ranks call it), so a checkpoint does not depend on nproc (nor on grad_accum).
    """
    if states[0] is None:
        return {}
    parts = [st if isinstance(st, tuple) else (st,) for st in states]
    return {f"hidden.{j}": gather_batch(torch.cat([p[j] for p in parts], dim=1), info, dim=1)
            for j in range(len(parts[0]))}


def _states_from(tensors: dict, n_micro: int, lstm: bool, batch_size: int, info: DistInfo,
                 device) -> list[Optional[State]]:
    """This rank's micro-batch states from a checkpoint's global `hidden.<j>` tensors."""
    k = 2 if lstm else 1
    if "hidden.0.0" in tensors:            # older layout: one entry per micro-batch
        glob = [torch.cat([v for m in range(n_micro) if (v := tensors.get(f"hidden.{m}.{j}")) is not None],
                          dim=1) for j in range(k)]
    elif "hidden.0" in tensors:
        glob = [tensors[f"hidden.{j}"] for j in range(k)]
    else:
        return [None] * n_micro
    if any(g.dim() != 3 or g.shape[1] != batch_size for g in glob):
        raise CheckpointError(f"checkpoint hidden state has shape {tuple(glob[0].shape)}, "
                              f"expected (layers, {batch_size}, hidden)")
    chunks = [shard_batch(g, info, dim=1).to(device).chunk(n_micro, dim=1) for g in glob]
    return [tuple(c[m].contiguous() for c in chunks) if lstm else chunks[0][m].contiguous()
            for m in range(n_micro)]


def _rank_rng_tensors(info: DistInfo, device) -> dict[str, torch.Tensor]:
    """Every rank's torch RNG state (dropout masks), gathered; rank 0's is also `rng.torch`."""
    if not info.enabled:
        return {}
    out = {"rng.ranks.torch": gather_batch(torch.get_rng_state().to(device)[None], info, dim=0).cpu()}
    if device.type == "cuda":
        out["rng.ranks.cuda"] = gather_batch(torch.cuda.get_rng_state(device).to(device)[None],
                                             info, dim=0).cpu()
    return out


def _rank_rng_from(tensors: dict, meta: dict, info: DistInfo, reseed: int, dropout: float,
                   log) -> None:
    """Ranks > 0 restore their own RNG state (rank 0's came with `rng.torch`)."""
    saved_world = int(meta.get("world_size", 1))
    if saved_world != info.world_size and dropout > 0:
        log(f"checkpoint made by {saved_world} process(es), resumed by {info.world_size}: "
            "the dropout masks from here on differ from an uninterrupted run")
    if info.rank == 0:
        return
    g, c = tensors.get("rng.ranks.torch"), tensors.get("rng.ranks.cuda")
    if g is not None and g.shape[0] == info.world_size:
        # .clone(), not a view: set_rng_state ignores a row's storage offset (it crashes)
        torch.set_rng_state(g[info.rank].clone())
        if c is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state(c[info.rank].clone(), torch.cuda.current_device())
    else:
        torch.manual_seed(reseed + info.rank)


def code_version() -> str:
    """Hash of the code that decides what training computes (this file and models.py).

    Part of the checkpoint fingerprint: when `dvc repro` re-runs the stage because this
    code changed, a finished checkpoint from the old code is not silently reused."""
    h = hashlib.sha256()
    for mod in ("train.py", "models.py"):
        h.update((Path(__file__).parent / mod).read_bytes())
    return h.hexdigest()[:16]


def fingerprint(mcfg: ModelConfig, run: TrainParams, train: np.ndarray) -> str:
    """What a checkpoint must match to be resumed: model, result-changing params, data, code."""
    keep = {k: v for k, v in dataclasses.asdict(run).items()
            if k not in ("checkpoint_every", "log_every", "device", "threads", "models",
                         "sample_chars", "sample_prime", "sample_temperature", "compile")}
    keep["nproc"] = 1      # same global batch, same result: resumable under another nproc
    doc = json.dumps({"model": mcfg.to_json(), "train": keep, "n": int(len(train)),
                      "crc": zlib.crc32(np.ascontiguousarray(train).tobytes()),
                      "code": code_version()}, sort_keys=True)
    return hashlib.sha256(doc.encode()).hexdigest()[:16]


def _trim_live(live_dir: Path, last_step: int) -> None:
    """Drop DVCLive TSV rows logged after the checkpoint we resume from."""
    for tsv in (live_dir / "plots" / "metrics").rglob("*.tsv"):
        lines = tsv.read_text(encoding="utf-8").splitlines()
        if not lines:
            continue
        head, rows = lines[0], lines[1:]
        col = head.split("\t").index("step") if "step" in head.split("\t") else None
        if col is None:
            continue
        width = len(head.split("\t"))
        keep = [r for r in rows if len(r.split("\t")) == width and r.split("\t")[col].isdigit()
                and int(r.split("\t")[col]) <= last_step]     # a killed run may leave half a row
        write_text(tsv, "\n".join([head, *keep]) + "\n")
    summary = live_dir / "metrics.json"        # DVCLive writes it in place: a kill can empty it
    if summary.is_file():
        try:
            json.loads(summary.read_text(encoding="utf-8"))
        except ValueError:
            summary.unlink()                   # rewritten at the next log step


class _Live:
    """DVCLive if a directory is given (imported lazily), else nothing."""

    def __init__(self, live_dir: Optional[Path], resume: bool, last_step: int):
        self.live = None
        if live_dir is None:
            return
        from dvclive import Live
        if resume:
            _trim_live(live_dir, last_step)
        self.live = Live(dir=str(live_dir), dvcyaml=None, resume=resume, save_dvc_exp=False,
                         report=None)

    def log(self, step: int, **metrics: float) -> None:
        if self.live is None:
            return
        self.live.step = step
        for k, v in metrics.items():
            self.live.log_metric(k, v)
        self.live.make_summary()

    def end(self) -> None:
        if self.live is not None:
            self.live.make_summary()


# --------------------------------------------------------------------------- training

@dataclass
class TrainResult:
    model: CharRNN
    vocab: Vocab
    summary: dict


def train_model(prepared_dir: str | Path, out_dir: str | Path, tp: TrainParams, model_name: str,
                live_dir: str | Path | None = None, corpus: str = "", progress: bool = True,
                log: Callable[[str], None] = print, rank: int = 0, world_size: int = 1,
                write_outputs: bool = True) -> TrainResult:
    """Train (or resume) `model_name` on the prepared corpus; write the outputs to out_dir.

    out_dir gets model.safetensors + config.json (best-on-val weights), checkpoint/,
    summary.json and sample.txt (see the module docstring).
    """
    spec, run = resolve(tp, model_name)
    if world_size > 1 and not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        raise TrainingError(f"world_size {world_size} needs a process group: launch under torchrun "
                            "(train.nproc or `torchrun -m stages.train`) after charlm.distributed.init")
    if run.batch_size % (world_size * run.grad_accum):
        raise ParamsError(f"train.models.{model_name}: batch_size {run.batch_size} is not divisible "
                          f"by nproc x grad_accum ({world_size} x {run.grad_accum})")
    out_dir, is_main = Path(out_dir), rank == 0
    if not is_main:
        log = lambda m: None                      # noqa: E731  (rank 0 speaks for all)
    elif run.nproc != world_size:
        log(f"train.nproc is {run.nproc} but this run has {world_size} process(es) "
            "(the stage launches torchrun; train_model trains in the group it is given)")
    ckpt_path = out_dir / "checkpoint" / "last.safetensors"
    device = pick_device(run.device)
    if device.type == "cuda" and world_size > 1:
        device = torch.device("cuda", torch.cuda.current_device())   # set by distributed.init
    if run.threads:
        torch.set_num_threads(run.threads)
    if device.type == "cuda":       # TF32 for fp32 matmuls (the LSTM core, the head)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True)
    try:
        return _train(prepared_dir, out_dir, run, spec, model_name, live_dir, corpus, progress,
                      log, rank, world_size, write_outputs, ckpt_path, device, is_main)
    finally:
        torch.use_deterministic_algorithms(was_deterministic)


def _train(prepared_dir, out_dir, run: TrainParams, spec: ModelSpec, model_name: str, live_dir,
           corpus: str, progress: bool, log, rank: int, world_size: int, write_outputs: bool,
           ckpt_path: Path, device: torch.device, is_main: bool) -> TrainResult:

    vocab = Vocab.load(Path(prepared_dir) / "vocab.json")
    train = load_split(prepared_dir, "train")
    val = load_split(prepared_dir, "val")
    mcfg = model_config(spec, vocab.size)
    fp = fingerprint(mcfg, run, train)
    info = DistInfo(rank, world_size)

    torch.manual_seed(run.seed)
    np.random.seed(run.seed % 2**32)
    random.seed(run.seed)
    model = CharRNN(mcfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=run.lr, betas=(0.9, 0.99),
                            weight_decay=run.weight_decay)
    if rank:            # same initial weights on every rank; its own dropout stream per rank
        torch.manual_seed(run.seed + rank)
    batcher = StreamBatcher(train, run.batch_size, run.seq_len, rank, world_size)
    n_micro = run.grad_accum
    micro_b = run.batch_size // world_size // n_micro
    states: list[Optional[State]] = [None] * n_micro
    start_step, best_val, best_step, history = 0, float("inf"), -1, []
    best_sd = None
    step_seconds = overhead = 0.0     # time in steps (not evals); of it, data/schedule/clip/logging
    resumed = False
    loss_window = [0.0, 0]            # train loss summed since the last log, and its step count

    if is_main:       # temp files of checkpoint writes a kill interrupted (the checkpoint is intact)
        remove_stale_temps(ckpt_path)
    fresh = os.environ.get(FRESH_ENV, "") not in ("", "0")
    if ckpt_path.is_file() and fresh:         # explicit: keep the old checkpoint, never delete it
        if is_main:
            moved = ckpt.move_aside(ckpt_path, "bad")
            log(f"{ckpt_path}: fresh start requested; old checkpoint moved aside to {moved}")
    elif ckpt_path.is_file():
        try:
            tensors, meta = ckpt.load_checkpoint(ckpt_path)
        except CheckpointError as e:
            raise CheckpointError(f"{e}; {ckpt.FRESH_HINT}") from None
        if meta.get("fingerprint") != fp:
            barrier(info)                     # every rank has read it before rank 0 moves it
            moved = ckpt.move_aside(ckpt_path, "other-params") if is_main else ckpt_path
            log(f"{ckpt_path}: made with other params or data; moved aside to {moved}; starting afresh")
        else:
            try:
                model.load_state_dict({k: v.to(device) for k, v in ckpt.unprefixed("model.", tensors).items()})
                # load_state_dict moves the state to the params' device (and keeps 'step' where Adam wants it)
                ckpt.optimizer_from_flat(opt, tensors, meta["optimizer"])
            except (RuntimeError, KeyError, ValueError, TypeError) as e:
                raise CheckpointError(f"{ckpt_path}: does not fit the model ({str(e).strip().splitlines()[-1].strip()}); "
                                      f"{ckpt.FRESH_HINT}") from None
            best_sd = ckpt.unprefixed("best.", tensors) or None
            batcher.load_state(meta["data"])
            try:
                states = _states_from(tensors, n_micro, mcfg.arch == "lstm", run.batch_size, info, device)
            except CheckpointError as e:
                raise CheckpointError(f"{ckpt_path}: {e}") from None
            ckpt.rng_from_flat(tensors, meta["rng"])
            _rank_rng_from(tensors, meta, info, run.seed + 1_000_003 * meta["step"], mcfg.dropout, log)
            start_step, best_val, best_step = meta["step"], meta["best_val_bpc"], meta["best_step"]
            history, step_seconds = meta["history"], meta["step_seconds"]
            overhead = meta.get("overhead_seconds", 0.0)
            loss_window = meta.get("loss_window", loss_window)
            resumed = True
            log(f"resuming from {ckpt_path} at step {start_step}/{run.steps}")

    mem = memory_estimate(model, run.batch_size, run.seq_len)
    log(describe(model, run.batch_size, run.seq_len))
    live = _Live(Path(live_dir) if (live_dir and is_main) else None, resumed, start_step)
    ddp = model
    if info.enabled:    # gradients all-reduced (averaged) across ranks in backward
        from torch.nn.parallel import DistributedDataParallel
        ddp = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    fwd = torch.compile(ddp) if run.compile else ddp
    use_amp = run.amp == "bf16" or (run.amp == "auto" and device.type == "cuda")

    def save_ckpt(step_done: int) -> None:
        # On CUDA the loss is only checked at log steps: never checkpoint NaN weights. Every
        # rank checks (the weights are replicated), so all ranks stop together.
        bad = [n for n, t in model.named_parameters() if not bool(torch.isfinite(t).all())]
        if bad:
            raise TrainingError(f"{model_name}: weights are NaN/inf at step {step_done} ({bad[0]}); "
                                f"not checkpointed; {_kept(ckpt_path)}; "
                                "lower train.lr or raise grad_clip")
        hidden = _state_tensors(states, info)       # collectives: every rank calls save_ckpt
        rank_rng = _rank_rng_tensors(info, device)
        if is_main:
            o_t, o_meta = ckpt.optimizer_to_flat(opt)
            r_t, r_meta = ckpt.rng_to_flat()
            tensors = {**ckpt.prefixed("model.", model.state_dict()), **o_t, **r_t, **rank_rng,
                       **hidden}
            if best_sd is not None:
                tensors.update(ckpt.prefixed("best.", best_sd))
            ckpt.save_checkpoint(ckpt_path, tensors, {
                "fingerprint": fp, "model_name": model_name, "model": mcfg.to_json(),
                "step": step_done, "steps": run.steps, "data": batcher.state(),
                "hidden_state": "carried per stream (global stream order); zeroed when the streams wrap",
                "world_size": world_size,
                "schedule": {"kind": "warmup_cosine", "warmup_steps": run.warmup_steps,
                             "lr": run.lr, "min_lr": run.min_lr, "steps": run.steps},
                "optimizer": o_meta, "rng": r_meta, "best_val_bpc": best_val, "best_step": best_step,
                "history": history, "step_seconds": step_seconds, "overhead_seconds": overhead,
                "loss_window": [float(loss_sum), loss_n]})   # the resumed run logs the same means
        barrier(info)      # no rank leaves (e.g. on a stop) before rank 0 has written it

    stop = {"signal": None}
    stop_after = int(os.environ.get(STOP_ENV, "0") or 0)
    if os.environ.get(STOP_RANK_ENV, "") not in ("", str(rank)):
        stop_after = 0

    def on_signal(signum, frame):
        stop["signal"] = signal.Signals(signum).name

    old_handlers = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            old_handlers[sig] = signal.signal(sig, on_signal)
        except ValueError:           # not the main thread: no handlers
            pass

    bar = None
    if progress and is_main:
        from tqdm import tqdm
        bar = tqdm(total=run.steps, initial=start_step, desc=f"{corpus}/{model_name}".strip("/"),
                   unit="step", mininterval=1.0, dynamic_ncols=True)
    chars_per_step = run.batch_size * run.seq_len
    # A loss this far above the uniform model's ln(V) is divergence, even while finite.
    max_loss = DIVERGED_FACTOR * math.log(mcfg.vocab_size)
    t_start = time.perf_counter()
    window_t, window_chars = time.perf_counter(), 0
    loss_sum, loss_n = float(loss_window[0]), int(loss_window[1])
    try:
        model.train()
        for step in range(start_step, run.steps):
            t0 = time.perf_counter()
            lr = lr_at(step, run)
            for g in opt.param_groups:
                g["lr"] = lr
            x_np, y_np, reset = batcher.next()
            if reset:
                states = [None] * n_micro
            x = torch.from_numpy(x_np).to(device, non_blocking=True)
            y = torch.from_numpy(y_np).to(device, non_blocking=True)
            t_data = time.perf_counter()
            step_loss = torch.zeros((), device=device)
            for m in range(n_micro):
                xs, ys = x[:, m * micro_b:(m + 1) * micro_b], y[:, m * micro_b:(m + 1) * micro_b]
                # DDP: all-reduce the gradients once per step, in the last micro-batch's backward
                sync = ddp.no_sync() if info.enabled and m < n_micro - 1 else contextlib.nullcontext()
                with sync:
                    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                        logits, st = fwd(xs, states[m])
                    loss = F.cross_entropy(logits.float().reshape(-1, mcfg.vocab_size), ys.reshape(-1))
                    (loss / n_micro).backward()
                states[m] = detach_state(st)
                step_loss += loss.detach() / n_micro
            t_clip = time.perf_counter()
            if run.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), run.grad_clip)
            overhead += (t_data - t0) + (time.perf_counter() - t_clip)
            opt.step()
            opt.zero_grad(set_to_none=True)
            if stop_after and step + 1 == stop_after and step + 1 < run.steps:
                stop["signal"] = stop["signal"] or f"{STOP_ENV}={stop_after}"
            if info.enabled:    # one collective a step: the global mean loss, and any rank's stop
                flag = torch.ones_like(step_loss) if stop["signal"] else torch.zeros_like(step_loss)
                loss_g, n_stop = all_reduce_sum(torch.stack([step_loss, flag]), info).tolist()
                loss_v, stopping = loss_g / world_size, n_stop > 0
                if stopping and not stop["signal"]:
                    stop["signal"] = "stop requested on another rank"
            else:
                loss_v = step_loss.item() if device.type == "cpu" else None
            if loss_v is not None and not loss_v <= max_loss:      # NaN, inf or exploded
                raise TrainingError(f"{model_name}: loss is {loss_v:.4g} at step {step + 1} (diverged; "
                                    f"{_kept(ckpt_path)}); lower train.lr or raise grad_clip")
            done = step + 1
            loss_sum += step_loss if loss_v is None else loss_v
            loss_n += 1
            window_chars += chars_per_step

            if done % run.log_every == 0 or done == run.steps:
                t_log = now = time.perf_counter()
                loss_mean = float(loss_sum) / loss_n
                if not loss_mean <= max_loss:
                    raise TrainingError(f"{model_name}: loss is {loss_mean:.4g} near step {done} (diverged; "
                                        f"{_kept(ckpt_path)}); lower train.lr")
                cps = window_chars / max(now - window_t, 1e-9)
                live.log(done, **{"train/loss": loss_mean, "train/bpc": loss_mean / LN2,
                                  "lr": lr, "chars_per_s": cps})
                if bar is not None:
                    bar.set_postfix(loss=f"{loss_mean:.3f}", chars_s=f"{cps:,.0f}", refresh=False)
                window_t, window_chars, loss_sum, loss_n = time.perf_counter(), 0, 0.0, 0
                overhead += window_t - t_log
            step_seconds += time.perf_counter() - t0    # the step, data and logging; not eval
            if done % run.eval_every == 0 or done == run.steps:
                # rank 0 scores val; the others wait for its number (same weights everywhere)
                v = broadcast_float(bpc(model, val, device, run) if is_main else 0.0, info, device)
                if not math.isfinite(v):
                    raise TrainingError(f"{model_name}: val bpc is {v} at step {done} (diverged; "
                                        f"{_kept(ckpt_path)}); lower train.lr")
                history.append({"step": done, "chars": done * chars_per_step,
                                "seconds": round(time.perf_counter() - t_start, 3), "val_bpc": v})
                if v < best_val:
                    best_val, best_step = v, done
                    best_sd = {k: t.detach().to("cpu", copy=True) for k, t in model.state_dict().items()}
                live.log(done, **{"val/bpc": v})
                if bar is not None:
                    bar.write(f"step {done}: val bpc {v:.4f} (best {best_val:.4f} at {best_step})")
                window_t = time.perf_counter()        # eval time is not training throughput
            if bar is not None:
                bar.update(1)
            if not info.enabled:          # (with DDP: agreed by all ranks above, same step)
                stopping = stop["signal"] is not None
            if done % run.checkpoint_every == 0 or done == run.steps or stopping:
                save_ckpt(done)
                window_t = time.perf_counter()
            if stopping:
                raise TrainingInterrupted(f"{stop['signal']}: stopped after step {done}/{run.steps}; "
                                          f"checkpoint {ckpt_path}; rerun to resume")
    finally:
        if bar is not None:
            bar.close()
        for sig, h in old_handlers.items():
            signal.signal(sig, h)

    if start_step >= run.steps and best_sd is None:
        raise CheckpointError(f"{ckpt_path}: finished checkpoint without best weights")
    model.load_state_dict({k: v.to(device) for k, v in best_sd.items()})
    model.eval()
    train_chars = run.steps * chars_per_step
    summary = {
        "model": model_name, "corpus": corpus, "arch": mcfg.arch,
        "hidden_size": mcfg.hidden_size, "num_layers": mcfg.num_layers,
        "embedding_dim": mcfg.embedding_dim, "vocab_size": mcfg.vocab_size,
        "params": parameter_count(model), "weight_bytes": mem["weight_bytes"],
        "with_backward_bytes": mem["with_backward_bytes"],
        "steps": run.steps, "batch_size": run.batch_size, "seq_len": run.seq_len,
        "train_chars": train_chars, "train_seconds": round(step_seconds, 3),
        "chars_per_s": round(train_chars / max(step_seconds, 1e-9), 1),
        "overhead_seconds": round(overhead, 3),
        "overhead_pct": round(100.0 * overhead / max(step_seconds, 1e-9), 2),
        "best_val_bpc": best_val, "best_step": best_step,
        "final_val_bpc": history[-1]["val_bpc"] if history else None,
        "eval_streams": run.eval_streams, "device": str(device), "amp": use_amp,
        "threads": torch.get_num_threads(), "nproc": world_size, "torch": torch.__version__,
        "seed": run.seed,
        "resumed": resumed, "history": history,
    }
    if write_outputs and is_main:
        from .sample import sample
        save_trained(out_dir, model, vocab, extra={"model_name": model_name, "corpus": corpus,
                                                   "best_val_bpc": best_val, "best_step": best_step,
                                                   "steps": run.steps, "seed": run.seed})
        prime = run.sample_prime if all(c in vocab.stoi for c in run.sample_prime) else ""
        text = sample(model.to("cpu"), vocab, run.sample_chars, seed=run.seed,
                      prime=prime, temperature=run.sample_temperature)
        model.to(device)
        write_text(out_dir / "sample.txt", text)
        write_json(out_dir / "summary.json", summary)
        live.log(run.steps, **{"best_val_bpc": best_val})
        live.end()
    log(f"{corpus}/{model_name}: best val bpc {best_val:.4f} at step {best_step}; "
        f"{summary['chars_per_s']:,.0f} chars/s over {step_seconds:.1f} s on {device}")
    return TrainResult(model, vocab, summary)
