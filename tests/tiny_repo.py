"""A tiny trained repository for the CLI tests that read one (test_score_cli, test_models_cli,
test_dynamic): a prepared corpus (named tinyshakespeare, so the real params know it), its
n-gram, a tiny LSTM and GRU trained for a few steps, all evaluated."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from charlm.core import paths
from charlm.core.fsutil import write_json, write_text
from charlm.data.prepare import prepare_text, save_prepared
from charlm.evaluate.run import evaluate
from charlm.ngram import fit_and_select
from charlm.params import (ModelSpec, NgramParams, SampleParams, SplitParams, TrainCommon,
                           TrainParams, from_dict)
from charlm.train.run import train_model

from helpers import ROOT, tiny_text

CORPUS = "tinyshakespeare"


def fit_ngram(corpus: str, vocab, arrays: dict) -> None:
    """What the ngram stage writes: model.json/.npz, samples, fit.json (orders up to 4)."""
    cfg = from_dict(NgramParams, {"max_order": 4, "add_k": [1.0], "sample_orders": [2],
                                  "sample_length": 20}, "ngram")
    model, record, _, samples = fit_and_select(arrays["train"], arrays["val"], arrays["test"],
                                               vocab, cfg, log=lambda _: None)
    model.save(paths.ngram_dir(corpus))
    for name, text in samples.items():
        write_text(paths.ngram_samples(corpus) / f"{name}.txt", text)
    write_json(paths.ngram_fit_file(corpus), record)


def train_tiny(corpus: str, model: str, arch: str, steps: int) -> None:
    """A one-layer, 16-unit network trained for a few steps, as the train stage saves it."""
    spec = ModelSpec(arch=arch, hidden_size=16, num_layers=1, dropout=0.0, embedding_dim=8)
    common = TrainCommon(seed=3, steps=steps, batch_size=8, seq_len=16, lr=0.02,
                         eval_every=steps, eval_streams=1, checkpoint_every=steps,
                         log_every=steps, device="cpu")
    train_model(paths.prepared(corpus), paths.model_dir(corpus, model),
                TrainParams(models={model: spec}, common=common), model, corpus=corpus,
                progress=False, log=lambda _: None, ckpt_dir=paths.checkpoint_dir(corpus, model))


def build_repo(root: Path) -> Path:
    """params/corpora/dvc.yaml of this checkout, and tinyshakespeare's ngram, lstm and gru
    trained on a tiny text (2500 words) and evaluated."""
    root.mkdir(parents=True, exist_ok=True)
    for f in ("params.yaml", "corpora.yaml", "dvc.yaml"):
        shutil.copy2(ROOT / f, root / f)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        vocab, arrays, stats = prepare_text(tiny_text(2500), SplitParams(0.8, 0.1, 0.1), CORPUS)
        save_prepared(paths.prepared(CORPUS), vocab, arrays, stats)
        fit_ngram(CORPUS, vocab, arrays)
        train_tiny(CORPUS, "lstm", "lstm", 40)
        train_tiny(CORPUS, "gru", "gru", 5)
        for m in ("ngram", "lstm", "gru"):
            evaluate(CORPUS, m, SampleParams(chars=20))
    return root
