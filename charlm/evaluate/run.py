"""Scoring: every model, n-gram or neural, through one routine on the same splits.

bpc = sum over the split's chars of -log2 P(char | preceding chars) / number of chars;
perplexity = 2 ** bpc. The first chars of a split are scored from the empty history
(the n-gram's `~` padding; an RNN's zero state), the same rule for every model.
Unknown characters (not in the train vocabulary) are scored as the unknown id,
which every model gives a small non-zero probability; their rate is reported.

Test is scored exactly (one stateful stream). A neural model's val is scored as
VAL_STREAMS contiguous streams in one batch, each after VAL_OVERLAP chars of true
history (as during training): several times faster, and within 1e-5 bpc of exact
scoring (benchmarks/results/train.md). Val only ranks models; test is the result.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..core import numerics, paths
from ..core.errors import CharlmError
from ..core.fsutil import read_json, write_json, write_text
from ..core.scoring import bpc_stats
from ..core.splits import load_split, load_stats
from ..core.surprise import SURPRISE_CHARS, surprise_data
from ..core.vocab import Vocab
from ..params import DynamicParams, SampleParams

VAL_STREAMS, VAL_OVERLAP = 16, 512


@dataclass
class Scorer:
    """What evaluation needs of a trained model, whatever its kind."""
    name: str
    log2prob_sequence: Callable[[np.ndarray], np.ndarray]   # ids -> log2 P per char
    next_log2probs: Callable[[np.ndarray], np.ndarray]      # ids -> (len, V) log2 dists
    val_log2prob: Callable[[np.ndarray], np.ndarray]        # the same, as val is scored
    params: int                                             # parameters / stored entries
    train_chars: int                                        # chars seen in training
    sample: Callable[[SampleParams], str]                   # a sample of generated text
    info: dict
    ngram: object = None                                    # the n-gram model (read-only)


def load_ngram_scorer(folder: Path) -> Scorer:
    """The n-gram of an n-gram folder (the stage's data/ngram/<corpus>/, or one fetched as an
    artifact): model.npz + model.json, its fit.json and samples/."""
    from ..ngram import NgramModel
    m = NgramModel.load(folder)
    info = read_json(Path(folder) / "model.json")
    return Scorer("ngram", m.log2prob_sequence, m.next_log2probs, m.log2prob_sequence,
                  params=int(info["n_grams"]), train_chars=int(info["train_chars"]),
                  sample=lambda sp: (Path(folder) / "samples"
                                     / f"{m.smoothing}_order{m.order}.txt").read_text(encoding="utf-8"),
                  info={"order": m.order, "smoothing": m.smoothing}, ngram=m)


def load_scorer(corpus: str, model: str, device: str = "cpu") -> Scorer:
    if model == "ngram":
        return load_ngram_scorer(paths.ngram_dir(corpus))
    from ..neural.models import load_trained, log2prob_sequence, next_log2probs
    net, vocab, _config = load_trained(paths.model_dir(corpus, model), device=device)
    summary = read_json(paths.train_summary(corpus, model))
    return Scorer(model,
                  lambda ids: log2prob_sequence(net, ids, device=device),
                  lambda ids: next_log2probs(net, ids, device=device),
                  lambda ids: log2prob_sequence(net, ids, device=device, streams=VAL_STREAMS,
                                                overlap=VAL_OVERLAP),
                  params=int(summary["params"]),
                  train_chars=int(summary["train_chars"]),
                  sample=lambda sp: _neural_sample(net, vocab, sp),
                  info={k: summary.get(k) for k in ("arch", "device", "steps", "best_val_bpc")})


def _neural_sample(net, vocab: Vocab, sp: SampleParams) -> str:
    """The evaluate.sample text, on CPU whatever the device, so that a seed gives the same
    text everywhere (a prime with characters unknown here is dropped)."""
    import copy

    from .sample import sample
    prime = sp.prime if all(c in vocab.stoi for c in sp.prime) else ""
    return sample(copy.deepcopy(net).to("cpu"), vocab, sp.chars, seed=sp.seed, prime=prime,
                  temperature=sp.temperature)


def score_splits(scorer: Scorer, prepared_dir: Path, splits=("val", "test")) -> dict:
    """bpc/perplexity of each split, plus evaluation speed."""
    out = {}
    for split in splits:
        ids = load_split(prepared_dir, split)
        t0 = time.perf_counter()
        lp = (scorer.val_log2prob if split == "val" else scorer.log2prob_sequence)(ids)
        secs = time.perf_counter() - t0
        if len(lp) != len(ids):
            raise CharlmError(f"{scorer.name}: scored {len(lp)} of {len(ids)} chars")
        s = bpc_stats(lp)
        out[split] = {**s, "seconds": secs, "chars_per_s": len(ids) / max(secs, 1e-9),
                      "log2p": np.asarray(lp, dtype=np.float64)}
    return out


def save_log2p(path: Path, scores: dict, passage_dists: np.ndarray, scorer: Scorer) -> None:
    """For the mixture: the per-char log2 P of each split, the passage's log2 table, the
    model's parameters and training chars."""
    from ..core.fsutil import atomic_open
    with atomic_open(path, "wb") as f:
        np.savez(f, **{s: scores[s]["log2p"] for s in scores},
                 passage=passage_dists.astype(np.float32),
                 params=np.int64(scorer.params), train_chars=np.int64(scorer.train_chars))


