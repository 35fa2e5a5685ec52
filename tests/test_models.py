"""The neural models: lecture equivalence, sizes, exact stateful scoring, saved models."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from charlm.core.errors import CheckpointError
from charlm.neural.models import (CharRNN, LectureRNNCell, ModelConfig, describe, lecture_weight_count,
                           load_trained, log2prob_sequence, memory_estimate, next_log2probs,
                           parameter_count, save_trained)
from charlm.core.vocab import Vocab


def make(arch="rnn", V=9, H=12, L=1, E=5, seed=0) -> CharRNN:
    torch.manual_seed(seed)
    return CharRNN(ModelConfig(arch=arch, vocab_size=V, hidden_size=H, num_layers=L, dropout=0.1,
                               embedding_dim=E)).eval()


def test_fused_rnn_equals_the_lectures_equations_step_by_step():
    model = make("rnn", V=9, H=12)
    cell = LectureRNNCell.from_model(model)
    ids = torch.tensor([3, 1, 4, 1, 5, 8, 2, 6, 5, 3, 5, 8, 7, 0, 2])
    with torch.no_grad():
        fused_logits, fused_h = model(ids[:, None])          # one fused nn.RNN call
        h = torch.zeros(12)
        for t, i in enumerate(ids.tolist()):
            y, h = cell(F.one_hot(torch.tensor(i), 9).float(), h)
            torch.testing.assert_close(y, fused_logits[t, 0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(h, fused_h[0, 0], rtol=1e-5, atol=1e-5)


def test_lecture_weight_count_and_memory_estimate_match_the_lecture():
    # the lecture: 856,064 weights for a 68-char vocab, 3.42 MB, ~10 MB with backward
    assert lecture_weight_count(68, 512, 3) == 856_064
    model = make("rnn", V=68, H=512, L=3, E=64)
    m = memory_estimate(model, batch_size=32, seq_len=64)
    assert m["lecture_weight_bytes"] == 856_064 * 4
    assert m["parameters"] == parameter_count(model)
    assert m["weight_bytes"] == 4 * m["parameters"] and m["with_backward_bytes"] == 3 * m["weight_bytes"]
    # every parameter counted: embedding, 3 layers (W_ih, W_hh, two biases), head
    n = 68 * 64 + (512 * 64 + 512 * 512 + 2 * 512) + 2 * (2 * 512 * 512 + 2 * 512) + 512 * 68 + 68
    assert m["parameters"] == n
    assert "weights" in describe(model) and f"{n:,}" in describe(model)


@pytest.mark.parametrize("arch,L", [("rnn", 1), ("rnn", 3), ("lstm", 2), ("gru", 2)])
def test_log2prob_sequence_is_exact_stateful_scoring(arch, L):
    model = make(arch, V=9, H=10, L=L)
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 9, 200).astype(np.uint8)
    lp = log2prob_sequence(model, ids, "cpu")
    assert lp.dtype == np.float64 and lp.shape == (200,)
    # the first char is scored from the empty history: the head on a zero state
    first = F.log_softmax(model.head.bias.detach(), dim=-1)[ids[0]].item() / math.log(2)
    assert lp[0] == pytest.approx(first, abs=1e-6)
    # a naive loop, one char at a time, carrying the state
    with torch.no_grad():
        state, naive = None, [first]
        for t in range(199):
            logits, state = model(torch.tensor([[int(ids[t])]]), state)
            naive.append(F.log_softmax(logits[0, 0], -1)[ids[t + 1]].item() / math.log(2))
    np.testing.assert_allclose(lp, naive, atol=1e-5)
    # block boundaries carry the state exactly
    np.testing.assert_allclose(log2prob_sequence(model, ids, "cpu", block=7), lp, atol=1e-6)
    # the table agrees with the sequence scores and rows are distributions
    table = next_log2probs(model, ids)
    assert table.shape == (200, 9)
    np.testing.assert_allclose(table[np.arange(200), ids], lp, atol=1e-5)
    np.testing.assert_allclose(np.exp2(table).sum(axis=1), 1.0, atol=1e-6)


def test_streamed_scoring_scores_every_char_once_and_stays_close():
    model = make("lstm", V=9, H=10, L=2)
    ids = np.random.default_rng(1).integers(0, 9, 3000)
    exact = log2prob_sequence(model, ids, "cpu")
    streamed = log2prob_sequence(model, ids, "cpu", streams=4, overlap=64)
    assert np.all(np.isfinite(streamed))
    assert streamed[0] == exact[0]
    np.testing.assert_allclose(streamed, exact, atol=1e-3)   # an untrained LSTM forgets fast
    # too short for streams: falls back to the exact single stream
    np.testing.assert_array_equal(log2prob_sequence(model, ids[:100], "cpu", streams=8, overlap=64),
                                  exact[:100])


def test_scoring_leaves_training_mode_and_handles_tiny_inputs():
    model = make("gru", V=9, H=6, L=1).train()
    assert log2prob_sequence(model, np.array([], dtype=np.uint8), "cpu").shape == (0,)
    assert log2prob_sequence(model, np.array([4]), "cpu").shape == (1,)
    assert next_log2probs(model, np.array([4])).shape == (1, 9)
    assert model.training


def _vocab(n_chars: int) -> Vocab:
    chars = [chr(ord("a") + i) for i in range(n_chars)]
    return Vocab(chars, [1] * n_chars)


def test_save_and_load_trained_round_trip(tmp_path):
    model = make("lstm", V=9, H=10, L=2)
    save_trained(tmp_path, model, _vocab(8), extra={"model_name": "lstm"})
    loaded, vocab, config = load_trained(tmp_path)
    assert vocab.size == 9 and config["model_name"] == "lstm" and not loaded.training
    ids = np.arange(9).repeat(3)
    np.testing.assert_array_equal(log2prob_sequence(loaded, ids), log2prob_sequence(model, ids))


def test_load_trained_errors_name_the_file(tmp_path):
    with pytest.raises(CheckpointError, match="config.json: not found"):
        load_trained(tmp_path)
    model = make("rnn", V=9, H=10)
    save_trained(tmp_path, model, _vocab(8))
    w = tmp_path / "model.safetensors"
    data = w.read_bytes()
    w.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="model.safetensors: unreadable"):
        load_trained(tmp_path)
    # weights of another size than the config says
    save_trained(tmp_path, make("rnn", V=9, H=11), _vocab(8))
    save_trained(tmp_path / "other", model, _vocab(8))
    (tmp_path / "config.json").write_text((tmp_path / "other" / "config.json").read_text())
    with pytest.raises(CheckpointError, match="do not fit the config"):
        load_trained(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="config.json: not a charlm model config"):
        load_trained(tmp_path)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (the CPU side: "
                    "test_log2prob_sequence_is_exact_stateful_scoring)")
@pytest.mark.parametrize("arch", ["rnn", "lstm", "gru"])
def test_cuda_scoring_equals_cpu(arch):
    """Exact stateful scoring in 4,096-char blocks on the GPU gives the CPU's bpc to 1e-4."""
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(arch=arch, vocab_size=40, hidden_size=128, num_layers=2,
                                dropout=0.0, embedding_dim=16)).eval()
    ids = np.random.default_rng(0).integers(0, 40, 10_000)
    cpu = log2prob_sequence(model, ids, "cpu")
    gpu = log2prob_sequence(model.to("cuda"), ids, "cuda")
    assert abs(cpu.mean() - gpu.mean()) < 1e-4
    np.testing.assert_allclose(gpu, cpu, atol=1e-3)


def test_cpu_autocast_keeps_the_tanh_rnn_core_in_fp32():
    """Under CPU bf16 autocast the tanh RNN's recurrence runs in fp32: its state comes out
    fp32 (bf16 from the plain nn.RNN under autocast), the head's logits bf16;
    benchmarks/results/bf16_rnn.md shows why. A carried state goes back in."""
    torch.manual_seed(0)
    m = CharRNN(ModelConfig(arch="rnn", vocab_size=12, hidden_size=16, num_layers=2,
                            embedding_dim=8, dropout=0.0))
    ids = torch.randint(0, 12, (5, 3))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits, state = m(ids)
        logits2, _ = m(ids, state)
    assert logits.dtype == logits2.dtype == torch.bfloat16
    assert state.dtype == torch.float32 and state.shape == (2, 3, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert m.rnn(m.embed(ids))[1].dtype == torch.bfloat16     # what the fp32 core avoids
