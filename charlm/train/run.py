"""The trainer: truncated BPTT over B parallel contiguous streams, resumable, reproducible.

Each step takes the next `seq_len` chars of every stream (charlm.train.batcher), runs ONE
fused recurrent call on the (seq_len, batch) block and carries the detached hidden
state to the next step. Loss: cross-entropy on the logits; AdamW, global gradient-norm
clipping, linear warm-up then cosine decay to `min_lr`, a fixed number of steps.

Validation: val bpc on the whole val split every `eval_every` steps and at the end
(`models.log2prob_sequence`, the evaluate stage's routine); the best-on-val weights are
kept. Checkpoints (charlm.train.state) every `checkpoint_every` steps, at the end and
on SIGINT/SIGTERM; a rerun resumes from them and ends with the same metrics as an
uninterrupted run (CPU, same machine).

Distributed (torchrun, charlm.train.distributed): each rank takes its share of the B streams,
the model is wrapped in DistributedDataParallel (`no_sync` on all but the last
micro-batch), so a step sees the same global batch as one process. One small
all-reduce a step gives every rank the global mean loss and any rank's stop request.
Rank 0 scores val and broadcasts it, and alone writes checkpoints, logs and outputs.

    result = train_model(prepared_dir, out_dir, params.train, "lstm", live_dir=...)
"""

from __future__ import annotations

import contextlib
import math
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional

import numpy as np
import torch
import torch.distributed
import torch.nn.functional as F

from ..core import numerics, paths
from ..core.device import pick_device
from ..core.errors import CharlmError, CheckpointError, ParamsError, TrainingError
from ..core.fsutil import write_json
from ..core.scoring import LN2, bpc
from ..core.splits import load_split
from ..core.vocab import Vocab
from ..neural.models import (
    CharRNN,
    ModelConfig,
    describe,
    detach_state,
    log2prob_sequence,
    memory_estimate,
    parameter_count,
    save_trained,
)
from ..params import ModelSpec, TrainCommon, TrainParams
from .distributed import DistInfo, all_reduce_sum, broadcast_float
from .finetune import init_from_trained, weights_digest
from .log import Live, Progress
from .state import TrainJob, TrainState, fingerprint, resume, save_checkpoint, timing_of

DIVERGED_FACTOR = 10.0       # loss > 10 x ln(vocab size) (the uniform model's) = diverged
StepHook = Callable[[int], Optional[str]]     # steps done -> a reason to stop, or None


class TrainingInterrupted(CharlmError):
    """SIGINT/SIGTERM (or a step hook) stopped training after a checkpoint was written."""


@dataclass
class TrainResult:
    model: torch.nn.Module      # a CharRNN or a CharGPT
    vocab: Vocab
    summary: dict


# --------------------------------------------------------------------------- config

def resolve(tp: TrainParams, model_name: str,
            pair: dict | None = None) -> tuple[ModelSpec, TrainCommon]:
    """The model's spec and train.common with its per-model (then per-pair) overrides."""
    if model_name not in tp.models:
        raise ParamsError(f"train.models: no entry for model {model_name!r}; "
                          f"defined: {', '.join(tp.models) or 'none'}")
    return tp.models[model_name], tp.effective(model_name, pair)


def lr_at(step: int, run: TrainCommon) -> float:
    """Linear warm-up over warmup_steps, then cosine decay from lr to min_lr at the last step."""
    if run.warmup_steps and step < run.warmup_steps:
        return run.lr * (step + 1) / run.warmup_steps
    span = max(1, run.steps - run.warmup_steps)
    frac = min(1.0, (step - run.warmup_steps) / span)
    return run.min_lr + 0.5 * (run.lr - run.min_lr) * (1.0 + math.cos(math.pi * frac))


def uses_bf16(run: TrainCommon, device: torch.device) -> bool:
    """amp "bf16": bf16 autocast on any device; "auto": on CUDA only; "off": never."""
    return run.amp == "bf16" or (run.amp == "auto" and device.type == "cuda")


