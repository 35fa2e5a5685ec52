"""Training checkpoints: one safetensors file, written atomically, no pickle.

A checkpoint holds everything needed to resume a run bit-for-bit on the same machine:
model and best-on-val weights, optimiser tensors, carried hidden states and the torch
RNG states (all as tensors), plus a JSON document (stored in the safetensors header
metadata) with the step, the data position, the optimiser's param groups, the
schedule, the numpy and Python RNG states, the best val bpc and a fingerprint of the
params that made it.

    save_checkpoint(path, tensors, meta)   # atomic: temp file + fsync + rename
    tensors, meta = load_checkpoint(path)  # CheckpointError naming the file if bad
    move_aside(path, "bad")                # -> path.bad-<timestamp>, never deleted

The metadata holds a CRC-32 of every tensor's bytes (safetensors itself has no
checksum), so flipped bytes in the data section are caught on load, not trained on.
"""

from __future__ import annotations

import json
import os
import random
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core.errors import CheckpointError
from ..core.fsutil import write_bytes

FORMAT = "charlm-checkpoint/1"
FRESH_HINT = "rerun with --fresh (or CHARLM_FRESH=1) to move it aside and start afresh"


def tensors_crc32(tensors: dict[str, torch.Tensor]) -> int:
    """CRC-32 over the names and raw bytes of all tensors, in name order."""
    crc = 0
    for k in sorted(tensors):
        t = tensors[k].detach().to("cpu").contiguous()
        crc = zlib.crc32(f"{k}:{t.dtype}:{tuple(t.shape)};".encode(), crc)
        crc = zlib.crc32(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"", crc)
    return crc


def move_aside(path: str | Path, reason: str = "bad") -> Path:
    """Rename `path` to `<path>.<reason>-<UTC timestamp>` (never overwriting); return the new path."""
    path = Path(path)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    dest, n = path.with_name(f"{path.name}.{reason}-{stamp}"), 1
    while dest.exists():
        n += 1
        dest = path.with_name(f"{path.name}.{reason}-{stamp}-{n}")
    os.replace(path, dest)
    return dest


def save_checkpoint(path: str | Path, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    from safetensors.torch import save as st_save
    flat = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    doc = json.dumps({"format": FORMAT, **meta, "crc32": tensors_crc32(flat)}, ensure_ascii=False)
    write_bytes(path, st_save(flat, metadata={"charlm": doc}))


def load_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a checkpoint; any problem becomes a one-line CheckpointError naming the file."""
    from safetensors import safe_open
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta_raw = (f.metadata() or {}).get("charlm")
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # safetensors raises its own types for truncated/corrupt files
        raise CheckpointError(f"{path}: corrupt checkpoint ({type(e).__name__}: {e})") from None
    if meta_raw is None:
        raise CheckpointError(f"{path}: not a charlm checkpoint (no charlm metadata)")
    try:
        meta = json.loads(meta_raw)
    except ValueError as e:
        raise CheckpointError(f"{path}: corrupt checkpoint metadata ({e})") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: unsupported checkpoint format {meta.get('format')!r}")
    if "crc32" in meta and tensors_crc32(tensors) != meta["crc32"]:
        raise CheckpointError(f"{path}: corrupt checkpoint (tensor data fails its CRC-32 check)")
    return tensors, meta


# --------------------------------------------------------------------------- pieces

def prefixed(prefix: str, sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {f"{prefix}{k}": v for k, v in sd.items()}


def unprefixed(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


def optimizer_to_flat(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """An optimiser's state_dict as flat tensors + JSON (param groups, scalar state)."""
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for idx, st in sd["state"].items():
        for key, val in st.items():
            if isinstance(val, torch.Tensor):
                tensors[f"optim.{idx}.{key}"] = val
            else:
                scalars[f"{idx}.{key}"] = val
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def optimizer_from_flat(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    state: dict[int, dict[str, Any]] = {}
    for k, v in tensors.items():
        if k.startswith("optim."):
            _, idx, key = k.split(".", 2)
            state.setdefault(int(idx), {})[key] = v
    for k, v in meta.get("scalars", {}).items():
        idx, key = k.split(".", 1)
        state.setdefault(int(idx), {})[key] = v
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def rng_to_flat() -> tuple[dict[str, torch.Tensor], dict]:
    """torch (CPU and CUDA) RNG states as tensors; numpy and Python states as JSON."""
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    np_state = np.random.get_state(legacy=False)
    np_state = json.loads(json.dumps(np_state, default=lambda o: o.tolist()))
    py = random.getstate()
    return tensors, {"numpy": np_state, "python": [py[0], list(py[1]), py[2]]}


def rng_from_flat(tensors: dict[str, torch.Tensor], meta: dict) -> None:
    torch.set_rng_state(tensors["rng.torch"])
    cuda = sorted((k for k in tensors if k.startswith("rng.cuda.")), key=lambda k: int(k.rsplit(".", 1)[1]))
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([tensors[k] for k in cuda])
    np.random.set_state(meta["numpy"])
    py = meta["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
