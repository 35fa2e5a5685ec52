"""The neural character models: the lecture's RNN, the 3-layer RNN, LSTM and GRU, and the
transformer (charlm.neural.gpt; `build_model` picks the class from the config).

One class, `CharRNN`, covers the four recurrent variants (sizes come from params):

    ids (T, B) -> embedding (T, B, E) -> nn.RNN | nn.LSTM | nn.GRU (one fused call)
               -> dropout -> linear head -> logits (T, B, V)

The lecture feeds one-hot characters into ``W_xh x_t``; an embedding row is the same
function without a dense one-hot tensor (``W_xh = W_ih @ E.T``, see
`LectureRNNCell.from_model` and tests/test_models.py, which checks the fused module
against the lecture's equations step by step).

Scoring (used by training's validation and by the evaluate stage):

- `log2prob_sequence(model, ids, device)`: entry i = log2 P(ids[i] | ids[:i]), the whole
  array scored as ONE stream (exact: the state is carried from the first char to the
  last), in time blocks of `block` chars, one fused call per block. The first char is
  scored from the empty history: the head applied to a zero top-layer state.
- `next_log2probs(model, ids)`: the full (len(ids), V) table of log2 P(. | ids[:i]).
- A transformer is scored with a sliding window instead (`gpt.window_log2prob`): its
  context is bounded.
- `load_trained(model_dir)`: a trained model back from model.safetensors + config.json.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Iterator, Optional, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..core.errors import CharlmError, CheckpointError
from ..core.scoring import LN2
from ..core.vocab import Vocab
from ..params.sections import ModelShape

ARCHS = ("rnn", "lstm", "gru", "transformer")
MODEL_FORMAT = "charlm-model/1"     # config.json's format version

State = Union[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]


@dataclass(kw_only=True)
class ModelConfig(ModelShape):
    """A model's shape (params: train.models.<name>) and its vocabulary size."""
    vocab_size: int         # ids, the unknown id included

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"unknown arch {self.arch!r}; expected one of {ARCHS}")
        self.embedding_dim = self.input_width()

    def to_json(self) -> dict:
        """The shape as config.json holds it (a recurrent model's has no heads or context)."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_shape(cls, shape: ModelShape, vocab_size: int) -> "ModelConfig":
        return cls(**shape.shape(), vocab_size=vocab_size)

    @classmethod
    def from_json(cls, d: dict) -> "ModelConfig":
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})

    @property
    def is_transformer(self) -> bool:
        return self.arch == "transformer"


def build_model(cfg: ModelConfig) -> nn.Module:
    """The network a config describes: a CharGPT for a transformer, else a CharRNN."""
    if cfg.is_transformer:
        from .gpt import CharGPT
        return CharGPT(cfg)
    return CharRNN(cfg)


class CharRNN(nn.Module):
    """Embedding -> fused recurrent stack -> dropout -> linear head (logits)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.embedding_dim)
        rnn_cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cfg.arch]
        self.rnn = rnn_cls(cfg.embedding_dim, cfg.hidden_size, cfg.num_layers,
                           dropout=cfg.dropout if cfg.num_layers > 1 else 0.0)
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.hidden_size, cfg.vocab_size)

    @property
    def is_lstm(self) -> bool:
        return self.cfg.arch == "lstm"

    def optim_groups(self, weight_decay: float):
        """What AdamW updates: every parameter, one weight decay."""
        return self.parameters()

    def init_state(self, batch: int, device: torch.device | str = "cpu") -> State:
        """The zero state: (num_layers, batch, hidden) (a pair of them for an LSTM)."""
        z = torch.zeros(self.cfg.num_layers, batch, self.cfg.hidden_size, device=device)
        return (z, z.clone()) if self.is_lstm else z

    def forward(self, ids: torch.Tensor, state: Optional[State] = None) -> tuple[torch.Tensor, State]:
        """ids (T, B) int64 -> logits (T, B, V), final state. One fused recurrent call.

        Under autocast some recurrent cores run in fp32 (embedding and head stay bf16):
        the LSTM on CUDA (the bf16 cuDNN LSTM did not learn on an H200,
        benchmarks/results/gpu_amp_lstm.json, while bf16 RNN and GRU train like fp32
        there) and the tanh RNN on CPU (with its hidden state in bf16 the 3 x 512 RNN
        never recovered from its early blow-up, 17.5 val bpc against 4.5 in fp32 after 80
        steps; with the core in fp32, 4.5: benchmarks/results/bf16_rnn.md). On CPU the
        LSTM and GRU stay in bf16.
        """
        x = self.embed(ids)
        if _fp32_core(self.cfg.arch, x.device.type):
            with torch.autocast(x.device.type, enabled=False):
                if state is not None:
                    state = tuple(s.float() for s in state) if isinstance(state, tuple) \
                        else state.float()
                out, state = self.rnn(x.float(), state)
        else:
            out, state = self.rnn(x, state)
        return self.head(self.drop(out)), state

    def empty_history_logits(self) -> torch.Tensor:
        """Logits for the first char (no input fed yet): the head on a zero top-layer state."""
        return self.head(torch.zeros(self.cfg.hidden_size, device=self.head.weight.device))


