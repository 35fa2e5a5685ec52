"""The lecture's training loop, re-implemented faithfully as the speed baseline.

What the lecture does (and so what this does): a 3-layer `nn.RNN(vocab, 512)` with
dropout 0.1 on one-hot characters, a linear layer and log-softmax, NLL loss, Adam
(lr 0.01), batch 1, and ONE Python forward call per character: for each training
chunk the hidden state starts at zero, every character of the chunk is fed by its own
`model(x_t, h)` call, the per-character losses are summed, then one backward pass and
one optimiser step per chunk. Nothing here is used by charlm itself; bench_train.py
beside this times it against charlm's trainer (train_lecture).

    python benchmarks/speed/lecture_rnn.py --seconds 30      # prints chars/s (takes the heavy-job lock)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # benchmarks/: common
import common  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402


class LectureRNN(nn.Module):
    def __init__(self, vocab_size: int, hidden_size: int = 512, num_layers: int = 3, dropout: float = 0.1):
        super().__init__()
        self.vocab_size, self.hidden_size, self.num_layers = vocab_size, hidden_size, num_layers
        self.rnn = nn.RNN(vocab_size, hidden_size, num_layers, dropout=dropout)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden_size, vocab_size)
        self.softmax = nn.LogSoftmax(dim=1)

    def forward(self, x: torch.Tensor, h: torch.Tensor):
        out, h = self.rnn(x.view(1, 1, -1), h)          # one time step, batch 1
        return self.softmax(self.fc(self.dropout(out.view(1, -1)))), h

    def init_hidden(self) -> torch.Tensor:
        return torch.zeros(self.num_layers, 1, self.hidden_size)


def one_hot(i: int, n: int) -> torch.Tensor:
    t = torch.zeros(n)
    t[i] = 1.0
    return t


def train_lecture(data: np.ndarray, vocab_size: int, seconds: float = 30.0, chunk_len: int = 100,
                  hidden_size: int = 512, num_layers: int = 3, lr: float = 0.01, seed: int = 0) -> dict:
    """Train for about `seconds` of wall time; return chars/s and the last chunk's loss."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = LectureRNN(vocab_size, hidden_size, num_layers)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    criterion = nn.NLLLoss()
    chars, chunks, loss_v = 0, 0, float("nan")
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        start = int(rng.integers(0, len(data) - chunk_len - 1))
        inp, tgt = data[start:start + chunk_len], data[start + 1:start + chunk_len + 1]
        h = model.init_hidden()
        opt.zero_grad()
        loss = 0.0
        for c in range(chunk_len):                          # a Python call per character
            out, h = model(one_hot(int(inp[c]), vocab_size), h)
            loss = loss + criterion(out, torch.tensor([int(tgt[c])]))
        loss.backward()
        opt.step()
        loss_v = loss.item() / chunk_len
        chars += chunk_len
        chunks += 1
    dt = time.perf_counter() - t0
    return {"chars": chars, "chunks": chunks, "seconds": dt, "chars_per_s": chars / dt,
            "last_loss_nats": loss_v,
            "params": sum(p.numel() for p in model.parameters())}


def main() -> None:
    from charlm.core.splits import load_split
    from charlm.core.vocab import Vocab
    ap = common.parser(__doc__)
    ap.add_argument("--data", default="data/prepared/tinyshakespeare")
    ap.add_argument("--seconds", type=float, default=30.0)
    args = ap.parse_args()
    vocab = Vocab.load(Path(args.data) / "vocab.json")
    with common.heavy_lock():
        r = train_lecture(load_split(args.data, "train"), vocab.size, args.seconds)
    print(f"lecture loop (3x512 nn.RNN, one-hot, batch 1): {r['chars_per_s']:.0f} chars/s "
          f"({r['chars']} chars in {r['seconds']:.1f} s; {r['params']:,} params)")


if __name__ == "__main__":
    main()
