"""The transformer (charlm.neural.gpt): its params, the sliding-window scorer against a plain
per-position loop, sampling with and without the KV cache, training (learns, resumes after a
stop to identical results), dynamic evaluation and fine-tuning."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from charlm.core.errors import ParamsError
from charlm.core.vocab import Vocab
from charlm.evaluate.dynamic import dynamic_log2prob, grad_rms
from charlm.evaluate.sample import sample, sample_batch
from charlm.neural.gpt import (CharGPT, Generator, default_stride, segment_logits, window_plan,
                               window_start)
from charlm.neural.models import (ModelConfig, build_model, load_trained, log2prob_sequence,
                                  next_log2probs)
from charlm.params import ModelSpec, TrainCommon, TrainParams, load_params
from charlm.train.finetune import init_from_trained
from charlm.train.run import TrainingInterrupted, train_model

from helpers import ROOT

GPT = dict(arch="transformer", hidden_size=32, num_layers=2, heads=4, context=16, dropout=0.0)


def _net(seed: int = 0, vocab: int = 20, **over) -> CharGPT:
    torch.manual_seed(seed)
    return build_model(ModelConfig.from_shape(ModelSpec(**{**GPT, **over}), vocab)).eval()


def _ids(n: int, vocab: int = 20, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(1, vocab, size=n)


def _raw(**model) -> dict:
    import yaml
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["train"]["models"]["gpt"] = model
    return raw


# --------------------------------------------------------------------------- params

@pytest.mark.parametrize("entry, message", [
    ({"arch": "transformer", "hidden_size": 32, "context": 16}, r"gpt\.heads: missing required"),
    ({"arch": "transformer", "hidden_size": 32, "heads": 4}, r"gpt\.context: missing required"),
    ({**GPT, "heads": 5}, r"gpt\.heads: must divide hidden_size 32"),
    ({**GPT, "context": 1}, r"gpt\.context: must be in 2\.\.8192"),
    ({**GPT, "heads": 0}, r"gpt\.heads"),
    ({**GPT, "embedding_dim": 16}, r"gpt\.embedding_dim: a transformer's embedding is tied"),
    ({**GPT, "seq_len": 64}, r"gpt\.seq_len: a transformer trains on windows of its context"),
    ({"arch": "lstm", "hidden_size": 32, "heads": 4}, r"gpt\.heads: only a transformer has it"),
    ({"arch": "gru", "hidden_size": 32, "context": 64}, r"gpt\.context: only a transformer"),
])
def test_bad_transformer_entries_are_one_line_errors(tmp_path, entry, message):
    import yaml
    f = tmp_path / "params.yaml"
    f.write_text(yaml.safe_dump(_raw(**entry)))
    (tmp_path / "corpora.yaml").write_text((ROOT / "corpora.yaml").read_text())
    with pytest.raises(ParamsError, match=message) as e:
        load_params(f)
    assert "\n" not in str(e.value)


def test_a_transformer_trains_on_windows_of_its_context_and_its_config_is_its_own():
    tp = TrainParams(models={"g": ModelSpec(**GPT)}, common=TrainCommon(seq_len=64))
    assert tp.effective("g").seq_len == 16
    shape = ModelSpec(**GPT).shape()
    assert shape["embedding_dim"] == 32 and shape["heads"] == 4 and shape["context"] == 16
    # a recurrent model's shape (and so its config.json) has no transformer keys
    assert ModelSpec(arch="lstm", hidden_size=8).shape() == {
        "arch": "lstm", "hidden_size": 8, "num_layers": 1, "dropout": 0.1, "embedding_dim": 64}


def test_the_model_is_the_gpt_described():
    net = _net()
    assert net.embed.weight.shape == (20, 32) and net.pos.weight.shape == (16, 32)
    names = dict(net.named_parameters())
    assert not any(n.startswith("head") for n in names)      # tied: logits = h @ embedding.T
    x = torch.from_numpy(_ids(10))[:, None]
    logits, state = net(x)
    assert logits.shape == (10, 1, 20) and state is None
    h = net.drop(net.embed(x.t()) + net.pos(torch.arange(10)))
    for b in net.blocks:
        h, _ = b(h)
    assert torch.allclose(logits[:, 0], (net.ln_f(h) @ net.embed.weight.T)[0], atol=1e-6)
    # causal: a later char does not change an earlier position's logits
    y = x.clone()
    y[7] = (y[7] % 19) + 1
    assert torch.equal(net(y)[0][:7], logits[:7]) and not torch.equal(net(y)[0][7:], logits[7:])
    with pytest.raises(ValueError, match="context is 16"):
        net(torch.ones(17, 1, dtype=torch.long))


# --------------------------------------------------------------------------- scoring

def _per_position(net: CharGPT, ids: np.ndarray, stride: int) -> np.ndarray:
    """The plain loop: each char after the first from the chars since window_start of its
    history, one forward call per position."""
    out = np.empty(len(ids))
    out[0] = -np.log2(net.cfg.vocab_size)                   # the empty history: uniform
    for p in range(len(ids) - 1):                           # input p predicts char p + 1
        x = torch.from_numpy(ids[window_start(p + 1, net.cfg.context, stride):p + 1])[:, None]
        with torch.no_grad():
            logits, _ = net(x)
        out[p + 1] = F.log_softmax(logits[-1, 0], -1)[ids[p + 1]].item() / np.log(2)
    return out


@pytest.mark.parametrize("n", [1, 2, 9, 17, 100, 133])
@pytest.mark.parametrize("stride", [1, 5, 8, 16])
def test_the_sliding_window_scores_every_char_once_as_a_plain_loop_does(n, stride):
    from charlm.neural.gpt import window_log2prob
    net, ids = _net(), _ids(n)
    fast = window_log2prob(net, ids, stride=stride, batch=3)
    np.testing.assert_allclose(fast, _per_position(net, ids, stride), rtol=0, atol=2e-5)
    plan = window_plan(n, 16, stride)
    scored = np.concatenate([np.arange(a, b) for _, a, b in plan]) if plan else np.zeros(0)
    assert list(scored) == list(range(n - 1))               # each input position once
    for s, a, b in plan:                                    # at least context - stride + 1 chars
        assert b - s <= 16 and a - s + 1 >= min(16 - stride + 1, a + 1)


def test_the_default_stride_and_the_pipelines_scorer_and_table_agree():
    net, ids = _net(), _ids(90)
    assert default_stride(16) == 8
    lp = log2prob_sequence(net, ids)
    np.testing.assert_allclose(lp, _per_position(net, ids, 8), atol=2e-5)
    table = next_log2probs(net, ids)
    assert table.shape == (90, 20)
    np.testing.assert_allclose(table[np.arange(90), ids], lp, atol=1e-12)
    np.testing.assert_allclose(np.exp2(table).sum(1), 1.0, atol=1e-6)


def test_window_start_is_the_samplers_and_the_scorers_rule():
    C, S = 16, 8
    assert [window_start(t, C, S) for t in (1, 16, 17, 24, 25, 32, 33)] == [0, 0, 8, 8, 16, 16, 24]
    plan = window_plan(203, C, S)
    for s, a, b in plan:                                    # every window: the same start
        assert all(window_start(p + 1, C, S) == s for p in range(a, b))
    assert all(b - s == C for s, _, b in plan[:-1]) and plan[-1] == (192, 200, 202)


# --------------------------------------------------------------------------- sampling

def test_the_kv_cache_gives_the_logits_of_the_recomputed_window():
    net = _net()
    out = {}
    for cached in (True, False):
        g = Generator(net, 2, cached)
        rows = [g.feed(torch.from_numpy(_ids(40, seed=1).reshape(2, 20)))]   # a prime > context
        for k in range(45):                                  # past several window jumps
            rows.append(g.feed(torch.tensor([k % 19 + 1, (7 * k) % 19 + 1])))
        out[cached] = torch.stack(rows)
    torch.testing.assert_close(out[True], out[False], rtol=0, atol=1e-5)


@pytest.fixture(scope="module")
def vocab() -> Vocab:
    return Vocab(list("abcdefghijklmnopqrs"), [1] * 19)


def test_a_sample_is_the_same_text_with_and_without_the_cache(vocab):
    net = _net()
    for prime in ("", "abc", "abcdefghijklmnopqrsabc"):
        a = sample(net, vocab, 60, seed=2, prime=prime, one_step="stepper")
        b = sample(net, vocab, 60, seed=2, prime=prime, one_step="module")
        assert a == b and len(a) == 60
    many = sample_batch(net, vocab, 3, 40, seed=2, prime="ab")
    assert len(many) == 3 and len(set(many)) == 3


# --------------------------------------------------------------------------- training

def _tp(steps: int = 30, **over) -> TrainParams:
    common = dict(seed=3, steps=steps, batch_size=8, seq_len=64, lr=0.01, warmup_steps=5,
                  min_lr=0.001, eval_every=10, eval_streams=4, checkpoint_every=10,
                  log_every=5, device="cpu", threads=0, weight_decay=0.1)
    common.update(over)
    return TrainParams(models={"g": ModelSpec(**{**GPT, "dropout": 0.1})},
                       common=TrainCommon(**common))


def _train(prepared, out, tp, **kw):
    return train_model(prepared, out, tp, "g", corpus="tiny", progress=False,
                       log=lambda m: None, live_dir=out / "live", **kw)


def test_a_transformer_learns_and_resumes_after_a_stop_to_identical_results(prepared, tmp_path):
    full = _train(prepared, tmp_path / "full", _tp()).summary
    counts = np.array(json.loads((prepared / "vocab.json").read_text())["counts"], dtype=float)
    p = counts / counts.sum()
    assert full["best_val_bpc"] < float(-(p * np.log2(p)).sum()) - 0.3     # it uses its context
    assert full["seq_len"] == 16 and full["train_chars"] == 30 * 8 * 16
    assert full["heads"] == 4 and full["context"] == 16
    with pytest.raises(TrainingInterrupted, match="after step 13/30"):
        _train(prepared, tmp_path / "cut", _tp(), on_step=lambda d: "stop" if d == 13 else None)
    resumed = _train(prepared, tmp_path / "cut", _tp()).summary
    assert resumed["resumed"] is True
    assert [h["val_bpc"] for h in resumed["history"]] == [h["val_bpc"] for h in full["history"]]
    a, _, _ = load_trained(tmp_path / "full")
    b, _, _ = load_trained(tmp_path / "cut")
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert isinstance(a, CharGPT)


def test_decay_skips_biases_and_norms():
    groups = _net().optim_groups(0.1)
    assert [g["weight_decay"] for g in groups] == [0.1, 0.0]
    assert all(p.dim() >= 2 for p in groups[0]["params"])
    assert all(p.dim() == 1 for p in groups[1]["params"])


def test_dynamic_evaluation_adapts_a_transformer_without_reading_ahead(prepared, tmp_path):
    net, _, _ = load_trained(_train(prepared, tmp_path / "m", _tp(20)) and tmp_path / "m")
    from charlm.core.splits import load_split
    train, val = load_split(prepared, "train"), load_split(prepared, "val")[:600]
    x = torch.from_numpy(val.astype(np.int64))
    with torch.no_grad():   # the segment's logits are the sliding window's
        seg = F.log_softmax(segment_logits(net, x, 0, 599), -1).gather(1, x[1:, None])[:, 0]
    np.testing.assert_allclose(seg.double().numpy() / np.log(2), log2prob_sequence(net, val)[1:],
                               atol=2e-5)
    rms = grad_rms(net, train)
    dyn = dynamic_log2prob(net, val, rms, lr=3e-4, decay=0.0, segment=50)
    static = log2prob_sequence(net, val)
    np.testing.assert_allclose(dyn[:51], static[:51], atol=2e-5)   # the first segment: not adapted
    assert dyn[51:].mean() != static[51:].mean() and np.isfinite(dyn).all()
    # a change later in the text never changes what came before it
    val2 = val.copy()
    val2[400] = val2[400] % (net.cfg.vocab_size - 1) + 1
    dyn2 = dynamic_log2prob(net, val2, rms, lr=3e-4, decay=0.0, segment=50)
    np.testing.assert_array_equal(dyn2[:400], dyn[:400])


def test_a_transformer_fine_tunes_from_one_of_its_shape_only(prepared, tmp_path):
    _train(prepared, tmp_path / "src", _tp(10))
    net, vocab, _ = load_trained(tmp_path / "src")
    fresh = _net(seed=9, vocab=net.cfg.vocab_size, dropout=0.1)
    info = init_from_trained(fresh, vocab, tmp_path / "src")
    assert info["new_chars"] == []
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(),
                                                net.state_dict().values()))
    from charlm.core.errors import CheckpointError
    with pytest.raises(CheckpointError, match="context 16 \\(here 32\\)"):
        init_from_trained(_net(vocab=net.cfg.vocab_size, context=32), vocab, tmp_path / "src")


def test_a_config_built_directly_gets_the_embedding_width_the_params_give_it():
    """ModelConfig without embedding_dim: the transformer's width, a recurrent model's 64,
    as ModelSpec.shape() resolves it for the trainer (one rule, ModelShape.input_width)."""
    for entry in (GPT, dict(arch="lstm", hidden_size=24), dict(arch="gru", hidden_size=24,
                                                               embedding_dim=8)):
        direct = ModelConfig(**entry, vocab_size=9)
        assert direct == ModelConfig.from_shape(ModelSpec(**entry), 9)
        build_model(direct)
    assert ModelConfig(**GPT, vocab_size=9).embedding_dim == 32
    assert ModelConfig(arch="lstm", hidden_size=24, vocab_size=9).embedding_dim == 64


def test_the_argmax_walk_leaves_the_model_in_the_mode_it_found():
    from charlm.neural.gpt import window_tops
    net = _net().train()
    tops = np.concatenate(list(window_tops(net, _ids(40))))
    assert len(tops) == 40 and net.training
    assert np.array_equal(np.concatenate(list(window_tops(net.eval(), _ids(40)))), tops)
    assert not net.training
