"""Param sections of the later stages (ngram, train, evaluate, report).

Each is a dataclass registered with `register_section`, validated by
`charlm.params.load_params` before any work starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional

from .params import positive, register_section


# --------------------------------------------------------------------------- train (issue 4)

@dataclass
class ModelSpec:
    """One neural model of `train.models` (name -> spec); overrides are per model."""
    arch: Literal["rnn", "lstm", "gru"]
    hidden_size: int                      # units per layer
    num_layers: int = 1
    dropout: float = 0.1                  # on the top output and between stacked layers
    embedding_dim: int = 64               # replaces the one-hot input (same function)
    steps: Optional[int] = None           # overrides of the common train keys
    lr: Optional[float] = None
    warmup_steps: Optional[int] = None
    min_lr: Optional[float] = None
    batch_size: Optional[int] = None
    seq_len: Optional[int] = None

    def check(self, where: str) -> None:
        for name in ("hidden_size", "num_layers", "embedding_dim", "steps", "lr",
                     "batch_size", "seq_len"):
            positive(where, name, getattr(self, name))
        for name in ("warmup_steps", "min_lr"):
            positive(where, name, getattr(self, name), zero_ok=True)
        if not 0.0 <= self.dropout < 1.0:
            from .params import ParamsError
            raise ParamsError(f"{where}.dropout: must be in [0, 1), got {self.dropout}")


@register_section("train")
@dataclass
class TrainParams:
    models: dict[str, ModelSpec] = field(default_factory=dict)
    seed: int = 1337
    steps: int = 400                      # optimiser steps (fixed: reproducible, not a time budget)
    batch_size: int = 32                  # parallel contiguous streams (chars per step = batch x seq)
    seq_len: int = 64                     # chars per stream per step (truncated BPTT length)
    lr: float = 0.003                     # peak learning rate (Adam/AdamW)
    warmup_steps: int = 40                # linear warm-up, then cosine decay to min_lr
    min_lr: float = 0.0003
    weight_decay: float = 0.0             # AdamW decoupled decay (0: plain Adam)
    grad_clip: float = 1.0                # max global gradient norm (0: off)
    eval_every: int = 200                 # steps between val-bpc evaluations (and at the end)
    eval_streams: int = 16                # val scored as K contiguous streams (1: exact single stream)
    eval_overlap: int = 512               # chars of warm-up history per extra stream
    checkpoint_every: int = 100           # steps between checkpoints (also on SIGINT/SIGTERM)
    log_every: int = 10                   # steps between DVCLive/train-loss logs
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # bf16 autocast: "auto" = on CUDA only; "bf16" = on CPU too (about 1.5x faster training
    # where the CPU has native bf16, e.g. avx512_bf16/AMX; emulated and slow elsewhere);
    # "off" = fp32 everywhere. Evaluation always runs in fp32.
    amp: Literal["auto", "bf16", "off"] = "auto"
    compile: bool = False                 # torch.compile the model (never required)
    grad_accum: int = 1                   # micro-batches per step (splits the streams)
    nproc: int = 1                        # processes: > 1 runs the stage under torchrun (DDP)
    threads: int = 0                      # CPU threads for torch (0: torch's default)
    sample_chars: int = 1000              # length of the sample.txt each model writes
    sample_prime: str = "\n"              # warms the state before sampling
    sample_temperature: float = 0.8

    def check(self, where: str) -> None:
        for name in ("steps", "batch_size", "seq_len", "lr", "eval_every", "eval_streams",
                     "checkpoint_every", "log_every", "grad_accum", "nproc", "sample_chars",
                     "sample_temperature"):
            positive(where, name, getattr(self, name))
        for name in ("warmup_steps", "min_lr", "weight_decay", "grad_clip", "eval_overlap", "threads"):
            positive(where, name, getattr(self, name), zero_ok=True)
        from .params import ParamsError
        if self.min_lr > self.lr:
            raise ParamsError(f"{where}.min_lr: must be <= lr ({self.lr}), got {self.min_lr}")
        for name, spec in self.models.items():
            lr = spec.lr if spec.lr is not None else self.lr
            if spec.min_lr is not None and spec.min_lr > lr:
                raise ParamsError(f"{where}.models.{name}.min_lr: must be <= the model's lr "
                                  f"({lr}), got {spec.min_lr}")
            bs = spec.batch_size or self.batch_size
            if bs % (self.grad_accum * self.nproc):
                by = (f"grad_accum {self.grad_accum}" if self.nproc == 1 else
                      f"nproc x grad_accum ({self.nproc} x {self.grad_accum})")
                raise ParamsError(f"{where}.models.{name}: batch_size {bs} is not divisible by {by}")


@register_section("ngram")
@dataclass
class NgramParams:
    max_order: int = 10                   # orders 1..max_order are fitted (order = history length)
    smoothings: list[Literal["kneser_ney", "witten_bell", "add_k"]] = field(
        default_factory=lambda: ["kneser_ney", "witten_bell", "add_k"])
    add_k: list[float] = field(default_factory=lambda: [1.0, 0.1, 0.01])   # k values tried on val
    chosen: Literal["kneser_ney", "witten_bell", "add_k"] = "kneser_ney"   # the saved model
    sample_orders: list[int] = field(default_factory=lambda: [4, 10])      # mle samples
    sample_length: int = 500
    seed: int = 1234

    def check(self, where: str) -> None:
        from .params import ParamsError
        if not 1 <= self.max_order <= 32:
            raise ParamsError(f"{where}.max_order: must be in 1..32, got {self.max_order}")
        if not self.smoothings:
            raise ParamsError(f"{where}.smoothings: must list at least one smoothing")
        if self.chosen not in self.smoothings:
            raise ParamsError(f"{where}.chosen: {self.chosen!r} is not in smoothings")
        if "add_k" in self.smoothings and not self.add_k:
            raise ParamsError(f"{where}.add_k: must list at least one k when add_k is fitted")
        for i, k in enumerate(self.add_k):
            positive(where, f"add_k[{i}]", k)
        for i, o in enumerate(self.sample_orders):
            if not 1 <= o <= self.max_order:
                raise ParamsError(f"{where}.sample_orders[{i}]: must be in 1..max_order "
                                  f"({self.max_order}), got {o}")
        positive(where, "sample_length", self.sample_length, zero_ok=True)
