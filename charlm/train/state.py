"""What one training run is (`TrainJob`) and what it carries from step to step (`TrainState`),
and the state's round trip through a checkpoint (charlm.neural.checkpoint).

A checkpoint holds the model, the optimiser, every RNG, the batcher's position, the
carried hidden states (in the GLOBAL stream order, so a run resumes under another
nproc or grad_accum), the best-on-val weights and the loss accumulators, plus a
fingerprint of what decides the result (model, params, data, code): a checkpoint made
under another fingerprint is moved aside, never resumed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import random
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

from ..core import paths
from ..core.errors import CheckpointError, TrainingError
from ..core.fsutil import read_json, remove_stale_temps, write_json
from ..neural import checkpoint as ckpt
from ..neural.models import CharRNN, ModelConfig, State, build_model
from ..params import TrainCommon
from .batcher import StreamBatcher, WindowBatcher
from .distributed import DistInfo, barrier, gather_batch, shard_batch

ADAM_BETAS = (0.9, 0.99)
RESEED_STRIDE = 1_000_003     # a rank without its saved RNG reseeds at seed + stride * step + rank
# The code that decides what training computes: part of the fingerprint, so a finished
# checkpoint of older code is not silently reused when `dvc repro` re-runs the stage.
CODE_FILES = ("train/run.py", "train/state.py", "train/batcher.py", "neural/models.py",
              "neural/gpt.py", "train/finetune.py")     # relative to the charlm package


def code_version() -> str:
    h = hashlib.sha256()
    for name in CODE_FILES:
        h.update((Path(__file__).parents[1] / name).read_bytes())
    return h.hexdigest()[:16]


def fingerprint(mcfg: ModelConfig, run: TrainCommon, train: np.ndarray,
                init: str | None = None) -> str:
    """What a checkpoint must match to be resumed: model, result-changing params, data, code
    and, for a fine-tuned run, the digest of the weights it started from."""
    keep = {f.name: getattr(run, f.name) for f in dataclasses.fields(run)
            if not f.metadata.get("resumable")}
    doc = {"model": mcfg.to_json(), "train": keep, "n": int(len(train)),
           "crc": zlib.crc32(np.ascontiguousarray(train).tobytes()), "code": code_version()}
    if init is not None:
        doc["init"] = init
    doc = json.dumps(doc, sort_keys=True)
    return hashlib.sha256(doc.encode()).hexdigest()[:16]


@dataclass
class TrainJob:
    """The fixed facts of one run: what is trained, where, and where its files go."""
    name: str
    corpus: str
    run: TrainCommon               # train.common with the model's overrides applied
    mcfg: ModelConfig
    device: torch.device
    info: DistInfo
    out_dir: Path
    fingerprint: str
    log: Callable[[str], None]
    init_from: Optional[str] = None   # the trained model's folder a fine-tuned run started from
    ckpt_dir: Optional[Path] = None   # checkpoint and timing.json (default: out_dir/checkpoint)

    @property
    def is_main(self) -> bool:
        return self.info.rank == 0

    @property
    def work_dir(self) -> Path:
        """Where the checkpoint and timing.json go."""
        return Path(self.ckpt_dir) if self.ckpt_dir is not None else self.out_dir / "checkpoint"

    @property
    def ckpt_path(self) -> Path:
        return paths.checkpoint_file(self.work_dir)

    def kept(self) -> str:
        return (f"last good checkpoint kept: {self.ckpt_path}" if self.ckpt_path.is_file()
                else "no checkpoint written yet")


@dataclass
class TrainState:
    """Everything that changes as training goes, and survives a restart."""
    model: CharRNN
    opt: torch.optim.Optimizer
    batcher: StreamBatcher
    states: list                    # carried hidden state per micro-batch (None: zero)
    step: int = 0                   # optimiser steps done
    best_val: float = math.inf
    best_step: int = -1
    best_weights: Optional[dict] = None
    history: list = field(default_factory=list)     # {step, chars, val_bpc}
    eval_seconds: list = field(default_factory=list)   # seconds since start, per history entry
    step_seconds: float = 0.0       # time in steps (not evals)
    overhead: float = 0.0           # of it: data, schedule, clipping, logging
    loss_sum: float = 0.0           # train loss summed since the last log ...
    loss_n: int = 0                 # ... over this many steps
    resumed: bool = False

    @classmethod
    def create(cls, job: TrainJob, train: np.ndarray) -> "TrainState":
        """Seeded model and optimiser (same weights on every rank), the batcher at its start."""
        run, info = job.run, job.info
        torch.manual_seed(run.seed)
        np.random.seed(run.seed % 2**32)
        random.seed(run.seed)
        model = build_model(job.mcfg).to(job.device)
        opt = torch.optim.AdamW(model.optim_groups(run.weight_decay), lr=run.lr, betas=ADAM_BETAS,
                                weight_decay=run.weight_decay, fused=True)
        if info.rank:              # its own dropout stream per rank
            torch.manual_seed(run.seed + info.rank)
        batcher = (WindowBatcher(train, run.batch_size, run.seq_len, run.seed, info.rank,
                                 info.world_size) if job.mcfg.is_transformer else
                   StreamBatcher(train, run.batch_size, run.seq_len, info.rank, info.world_size))
        return cls(model, opt, batcher, [None] * run.grad_accum)

    def keep_if_best(self, val_bpc: float, step: int) -> None:
        if val_bpc < self.best_val:
            self.best_val, self.best_step = val_bpc, step
            self.best_weights = {k: t.detach().to("cpu", copy=True)
                                 for k, t in self.model.state_dict().items()}


# --------------------------------------------------------------------------- save

def save_checkpoint(job: TrainJob, st: TrainState) -> None:
    """Write the state at step `st.step` (a collective: every rank calls it; rank 0 writes).

    On CUDA the loss is only checked at log steps: NaN weights are never checkpointed.
    Every rank checks (the weights are replicated), so all ranks stop together."""
    bad = [n for n, t in st.model.named_parameters() if not bool(torch.isfinite(t).all())]
    if bad:
        raise TrainingError(f"{job.name}: weights are NaN/inf at step {st.step} ({bad[0]}); "
                            f"not checkpointed; {job.kept()}; lower train.lr or raise grad_clip")
    hidden = state_tensors(st.states, job.info)
    rank_rng = _rank_rng_tensors(job.info, job.device)
    if job.is_main:
        o_t, o_meta = ckpt.optimizer_to_flat(st.opt)
        r_t, r_meta = ckpt.rng_to_flat()
        tensors = {**ckpt.prefixed("model.", st.model.state_dict()), **o_t, **r_t, **rank_rng,
                   **hidden}
        if st.best_weights is not None:
            tensors.update(ckpt.prefixed("best.", st.best_weights))
        ckpt.save_checkpoint(job.ckpt_path, tensors, _meta(job, st, o_meta, r_meta))
        write_json(paths.timing_in(job.work_dir), timing_of(job, st))
    barrier(job.info)      # no rank leaves (e.g. on a stop) before rank 0 has written it


def _meta(job: TrainJob, st: TrainState, o_meta: dict, r_meta: dict) -> dict:
    run = job.run
    return {"fingerprint": job.fingerprint, "model_name": job.name, "model": job.mcfg.to_json(),
            "step": st.step, "steps": run.steps, "data": st.batcher.state(),
            "hidden_state": "carried per stream (global stream order); zeroed when the streams wrap",
            "world_size": job.info.world_size,
            "schedule": {"kind": "warmup_cosine", "warmup_steps": run.warmup_steps,
                         "lr": run.lr, "min_lr": run.min_lr, "steps": run.steps},
            "optimizer": o_meta, "rng": r_meta, "best_val_bpc": st.best_val,
            "best_step": st.best_step, "history": st.history, "resumed": st.resumed,
            "loss_window": [float(st.loss_sum), st.loss_n]}   # the resumed run logs the same means


def state_tensors(states: list[Optional[State]], info: DistInfo) -> dict[str, torch.Tensor]:
    """The carried hidden states as `hidden.<j>` (num_layers, B, hidden) in the GLOBAL stream
    order: micro-batches concatenated, then every rank's share gathered (a collective)."""
    if states[0] is None:
        return {}
    parts = [s if isinstance(s, tuple) else (s,) for s in states]
    return {f"hidden.{j}": gather_batch(torch.cat([p[j] for p in parts], dim=1), info, dim=1)
            for j in range(len(parts[0]))}