def _fp32_core(arch: str, device_type: str) -> bool:
    """Whether the recurrent core runs in fp32 under this device's autocast (`forward`)."""
    fp32 = {"cuda": ("lstm",), "cpu": ("rnn",)}.get(device_type, ())
    return arch in fp32 and torch.is_autocast_enabled(device_type)


def detach_state(state: Optional[State]) -> Optional[State]:
    if state is None:            # a transformer's
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


# --------------------------------------------------------------------------- sizes

def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def lecture_weight_count(vocab_size: int, hidden_size: int, num_layers: int) -> int:
    """The lecture's count: W_xh (V x H) + one W_hh (H x H) per layer + W_hy (H x V).

    For V = 68, H = 512, 3 layers it gives the lecture's 856,064 (biases and the
    input matrices of layers 2..L are not counted there; `parameter_count` counts all).
    """
    return vocab_size * hidden_size + num_layers * hidden_size * hidden_size + hidden_size * vocab_size


def memory_estimate(model: CharRNN, batch_size: int = 1, seq_len: int = 1,
                    bytes_per_value: int = 4) -> dict:
    """The lecture's estimate: weights in bytes, about 3x that with the backward pass
    (weights + gradients + saved values), plus the activations of one (seq_len, batch) step."""
    cfg = model.cfg
    n = parameter_count(model)
    if cfg.is_transformer:
        return _transformer_memory(cfg, n, batch_size, seq_len, bytes_per_value)
    gates = {"rnn": 1, "gru": 3, "lstm": 4}[cfg.arch]
    # saved for backward per char and layer: the gate pre-activations and the state(s)
    per_char = cfg.num_layers * cfg.hidden_size * (gates + (2 if cfg.arch == "lstm" else 1)) \
        + cfg.embedding_dim + 2 * cfg.vocab_size   # input, logits and their gradient
    act = per_char * batch_size * seq_len * bytes_per_value
    lecture = lecture_weight_count(cfg.vocab_size, cfg.hidden_size, cfg.num_layers)
    return {
        "parameters": n,
        "weight_bytes": n * bytes_per_value,
        "with_backward_bytes": 3 * n * bytes_per_value,
        "activation_bytes": act,
        "lecture_weight_count": lecture,
        "lecture_weight_bytes": lecture * bytes_per_value,
    }


def _transformer_memory(cfg: ModelConfig, n: int, batch_size: int, seq_len: int,
                        bytes_per_value: int) -> dict:
    """A transformer's weights and a rough count of what its backward pass keeps per char and
    block: the two norms' inputs, q, k, v, the attention output and projection, the MLP's
    4 x width twice (before and after GELU) and the residual: ~16 x width."""
    per_char = cfg.num_layers * 16 * cfg.hidden_size + 2 * cfg.hidden_size + 2 * cfg.vocab_size
    return {"parameters": n, "weight_bytes": n * bytes_per_value,
            "with_backward_bytes": 3 * n * bytes_per_value,
            "activation_bytes": per_char * batch_size * seq_len * bytes_per_value}


