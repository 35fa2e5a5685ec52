"""charlm's sampling step with its weight matrices read as fp16 or int8 (fbgemm, x86 CPU
only): fewer bytes read per step. An experiment, not charlm's: bench_sampling.py times it
against the fp32 step `charlm sample` runs (benchmarks/results/sampling.md: neither pays
at batch 1 on an AVX2 CPU), tests/test_sample.py checks that it stays close to fp32.

    step = LowBitStep(model, "int8")      # charlm.evaluate.sample.OneStep, other matrices
    logits = step(ids, step.state_from(None, len(ids)))
"""

from __future__ import annotations

import warnings

import torch

from charlm.core.errors import ParamsError
from charlm.evaluate.sample import OneStep

WEIGHTS = ("fp32", "fp16", "int8")


def weights_available(weights: str) -> bool:
    """Whether this torch build runs the `weights` path (fp16 and int8: fbgemm, x86 CPU)."""
    try:
        Linear(torch.ones(8, 8), torch.zeros(8), weights)(torch.zeros(1, 8))
        return True
    except (AttributeError, RuntimeError, NotImplementedError):
        return False


def int8_packed(w: torch.Tensor, b: torch.Tensor):
    """W as int8 with a scale per row (symmetric), packed for fbgemm's dynamic linear."""
    scale = (w.abs().amax(1) / 127).clamp_min(1e-12).double()
    with warnings.catch_warnings():        # quantized tensors are deprecated in torch 2.13
        warnings.simplefilter("ignore", UserWarning)
        q = torch.quantize_per_channel(w.float().contiguous(), scale,
                                       torch.zeros(len(scale), dtype=torch.long), 0, torch.qint8)
        return torch.ops.quantized.linear_prepack(q, b.float())


class Linear:
    """x @ W.T + b for W (out, in): fp32 (addmm on a pre-transposed W); or with W stored in
    fp16 (fp32 arithmetic), or in int8 with a scale per row (x quantised per call): fbgemm,
    CPU only, fewer bytes read per step."""

    def __init__(self, w: torch.Tensor, b: torch.Tensor, weights: str = "fp32"):
        if weights not in WEIGHTS:
            raise ParamsError(f"weights: must be one of {', '.join(WEIGHTS)}, got {weights!r}")
        if weights == "fp16":
            packed = torch.ops.quantized.linear_prepack_fp16(w.float().contiguous(), b.float())
            self.f = lambda x: torch.ops.quantized.linear_dynamic_fp16(x, packed)
        elif weights == "int8":
            packed = int8_packed(w, b)
            self.f = lambda x: torch.ops.quantized.linear_dynamic(x, packed, True)
        else:
            wt = w.T.contiguous()
            self.f = lambda x: torch.addmm(b, x, wt)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.f(x)


class LowBitStep(OneStep):
    """charlm's OneStep (the same equations and state) with every matrix but layer 0's
    lookup table applied by `Linear(weights)`."""

    def __init__(self, model, weights: str = "fp32"):
        if weights not in WEIGHTS:
            raise ParamsError(f"weights: must be one of {', '.join(WEIGHTS)}, got {weights!r}")
        self.weights = weights
        super().__init__(model)

    def linear(self, w: torch.Tensor, b: torch.Tensor) -> Linear:
        return Linear(w, b, self.weights)
