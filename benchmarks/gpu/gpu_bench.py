"""CUDA check (issue 7): train each RNN variant a few hundred steps with charlm's trainer.

For every variant (the lecture's `rnn`, the 3-layer `rnn3`, `lstm`, `gru`, at the
full-size presets) this runs `charlm.train.run.train_model` for `--steps` steps with bf16
autocast on CUDA, and records chars/s, step time, peak GPU memory and the final val
bpc. Needs only torch, numpy, safetensors, tqdm and pyyaml (no dvc, no dvclive):

    python benchmarks/gpu/gpu_bench.py --data data/prepared/tinyshakespeare \
        --out benchmarks/results/gpu.json --steps 300

gpu_check.sh beside this runs it twice (bf16, then fp32). On a machine without CUDA it
runs on CPU; `--tiny` shrinks every model so that a test can run the whole script in
seconds. It takes no lock: it runs on a lent GPU machine, or as a test inside the suite.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # benchmarks/: common
import common  # noqa: E402

import torch  # noqa: E402

from charlm.params import ModelSpec, TrainCommon, TrainParams  # noqa: E402
from charlm.train.run import train_model  # noqa: E402

# Full-size presets (the lecture's sizes; a char-rnn-sized LSTM and GRU beside them).
PRESETS = {
    "rnn": ModelSpec(arch="rnn", hidden_size=512, num_layers=1, dropout=0.1, embedding_dim=64),
    "rnn3": ModelSpec(arch="rnn", hidden_size=512, num_layers=3, dropout=0.1, embedding_dim=64),
    "lstm": ModelSpec(arch="lstm", hidden_size=512, num_layers=3, dropout=0.1, embedding_dim=64),
    "gru": ModelSpec(arch="gru", hidden_size=512, num_layers=3, dropout=0.1, embedding_dim=64),
}


def tiny(spec: ModelSpec) -> ModelSpec:
    return dataclasses.replace(spec, hidden_size=16, embedding_dim=8)


def bench(data: Path, steps: int, batch: int, seq: int, device: str, amp: bool,
          use_tiny: bool, models: list[str]) -> dict:
    dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                       ("cpu" if device == "auto" else device))
    info = {"device": str(dev), "torch": torch.__version__, "python": platform.python_version(),
            "date": common.now(), "steps": steps,
            "batch_size": batch, "seq_len": seq, "amp_bf16": bool(amp and dev.type == "cuda"),
            "tiny": use_tiny, "threads": torch.get_num_threads()}
    if dev.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(dev)
        info["cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version()
    results = {}
    for name in models:
        spec = tiny(PRESETS[name]) if use_tiny else PRESETS[name]
        tp = TrainParams(models={name: spec}, common=TrainCommon(steps=steps, batch_size=batch, seq_len=seq,
                         lr=0.002, warmup_steps=min(50, steps // 5), min_lr=0.0002,
                         eval_every=10**9, checkpoint_every=10**9, log_every=max(1, steps // 10),
                         device=dev.type, amp="auto" if amp else "off"))
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(dev)
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            res = train_model(data, Path(tmp) / name, tp, name, live_dir=None, corpus=data.name,
                              progress=False, log=lambda m: None, write_outputs=False)
        wall = time.perf_counter() - t0
        s = res.summary
        peak = torch.cuda.max_memory_allocated(dev) if dev.type == "cuda" else None
        results[name] = {
            "arch": spec.arch, "hidden_size": spec.hidden_size, "num_layers": spec.num_layers,
            "params": s["params"], "chars_per_s": s["chars_per_s"],
            "step_ms": 1000.0 * s["train_seconds"] / steps, "train_seconds": s["train_seconds"],
            "wall_seconds": wall, "peak_memory_bytes": peak,
            "peak_memory_mib": None if peak is None else round(peak / 2**20, 1),
            "val_bpc": s["best_val_bpc"],
        }
        print(f"{name}: {s['params']:,} params, {s['chars_per_s']:,.0f} chars/s, "
              f"{results[name]['step_ms']:.1f} ms/step, peak "
              f"{'-' if peak is None else f'{peak / 2**20:.0f} MiB'}, val bpc {s['best_val_bpc']:.3f}",
              flush=True)
    return {"machine": info, "models": results}


def main(argv: list[str] | None = None) -> None:
    ap = common.parser(__doc__)
    ap.add_argument("--data", required=True, help="dir with train.npy, val.npy and vocab.json")
    ap.add_argument("--out", default="benchmarks/results/gpu.json")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    ap.add_argument("--no-amp", action="store_true", help="fp32 on CUDA (default: bf16 autocast)")
    ap.add_argument("--tiny", action="store_true", help="tiny models (CPU tests)")
    ap.add_argument("--models", default="rnn,rnn3,lstm,gru")
    args = ap.parse_args(argv)
    models = [m for m in args.models.split(",") if m]
    unknown = [m for m in models if m not in PRESETS]
    if unknown:
        ap.error(f"unknown model(s) {unknown}; known: {', '.join(PRESETS)}")
    result = bench(Path(args.data), args.steps, args.batch_size, args.seq_len, args.device,
                   not args.no_amp, args.tiny, models)
    common.write_json(args.out, result, ensure_ascii=False)
    print(json.dumps(result["machine"]))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