def describe(model: CharRNN, batch_size: int = 1, seq_len: int = 1) -> str:
    """One line the way the lecture prints it: weights, MB, ~3x with backward."""
    m = memory_estimate(model, batch_size, seq_len)
    c = model.cfg
    if c.is_transformer:
        return (f"transformer {c.num_layers} blocks x {c.hidden_size} wide, {c.heads} heads, "
                f"context {c.context} (vocab {c.vocab_size}): {m['parameters']:,} weights = "
                f"{m['weight_bytes'] / 1e6:.2f} MB fp32, ~{m['with_backward_bytes'] / 1e6:.1f} MB "
                f"with the backward pass, activations ~{m['activation_bytes'] / 1e6:.1f} MB at "
                f"batch {batch_size} x {seq_len} chars")
    return (f"{c.arch} {c.num_layers}x{c.hidden_size} (embedding {c.embedding_dim}, vocab "
            f"{c.vocab_size}): {m['parameters']:,} weights = {m['weight_bytes'] / 1e6:.2f} MB fp32, "
            f"~{m['with_backward_bytes'] / 1e6:.1f} MB with the backward pass, activations "
            f"{m['activation_bytes'] / 1e6:.1f} MB at batch {batch_size} x seq {seq_len} "
            f"(lecture-style count {m['lecture_weight_count']:,})")


# --------------------------------------------------------------------------- lecture cell

