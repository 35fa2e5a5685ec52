"""`charlm sample`: stream characters from a trained neural model.

    charlm sample --corpus tinyshakespeare --model lstm --prime "ROMEO:" --length 300
    charlm sample --corpus latex --model gru --temperature 0.7 --top-k 10 --seed 3
    charlm sample --corpus tinyshakespeare --model lstm --checkpoint path/to/model_dir

The model comes from data/models/<corpus>/<model>/ (best-on-val weights), or from
--checkpoint: a model directory (model.safetensors + config.json) or a training
checkpoint file (checkpoint/last.safetensors; its config.json is read from the model
directory above it). Runs on CPU whatever device trained the model.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import paths


def load_for_sampling(corpus: str, model: str, checkpoint: str | None, device: str = "cpu"):
    """(model, vocab) from the stage's output, a model directory or a training checkpoint."""
    from .errors import CheckpointError
    from .models import load_trained
    if checkpoint is None:
        net, vocab, _ = load_trained(paths.model_dir(corpus, model), device)
        return net, vocab
    p = Path(checkpoint)
    if p.is_dir():
        net, vocab, _ = load_trained(p, device)
        return net, vocab
    from .checkpoint import load_checkpoint, unprefixed
    from .models import CharRNN, ModelConfig
    from .vocab import Vocab
    tensors, meta = load_checkpoint(p)
    mcfg = ModelConfig.from_json(meta["model"])
    vocab_path = paths.prepared(corpus) / "vocab.json"
    vocab = Vocab.load(vocab_path)
    if vocab.size != mcfg.vocab_size:
        raise CheckpointError(f"{p}: the model has {mcfg.vocab_size} ids but {vocab_path} {vocab.size}")
    net = CharRNN(mcfg)
    try:
        net.load_state_dict(unprefixed("model.", tensors))
    except RuntimeError as e:
        raise CheckpointError(f"{p}: weights do not fit its config ({str(e).splitlines()[0]})") from None
    return net.to(device).eval(), vocab


def run(args: argparse.Namespace) -> int:
    from .errors import ParamsError
    if args.length < 1:                       # checked before any loading
        raise ParamsError(f"--length: must be >= 1, got {args.length}")
    if not args.temperature > 0:
        raise ParamsError(f"--temperature: must be > 0, got {args.temperature}")
    if args.top_k is not None and args.top_k < 1:
        raise ParamsError(f"--top-k: must be >= 1, got {args.top_k}")
    import torch

    from .sample import sample_stream
    if args.threads:
        torch.set_num_threads(args.threads)
    net, vocab = load_for_sampling(args.corpus, args.model, args.checkpoint)
    prime = args.prime
    if prime is None:
        prime = "\n" if "\n" in vocab.stoi else ""
    out = sys.stdout
    if prime and args.echo_prime:
        out.write(prime)
    for ch in sample_stream(net, vocab, args.length, args.seed, prime=prime,
                            temperature=args.temperature, top_k=args.top_k,
                            unknown_ok=args.unknown_ok):
        out.write(ch)
        out.flush()
    out.write("\n")
    return 0


def register(sub) -> None:
    p = sub.add_parser("sample", help="sample text from a trained neural model",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", required=True, help="corpus name (params.yaml corpora)")
    p.add_argument("--model", required=True, help="model name (params.yaml train.models)")
    p.add_argument("--prime", default=None,
                   help="text that warms the state (default: a newline, if the corpus has one)")
    p.add_argument("--length", type=int, default=500, help="chars to generate (default 500)")
    p.add_argument("--temperature", type=float, default=1.0, help="softmax temperature (> 0)")
    p.add_argument("--top-k", type=int, default=None, help="sample among the k likeliest chars")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same text)")
    p.add_argument("--checkpoint", default=None,
                   help="model directory or training checkpoint file instead of the stage's output")
    p.add_argument("--unknown-ok", action="store_true",
                   help="map prime chars not in the vocabulary to the unknown id instead of failing")
    p.add_argument("--echo-prime", action="store_true", help="print the prime before the sample")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: fastest here)")
    p.set_defaults(func=run)
