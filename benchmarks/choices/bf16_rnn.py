"""Why the 3 x 512 tanh RNN learns worse under bf16 autocast: its val bpc curve in fp32,
under bf16 autocast with the whole forward in bf16 (the recurrence, its hidden state and
the head), and with the recurrence kept in fp32 (autocast off around the nn.RNN;
embedding and head in bf16: what charlm's model does under CPU autocast since). Same
seed, weights and batches; val bpc (scored in fp32, first --val-chars of val, 16
streams) every --every steps. `--arch gru` runs the same for the GRU (--out
benchmarks/results/bf16_gru).

On a CPU without native bf16, autocast emulates it (~10x slower than fp32): keep the
run small. Speed is not measured here (speed/bench_amp.py; it needs native bf16).

    python benchmarks/choices/bf16_rnn.py
    python benchmarks/choices/bf16_rnn.py --arch gru --out benchmarks/results/bf16_gru

Writes benchmarks/results/bf16_rnn.json and bf16_rnn.md. It takes the heavy-job lock.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # benchmarks/: common
import common  # noqa: E402
from common import ROOT  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from speed.bench_amp import batches  # noqa: E402
from charlm.neural.models import CharRNN, ModelConfig, detach_state, log2prob_sequence  # noqa: E402
from charlm.core.splits import load_split  # noqa: E402
from charlm.train.state import ADAM_BETAS  # noqa: E402
from charlm.core.vocab import Vocab  # noqa: E402

VARIANTS = {"fp32": (False, False), "bf16, all of the forward": (True, False),
            "bf16, recurrence in fp32": (True, True)}


def forward(model: CharRNN, x: torch.Tensor, state, amp: bool, fp32_core: bool):
    """The model's layers called one by one (CharRNN.forward keeps the RNN's core in fp32
    under CPU autocast: here each variant says where the core runs)."""
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
        e = model.embed(x)
        if fp32_core:
            with torch.autocast("cpu", enabled=False):
                out, state = model.rnn(e.float(), None if state is None else state.float())
        else:
            out, state = model.rnn(e, state)
        return model.head(model.drop(out)), state


def train(a, vocab_size: int, tr: np.ndarray, val: np.ndarray, amp: bool, fp32_core: bool):
    torch.manual_seed(a.seed)
    model = CharRNN(ModelConfig(arch=a.arch, vocab_size=vocab_size, hidden_size=a.hidden,
                                num_layers=a.layers, dropout=0.1, embedding_dim=64))
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, betas=ADAM_BETAS, weight_decay=0.0)
    data, state, curve = batches(tr, a.batch_size, a.seq_len), None, {}
    t0 = time.perf_counter()
    for step in range(1, a.steps + 1):
        model.train()
        x, y, reset = next(data)
        logits, state = forward(model, x, None if reset else state, amp, fp32_core)
        loss = F.cross_entropy(logits.float().reshape(-1, vocab_size), y.reshape(-1))
        loss.backward()
        state = detach_state(state)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if step % a.every == 0:
            curve[step] = float(-log2prob_sequence(model, val, "cpu", streams=16,
                                                   overlap=512).mean())
            print(f"  step {step}: val {curve[step]:.4f} ({time.perf_counter() - t0:.0f} s)",
                  flush=True)
    return curve


def main() -> None:
    ap = common.parser(__doc__)
    ap.add_argument("--arch", choices=["rnn", "gru"], default="rnn")
    ap.add_argument("--out", default="benchmarks/results/bf16_rnn")
    ap.add_argument("--steps", type=int, default=80)
    ap.add_argument("--every", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--seq-len", type=int, default=100)
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--lr", type=float, default=0.003)
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--val-chars", type=int, default=20000)
    a = ap.parse_args()
    prepared = ROOT / "data" / "prepared" / "tinyshakespeare"
    vocab = Vocab.load(prepared / "vocab.json")
    tr, val = load_split(prepared, "train"), load_split(prepared, "val")[:a.val_chars]
    curves = {}
    with common.heavy_lock():
        for name, (amp, core) in VARIANTS.items():
            print(name, flush=True)
            curves[name] = train(a, vocab.size, tr, val, amp, core)
    res = {"date": common.now(), "cpu": common.cpu_name(),
           "torch": torch.__version__, "settings": vars(a), "val_bpc": curves}
    steps = list(curves["fp32"])
    cmd = common.command(__file__)
    lines = [common.provenance(cmd, when=res["date"])
             + f" (torch {res['torch']}; bf16 emulated: no native bf16 on this CPU).", "",
             f"# bf16 and the {a.layers} x {a.hidden} {a.arch}: val bpc by step", "",
             f"Batch {a.batch_size} x {a.seq_len}, AdamW lr {a.lr}, clipping at 1, dropout 0.1, "
             f"seed {a.seed}; val bpc in fp32 on the first {a.val_chars:,} val chars.", "",
             "| variant | " + " | ".join(f"step {s}" for s in steps) + " |",
             "| --- |" + " ---: |" * len(steps)]
    for name, c in curves.items():
        lines.append(f"| {name} | " + " | ".join(f"{c[s]:.4f}" for s in steps) + " |")
    last = steps[-1]
    lines += ["", "After step {}: bf16 all through {:+.4f} bpc from fp32; with the "
              "recurrence in fp32 {:+.4f}.".format(
                  last, curves["bf16, all of the forward"][last] - curves["fp32"][last],
                  curves["bf16, recurrence in fp32"][last] - curves["fp32"][last]), ""]
    common.write_results(a.out, res, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
