"""Hyper-parameter sweep for the 10-minute CPU LSTM target, run on a GPU at the same
character budget (what the 2-core CPU trains in 10 minutes), so that only the chosen
setting needs a 10-minute CPU run to confirm it.

Each config trains a 2-layer LSTM on tiny-shakespeare for `--chars` training characters
(steps = chars / (batch x seq)), keeps the best-on-val weights and scores the whole test
split as one exact stateful stream. One JSON line per config is appended to `--out` as
soon as it finishes (a timeout keeps what finished).

    python benchmarks/gpu_lstm_sweep.py --data .gpu/tinyshakespeare --out $OUT/sweep.jsonl
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from charlm.models import log2prob_sequence  # noqa: E402
from charlm.param_sections import ModelSpec, TrainParams  # noqa: E402
from charlm.prepare import load_split  # noqa: E402
from charlm.train import train_model  # noqa: E402

BASE = {"hidden": 512, "dropout": 0.1, "emb": 64, "batch_size": 32, "seq_len": 100, "lr": 0.003,
        "min_lr_ratio": 0.05, "warmup_steps": 50, "weight_decay": 0.0, "grad_clip": 1.0, "seed": 1337}

CONFIGS = [
    {},
    {"seed": 7},
    {"lr": 0.002},
    {"lr": 0.005},
    {"lr": 0.008},
    {"dropout": 0.0},
    {"dropout": 0.05},
    {"dropout": 0.2},
    {"batch_size": 16},
    {"batch_size": 64, "lr": 0.005},
    {"seq_len": 50},
    {"seq_len": 200},
    {"min_lr_ratio": 0.0},
    {"weight_decay": 0.1},
    {"grad_clip": 5.0},
    {"lr": 0.005, "dropout": 0.0},
    {"lr": 0.005, "seq_len": 50},
    {"lr": 0.005, "batch_size": 16},
]


def run_one(data: Path, cfg: dict, chars: int, device: str) -> dict:
    c = {**BASE, **cfg}
    steps = max(20, chars // (c["batch_size"] * c["seq_len"]))
    spec = ModelSpec(arch="lstm", hidden_size=c["hidden"], num_layers=2, dropout=c["dropout"],
                     embedding_dim=c["emb"])
    tp = TrainParams(models={"lstm": spec}, seed=c["seed"], steps=steps, batch_size=c["batch_size"],
                     seq_len=c["seq_len"], lr=c["lr"], min_lr=c["lr"] * c["min_lr_ratio"],
                     warmup_steps=c["warmup_steps"], weight_decay=c["weight_decay"],
                     grad_clip=c["grad_clip"], eval_every=max(10, steps // 5), eval_streams=16,
                     eval_overlap=512, checkpoint_every=10**9, device=device, amp="off",
                     sample_chars=10)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        res = train_model(data, Path(tmp) / "lstm", tp, "lstm", progress=False, log=lambda m: None,
                          write_outputs=False)
    model = res.model.eval()
    test = float(-log2prob_sequence(model, load_split(data, "test"), device).mean())
    s = res.summary
    return {"overrides": cfg, "steps": steps, "train_chars": s["train_chars"],
            "best_val_bpc": round(s["best_val_bpc"], 4), "test_bpc": round(test, 4),
            "seconds": round(time.perf_counter() - t0, 1),
            "curve": [(h["step"], round(h["val_bpc"], 4)) for h in s["history"]]}


def markdown(lines: list[dict]) -> str:
    """The sweep's JSON lines as a table, best test bpc first."""
    metas = [r["meta"] for r in lines if "meta" in r]
    rows = sorted((r for r in lines if "meta" not in r), key=lambda r: r["test_bpc"])
    m = metas[0] if metas else {}
    base = ", ".join(f"{k} {v}" for k, v in m.get("base", BASE).items())
    out = ["# 2-layer LSTM settings at the 10-minute CPU character budget (GPU sweep)", "",
           f"{m.get('device', '?')}, torch {m.get('torch', '?')}, fp32 (TF32) cuDNN LSTM; "
           f"{m.get('chars', 0):,} training chars per run (what the 2-core CPU trains in about "
           "10 minutes with bf16 autocast); best-on-val weights; test = the whole test split "
           "as one exact stateful stream. Made by `benchmarks/gpu_lstm_sweep.py`; the raw lines "
           "are in `gpu_lstm_sweep.jsonl`.", "", f"Base: {base}.", "",
           "| overrides | steps | best val bpc | test bpc |", "| --- | ---: | ---: | ---: |"]
    for r in rows:
        ov = ", ".join(f"{k} {v}" for k, v in r["overrides"].items()) or "(base)"
        out.append(f"| {ov} | {r['steps']} | {r['best_val_bpc']:.4f} | {r['test_bpc']:.4f} |")
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--chars", type=int, default=6_000_000, help="training chars per config")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--only", type=int, nargs="*", help="indices into CONFIGS")
    ap.add_argument("--configs", help="a JSON list of override dicts instead of CONFIGS")
    ap.add_argument("--report", action="store_true",
                    help="only write <out>.md (a table) from the JSON lines already in --out")
    args = ap.parse_args()
    out = Path(args.out)
    if args.report:
        lines = [json.loads(x) for x in out.read_text().splitlines() if x.strip()]
        out.with_suffix(".md").write_text(markdown(lines))
        return
    meta = {"torch": torch.__version__, "device": torch.cuda.get_device_name(0)
            if args.device == "cuda" else "cpu", "chars": args.chars, "base": BASE}
    with out.open("a") as f:
        f.write(json.dumps({"meta": meta}) + "\n")
    for i, cfg in enumerate(json.loads(args.configs) if args.configs else CONFIGS):
        if args.only is not None and i not in args.only:
            continue
        row = run_one(Path(args.data), cfg, args.chars, args.device)
        print(json.dumps(row), flush=True)
        with out.open("a") as f:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