class LectureRNNCell(nn.Module):
    """The lecture's vanilla RNN written out explicitly, one step per call:

        h_t = tanh(W_hh h_{t-1} + b_hh + W_xh x_t + b_xh),   y_t = W_hy h_t + b_hy

    with x_t one-hot. Used as the reference in tests; never in a hot path.
    """

    def __init__(self, vocab_size: int, hidden_size: int):
        super().__init__()
        self.W_xh = nn.Parameter(torch.empty(hidden_size, vocab_size))
        self.b_xh = nn.Parameter(torch.zeros(hidden_size))
        self.W_hh = nn.Parameter(torch.empty(hidden_size, hidden_size))
        self.b_hh = nn.Parameter(torch.zeros(hidden_size))
        self.W_hy = nn.Parameter(torch.empty(vocab_size, hidden_size))
        self.b_hy = nn.Parameter(torch.zeros(vocab_size))

    @classmethod
    def from_model(cls, model: CharRNN) -> "LectureRNNCell":
        """The same function as a 1-layer `rnn` CharRNN: W_xh = W_ih @ E.T (one-hot in)."""
        c = model.cfg
        if c.arch != "rnn" or c.num_layers != 1:
            raise ValueError("LectureRNNCell mirrors a 1-layer 'rnn' model only")
        cell = cls(c.vocab_size, c.hidden_size)
        with torch.no_grad():
            cell.W_xh.copy_(model.rnn.weight_ih_l0 @ model.embed.weight.T)
            cell.b_xh.copy_(model.rnn.bias_ih_l0)
            cell.W_hh.copy_(model.rnn.weight_hh_l0)
            cell.b_hh.copy_(model.rnn.bias_hh_l0)
            cell.W_hy.copy_(model.head.weight)
            cell.b_hy.copy_(model.head.bias)
        return cell

    def forward(self, x_onehot: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.tanh(self.W_hh @ h + self.b_hh + self.W_xh @ x_onehot + self.b_xh)
        return self.W_hy @ h + self.b_hy, h


# --------------------------------------------------------------------------- fast paths

@contextlib.contextmanager
def mkldnn_enabled(enabled: bool) -> Iterator[None]:
    """Switch oneDNN (mkldnn) on or off for a block (its RNN kernels are slow for
    one-step calls at batch 1, fast for long sequences and training)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # a TF32 notice from torch's flags()
        with torch.backends.mkldnn.flags(enabled=enabled):
            yield


def _as_long(ids: np.ndarray | torch.Tensor, device) -> torch.Tensor:
    if isinstance(ids, torch.Tensor):
        return ids.to(device=device, dtype=torch.long)
    return torch.from_numpy(np.asarray(ids).astype(np.int64, copy=False)).to(device)


@torch.no_grad()
def log2prob_sequence(model: CharRNN, ids: np.ndarray, device: torch.device | str | None = None,
                      block: int = 4096, streams: int = 1, overlap: int = 512) -> np.ndarray:
    """log2 P(ids[i] | ids[:i]) for every i, as float64 (fp32 compute).

    The first char is scored from the empty history (zero state, nothing fed yet); then
    ids[0] is fed, and so on. Time is cut into blocks of `block` chars, one fused
    recurrent call per block, the state carried between blocks.

    streams=1 (the default) is exact: the whole array is one stream, batch 1.
    streams=K>1 is faster on long arrays: K contiguous streams run as one batch; every
    stream but the first starts `overlap` chars early (those chars only warm its state
    and are not scored), so each char is still scored once, after at least `overlap`
    chars of true history. Not bit-exact, but a recurrent state forgets: the difference
    from streams=1 is measured in benchmarks/results/train.md.
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    if model.cfg.is_transformer:     # a bounded context: the sliding window (charlm.neural.gpt)
        from .gpt import window_log2prob
        return window_log2prob(model, ids, device)
    n = len(ids)
    out = np.empty(n, dtype=np.float64)
    if n == 0:
        return out
    ids = np.asarray(ids)
    was_training = model.training
    model.eval()
    try:
        first = F.log_softmax(model.empty_history_logits().float(), dim=-1)[int(ids[0])]
        out[0] = first.item() / LN2
        n_targets = n - 1
        W = max(0, int(overlap))
        if streams <= 1 or n_targets <= streams * max(W, 1) * 4:
            S, L, W = 1, n_targets, 0
        else:
            S = int(streams)
            L = -(-(n_targets - W) // S)            # targets per stream (stream 0 has W more)
        # column k holds input positions k*L .. k*L+W+L-1; stream 0 scores all its
        # targets, the others only after their W warm-up chars
        pos = np.arange(S)[None, :] * L + np.arange(W + L)[:, None]      # (W+L, S) input index
        valid = pos + 1 < n
        padded = np.zeros(n + 1, dtype=np.int64)
        padded[:n] = ids
        inp_all = torch.from_numpy(padded[np.minimum(pos, n)]).to(device)
        tgt_all = torch.from_numpy(padded[np.minimum(pos + 1, n)]).to(device)
        lp_all = np.empty((W + L, S), dtype=np.float64)
        state = None
        for start in range(0, W + L, block):
            inp = inp_all[start:start + block]
            logits, state = model(inp, state)
            lp = F.log_softmax(logits.float(), dim=-1).gather(2, tgt_all[start:start + block, :, None])
            lp_all[start:start + block] = lp[..., 0].double().cpu().numpy()
        scored = valid.copy()
        scored[:W, 1:] = False
        out[pos[scored] + 1] = lp_all[scored] / LN2
    finally:
        model.train(was_training)
    return out


@torch.no_grad()
def next_log2probs(model: CharRNN, ids: np.ndarray, device: torch.device | str | None = None) -> np.ndarray:
    """(len(ids), V) float64: row i = log2 P(. | ids[:i]) (row 0: the empty history).

    So `next_log2probs(m, ids)[i, ids[i]] == log2prob_sequence(m, ids)[i]`. For short
    passages: the whole table is built at once.
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    if model.cfg.is_transformer:
        from .gpt import window_log2prob
        return window_log2prob(model, np.asarray(ids), device, table=True)
    was_training = model.training
    model.eval()
    try:
        x = _as_long(ids, device)
        rows = [F.log_softmax(model.empty_history_logits().float(), dim=-1)[None]]
        if len(x) > 1:
            logits, _ = model(x[:-1, None])
            rows.append(F.log_softmax(logits[:, 0].float(), dim=-1))
        table = torch.cat(rows)[: len(x)]
    finally:
        model.train(was_training)
    return table.double().cpu().numpy() / LN2


# --------------------------------------------------------------------------- saved models

def save_trained(model_dir: str | Path, model: CharRNN, vocab: Vocab, extra: dict | None = None,
                 state_dict: dict | None = None) -> None:
    """Write model.safetensors (weights) + config.json (model config, vocab, extra), atomically."""
    from safetensors.torch import save as st_save

    from ..core.fsutil import write_bytes, write_json
    model_dir = Path(model_dir)
    sd = state_dict if state_dict is not None else model.state_dict()
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in sd.items()}
    from .checkpoint import (
        tensors_crc32,  # safetensors has no checksum: flipped bytes are caught
    )
    write_bytes(model_dir / "model.safetensors", st_save(tensors, metadata={"crc32": str(tensors_crc32(tensors))}))
    write_json(model_dir / "config.json", {"format": MODEL_FORMAT, "model": model.cfg.to_json(),
                                           "vocab": vocab.to_json(), **(extra or {})})


def load_config(cfg_path: Path) -> tuple[ModelConfig, Vocab, dict]:
    """(shape, vocab, whole config) from a model's config.json, checked before use: its
    format version, the shape's types and ranges (the params schema's own checks), and a
    vocabulary that fits the shape (sorted unique chars, one count each, unknown id 0)."""
    from ..core.vocab import UNK_ID
    from ..params import from_dict
    try:
        config = json.loads(cfg_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{cfg_path}: not found (train the model first)") from None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise CheckpointError(f"{cfg_path}: not a charlm model config ({e})") from None
    fmt = config.get("format") if isinstance(config, dict) else None
    if fmt != MODEL_FORMAT:
        raise CheckpointError(f"{cfg_path}: format {fmt!r}, but this charlm reads {MODEL_FORMAT!r}")
    try:
        mcfg = from_dict(ModelConfig, config.get("model"), "model")
        v = config["vocab"]
        chars, counts = list(v["chars"]), list(v["counts"])
        if (not all(isinstance(c, str) and len(c) == 1 for c in chars) or len(counts) != len(chars)
                or not all(isinstance(n, int) and n >= 0 for n in counts)):
            raise ValueError("vocab.chars must be single chars, with one count >= 0 each")
        if v.get("unk_id", UNK_ID) != UNK_ID or v.get("size", len(chars) + 1) != len(chars) + 1:
            raise ValueError(f"vocab: unk_id must be {UNK_ID} and size len(chars) + 1")
        vocab = Vocab(chars, counts)
    except CharlmError as e:
        raise CheckpointError(f"{cfg_path}: {e}") from None
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{cfg_path}: not a charlm model config ({e})") from None
    if vocab.size != mcfg.vocab_size:
        raise CheckpointError(f"{cfg_path}: vocab has {vocab.size} ids but the model {mcfg.vocab_size}")
    return mcfg, vocab, config


def load_trained(model_dir: str | Path, device: torch.device | str = "cpu") -> tuple[CharRNN, Vocab, dict]:
    """(model in eval mode on `device`, vocab, config dict) from model.safetensors + config.json.

    Works on CPU for a model trained on CUDA (the weights are stored as CPU fp32).
    Raises CheckpointError naming the file if anything is missing, corrupt or mismatched.
    """
    from safetensors.torch import load_file
    model_dir = Path(model_dir)
    cfg_path, w_path = model_dir / "config.json", model_dir / "model.safetensors"
    mcfg, vocab, config = load_config(cfg_path)
    try:
        weights = load_file(str(w_path), device="cpu")
    except FileNotFoundError:
        raise CheckpointError(f"{w_path}: not found (train the model first)") from None
    except Exception as e:  # safetensors raises its own error types for corrupt files
        raise CheckpointError(f"{w_path}: unreadable weights ({type(e).__name__}: {e})") from None
    from safetensors import safe_open

    from .checkpoint import tensors_crc32
    with safe_open(str(w_path), framework="pt", device="cpu") as f:
        crc = (f.metadata() or {}).get("crc32")
    if crc is not None and str(tensors_crc32(weights)) != crc:
        raise CheckpointError(f"{w_path}: corrupt weights (tensor data fails its CRC-32 check); "
                              "retrain, or restore it with `dvc checkout`")
    model = build_model(mcfg)
    try:
        model.load_state_dict(weights)
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        raise CheckpointError(f"{w_path}: weights do not fit the config "
                              f"({first[1].strip() if len(first) > 1 else first[0]})") from None
    model.to(device).eval()
    return model, vocab, config