def dynamic_scores(corpus: str, model: str, dp: DynamicParams, device: str,
                   ngram=None) -> tuple[dict, dict]:
    """The val and test splits scored while the model adapts to them: ({split: {log2p,
    bpc, ...}}, the settings). A neural model by dynamic evaluation (charlm.evaluate.dynamic), the
    n-gram (`ngram`: the loaded model, else loaded here) by counting the scored text
    (charlm.ngram.adapt, its settings chosen on val)."""
    prepared = paths.prepared(corpus)
    splits = {s: load_split(prepared, s) for s in ("val", "test")}
    if model == "ngram":
        out, settings = _adapted_ngram(corpus, splits, dp, ngram)
    else:
        from ..neural.models import load_trained
        from .dynamic import dynamic_splits
        net, _, _ = load_trained(paths.model_dir(corpus, model), device)
        out = dynamic_splits(net, load_split(prepared, "train"), splits, dp.lr, dp.decay,
                             dp.segment)
        settings = {"lr": dp.lr, "decay": dp.decay, "segment": dp.segment}
    return ({s: {**r, **bpc_stats(r["log2p"]), "chars_per_s": len(splits[s]) / r["seconds"]}
             for s, r in out.items()}, settings)


def _adapted_ngram(corpus: str, splits: dict, dp: DynamicParams,
                   model=None) -> tuple[dict, dict]:
    from ..ngram import NgramModel
    from ..ngram.adapt import adapted_log2prob, choose
    model = model if model is not None else NgramModel.load(paths.ngram_dir(corpus))
    t0 = time.perf_counter()                     # val: the whole grid, its pick's scores
    span, strength, grid, val_lp = choose(model, splits["val"], dp.ngram.spans,
                                          dp.ngram.strengths)
    out = {"val": {"log2p": val_lp, "seconds": time.perf_counter() - t0}}
    t0 = time.perf_counter()
    test_lp = adapted_log2prob(model, splits["test"], span, strength)
    out["test"] = {"log2p": test_lp, "seconds": time.perf_counter() - t0}
    return out, {"span": span, "strength": strength, "val_bpc_grid": grid}


def _dynamic_metrics(dyn: dict, settings: dict) -> dict:
    return {"dynamic_val_bpc": dyn["val"]["bpc"], "dynamic_test_bpc": dyn["test"]["bpc"],
            "dynamic_test_ppl": dyn["test"]["ppl"], "dynamic": settings}


def evaluate(corpus: str, model: str, sample_params: SampleParams, device: str = "cpu",
             dynamic: DynamicParams | None = None) -> dict:
    """Score `model` on `corpus` (also dynamically, if `dynamic`); write its metrics, a
    sample and the surprise data; return the metrics. The scoring speed goes to
    timings/evaluate/ (untracked: it varies)."""
    prepared = paths.prepared(corpus)
    stats = load_stats(prepared)
    vocab = Vocab.load(prepared / "vocab.json")
    scorer = load_scorer(corpus, model, device)
    scores = score_splits(scorer, prepared)
    dyn, settings = dynamic_scores(corpus, model, dynamic, device, scorer.ngram) \
        if dynamic else ({}, {})
    metrics = {
        "corpus": corpus,
        "model": model,
        "val_bpc": scores["val"]["bpc"],
        "val_ppl": scores["val"]["ppl"],
        "test_bpc": scores["test"]["bpc"],
        "test_ppl": scores["test"]["ppl"],
        "test_chars": scores["test"]["chars"],
        "test_unknown_rate": stats["splits"]["test"]["unknown_rate"],
        "params": scorer.params,
        "train_chars": scorer.train_chars,
        **{k: v for k, v in scorer.info.items() if v is not None},
        **(_dynamic_metrics(dyn, settings) if dyn else {}),
        "numerics": numerics.profile(),
    }
    write_json(paths.metrics_file(corpus, model), metrics)
    write_json(paths.timings("evaluate", corpus, model),
               {s: {k: round(r[k], 3) for k in ("seconds", "chars_per_s")}
                for s, r in [*scores.items(), *((f"{s}_dynamic", r) for s, r in dyn.items())]})
    write_text(paths.sample_file(corpus, model), scorer.sample(sample_params))
    passage = load_split(prepared, "test")[:SURPRISE_CHARS]
    dists = np.asarray(scorer.next_log2probs(passage), dtype=np.float64)
    write_json(paths.surprise_data(corpus, model), surprise_data(dists, vocab, passage))
    save_log2p(paths.log2p_file(corpus, model),
               {**scores, **{f"{s}_dynamic": r for s, r in dyn.items()}}, dists, scorer)
    return {**metrics, "eval_chars_per_s": scores["test"]["chars_per_s"]}
