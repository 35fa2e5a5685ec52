"""Train and score a tiny rnn, lstm and gru; print the bits of what they computed (JSON).

Run as `python tests/numerics/probe.py OUT_DIR` in a fresh process (the numerics profile
is applied when charlm is imported, so the environment given to this process decides
it). Each number is printed as float.hex: equal strings are equal bits.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import charlm  # noqa: F401  (first: applies the numerics profile)
import numpy as np
import torch

from charlm.core import numerics
from charlm.evaluate.dynamic import dynamic_log2prob, grad_rms
from charlm.neural.models import log2prob_sequence
from charlm.params import ModelSpec, SplitParams, TrainCommon, TrainParams
from charlm.core.splits import load_split
from charlm.data.prepare import prepare_text, save_prepared
from charlm.train.run import train_model

WORDS = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "to", "it", "was", "big"]


def tiny_text(n_words: int = 4000) -> str:
    words = np.random.default_rng(0).choice(WORDS, n_words)
    return " ".join(w + (".\n" if i % 9 == 8 else "") for i, w in enumerate(words))


def digest(model: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode() + t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def probe(arch: str, prepared: Path, out: Path) -> dict:
    spec = ModelSpec(arch=arch, hidden_size=48, num_layers=2, dropout=0.1, embedding_dim=16)
    tp = TrainParams(models={arch: spec}, common=TrainCommon(
        seed=5, steps=30, batch_size=16, seq_len=32, lr=0.01, warmup_steps=3, min_lr=0.001,
        eval_every=15, eval_streams=1, checkpoint_every=30, log_every=10, device="cpu"))
    result = train_model(prepared, out / arch, tp, arch, corpus="tiny", progress=False,
                         log=lambda m: None)
    test, train = load_split(prepared, "test"), load_split(prepared, "train")
    static = log2prob_sequence(result.model, test).sum()
    rms = grad_rms(result.model, train, batches=2, batch_size=8, seq_len=32)
    dynamic = dynamic_log2prob(result.model, test[:600], rms, lr=1e-3, decay=1e-3, segment=50).sum()
    return {"best_val_bpc": float(result.summary["best_val_bpc"]).hex(),
            "weights": digest(result.model), "test_log2p": float(static).hex(),
            "dynamic_log2p": float(dynamic).hex()}


def main() -> None:
    out = Path(sys.argv[1])
    profile = numerics.check()
    vocab, arrays, stats = prepare_text(tiny_text(), SplitParams(0.8, 0.1, 0.1), "tiny")
    save_prepared(out / "prepared", vocab, arrays, stats)
    runs = {arch: probe(arch, out / "prepared", out) for arch in ("rnn", "lstm", "gru")}
    print(json.dumps({"profile": profile, "threads": torch.get_num_threads(),
                      "capability": torch.backends.cpu.get_cpu_capability(), "runs": runs}))


if __name__ == "__main__":
    main()
