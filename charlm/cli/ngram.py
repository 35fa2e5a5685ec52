"""`charlm ngram query|sample`: the lecture's n-gram model from the command line.

    charlm ngram query --corpus tinyshakespeare --order 4 ello
    charlm ngram sample --corpus tinyshakespeare --order 10 --length 500 --seed 1 [--prime TEXT]

Both fit the model on the prepared train split of the corpus (counting one order takes
well under a second); `--smoothing` defaults to the lecture's unsmoothed `mle`. A
history's leading `~` are the lecture's padding (start of text) unless `--literal`.
"""

from __future__ import annotations

import sys

from ..core import paths
from ..core.entry import HelpFormatter
from ..core.errors import CharlmError, ParamsError
from ..core.splits import load_split
from ..core.vocab import Vocab
from ..ngram import SMOOTHINGS, NgramLM, check_order, fit_model
from .args import MAX_CHARS, integer, name, real, seed, text
from .lookup import prepare_command, repo_params


def _model(args) -> NgramLM:
    check_order(args.order)
    if args.add_k is not None and args.smoothing != "add_k":
        raise ParamsError(f"--add-k is the k of add_k smoothing: give --smoothing add_k with it "
                          f"(the smoothing here is {args.smoothing})")
    params = repo_params()
    params.corpus(args.corpus)                      # a known name, or a did-you-mean
    src = paths.prepared(args.corpus)
    if not (src / "train.npy").is_file():
        raise CharlmError(f"{args.corpus} is not prepared yet (no {src / 'train.npy'}): "
                          f"run `{prepare_command(params, args.corpus)}`")
    vocab = Vocab.load(src / "vocab.json")
    train = load_split(src, "train")
    check_order(args.order, len(train))
    return fit_model(train, vocab, args.order, args.smoothing,
                     1.0 if args.add_k is None else args.add_k)


def cmd_query(args) -> int:
    model = _model(args)
    dist = model.query(args.history, literal=args.literal)
    if not dist:
        raise CharlmError(f"history {args.history!r} never occurs in the train split of "
                          f"{args.corpus}: the {args.smoothing} model has no distribution for it "
                          "(try --smoothing kneser_ney)")
    if args.top:
        dist = dist[:args.top]
    for ch, p in dist:
        print(f"{ch!r}\t{p:.6f}")
    return 0


def cmd_sample(args) -> int:
    model = _model(args)
    sys.stdout.write(model.sample(args.length, args.seed, prime=args.prime))
    sys.stdout.write("\n")
    return 0


def register(subparsers) -> None:
    ap = subparsers.add_parser("ngram", help="query or sample a character n-gram model",
                               description=__doc__, formatter_class=HelpFormatter)
    sub = ap.add_subparsers(dest="ngram_command", required=True)

    def common(p):
        p.add_argument("--corpus", required=True, type=name, help="corpus name (its prepared train split is counted)")
        p.add_argument("--order", type=integer(0, 1000), required=True, help="history length (the lecture's order)")
        p.add_argument("--smoothing", choices=SMOOTHINGS, default="mle",
                       help="mle: the lecture's unsmoothed counts")
        p.add_argument("--add-k", type=real(0, 1e6, low_open=True), default=None,
                       help="k of add_k smoothing (with --smoothing add_k; default: 1)")

    q = sub.add_parser("query", help="P(next char | HISTORY), most likely first (lm['ello'])",
                       formatter_class=HelpFormatter)
    common(q)
    q.add_argument("history", type=text, help="exactly ORDER chars; leading '~' = padding")
    q.add_argument("--literal", action="store_true", help="leading '~' are text, not padding")
    q.add_argument("--top", type=integer(0, 10**9), default=0, help="print only the K most likely (0: all)")
    q.set_defaults(func=cmd_query)

    s = sub.add_parser("sample", help="generate text, like the lecture's generate_text",
                       formatter_class=HelpFormatter)
    common(s)
    s.add_argument("--length", type=integer(1, MAX_CHARS), default=500, help="chars to generate")
    s.add_argument("--seed", type=seed, default=0, help="random seed (same seed, same text)")
    s.add_argument("--prime", default=None, type=text, help="text the sample continues (printed first)")
    s.set_defaults(func=cmd_sample)
