"""`charlm sample`: stream characters from a trained neural model.

    charlm sample --corpus tinyshakespeare --model lstm --prime "ROMEO:" --length 300
    charlm sample --corpus latex --model gru --temperature 0.7 --top-k 10 --seed 3
    charlm sample --corpus tinyshakespeare --model lstm --num-samples 4 --length 200
    charlm sample --corpus tinyshakespeare --model lstm --checkpoint path/to/model_dir

The model comes from data/models/<corpus>/<model>/ (best-on-val weights), or from
--checkpoint: a model directory (model.safetensors + config.json) or a training
checkpoint file (checkpoint/last.safetensors; its config.json is read from the model
directory above it). Run it from the repository root.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..core import paths


def load_for_sampling(corpus: str, model: str, checkpoint: str | None, device: str = "cpu"):
    """(model, vocab) from the stage's output, a model directory or a training checkpoint."""
    from ..core.errors import CheckpointError
    from ..neural.models import load_trained
    if checkpoint is None:
        net, vocab, _ = load_trained(paths.model_dir(corpus, model), device)
        return net, vocab
    p = Path(checkpoint)
    if p.is_dir():
        net, vocab, _ = load_trained(p, device)
        return net, vocab
    from ..core.vocab import Vocab
    from ..neural.checkpoint import load_checkpoint, unprefixed
    from ..neural.models import CharRNN, ModelConfig
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


def _prime(args: argparse.Namespace, vocab) -> str:
    """--prime, or the text of --prime-file, or a newline (if the corpus has one)."""
    from ..core.errors import CharlmError
    if args.prime_file is not None:
        from ..data.unpack import decode
        try:
            data = Path(args.prime_file).read_bytes()
        except OSError as e:
            raise CharlmError(f"--prime-file {args.prime_file}: {e.strerror or e}") from None
        return decode(data, "utf-8", args.prime_file)
    if args.prime is not None:
        return args.prime
    return "\n" if "\n" in vocab.stoi else ""


def _check_options(args: argparse.Namespace) -> None:
    from ..core.errors import ParamsError
    for name, value, low in (("--length", args.length, 1), ("--num-samples", args.num_samples, 1),
                             ("--threads", args.threads, 1)):
        if value < low:
            raise ParamsError(f"{name}: must be >= {low}, got {value}")
    if not args.temperature > 0:
        raise ParamsError(f"--temperature: must be > 0, got {args.temperature}")
    if args.top_k is not None and args.top_k < 1:
        raise ParamsError(f"--top-k: must be >= 1, got {args.top_k}")
    if args.prime is not None and args.prime_file is not None:
        raise ParamsError("--prime and --prime-file: give one of them")


def _load(args: argparse.Namespace, device: str):
    """(model, vocab): --checkpoint as given, else the stage's output (names checked)."""
    from ..core.errors import CharlmError
    if args.checkpoint is None:
        from .lookup import repo_params, trained_dir
        params = repo_params()
        if args.model == "ngram":
            raise CharlmError(f"the n-gram samples with `charlm ngram sample --corpus {args.corpus} "
                              "--order N`")
        trained_dir(params, args.corpus, args.model, allow_ngram=False)
    return load_for_sampling(args.corpus, args.model, args.checkpoint, device)


def run(args: argparse.Namespace) -> int:
    _check_options(args)                      # before any loading
    import torch

    from ..core.device import pick_device
    from ..evaluate.sample import sample_batch, sample_stream
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    net, vocab = _load(args, device)
    prime = _prime(args, vocab)
    out = sys.stdout
    head = prime if args.echo_prime else ""
    if args.num_samples > 1:
        texts = sample_batch(net, vocab, args.num_samples, args.length, args.seed, prime=prime,
                             temperature=args.temperature, top_k=args.top_k,
                             unknown_ok=args.unknown_ok)
        for i, text in enumerate(texts, 1):
            out.write(f"=== sample {i} of {len(texts)} ===\n{head}{text}\n")
        return 0
    out.write(head)
    for ch in sample_stream(net, vocab, args.length, args.seed, prime=prime,
                            temperature=args.temperature, top_k=args.top_k,
                            unknown_ok=args.unknown_ok):
        out.write(ch)
        out.flush()
    out.write("\n")
    return 0


def register(sub) -> None:
    from ..core.entry import HelpFormatter
    p = sub.add_parser("sample", help="sample text from a trained neural model",
                       description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("--corpus", required=True, help="corpus name (corpora.yaml)")
    p.add_argument("--model", required=True, help="model name (params.yaml train.models)")
    p.add_argument("--prime", default=None,
                   help="text that warms the state (default: a newline, if the corpus has one)")
    p.add_argument("--prime-file", default=None, help="read the prime from this UTF-8 file")
    p.add_argument("--length", type=int, default=500, help="chars to generate")
    p.add_argument("--num-samples", type=int, default=1,
                   help="independent samples, generated together as one batch")
    p.add_argument("--temperature", type=float, default=1.0, help="softmax temperature (> 0)")
    p.add_argument("--top-k", type=int, default=None, help="sample among the k likeliest chars")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same text)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="where the model runs (auto: CUDA if present)")
    p.add_argument("--checkpoint", default=None,
                   help="model directory or training checkpoint file instead of the stage's output")
    p.add_argument("--unknown-ok", action="store_true",
                   help="map prime chars not in the vocabulary to the unknown id instead of failing")
    p.add_argument("--echo-prime", action="store_true", help="print the prime before the sample")
    p.add_argument("--threads", type=int, default=1, help="CPU threads")
    p.set_defaults(func=run)