# What CPU bf16 autocast was measured at (benchmarks/speed/bench_amp.py, a 2 x 512 LSTM step)
BF16_CPU_MEASURED = ("1.56x fp32's chars/s on a Zen 4 with avx512_bf16 under numerics: native, "
                     "benchmarks/results/amp_native_bf16.md; refused, or 0.02x with oneDNN off, "
                     "without native bf16, amp.md")


def _cpu_flag(*names: str) -> bool:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = next((set(line.split(":", 1)[1].split()) for line in f
                          if line.startswith("flags")), set())
    except OSError:
        return False
    return bool(flags & set(names))


def _check_bf16(run: TrainCommon, device: torch.device) -> None:
    """amp 'bf16' on a CPU: refused where oneDNN has no bf16 (a one-line error), else a warning
    with what it was measured at: its speed depends on the CPU, its numbers are this CPU's."""
    if device.type != "cpu" or run.amp != "bf16":
        return
    if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        why = ("the portable numerics profile keeps oneDNN to AVX2, which has none; "
               "numerics: native lifts it" if numerics.profile() == "portable"
               and _cpu_flag("avx512_bf16", "amx_bf16") else "this CPU has no native bf16")
        raise TrainingError(f"train.common.amp is 'bf16' but oneDNN cannot run bf16 here ({why}); "
                            "set amp to 'auto' (bf16 on CUDA only) or 'off'")
    print(f"warning: train.common.amp is 'bf16' on the CPU: its speed depends on the CPU "
          f"({BF16_CPU_MEASURED}) and its numbers are this CPU's own; 'auto' keeps bf16 for CUDA",
          file=sys.stderr, flush=True)


@contextlib.contextmanager
def _torch_settings(run: TrainCommon, world_size: int) -> Iterator[torch.device]:
    """The device, threads, TF32 on CUDA, deterministic algorithms on CPU (restored after)."""
    device = torch.device(pick_device(run.device, "train.device"))
    if device.type == "cuda" and world_size > 1:
        device = torch.device("cuda", torch.cuda.current_device())   # set by distributed.init
    _check_bf16(run, device)
    if run.threads:
        torch.set_num_threads(run.threads)
    if device.type == "cuda":       # TF32 for fp32 matmuls (the LSTM core, the head)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True)
    try:
        yield device
    finally:
        torch.use_deterministic_algorithms(was_deterministic)


class StopRequest:
    """Why training should stop after the current step (a signal or a hook), or None."""

    def __init__(self) -> None:
        self.reason: Optional[str] = None

    def request(self, reason: str) -> None:
        self.reason = self.reason or reason


