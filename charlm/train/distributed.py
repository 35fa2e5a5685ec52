"""Multi-process training with torchrun + DistributedDataParallel.

`torchrun --nproc_per_node N -m stages.train <corpus> <model>` starts N copies of
the trainer; each reads RANK/WORLD_SIZE/LOCAL_RANK from the environment, joins the
process group (NCCL on CUDA, gloo on CPU), takes its own share of the B parallel
streams (`StreamBatcher(rank, world_size)`), and lets DDP all-reduce the gradients.
Only rank 0 writes checkpoints, logs, metrics and the final model. With
`train.nproc: N` in params the train stage re-launches itself under torchrun, so
`dvc repro` needs no other command.

The helpers below are no-ops for a single process (world_size 1), so the trainer
calls them unconditionally. Nothing here pickles: every exchange is a tensor.
"""

from __future__ import annotations

import datetime
import os
import sys
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..core.errors import TrainingError

LAUNCHED_ENV = "LOCAL_RANK"       # set by torchrun in every worker


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def under_torchrun() -> bool:
    return LAUNCHED_ENV in os.environ and "WORLD_SIZE" in os.environ


def torchrun_argv(nproc: int, module: str, args: list[str]) -> list[str]:
    """The command that re-runs `python -m module args` under torchrun with `nproc` workers."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone",
            f"--nproc_per_node={nproc}", "-m", module, *args]


def init(device_type: str) -> DistInfo:
    """Join the process group if launched by torchrun; a no-op for a single process."""
    if not under_torchrun():
        return DistInfo()
    info = DistInfo(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]),
                    int(os.environ["LOCAL_RANK"]))
    if info.world_size > 1 and not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        if device_type == "cuda":
            n = torch.cuda.device_count()
            if info.local_rank >= n:
                raise TrainingError(f"torchrun started more processes per node than GPUs "
                                    f"(local rank {info.local_rank}, {n} GPU(s)); lower train.nproc")
            torch.cuda.set_device(info.local_rank)
        dist.init_process_group(backend=backend, timeout=datetime.timedelta(minutes=30))
    return info


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def all_reduce_sum(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """The element-wise sum of `t` over all ranks (a copy; `t` is untouched)."""
    if info.enabled:
        t = t.clone()
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def broadcast_float(value: float, info: DistInfo, device) -> float:
    """Rank 0's `value` on every rank (the others pass anything, e.g. 0.0)."""
    if not info.enabled:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.broadcast(t, src=0)
    return float(t.item())


def gather_batch(t: torch.Tensor, info: DistInfo, dim: int = 1) -> torch.Tensor:
    """Concatenate every rank's shard of a batched tensor (e.g. hidden states) along `dim`.

    Rank r's shard lands at [r*per, (r+1)*per): the global batch order of
    `StreamBatcher`, so the result does not depend on the number of processes.
    """
    if not info.enabled:
        return t
    parts = [torch.empty_like(t) for _ in range(info.world_size)]
    dist.all_gather(parts, t.contiguous())
    return torch.cat(parts, dim=dim)


def shard_batch(t: torch.Tensor, info: DistInfo, dim: int = 1) -> torch.Tensor:
    """This rank's contiguous share of a global batched tensor (inverse of gather_batch)."""
    if not info.enabled:
        return t
    if t.shape[dim] % info.world_size:
        raise TrainingError(f"a batch of {t.shape[dim]} cannot be split over {info.world_size} processes")
    per = t.shape[dim] // info.world_size
    return t.narrow(dim, info.rank * per, per).contiguous()
