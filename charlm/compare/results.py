"""What the report reads: each model's metrics, the n-gram's fit record and samples, the
training curves. Only files the report stage declares as deps (dvc.yaml)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from ..core import paths
from ..core.errors import CharlmError
from ..core.fsutil import read_json

NGRAM = "ngram"
NEURAL_EXCLUDED = (NGRAM, paths.MIX)
# What people compare, per corpus and model (the declared metrics: keep them few).
SUMMARY_KEYS = ("test_bpc", "val_bpc", "test_ppl", "params", "train_chars")
DYNAMIC_KEYS = ("dynamic_test_bpc", "dynamic_val_bpc")     # where a model was also adapted


def collect(models: dict[str, list[str]]) -> dict:
    """corpus -> model -> metrics dict, for each corpus's models (`models`: corpus -> names)."""
    out: dict = {}
    for c, names in models.items():
        for m in names:
            f = paths.metrics_file(c, m)
            if not f.exists():
                raise CharlmError(f"{f}: missing (run `dvc repro {paths.evaluate_stage(c, m)}`)")
            out.setdefault(c, {})[m] = read_json(f)
    return out


def summary(results: dict) -> dict:
    return {c: {m: {**{k: r[k] for k in SUMMARY_KEYS},
                    **{k: r[k] for k in DYNAMIC_KEYS if k in r}} for m, r in ms.items()}
            for c, ms in results.items()}


def neural(ms: dict) -> dict:
    return {m: r for m, r in ms.items() if m not in NEURAL_EXCLUDED}


def best_neural(ms: dict) -> str | None:
    """The neural model with the lowest val bpc (chosen on val, never on test)."""
    nn = neural(ms)
    return min(nn, key=lambda k: nn[k]["val_bpc"]) if nn else None


def ngram_fit(corpus: str) -> dict | None:
    """The ngram stage's fit record (data/ngram/<corpus>/fit.json), if there is one."""
    f = paths.ngram_fit_file(corpus)
    return read_json(f) if f.exists() else None


def mle_samples(corpus: str) -> dict[int, str]:
    """order -> the unsmoothed model's sample at that order (the ngram stage's files)."""
    out = {}
    for f in paths.ngram_samples(corpus).glob("mle_order*.txt"):
        m = re.fullmatch(r"mle_order(\d+)\.txt", f.name)
        if m:
            out[int(m.group(1))] = f.read_text(encoding="utf-8")
    return dict(sorted(out.items()))


def sample_text(corpus: str, model: str) -> str | None:
    f = paths.sample_file(corpus, model)
    return f.read_text(encoding="utf-8") if f.exists() else None


WORD = re.compile(r"[^\W\d_]+")      # a run of letters (any script)


def train_words(corpus: str) -> set[str]:
    """The words (letter runs, lower-cased) of the corpus's train split."""
    from ..core.splits import load_split
    from ..core.vocab import Vocab

    src = paths.prepared(corpus)
    text = Vocab.load(src / "vocab.json").decode(load_split(src, "train"))
    return set(WORD.findall(text.lower()))


def word_share(text: str, words: set[str]) -> float | None:
    """The share of the text's words that are words of the train text (None: no words)."""
    found = WORD.findall(text.lower())
    return sum(w in words for w in found) / len(found) if found else None


def read_tsv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def learning_curve(corpus: str, model: str, result: dict) -> list[tuple[int, float]] | None:
    """(training chars, val bpc) points from DVCLive's log, or None if absent."""
    f = paths.val_curve(corpus, model)
    if not f.exists():
        return None
    rows = read_tsv(f)
    if not rows:
        return None
    value_col = [k for k in rows[0] if k not in ("step", "timestamp")][0]
    per_step = result["train_chars"] // max(1, result["steps"])
    return [(int(r["step"]) * per_step, float(r[value_col])) for r in rows]
