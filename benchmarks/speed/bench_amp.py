"""bf16 autocast vs fp32 for a 2 x 512 LSTM training step on the CPU, in ONE run.

`train.amp: bf16` makes charlm's trainer run each step's forward pass under
`torch.autocast("cpu", dtype=torch.bfloat16)` (the loss in fp32, then backward, gradient
clipping and an AdamW step). This script does exactly that step, outside the trainer (it
needs only `charlm.neural.models`), for each variant:

    fp32   autocast off (`train.amp: off`, the CPU default)
    bf16   bf16 autocast (`train.amp: bf16`), PyTorch's default kernels (oneDNN for the LSTM)

Every variant starts from the same seed (same weights, same batches: contiguous streams
as the trainer reads them, same dropout) and trains the same N steps; it reports chars/s
over the steps after the first `--warmup` ones, and val bpc on the whole val split after
the N steps (scored in fp32, as the trainer scores val: 16 streams, 512 chars of warm-up).

Where a variant cannot run at all (e.g. oneDNN cannot build a bf16 LSTM on a CPU without
native bf16), its error is recorded, and with --fallback (the default) bf16 is measured
again with oneDNN switched off (PyTorch's own kernels): NOT what the trainer does, but
what bf16 costs there.

Writes benchmarks/results/amp.json and amp.md (the command first). About 3 minutes on a
2-core CPU without native bf16 (the bf16 fallback dominates); it takes the heavy-job lock:

    python benchmarks/speed/bench_amp.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # benchmarks/: common
import common  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from charlm.neural.models import CharRNN, ModelConfig, detach_state, log2prob_sequence  # noqa: E402
from charlm.train.state import ADAM_BETAS  # noqa: E402   (the trainer's)


def machine() -> dict:
    cpu, flags = common.cpu_name(), common.cpu_flags()
    commit = common.git_commit(short=True)
    try:
        onednn_bf16 = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        onednn_bf16 = None
    return {"cpu": cpu, "cores": os.cpu_count(), "threads": torch.get_num_threads(),
            "native_bf16_flags": sorted(f for f in flags if "bf16" in f),
            "avx512": any(f.startswith("avx512") for f in flags),
            "onednn_bf16_supported": onednn_bf16, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "torch": torch.__version__, "python": platform.python_version(),
            "date": common.now(), "git_commit": commit,
            "load_average_at_start": round(os.getloadavg()[0], 2)}


def batches(train: np.ndarray, batch: int, seq: int):
    """The trainer's batches: `batch` contiguous streams, `seq` chars of each per step."""
    stream_len = (len(train) - 1) // batch
    starts = (np.arange(batch) * stream_len)[None, :]
    offsets = np.arange(seq)[:, None]
    pos = 0
    while True:
        reset = pos + seq > stream_len
        if reset:
            pos = 0
        idx = starts + pos + offsets
        pos += seq
        yield (torch.from_numpy(train[idx].astype(np.int64)),
               torch.from_numpy(train[idx + 1].astype(np.int64)), reset)


def run_variant(name: str, amp: bool, onednn: bool, a: argparse.Namespace, vocab_size: int,
                train: np.ndarray, val: np.ndarray) -> dict:
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    cfg = ModelConfig(arch="lstm", vocab_size=vocab_size, hidden_size=a.hidden, num_layers=a.layers,
                      dropout=a.dropout, embedding_dim=64)
    model = CharRNN(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, betas=ADAM_BETAS, weight_decay=0.0)
    data = batches(train, a.batch_size, a.seq_len)
    rec = {"autocast": "bf16" if amp else "off", "onednn": onednn, "steps": a.steps}
    state, losses, t_start = None, [], None
    print(f"[{name}] {a.steps} steps of {a.batch_size} x {a.seq_len} ...", flush=True)
    try:
        with torch.backends.mkldnn.flags(enabled=onednn):
            model.train()
            for step in range(a.steps):
                if step == a.warmup:
                    t_start = time.perf_counter()
                x, y, reset = next(data)
                if reset:
                    state = None
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
                    logits, state = model(x, state)
                loss = F.cross_entropy(logits.float().reshape(-1, vocab_size), y.reshape(-1))
                loss.backward()
                state = detach_state(state)
                torch.nn.utils.clip_grad_norm_(model.parameters(), a.grad_clip)
                opt.step()
                opt.zero_grad(set_to_none=True)
                losses.append(loss.item())
            seconds = time.perf_counter() - t_start
    except RuntimeError as e:
        rec.update(status="error", error=str(e).splitlines()[0].split(". ")[0],
                   failed_at_step=len(losses) + 1)
        print(f"[{name}] error at step {len(losses) + 1}: {rec['error']}", flush=True)
        return rec
    timed = a.steps - a.warmup
    t0 = time.perf_counter()
    val_bpc = float(-log2prob_sequence(model, val, "cpu", streams=16, overlap=512).mean())
    rec.update(status="ok", timed_steps=timed, seconds=seconds, step_ms=1000 * seconds / timed,
               chars_per_s=timed * a.batch_size * a.seq_len / seconds,
               train_loss_first=losses[0], train_loss_last=losses[-1], val_bpc=val_bpc,
               val_eval_seconds=time.perf_counter() - t0)
    print(f"[{name}] {rec['chars_per_s']:,.0f} chars/s ({rec['step_ms']:.0f} ms/step), "
          f"val bpc {val_bpc:.4f} after {a.steps} steps", flush=True)
    return rec


