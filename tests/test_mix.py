"""The mixture: EM finds the val-optimal weights, the mixed distribution is a
distribution, and test never steers a choice (a corrupted test split leaves every
weight as it was)."""

from __future__ import annotations

import numpy as np
import pytest

from charlm.core import paths
from charlm.core.errors import CharlmError
from charlm.compare.mix import fit_weights, mix_corpus, mix_log2p

RNG = np.random.default_rng(0)


def _component(n: int, v: int, sharp: float) -> tuple[np.ndarray, np.ndarray]:
    """(per-char log2 P of the true chars, (n, v) log2 table) of a random model."""
    logits = RNG.normal(size=(n, v)) * sharp
    table = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    table /= np.log(2)
    chars = RNG.integers(0, v, size=n)
    return table[np.arange(n), chars], table


def test_mix_log2p_is_the_log_of_the_weighted_sum():
    lp = np.log2(RNG.uniform(0.01, 1, size=(3, 50)))
    w = np.array([0.2, 0.5, 0.3])
    assert np.allclose(mix_log2p(lp, w), np.log2((w[:, None] * 2.0 ** lp).sum(axis=0)))
    assert np.allclose(mix_log2p(lp, np.array([0.0, 1.0, 0.0])), lp[1])      # a zero weight


def test_em_reaches_the_best_weights_on_val():
    a, b = np.log2(RNG.uniform(0.05, 0.9, 4000)), np.log2(RNG.uniform(0.05, 0.9, 4000))
    b[:2000] = np.log2(0.95)                 # b is much better on half the chars
    w, iters = fit_weights(np.stack([a, b]))
    assert w.sum() == pytest.approx(1) and (w >= 0).all() and 1 < iters < 1000
    grid = np.linspace(0.001, 0.999, 999)
    best = min(grid, key=lambda x: -mix_log2p(np.stack([a, b]), np.array([x, 1 - x])).mean())
    assert w[0] == pytest.approx(best, abs=2e-3)
    fitted = -mix_log2p(np.stack([a, b]), w).mean()
    assert fitted <= min(-a.mean(), -b.mean())


def _write_components(models: dict[str, dict]) -> None:
    from charlm.core.fsutil import atomic_open
    for m, arrays in models.items():
        with atomic_open(paths.log2p_file("toy", m), "wb") as f:
            np.savez(f, **arrays, params=np.int64(10), train_chars=np.int64(100))


def test_weights_come_from_val_alone_test_is_read_once(tmp_path, monkeypatch):
    """Honest selection: the same val with a corrupted test split gives the same weights,
    EM steps and val bpc; only the test number changes."""
    monkeypatch.chdir(tmp_path)
    models = {}
    for m, sharp in (("ngram", 1.0), ("lstm", 2.0), ("gru", 0.5)):
        val, _ = _component(3000, 20, sharp)
        test, table = _component(2000, 20, sharp)
        models[m] = {"val": val, "test": test, "passage": table[:100]}
    models["lstm"]["val_dynamic"] = models["lstm"]["val"] + RNG.uniform(0, 0.5, 3000)
    models["lstm"]["test_dynamic"] = models["lstm"]["test"] + RNG.uniform(0, 0.5, 2000)
    _write_components(models)
    clean, table, bits = mix_corpus("toy", list(models))
    assert table.shape == (100, 20) and np.allclose(np.exp2(table).sum(axis=1), 1, atol=1e-5)
    assert list(clean["weights"]) == ["ngram", "lstm", "lstm:dynamic", "gru"]
    cols = [models["ngram"]["test"], models["lstm"]["test"], models["lstm"]["test_dynamic"],
            models["gru"]["test"]]
    w = np.array(list(clean["weights"].values()))
    assert np.allclose(bits, mix_log2p(np.stack(cols), w)[:100])
    for m in models:                       # a corrupted test split: random log2 P
        models[m]["test"] = np.log2(RNG.uniform(1e-4, 1, size=2000))
    models["lstm"]["test_dynamic"] = np.log2(RNG.uniform(1e-4, 1, size=2000))
    _write_components(models)
    corrupt, _, _ = mix_corpus("toy", list(models))
    assert corrupt["weights"] == clean["weights"]
    assert corrupt["em_iterations"] == clean["em_iterations"]
    assert corrupt["val_bpc"] == clean["val_bpc"]
    assert corrupt["test_bpc"] != clean["test_bpc"]
    lp = np.stack([models["ngram"]["test"], models["lstm"]["test"],
                   models["lstm"]["test_dynamic"], models["gru"]["test"]])
    w = np.array(list(corrupt["weights"].values()))
    assert corrupt["test_bpc"] == pytest.approx(-mix_log2p(lp, w).mean(), rel=1e-12)
    assert clean["params"] == 34 and clean["train_chars"] == 300


def test_a_missing_component_names_its_stage(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CharlmError, match=r"run `dvc repro evaluate@toy-lstm`"):
        mix_corpus("toy", ["lstm"])
