"""Device check (not collected by pytest): on CUDA the trainer reads the loss only at log
steps, so NaN weights that appear between them must be caught by the checkpoint guard
and the val-bpc check. Run: python3 tests/faults/cuda_nan_guard.py (needs a CUDA device)."""

import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from charlm.neural.checkpoint import load_checkpoint  # noqa: E402
from charlm.core.errors import TrainingError  # noqa: E402
from charlm.params import ModelSpec, SplitParams, TrainCommon, TrainParams  # noqa: E402
from charlm.data.prepare import prepare_text, save_prepared  # noqa: E402
from charlm.train.run import train_model  # noqa: E402

print("torch", torch.__version__, "cuda", torch.cuda.is_available(), flush=True)
words = np.random.default_rng(0).choice(["the", "cat", "sat", "on", "a", "mat", "dog"], 5000)
tmp = Path(tempfile.mkdtemp())
vocab, arrays, stats = prepare_text(" ".join(words), SplitParams(0.8, 0.1, 0.1), "tiny")
save_prepared(tmp / "prep", vocab, arrays, stats)
calls = {"n": 0, "at": 7}
real_step = torch.optim.AdamW.step


def poisoned(self, *a, **kw):
    out = real_step(self, *a, **kw)
    calls["n"] += 1
    if calls["n"] == calls["at"]:
        with torch.no_grad():
            for t in self.param_groups[0]["params"]:
                t.fill_(float("nan"))
    return out


torch.optim.AdamW.step = poisoned
ok = True
for name, over, expect in [("ckpt", dict(eval_every=30, checkpoint_every=5), "weights are NaN/inf at step 10"),
                           ("eval", dict(eval_every=10, checkpoint_every=15), "val bpc is nan at step 10")]:
    calls["n"] = 0
    common = TrainCommon(steps=30, batch_size=8, seq_len=16, eval_streams=1, log_every=25,
                         device="cuda" if torch.cuda.is_available() else "cpu", **over)
    tp = TrainParams(models={"m": ModelSpec(arch="lstm", hidden_size=32, embedding_dim=8)},
                     common=common)
    out = tmp / name
    try:
        train_model(tmp / "prep", out, tp, "m", progress=False, log=lambda m: None)
        print(name, "FAIL: no error"); ok = False
    except TrainingError as e:
        print(name, "TrainingError:", e)
        ok &= expect in str(e)
    ck = out / "checkpoint" / "last.safetensors"
    if ck.exists():
        tensors, meta = load_checkpoint(ck)
        finite = all(bool(torch.isfinite(t).all()) for t in tensors.values() if t.is_floating_point())
        print(name, "checkpoint step", meta["step"], "finite", finite)
        ok &= finite and meta["step"] == 5 and name == "ckpt"
    else:
        print(name, "no checkpoint")
        ok &= name == "eval"
    print(name, "summary.json exists:", (out / "summary.json").exists())
    ok &= not (out / "summary.json").exists()
print("RESULT", "PASS" if ok else "FAIL")