@contextlib.contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    """SIGINT/SIGTERM request a stop (checkpoint, then exit) instead of killing the run."""
    stop, old = StopRequest(), {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            old[sig] = signal.signal(sig, lambda n, f: stop.request(signal.Signals(n).name))
        except ValueError:           # not the main thread: no handlers
            pass
    try:
        yield stop
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


# --------------------------------------------------------------------------- entry point

def train_model(prepared_dir: str | Path, out_dir: str | Path, tp: TrainParams, model_name: str,
                *, live_dir: str | Path | None = None, corpus: str = "",
                progress: str | bool = "bar", log: Callable[[str], None] = print,
                rank: int = 0, world_size: int = 1, write_outputs: bool = True,
                fresh: bool = False, on_step: Optional[StepHook] = None,
                pair: Optional[dict] = None, init_from: Optional[Path] = None,
                ckpt_dir: str | Path | None = None) -> TrainResult:
    """Train (or resume) `model_name` on the prepared corpus; write its outputs to out_dir.

    out_dir gets model.safetensors + config.json (best-on-val weights) and summary.json;
    ckpt_dir (default out_dir/checkpoint) the checkpoint and timing.json. progress: "bar" | "lines" | "off" (True/False: bar/off). fresh: move an
    existing checkpoint aside first. on_step(done) may return a reason to stop (tests).
    pair: train.common keys set for this corpus only (run.pairs). init_from: a trained
    model's folder whose weights the run starts from (charlm.train.finetune)."""
    spec, run = resolve(tp, model_name, pair)
    if world_size > 1 and not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        raise TrainingError(f"world_size {world_size} needs a process group: launch under torchrun "
                            "(train.nproc or `torchrun -m stages.train`) after charlm.train.distributed.init")
    if run.batch_size % (world_size * run.grad_accum):
        raise ParamsError(f"train.models.{model_name}: batch_size {run.batch_size} is not divisible "
                          f"by nproc x grad_accum ({world_size} x {run.grad_accum})")
    if rank:
        log = lambda m: None                      # noqa: E731  (rank 0 speaks for all)
    elif run.nproc != world_size:
        log(f"train.nproc is {run.nproc} but this run has {world_size} process(es) "
            "(the stage launches torchrun; train_model trains in the group it is given)")
    vocab = Vocab.load(Path(prepared_dir) / "vocab.json")
    train, val = load_split(prepared_dir, "train"), load_split(prepared_dir, "val")
    mcfg = ModelConfig.from_shape(spec, vocab.size)
    mode = {True: "bar", False: "off"}.get(progress, progress)
    with _torch_settings(run, world_size) as device:
        init = weights_digest(init_from) if init_from is not None else None
        job = TrainJob(model_name, corpus, run, mcfg, device, DistInfo(rank, world_size),
                       Path(out_dir), fingerprint(mcfg, run, train, init), log,
                       str(init_from) if init_from is not None else None,
                       Path(ckpt_dir) if ckpt_dir is not None else None)
        st = TrainState.create(job, train)
        if init_from is not None:        # a matching checkpoint, if any, then replaces it
            _log_init(job, init_from_trained(st.model, vocab, Path(init_from)))
        resume(job, st, fresh)
        log(describe(st.model, run.batch_size, run.seq_len))
        if mcfg.is_transformer:
            log(f"{model_name}: trains on {run.batch_size} windows of its context ({run.seq_len} "
                "chars) a step, drawn at random; train.seq_len is the recurrent models' stream step")
        # any checkpoint read (a finished run too) keeps its logs: trimmed to it, then appended
        live = Live(Path(live_dir) if (live_dir and job.is_main) else None, st.step > 0, st.step)
        _loop(job, st, val, live, mode if job.is_main else "off", on_step)
        return _finish(job, st, vocab, live, write_outputs)


def _log_init(job: TrainJob, info: dict) -> None:
    new = info["new_chars"]
    job.log(f"starting from {info['init_from']}: {info['shared_chars']} characters shared"
            + (f", {len(new)} new here (fresh rows): {''.join(new)[:40]!r}" if new else ""))


# --------------------------------------------------------------------------- the loop

def _loop(job: TrainJob, st: TrainState, val: np.ndarray, live: Live, mode: str,
          on_step: Optional[StepHook]) -> None:
    run = job.run
    chars_per_step = run.batch_size * run.seq_len
    fwd, ddp = _wrapped(job, st.model)
    meter = _Meter()
    t_start = time.perf_counter()
    progress = Progress(mode, f"{job.corpus}/{job.name}".strip("/"), run.steps, st.step,
                        chars_per_step, write=job.log)
    with stop_on_signals() as stop:
        try:
            st.model.train()
            for step in range(st.step, run.steps):
                t0 = time.perf_counter()
                step_loss = _optimise(job, st, fwd, ddp, step)      # lr, batch, micro-steps, clip, step
                done = st.step = step + 1
                if on_step is not None and done < run.steps and (why := on_step(done)):
                    stop.request(why)
                stopping = _account(job, st, step_loss, stop)        # agreed loss, divergence, stop
                meter.chars += chars_per_step
                if done % run.log_every == 0 or done == run.steps:
                    _log_train(job, st, live, progress, meter)
                st.step_seconds += time.perf_counter() - t0         # steps and logging; not eval
                if done % run.eval_every == 0 or done == run.steps:
                    _validate(job, st, val, live, progress, t_start)
                    meter.restart()                                   # eval time is not throughput
                progress.advance()
                if done % run.checkpoint_every == 0 or done == run.steps or stopping:
                    save_checkpoint(job, st)
                    meter.restart()
                if stopping:
                    raise TrainingInterrupted(f"{stop.reason}: stopped after step {done}/{run.steps}; "
                                              f"checkpoint {job.ckpt_path}; rerun to resume")
        finally:
            progress.close()


def _wrapped(job: TrainJob, model: CharRNN):
    """(forward callable, DDP module): DDP all-reduces gradients across ranks in backward."""
    ddp = model
    if job.info.enabled:
        from torch.nn.parallel import DistributedDataParallel
        ids = [job.device.index] if job.device.type == "cuda" else None
        ddp = DistributedDataParallel(model, device_ids=ids)
    return (torch.compile(ddp) if job.run.compile else ddp), ddp


class _Meter:
    """Training chars since the last log, and since when (chars/s excludes eval and checkpoints)."""

    def __init__(self) -> None:
        self.restart()

    def restart(self) -> None:
        self.t, self.chars = time.perf_counter(), 0

    def rate(self) -> float:
        return self.chars / max(time.perf_counter() - self.t, 1e-9)


def _optimise(job: TrainJob, st: TrainState, fwd, ddp, step: int) -> torch.Tensor:
    """One optimiser step over grad_accum micro-batches; returns the step's mean loss (a tensor)."""
    run, device, t0 = job.run, job.device, time.perf_counter()
    for g in st.opt.param_groups:
        g["lr"] = lr_at(step, run)
    x_np, y_np, reset = st.batcher.next()
    if reset:
        st.states = [None] * run.grad_accum
    x = torch.from_numpy(x_np).to(device, non_blocking=True)
    y = torch.from_numpy(y_np).to(device, non_blocking=True)
    t_data = time.perf_counter()
    n_micro = run.grad_accum
    micro_b = run.batch_size // job.info.world_size // n_micro
    use_amp = uses_bf16(run, device)
    step_loss = torch.zeros((), device=device)
    for m in range(n_micro):
        xs, ys = x[:, m * micro_b:(m + 1) * micro_b], y[:, m * micro_b:(m + 1) * micro_b]
        # DDP: all-reduce the gradients once per step, in the last micro-batch's backward
        sync = ddp.no_sync() if job.info.enabled and m < n_micro - 1 else contextlib.nullcontext()
        with sync:
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                logits, state = fwd(xs, st.states[m])
            loss = F.cross_entropy(logits.float().reshape(-1, job.mcfg.vocab_size), ys.reshape(-1))
            (loss / n_micro).backward()
        st.states[m] = detach_state(state)
        step_loss += loss.detach() / n_micro
    t_clip = time.perf_counter()
    if run.grad_clip:
        torch.nn.utils.clip_grad_norm_(st.model.parameters(), run.grad_clip)
    st.overhead += (t_data - t0) + (time.perf_counter() - t_clip)
    st.opt.step()
    st.opt.zero_grad(set_to_none=True)
    return step_loss


def _account(job: TrainJob, st: TrainState, step_loss: torch.Tensor, stop: StopRequest) -> bool:
    """Add the step's loss to the window; refuse divergence; return whether all ranks stop.

    With DDP one collective a step gives the global mean loss and any rank's stop request.
    On CUDA without DDP the loss stays on the device (no sync); it is checked at log steps."""
    if job.info.enabled:
        flag = torch.ones_like(step_loss) if stop.reason else torch.zeros_like(step_loss)
        loss_g, n_stop = all_reduce_sum(torch.stack([step_loss, flag]), job.info).tolist()
        loss_v = loss_g / job.info.world_size
        if n_stop > 0:
            stop.request("stop requested on another rank")
    else:
        loss_v = step_loss.item() if job.device.type == "cpu" else None
    if loss_v is not None and not loss_v <= DIVERGED_FACTOR * math.log(job.mcfg.vocab_size):
        raise TrainingError(f"{job.name}: loss is {loss_v:.4g} at step {st.step} (diverged; "
                            f"{job.kept()}); lower train.lr or raise grad_clip")
    st.loss_sum += step_loss if loss_v is None else loss_v
    st.loss_n += 1
    return stop.reason is not None


def _log_train(job: TrainJob, st: TrainState, live: Live, progress: Progress, meter: _Meter) -> None:
    t_log = time.perf_counter()
    loss_mean = float(st.loss_sum) / st.loss_n
    if not loss_mean <= DIVERGED_FACTOR * math.log(job.mcfg.vocab_size):
        raise TrainingError(f"{job.name}: loss is {loss_mean:.4g} near step {st.step} (diverged; "
                            f"{job.kept()}); lower train.lr")
    cps = meter.rate()
    live.log(st.step, **{"train/loss": loss_mean, "train/bpc": loss_mean / LN2,
                         "lr": lr_at(st.step - 1, job.run)})     # speed: progress and timing.json
    progress.train(st.step, loss_mean, cps)
    st.loss_sum, st.loss_n = 0.0, 0
    meter.restart()
    st.overhead += time.perf_counter() - t_log


def _validate(job: TrainJob, st: TrainState, val: np.ndarray, live: Live, progress: Progress,
              t_start: float) -> None:
    """Rank 0 scores the whole val split; the others wait for its number (same weights)."""
    run = job.run
    v = (bpc(log2prob_sequence(st.model, val, job.device, streams=run.eval_streams,
                               overlap=run.eval_overlap)) if job.is_main else 0.0)
    v = broadcast_float(v, job.info, job.device)
    if not math.isfinite(v):
        raise TrainingError(f"{job.name}: val bpc is {v} at step {st.step} (diverged; "
                            f"{job.kept()}); lower train.lr")
    st.history.append({"step": st.step, "chars": st.step * run.batch_size * run.seq_len,
                       "val_bpc": v})
    st.eval_seconds.append(round(time.perf_counter() - t_start, 3))
    st.keep_if_best(v, st.step)
    live.log(st.step, **{"val/bpc": v})
    progress.val(st.step, v, st.best_val, st.best_step)


# --------------------------------------------------------------------------- outputs

def _finish(job: TrainJob, st: TrainState, vocab: Vocab, live: Live, write_outputs: bool) -> TrainResult:
    """Load the best-on-val weights; write model, config and summary (rank 0)."""
    if st.best_weights is None:
        raise CheckpointError(f"{job.ckpt_path}: finished checkpoint without best weights")
    st.model.load_state_dict({k: v.to(job.device) for k, v in st.best_weights.items()})
    st.model.eval()
    summary, timing = _summary(job, st), timing_of(job, st)
    if write_outputs and job.is_main:
        save_trained(job.out_dir, st.model, vocab, extra={
            "model_name": job.name, "corpus": job.corpus, "best_val_bpc": st.best_val,
            "best_step": st.best_step, "steps": job.run.steps, "seed": job.run.seed})
        write_json(paths.summary_in(job.out_dir), summary)
        write_json(paths.timing_in(job.work_dir), timing)
        live.log(job.run.steps, **{"best_val_bpc": st.best_val})
        live.end()
    job.log(f"{job.corpus}/{job.name}: best val bpc {st.best_val:.4f} at step {st.best_step}; "
            f"{timing['chars_per_s']:,.0f} chars/s over {st.step_seconds:.1f} s on {job.device}")
    return TrainResult(st.model, vocab, {**summary, **timing})


def _summary(job: TrainJob, st: TrainState) -> dict:
    """What training made (summary.json): the same for the same params, seed, code and
    numerics profile on any machine. What varies with the machine (seconds, chars/s,
    threads, the torch build) goes to timing.json (timing_of)."""
    run, mcfg = job.run, job.mcfg
    mem = memory_estimate(st.model, run.batch_size, run.seq_len)
    train_chars = run.steps * run.batch_size * run.seq_len
    return {
        "model": job.name, "corpus": job.corpus, **mcfg.to_json(),
        "params": parameter_count(st.model), "weight_bytes": mem["weight_bytes"],
        "with_backward_bytes": mem["with_backward_bytes"],
        "steps": run.steps, "batch_size": run.batch_size, "seq_len": run.seq_len,
        "train_chars": train_chars,
        "best_val_bpc": st.best_val, "best_step": st.best_step,
        "final_val_bpc": st.history[-1]["val_bpc"] if st.history else None,
        "eval_streams": run.eval_streams, "device": str(job.device),
        "amp": uses_bf16(run, job.device), "numerics": numerics.profile(),
        "nproc": job.info.world_size, "seed": run.seed, "resumed": st.resumed,
        **({"init_from": job.init_from} if job.init_from else {}), "history": st.history,
    }