def _rank_rng_tensors(info: DistInfo, device) -> dict[str, torch.Tensor]:
    """Every rank's torch RNG state (dropout masks), gathered; rank 0's is also `rng.torch`."""
    if not info.enabled:
        return {}
    out = {"rng.ranks.torch": gather_batch(torch.get_rng_state().to(device)[None], info, dim=0).cpu()}
    if device.type == "cuda":
        out["rng.ranks.cuda"] = gather_batch(torch.cuda.get_rng_state(device).to(device)[None],
                                             info, dim=0).cpu()
    return out


# --------------------------------------------------------------------------- timing

def timing_of(job: TrainJob, st: TrainState) -> dict:
    """Seconds and speed so far (timing.json beside the checkpoint; neither a DVC output
    nor tracked by git: they vary run to run, what training computes does not)."""
    secs = max(st.step_seconds, 1e-9)
    chars = st.step * job.run.batch_size * job.run.seq_len
    return {"step": st.step, "train_seconds": round(st.step_seconds, 3),
            "chars_per_s": round(chars / secs, 1), "overhead_seconds": round(st.overhead, 3),
            "overhead_pct": round(100.0 * st.overhead / secs, 2),
            "eval_at_seconds": st.eval_seconds, "threads": torch.get_num_threads(),
            "torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability()}


def _timing_from(job: TrainJob, st: TrainState) -> None:
    """A resumed run's seconds so far, if timing.json was written at its checkpoint."""
    f = paths.timing_in(job.work_dir)
    try:
        t = read_json(f) if f.is_file() else {}
    except (ValueError, OSError):   # informative only: never block a resume on it
        t = {}
    if isinstance(t, dict) and t.get("step") == st.step:
        st.step_seconds, st.overhead = t["train_seconds"], t["overhead_seconds"]
        st.eval_seconds = list(t.get("eval_at_seconds", []))


# --------------------------------------------------------------------------- resume

def resume(job: TrainJob, st: TrainState, fresh: bool) -> None:
    """Load the run's checkpoint into `st` if there is one made under the same fingerprint.

    `fresh`: move an existing checkpoint aside and start afresh. A checkpoint of other
    params, data or code is moved aside too; an unreadable one is a CheckpointError."""
    path = job.ckpt_path
    if job.is_main:      # temp files of checkpoint writes a kill interrupted
        remove_stale_temps(path)
    if not path.is_file():
        return
    if fresh:            # explicit: keep the old checkpoint, never delete it
        if job.is_main:
            job.log(f"{path}: fresh start requested; old checkpoint moved aside to "
                    f"{ckpt.move_aside(path, 'bad')}")
        return
    try:
        tensors, meta = ckpt.load_checkpoint(path)
    except CheckpointError as e:
        raise CheckpointError(f"{e}; {ckpt.FRESH_HINT}") from None
    if meta.get("fingerprint") != job.fingerprint:
        barrier(job.info)                 # every rank has read it before rank 0 moves it
        moved = ckpt.move_aside(path, "other-params") if job.is_main else path
        job.log(f"{path}: made with other params or data; moved aside to {moved}; starting afresh")
        return
    _restore(job, st, tensors, meta)
    job.log(f"resuming from {path} at step {st.step}/{job.run.steps}")


def _restore(job: TrainJob, st: TrainState, tensors: dict, meta: dict) -> None:
    try:
        st.model.load_state_dict({k: v.to(job.device)
                                  for k, v in ckpt.unprefixed("model.", tensors).items()})
        # load_state_dict moves the state to the params' device (and keeps 'step' where Adam wants it)
        ckpt.optimizer_from_flat(st.opt, tensors, meta["optimizer"])
        st.states = states_from(tensors, job.run.grad_accum, job.mcfg.arch == "lstm",
                                job.run.batch_size, job.info, job.device)
    except CheckpointError as e:
        raise CheckpointError(f"{job.ckpt_path}: {e}") from None
    except (RuntimeError, KeyError, ValueError, TypeError) as e:
        why = str(e).strip().splitlines()[-1].strip()
        raise CheckpointError(f"{job.ckpt_path}: does not fit the model ({why}); "
                              f"{ckpt.FRESH_HINT}") from None
    st.best_weights = ckpt.unprefixed("best.", tensors) or None
    st.batcher.load_state(meta["data"])
    ckpt.rng_from_flat(tensors, meta["rng"])
    _rank_rng_from(job, tensors, meta)
    st.step, st.best_val, st.best_step = meta["step"], meta["best_val_bpc"], meta["best_step"]
    st.history = meta["history"]
    _timing_from(job, st)
    loss_sum, loss_n = meta.get("loss_window", [0.0, 0])
    st.loss_sum, st.loss_n = float(loss_sum), int(loss_n)
    # a finished run read again (dvc repro --force) is what it was; an unfinished one resumes
    st.resumed = bool(meta.get("resumed", True)) if st.step >= job.run.steps else True


def states_from(tensors: dict, n_micro: int, lstm: bool, batch: int, info: DistInfo,
                device) -> list[Optional[State]]:
    """This rank's micro-batch states from a checkpoint's global `hidden.<j>` tensors."""
    k = 2 if lstm else 1
    if "hidden.0" not in tensors:
        return [None] * n_micro
    glob = [tensors[f"hidden.{j}"] for j in range(k)]
    if any(g.dim() != 3 or g.shape[1] != batch for g in glob):
        raise CheckpointError(f"checkpoint hidden state has shape {tuple(glob[0].shape)}, "
                              f"expected (layers, {batch}, hidden)")
    chunks = [shard_batch(g, info, dim=1).to(device).chunk(n_micro, dim=1) for g in glob]
    return [tuple(c[m].contiguous() for c in chunks) if lstm else chunks[0][m].contiguous()
            for m in range(n_micro)]


def _rank_rng_from(job: TrainJob, tensors: dict, meta: dict) -> None:
    """Ranks > 0 restore their own RNG state (rank 0's came with `rng.torch`)."""
    info = job.info
    saved_world = int(meta.get("world_size", 1))
    if saved_world != info.world_size and job.mcfg.dropout > 0:
        job.log(f"checkpoint made by {saved_world} process(es), resumed by {info.world_size}: "
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
        torch.manual_seed(job.run.seed + RESEED_STRIDE * meta["step"] + info.rank)