def markdown(r: dict) -> str:
    m, s, v = r["machine"], r["settings"], r["variants"]
    native = ", ".join(m["native_bf16_flags"]) or "none"
    L = [common.provenance(r["command"], m["git_commit"], when=m["date"]) + " (one run).", "",
         f"# bf16 autocast vs fp32: a {s['layers']} x {s['hidden']} LSTM training step on the CPU", "",
         f"Machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']} with {m['threads']} threads, "
         f"CPU capability {m['cpu_capability']}; native bf16 CPU flags: {native}; oneDNN bf16 "
         f"supported: {m['onednn_bf16_supported']}. Load average (1 min) at the start "
         f"{m['load_average_at_start']}, at the end {r['load_average_at_end']}: other processes on a "
         "shared machine slow the timings down, not the val bpc.", "",
         f"Each variant: LSTM {s['layers']} x {s['hidden']} (embedding 64, dropout {s['dropout']}, vocab "
         f"{s['vocab_size']}), the same seed, the same {s['steps']} steps of {s['batch_size']} x "
         f"{s['seq_len']} chars of tiny-shakespeare (AdamW lr {s['lr']}, clipping at {s['grad_clip']}), the "
         f"step charlm's trainer runs; chars/s over steps {s['warmup'] + 1}-{s['steps']}; val bpc on "
         f"the whole val split ({s['val_chars']:,} chars) after step {s['steps']}, scored in fp32.", "",
         "| variant | autocast | oneDNN | chars/s | ms/step | val bpc | last train loss (nats) |",
         "| --- | --- | --- | ---: | ---: | ---: | ---: |"]
    for name, x in v.items():
        if x["status"] == "ok":
            L.append(f"| {name} | {x['autocast']} | {'on' if x['onednn'] else 'off'} | "
                     f"{x['chars_per_s']:,.0f} | {x['step_ms']:.0f} | {x['val_bpc']:.4f} | "
                     f"{x['train_loss_last']:.4f} |")
        else:
            L.append(f"| {name} | {x['autocast']} | {'on' if x['onednn'] else 'off'} | failed at step "
                     f"{x['failed_at_step']}: `{x['error']}` | | | |")
    L.append("")
    L += [f"- {line}" for line in r["findings"]]
    L.append("")
    return "\n".join(L)


def findings(v: dict) -> list[str]:
    out = []
    fp = v.get("fp32")
    for name, x in v.items():
        if name == "fp32":
            continue
        if x["status"] != "ok":
            out.append(f"{name} does not run on this machine (error at step {x['failed_at_step']}, in the "
                       "table); charlm's trainer with `train.amp: bf16` runs this same step.")
        elif fp and fp["status"] == "ok":
            out.append(f"{name}: {x['chars_per_s'] / fp['chars_per_s']:.2f}x the fp32 chars/s; val bpc "
                       f"{x['val_bpc']:.4f} vs {fp['val_bpc']:.4f} in fp32 after the same "
                       f"{x['steps']} steps ({x['val_bpc'] - fp['val_bpc']:+.4f}).")
    return out


def main() -> None:
    ap = common.parser(__doc__)
    ap.add_argument("--data", default="data/prepared/tinyshakespeare", help="a prepared corpus folder")
    ap.add_argument("--steps", type=int, default=12, help="equal training steps per variant")
    ap.add_argument("--warmup", type=int, default=2, help="first steps left out of the timing")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--seq-len", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--lr", type=float, default=0.003)
    ap.add_argument("--grad-clip", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--no-fallback", dest="fallback", action="store_false",
                    help="do not measure bf16 with oneDNN off when the default bf16 step fails")
    ap.add_argument("--out", default="benchmarks/results/amp")
    a = ap.parse_args()
    if not 0 <= a.warmup < a.steps:
        ap.error("--warmup must be below --steps")
    data = Path(a.data)
    train = np.load(data / "train.npy", allow_pickle=False)
    val = np.load(data / "val.npy", allow_pickle=False)
    vocab_size = int(json.loads((data / "vocab.json").read_text())["size"])
    command = common.command(__file__, env=("CHARLM_NUMERICS",))   # native: bf16 reachable
    result = {"command": command, "machine": machine(),
              "settings": {"data": str(data), "steps": a.steps, "warmup": a.warmup,
                           "batch_size": a.batch_size, "seq_len": a.seq_len, "hidden": a.hidden,
                           "layers": a.layers, "dropout": a.dropout, "lr": a.lr,
                           "grad_clip": a.grad_clip, "seed": a.seed, "vocab_size": vocab_size,
                           "val_chars": int(len(val))},
              "variants": {}}
    v = result["variants"]
    with common.heavy_lock():
        v["fp32"] = run_variant("fp32", False, True, a, vocab_size, train, val)
        v["bf16"] = run_variant("bf16", True, True, a, vocab_size, train, val)
        if v["bf16"]["status"] != "ok" and a.fallback:
            v["bf16, oneDNN off"] = run_variant("bf16, oneDNN off", True, False, a, vocab_size,
                                                train, val)
    result["findings"] = findings(v)
    result["load_average_at_end"] = round(os.getloadavg()[0], 2)
    js, md = common.write_results(a.out, result, markdown(result))
    print(markdown(result))
    print(f"wrote {js} and {md}")


if __name__ == "__main__":
    main()
