"""`charlm sample`: stream characters from a trained neural model.

    charlm sample --corpus tinyshakespeare --model lstm --prime "ROMEO:" --length 300
    charlm sample --corpus latex --model gru --temperature 0.7 --top-k 10 --seed 3
    charlm sample --corpus tinyshakespeare --model lstm --num-samples 4 --length 200
    charlm sample --checkpoint path/to/model_dir --length 200

The model comes from data/models/<corpus>/<model>/ (best-on-val weights), or from
--checkpoint: a model directory (model.safetensors + config.json) or a training
checkpoint file (data/checkpoints/C/M/last.safetensors; its config.json is read from
data/models/C/M/), never both. Run it from the repository root.
"""

from __future__ import annotations

import argparse
import sys

from ..params.sections import MIN_TEMPERATURE
from .args import MAX_CHARS, integer, path_arg, real, seed
from .args import text as text_arg
from .model_arg import add_model_options, check_model_options, load_neural

MAX_SAMPLE_CHARS = MAX_CHARS    # --num-samples x --length: the samples are held in memory


def _prime(args: argparse.Namespace, vocab) -> str:
    """--prime, or the text of --prime-file, or a newline (if the corpus has one)."""
    if args.prime_file is not None:
        from ..core.inputs import MIB, decode, read_input
        data = read_input(args.prime_file, "--prime-file", MIB)
        return decode(data, "utf-8", f"--prime-file {args.prime_file}")
    if args.prime is not None:
        return args.prime
    return "\n" if "\n" in vocab.stoi else ""


def _check_options(args: argparse.Namespace) -> None:
    """How the options combine (each value's own range is checked by the parser)."""
    from ..core.errors import ParamsError
    if args.prime is not None and args.prime_file is not None:
        raise ParamsError("--prime and --prime-file: give one of them")
    check_model_options(args)
    if args.num_samples * args.length > MAX_SAMPLE_CHARS:
        raise ParamsError(f"--num-samples x --length: at most {MAX_SAMPLE_CHARS:,} chars in one "
                          f"batch, got {args.num_samples * args.length:,}")


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
    return load_neural(args.corpus, args.model, args.checkpoint, device)


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
    add_model_options(p, "model name (params.yaml train.models)")
    p.add_argument("--prime", default=None, type=text_arg,
                   help="text that warms the state (default: a newline, if the corpus has one)")
    p.add_argument("--prime-file", default=None, type=path_arg,
                   help="read the prime from this UTF-8 file (at most 1 MiB)")
    p.add_argument("--length", type=integer(1, MAX_CHARS), default=500, help="chars to generate")
    p.add_argument("--num-samples", type=integer(1, 1000), default=1,
                   help="independent samples, generated together as one batch")
    p.add_argument("--temperature", type=real(MIN_TEMPERATURE, 100), default=1.0,
                   help="softmax temperature (0.001..100; lower is more conservative)")
    p.add_argument("--top-k", type=integer(1, 1_000_000), default=None, help="sample among the k likeliest chars")
    p.add_argument("--seed", type=seed, default=0, help="random seed (same seed, same text)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="where the model runs (auto: CUDA if present)")
    p.add_argument("--unknown-ok", action="store_true",
                   help="map prime chars not in the vocabulary to the unknown id instead of failing")
    p.add_argument("--echo-prime", action="store_true", help="print the prime before the sample")
    p.add_argument("--threads", type=integer(1, 256), default=1, help="CPU threads")
    p.set_defaults(func=run)
