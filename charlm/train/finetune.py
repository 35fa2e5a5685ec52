"""Fine-tuning: a new run starts from another trained model's best weights.

    info = init_from_trained(model, vocab, paths.model_dir("latex-full", "lstm"))

The architecture and sizes must match (a one-line CheckpointError otherwise); dropout
may differ. Vocabularies are mapped by character: the embedding row and the output
row (weights and bias) of every character both corpora share, and of the unknown id,
are copied; a character new to this corpus keeps its fresh (seeded) initialisation.
Every other weight (recurrent, or a transformer's blocks and positions) is copied.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from ..core.errors import CheckpointError
from ..core.vocab import UNK_ID, Vocab
from ..neural.models import CharRNN, load_trained

VOCAB_ROWS = ("embed.weight", "head.weight", "head.bias")     # one row per character id
SHAPE_KEYS = ("arch", "hidden_size", "num_layers", "embedding_dim", "heads", "context")


def weights_digest(source_dir: Path) -> str:
    """sha256 of the source's weights file: part of the fine-tuned run's fingerprint."""
    path = Path(source_dir) / "model.safetensors"
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        raise CheckpointError(f"{path}: not found (train the model it starts from first)") from None


def _check_shapes(model: CharRNN, source: CharRNN, source_dir: Path) -> None:
    want, got = model.cfg.to_json(), source.cfg.to_json()
    diff = [f"{k} {got.get(k)} (here {want.get(k)})" for k in SHAPE_KEYS if want.get(k) != got.get(k)]
    if diff:
        raise CheckpointError(f"{source_dir}: cannot fine-tune from it: its " + ", ".join(diff)
                              + " differ; use a model entry of the same architecture and sizes")


def id_map(vocab: Vocab, source_vocab: Vocab) -> tuple[list[int], list[int], list[str]]:
    """(ids here, their ids in the source, chars new here): by character, the unknown id
    to the unknown id."""
    src_ids = {c: i + 1 for i, c in enumerate(source_vocab.chars)}
    here, there, new = [UNK_ID], [UNK_ID], []
    for i, c in enumerate(vocab.chars, start=1):
        if c in src_ids:
            here.append(i)
            there.append(src_ids[c])
        else:
            new.append(c)
    return here, there, new


@torch.no_grad()
def init_from_trained(model: CharRNN, vocab: Vocab, source_dir: Path) -> dict:
    """Copy `source_dir`'s weights into `model` (in place, on its device); return what
    was mapped: {"init_from", "shared_chars", "new_chars"}."""
    source, source_vocab, _ = load_trained(source_dir, device="cpu")
    _check_shapes(model, source, Path(source_dir))
    here, there, new = id_map(vocab, source_vocab)
    src = source.state_dict()
    for name, p in model.state_dict().items():
        if name in VOCAB_ROWS:
            p[here] = src[name][there].to(p.device, p.dtype)
        else:
            p.copy_(src[name])
    return {"init_from": str(source_dir), "shared_chars": len(here) - 1, "new_chars": new}
