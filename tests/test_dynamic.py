"""Dynamic evaluation: with a zero step it is static scoring; it never learns from text
it has not scored yet; on text that repeats, adapting lowers the bits; the gradient RMS
of a model with dropout is the same on every call (and leaves the caller's RNG)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from charlm.evaluate.dynamic import dynamic_log2prob, grad_rms
from charlm.neural.models import CharRNN, ModelConfig, log2prob_sequence
from charlm.core.vocab import Vocab

TEXT = "the cat sat on the mat. a dog ran to the log. " * 30


@pytest.fixture(scope="module")
def model_and_ids():
    vocab = Vocab.build(TEXT + "xyz")
    ids = vocab.encode(TEXT)[0].astype(np.int64)
    torch.manual_seed(0)
    net = CharRNN(ModelConfig(arch="lstm", vocab_size=vocab.size, hidden_size=24, num_layers=2,
                              dropout=0.0, embedding_dim=8))
    return net.eval(), ids, grad_rms(net, ids, batches=4, batch_size=4, seq_len=16)


def test_grad_rms_is_reproducible_with_dropout(model_and_ids):
    _, ids, _ = model_and_ids
    torch.manual_seed(1)
    net = CharRNN(ModelConfig(arch="gru", vocab_size=int(ids.max()) + 1, hidden_size=16,
                              num_layers=2, dropout=0.3, embedding_dim=8))
    state = torch.get_rng_state()
    a = grad_rms(net, ids, batches=3, batch_size=4, seq_len=16)
    torch.rand(5)                                  # whatever the caller's RNG did since
    b = grad_rms(net, ids, batches=3, batch_size=4, seq_len=16)
    assert all(torch.equal(a[n], b[n]) for n in a)
    c = grad_rms(net, ids, batches=3, batch_size=4, seq_len=16, seed=1)
    assert not all(torch.equal(a[n], c[n]) for n in a)          # the seed is what fixes it
    torch.set_rng_state(state)
    grad_rms(net, ids, batches=3, batch_size=4, seq_len=16)
    assert torch.equal(torch.get_rng_state(), state)            # the caller's RNG untouched


def test_a_zero_step_is_static_scoring(model_and_ids):
    net, ids, rms = model_and_ids
    static = log2prob_sequence(net, ids)
    for segment in (7, 50, 5000):
        assert np.allclose(dynamic_log2prob(net, ids, rms, 0.0, 0.0, segment), static, atol=1e-5)


def test_no_char_is_scored_after_learning_from_it(model_and_ids):
    net, ids, rms = model_and_ids
    before = dynamic_log2prob(net, ids, rms, 1e-2, 1e-3, 20)
    changed = ids.copy()
    changed[333:] = changed[333:][::-1]                 # another future from position 333
    after = dynamic_log2prob(net, changed, rms, 1e-2, 1e-3, 20)
    assert np.array_equal(before[:333], after[:333])
    assert not np.allclose(before[333:], after[333:])


def test_adapting_to_a_repeated_text_lowers_its_bits(model_and_ids):
    net, ids, rms = model_and_ids
    static = -log2prob_sequence(net, ids).mean()
    dynamic = -dynamic_log2prob(net, ids, rms, 3e-3, 0.0, 20).mean()
    assert dynamic < static - 0.3, (dynamic, static)
    weights = [p.detach().clone() for p in net.parameters()]
    dynamic_log2prob(net, ids, rms, 3e-3, 0.0, 20)
    assert all(torch.equal(a, b) for a, b in zip(weights, net.parameters()))   # a copy adapts


def test_evaluate_reports_dynamic_beside_static_and_saves_both(tmp_path, monkeypatch):
    """evaluate(..., dynamic=) writes dynamic val/test bpc next to the static ones, and
    both kinds of per-char log2 P for the mixture; the report's summary carries them."""
    from tiny_repo import CORPUS, build_repo

    from charlm.core import paths
    from charlm.evaluate.run import evaluate
    from charlm.params import DynamicParams, SampleParams
    from charlm.compare.report import summary
    repo = build_repo(tmp_path / "repo")
    monkeypatch.chdir(repo)
    m = evaluate(CORPUS, "lstm", SampleParams(chars=20),
                 dynamic=DynamicParams(pairs=[], lr=1e-3, decay=0.0, segment=20))
    arrays = np.load(paths.log2p_file(CORPUS, "lstm"))
    assert m["dynamic_test_bpc"] == pytest.approx(-arrays["test_dynamic"].mean(), rel=1e-12)
    assert m["test_bpc"] == pytest.approx(-arrays["test"].mean(), rel=1e-12)
    assert m["dynamic_test_bpc"] != m["test_bpc"] and m["dynamic"]["segment"] == 20
    s = summary({CORPUS: {"lstm": m}})[CORPUS]["lstm"]
    assert s["dynamic_test_bpc"] == m["dynamic_test_bpc"] and "dynamic" not in s


def test_splits_side_by_side_give_the_numbers_of_one_process(model_and_ids):
    """dynamic_splits runs the splits in worker processes, each on one thread: the same
    log2 P as one after the other in this process."""
    from charlm.evaluate.dynamic import dynamic_splits
    net, ids, _ = model_and_ids
    splits = {"val": ids[:300], "test": ids[300:700]}
    one = dynamic_splits(net, ids, splits, 1e-3, 1e-3, 20, workers=1)
    two = dynamic_splits(net, ids, splits, 1e-3, 1e-3, 20, workers=2)
    assert list(two) == ["val", "test"]
    for s in splits:
        assert np.array_equal(one[s]["log2p"], two[s]["log2p"]) and one[s]["seconds"] > 0


def test_the_rms_floor_keeps_a_barely_trained_weight_from_a_giant_step(model_and_ids):
    net, ids, _ = model_and_ids
    bare = grad_rms(net, ids, batches=2, batch_size=4, seq_len=16, floor=0.0)
    floored = grad_rms(net, ids, batches=2, batch_size=4, seq_len=16, floor=0.3)
    unseen = sorted(set(range(net.cfg.vocab_size)) - set(ids.tolist()))   # "xyz": never fed
    assert unseen and float(bare["embed.weight"][unseen].max()) < 1e-7
    for name, r in bare.items():       # each entry: at least 0.3 x its tensor's mean
        raw = r - 1e-8
        assert torch.allclose(floored[name], torch.maximum(raw, 0.3 * raw.mean()) + 1e-8), name
    assert float(floored["embed.weight"][unseen].min()) > 0.29 * float(bare["embed.weight"].mean())
