"""`charlm score`: bits per char and perplexity of any text under a trained model.

    charlm score --corpus tinyshakespeare --model lstm play.txt
    head -c 20000 notes.tex | charlm score --corpus latex --model ngram
    charlm score --corpus tinyshakespeare --model gru --json --per-char bits.tsv play.txt
    charlm score --checkpoint path/to/model_dir play.txt

The model is --corpus C --model M (M: ngram or a neural model of params.yaml), or
--checkpoint: a model directory (neural, or an n-gram's: model.json + model.npz) or a
training checkpoint file, never both.

The text is scored the way the evaluate stage scores the test split: as one stream,
the first char from the empty history, every later char after all the chars before
it (a transformer: after the chars of its sliding window, docs/evaluation.md). bpc = total bits / chars; perplexity = 2 ** bpc. Characters the model never saw
in training are scored as its unknown character; they are counted and listed.

--per-char writes one row per char: its position (from 0), the char (\\n, \\t, \\\\ and
other invisible chars escaped), its -log2 P ("bits") and the model's most likely
char at that position ("top").
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ..core import paths
from ..core.device import DEVICES, pick_device
from ..core.errors import CharlmError
from ..core.fsutil import atomic_open
from ..core.inputs import MIB, decode, read_input
from ..core.vocab import UNK_CHAR, UNK_ID, Vocab, codepoints
from .args import output_file, path_arg
from .lookup import NGRAM, repo_params, trained_dir
from .model_arg import (add_model_options, check_model_options, is_ngram_folder, load_neural,
                        model_label)

TOP_BLOCK = 4096        # chars per block when computing the top predictions
SHOWN_UNKNOWN = 10      # distinct unknown chars named in the one-line summary
SCORE_CAP = 64 * MIB    # the most text read whole to score
HEADER = "pos\tchar\tbits\ttop"   # the --per-char table's first line


@dataclass
class Scored:
    """One text scored by one model."""
    text: str
    ids: np.ndarray
    log2p: np.ndarray       # log2 P of each char, as the evaluate stage computes it
    unknown: list[str]      # distinct chars not in the vocabulary, in order of appearance
    unknown_chars: int      # how many chars of the text are unknown
    device: str
    vocab: Vocab            # the model's own (stored with it)


# --------------------------------------------------------------------------- input

def read_text(source: str) -> tuple[str, str]:
    """(text, how to name it) from a file or, for "-", from stdin; strict UTF-8, not empty."""
    label = "stdin" if source == "-" else source
    text = decode(read_input(source, "FILE", SCORE_CAP), "utf-8", label)
    if not text:
        raise CharlmError(f"{label}: no text to score (the input is empty)")
    return text, label


# --------------------------------------------------------------------------- scoring

def unknown_chars(text: str, ids: np.ndarray) -> list[str]:
    """The distinct chars that were encoded as the unknown id, in order of first appearance."""
    cps = codepoints(text)[ids == UNK_ID]
    uniq, first = np.unique(cps, return_index=True)
    return [chr(int(c)) for c in uniq[np.argsort(first)]]


@dataclass
class Loaded:
    """A model ready to score: its vocabulary, its per-char log2 P (the evaluate stage's
    own routine) and its top predictions."""
    vocab: Vocab
    log2prob: Callable[[np.ndarray], np.ndarray]
    top: Callable[[np.ndarray], Iterator[np.ndarray]]
    device: str


def load_model(args: argparse.Namespace) -> Loaded:
    """The model the options name (their combination is checked already)."""
    ngram_folder = args.checkpoint is not None and is_ngram_folder(Path(args.checkpoint))
    if ngram_folder or (args.checkpoint is None and args.model == NGRAM):
        from ..evaluate.run import load_ngram_scorer
        scorer = load_ngram_scorer(Path(args.checkpoint) if ngram_folder
                                   else paths.ngram_dir(args.corpus))
        return Loaded(scorer.ngram.vocab, scorer.log2prob_sequence, lambda ids: ngram_top(scorer, ids), "cpu")
    from ..neural.models import log2prob_sequence
    device = pick_device(args.device)
    net, vocab = load_neural(args.corpus, args.model, args.checkpoint, device)
    return Loaded(vocab, lambda ids: log2prob_sequence(net, ids, device=device),
                  lambda ids: _trimmed(neural_top(net, ids, device), len(ids)), device)


def score_text(text: str, loaded: Loaded, label: str) -> Scored:
    """Score `text` as the evaluate stage scores a split (one stream, the same routine)."""
    ids, n_unknown = loaded.vocab.encode(text)
    log2p = np.asarray(loaded.log2prob(ids), dtype=np.float64)
    if len(log2p) != len(ids):
        raise CharlmError(f"{label}: scored {len(log2p)} of {len(ids)} chars")
    return Scored(text, ids, log2p, unknown_chars(text, ids) if n_unknown else [],
                  n_unknown, loaded.device, loaded.vocab)


# --------------------------------------------------------------------------- top predictions

def ngram_top(scorer, ids: np.ndarray, block: int = TOP_BLOCK) -> Iterator[np.ndarray]:
    """The n-gram's most likely next id at each position, `block` positions at a time
    (each block is given the `order` chars before it: the same history as the whole text)."""
    order = int(scorer.info["order"])
    for start in range(0, len(ids), block):
        lo = max(0, start - order)
        table = scorer.next_log2probs(ids[lo:start + block])
        yield table[start - lo:].argmax(axis=1)


def neural_top(net, ids: np.ndarray, device: str,
               block: int = TOP_BLOCK) -> Iterator[np.ndarray]:
    """The network's most likely next id at each position, `block` positions at a time,
    its state carried from block to block (one stream, as in scoring)."""
    import torch

    if net.cfg.is_transformer:          # its sliding window, as it was scored
        from ..neural.gpt import window_tops
        yield from window_tops(net, ids, device)
        return
    x = torch.from_numpy(np.asarray(ids, dtype=np.int64)).to(device)
    state = None
    with torch.no_grad():
        first = net.empty_history_logits().argmax().view(1)
        for start in range(0, len(ids), block):    # positions start+1 .. start+block
            logits, state = net(x[start:start + block, None], state)
            tops = logits[:, 0].argmax(dim=-1)
            yield (torch.cat([first, tops]) if start == 0 else tops).cpu().numpy()


def _trimmed(blocks: Iterator[np.ndarray], n: int) -> Iterator[np.ndarray]:
    """The first `n` entries of a stream of blocks (the last input char predicts nothing)."""
    done = 0
    for b in blocks:
        b = b[: n - done]
        done += len(b)
        if len(b):
            yield b


# --------------------------------------------------------------------------- output

def escape(ch: str) -> str:
    """A char as one TSV cell: backslash and invisible chars (newline, tab...) escaped."""
    return repr(ch)[1:-1] if ch == "\\" or not ch.isprintable() else ch


def write_per_char(path: Path, scored: Scored, tops: Iterator[np.ndarray]) -> None:
    """The per-char TSV (pos, char, bits, top), written atomically."""
    table = [escape(c) for c in [UNK_CHAR] + scored.vocab.chars]
    try:
        with atomic_open(path, "w", encoding="utf-8", newline="\n") as f:
            f.write(HEADER + "\n")
            pos = 0
            for top in tops:
                rows = [f"{pos + i}\t{escape(scored.text[pos + i])}\t{-scored.log2p[pos + i]:.6f}"
                        f"\t{table[t]}\n" for i, t in enumerate(top.tolist())]
                f.write("".join(rows))
                pos += len(top)
    except OSError as e:
        raise CharlmError(f"--per-char {path}: cannot write ({e.strerror or e})") from None


def summary(args: argparse.Namespace, scored: Scored, stats: dict) -> dict:
    """What `--json` prints."""
    return {"corpus": args.corpus, "model": args.model, "checkpoint": args.checkpoint,
            "file": args.file,
            "chars": stats["chars"], "bits": float(-scored.log2p.sum()),
            "bpc": stats["bpc"], "ppl": stats["ppl"],
            "unknown_chars": scored.unknown_chars, "unknown": scored.unknown,
            "device": scored.device}


def summary_line(s: dict, model: str, label: str) -> str:
    """The default output: one line."""
    line = (f"{model} on {label}: {s['chars']:,} chars, "
            f"{s['bpc']:.4f} bpc, perplexity {s['ppl']:.3f}")
    if s["unknown_chars"]:
        shown = ", ".join(repr(c) for c in s["unknown"][:SHOWN_UNKNOWN])
        more = len(s["unknown"]) - SHOWN_UNKNOWN
        shown += f" and {more} more" if more > 0 else ""
        line += f" ({s['unknown_chars']:,} unknown chars: {shown})"
    return line


# --------------------------------------------------------------------------- command

def run(args: argparse.Namespace) -> int:
    """Check the names and the output, read and score the text, then write the outputs."""
    from ..core.scoring import bpc_stats
    check_model_options(args)
    if args.checkpoint is None:
        trained_dir(repo_params(), args.corpus, args.model)
    out = (output_file(args.per_char, "--per-char", [args.file], HEADER)
           if args.per_char is not None else None)
    text, label = read_text(args.file)
    loaded = load_model(args)
    scored = score_text(text, loaded, model_label(args))
    stats = bpc_stats(scored.log2p)
    if out is not None:
        write_per_char(out, scored, loaded.top(scored.ids))
    s = summary(args, scored, stats)
    print(json.dumps(s, ensure_ascii=False) if args.json else
          summary_line(s, model_label(args), label))
    return 0


def register(sub) -> None:
    from ..core.entry import HelpFormatter
    p = sub.add_parser("score", help="bits per char and perplexity of a text under a trained model",
                       description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("file", nargs="?", default="-", metavar="FILE", type=path_arg,
                   help="UTF-8 text file to score; - reads stdin (default: -)")
    add_model_options(p, "ngram, or a neural model name from params.yaml train.models")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object instead of the one-line summary (default: off)")
    p.add_argument("--per-char", metavar="OUT.tsv", default=None, type=path_arg,
                   help="also write each char's bits and the model's top prediction to this "
                        "TSV file, in a folder that exists; an existing file is replaced only if it is such a "
                        "table (default: none)")
    p.add_argument("--device", choices=DEVICES, default="auto",
                   help="where a neural model runs: auto is cuda when a GPU is present, else "
                        "cpu; the n-gram always runs on cpu (default: auto)")
    p.set_defaults(func=run)
