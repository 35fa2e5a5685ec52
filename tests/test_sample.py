"""Sampling: reproducible, priming, unknown characters, top-k, batches, the CLI."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import numpy as np
import pytest
import torch

from helpers import ROOT, toy_params

from charlm.evaluate import sample as sample_mod
from charlm.cli.main import main as cli_main
from charlm.core.errors import ParamsError, VocabError
from charlm.neural.models import CharRNN, ModelConfig, next_log2probs, save_trained
from charlm.evaluate.sample import sample, sample_batch, sample_stream
from charlm.core.vocab import Vocab


@pytest.fixture(scope="module")
def trained():
    """A small LSTM that has learned a little of a repetitive text (a few fast steps)."""
    text = "to be or not to be, that is the question.\n" * 60
    vocab = Vocab.build(text)
    ids = torch.from_numpy(vocab.encode(text)[0].astype(np.int64))
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(arch="lstm", vocab_size=vocab.size, hidden_size=32, num_layers=1,
                                dropout=0.0, embedding_dim=16))
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    n = (len(ids) - 1) // 20 * 20
    x = ids[:n].view(20, -1).T.contiguous()           # (T, 20 streams)
    y = ids[1:n + 1].view(20, -1).T.contiguous()
    for _ in range(60):
        logits, _ = model(x)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, vocab.size), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval(), vocab


def test_same_seed_same_text_and_length(trained):
    model, vocab = trained
    a = sample(model, vocab, 200, seed=5, prime="to be")
    assert a == sample(model, vocab, 200, seed=5, prime="to be")
    assert len(a) == 200 and set(a) <= set(vocab.chars)
    # the model has learned the line; a high temperature shows the seed matters
    hot = sample(model, vocab, 200, seed=5, prime="to be", temperature=3.0)
    assert hot != sample(model, vocab, 200, seed=6, prime="to be", temperature=3.0)
    assert "".join(sample_stream(model, vocab, 200, seed=5, prime="to be")) == a


def test_greedy_top1_follows_the_models_argmax_and_learned_the_text(trained):
    model, vocab = trained
    prime = "to be or not to"
    out = sample(model, vocab, 30, seed=0, prime=prime, top_k=1)
    # the argmax chain, computed independently from next_log2probs
    text = prime
    for _ in range(30):
        table = next_log2probs(model, vocab.encode_strict(text + " "))   # row -1: after `text`
        row = table[-1].copy()
        row[0] = -np.inf
        text += vocab.chars[int(row.argmax()) - 1]
    assert out == text[len(prime):]
    assert out.startswith(" be, that")          # it learned the line


@pytest.mark.parametrize("arch,layers", [("rnn", 1), ("rnn", 3), ("lstm", 2), ("gru", 2)])
def test_fast_one_step_path_equals_the_fused_module(arch, layers):
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(arch=arch, vocab_size=11, hidden_size=24, num_layers=layers,
                                dropout=0.1, embedding_dim=6)).eval()
    ids = torch.randint(0, 11, (25, 3))
    with torch.no_grad():
        ref, ref_state = model(ids)
        prime_logits, prime_state = model(ids[:5])
        step = sample_mod.OneStep(model)
        states = step.state_from(prime_state, 3)          # continue after a fused prime
        out = torch.stack([step(ids[t], states) for t in range(5, 25)])
    torch.testing.assert_close(out, ref[5:], rtol=1e-5, atol=1e-5)
    top = states[-1][0] if arch == "lstm" else states[-1]
    torch.testing.assert_close(top, (ref_state[0] if arch == "lstm" else ref_state)[-1], rtol=1e-5, atol=1e-5)


# How a generation step can run (sample's `one_step`): the plain-matmul stepper (the
# default), the fused module with oneDNN off, and with it on.
ONE_STEP_PATHS = list(sample_mod.ONE_STEP_PATHS)


def _drawn_from(monkeypatch, fn):
    """fn()'s result and every distribution it sampled from: each torch.multinomial call's
    probabilities (one (n, V) tensor per generated position)."""
    seen, real = [], torch.multinomial

    def spy(probs, *args, **kwargs):
        seen.append(probs.detach().double().clone())
        return real(probs, *args, **kwargs)
    monkeypatch.setattr(torch, "multinomial", spy)
    try:
        return fn(), seen
    finally:
        monkeypatch.setattr(torch, "multinomial", real)


@pytest.mark.parametrize("arch,layers", [("trained lstm", 1), ("gru", 2), ("rnn", 3)])
def test_every_one_step_path_samples_the_same(trained, monkeypatch, arch, layers):
    """At temperature 1 without top-k every path draws from the same next-char distribution
    at every position, to float32 rounding: the stepper's matmuls and the fused kernels sum
    in other orders, which moves a logit by ~1e-6 and a probability by less (measured: at
    most 6e-7, on the trained model's peaked rows; tolerance 1e-5, while a 1 % change of
    temperature moves them by ~1e-3). So every path samples the same text too, one sample
    or a batch of them."""
    model, vocab = trained
    if arch != "trained lstm":                 # untrained: flat distributions, every char drawn
        torch.manual_seed(1)
        model = CharRNN(ModelConfig(arch=arch, vocab_size=vocab.size, hidden_size=24,
                                    num_layers=layers, dropout=0.0, embedding_dim=8)).eval()
    runs = {}
    for path in ONE_STEP_PATHS:
        one = _drawn_from(monkeypatch, lambda: sample(model, vocab, 80, seed=2, prime="that",
                                                      one_step=path))
        batch = _drawn_from(monkeypatch, lambda: sample_batch(model, vocab, 3, 40, seed=3,
                                                              prime="to", one_step=path))
        runs[path] = one, batch
    (ref_text, ref_p), (ref_texts, ref_bp) = runs[ONE_STEP_PATHS[0]]
    assert len(ref_p) == 80 and all(p.shape == (1, vocab.size) for p in ref_p)
    assert len(ref_bp) == 40 and all(p.shape == (3, vocab.size) for p in ref_bp)
    for p in ref_p + ref_bp:                   # full distributions: no top-k cut, unknown id masked
        torch.testing.assert_close(p.sum(-1), torch.ones(p.shape[0], dtype=p.dtype), rtol=0, atol=1e-6)
        assert (p[:, 0] == 0).all() and (p[:, 1:] > 0).all()
    for path, ((text, probs), (texts, bprobs)) in runs.items():
        assert text == ref_text and texts == ref_texts, path
        assert len(probs) == len(ref_p) and len(bprobs) == len(ref_bp), path
        for i, (p, q) in enumerate(zip(probs + bprobs, ref_p + ref_bp, strict=True)):
            torch.testing.assert_close(p, q, rtol=0, atol=1e-5, msg=lambda m: f"{path} step {i}: {m}")
    assert len(set(ref_texts)) > 1 and len(set(ref_text)) > 5       # it did sample, not repeat


def test_unknown_prime_chars_are_named_or_mapped(trained):
    model, vocab = trained
    with pytest.raises(VocabError, match=r"prime has 2 character\(s\) not in the vocabulary: 'Q', 'Z'"):
        sample(model, vocab, 10, seed=0, prime="ZQ to be")
    assert len(sample(model, vocab, 10, seed=0, prime="ZQ to be", unknown_ok=True)) == 10


def test_bad_options_and_empty_prime(trained):
    model, vocab = trained
    with pytest.raises(ParamsError, match="temperature"):
        sample(model, vocab, 10, seed=0, temperature=0)
    with pytest.raises(ParamsError, match="top_k"):
        sample(model, vocab, 10, seed=0, top_k=0)
    assert len(sample(model, vocab, 10, seed=0, prime=None)) == 10   # from the empty history
    assert sample(model, vocab, 0, seed=0) == ""


def test_several_samples_run_as_one_batch(trained):
    model, vocab = trained
    texts = sample_batch(model, vocab, 4, 50, seed=1, prime="to", temperature=3.0)
    assert len(texts) == 4 and all(len(t) == 50 for t in texts)
    assert len(set(texts)) > 1
    assert sample_batch(model, vocab, 4, 50, seed=1, prime="to", temperature=3.0) == texts


def _lowbit():
    """benchmarks/speed/lowbit.py: the fp16 and int8 sampling steps the sampling benchmark
    times (not charlm's: `charlm sample` runs fp32)."""
    if "charlm_bench_lowbit" not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            "charlm_bench_lowbit", ROOT / "benchmarks" / "speed" / "lowbit.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        sys.modules["charlm_bench_lowbit"] = mod
    return sys.modules["charlm_bench_lowbit"]


# int8 on these scaled random nets: 5e-5..2e-3 nats (the 3-layer tanh RNN the most); a
# wrong scale gives > 0.1. The trained models' KL is in benchmarks/results/sampling.md.
@pytest.mark.parametrize("weights,bound", [("fp16", 1e-5), ("int8", 1e-2)])
@pytest.mark.parametrize("arch,layers", [("rnn", 3), ("lstm", 2), ("gru", 2)])
def test_fewer_bytes_weights_stay_close_to_fp32(arch, layers, weights, bound):
    """fp16 and int8 weights (LowBitStep of benchmarks/speed/lowbit.py, timed by
    benchmarks/speed/bench_sampling.py) stay close to the fp32 next-char distribution (mean
    KL), step after step with their own carried state."""
    lowbit = _lowbit()
    if not lowbit.weights_available(weights):
        pytest.skip(f"this torch build has no fbgemm {weights} linear")
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(arch=arch, vocab_size=30, hidden_size=64, num_layers=layers,
                                dropout=0.0, embedding_dim=8)).eval()
    with torch.no_grad():
        for p in model.parameters():               # peaked, trained-like distributions
            p.mul_(3.0)
        exact, other = sample_mod.OneStep(model), lowbit.LowBitStep(model, weights)
        se, so = exact.state_from(None, 1), other.state_from(None, 1)
        kl = []
        for t in torch.randint(0, 30, (300,)):
            le, lo = exact(t[None], se), other(t[None], so)
            pe, po = torch.log_softmax(le, -1), torch.log_softmax(lo, -1)
            kl.append(float((pe.exp() * (pe - po)).sum()))
            assert not torch.equal(le, lo)           # really another path
    assert 0 <= np.mean(kl) < bound


def test_unknown_weights_are_refused():
    lowbit = _lowbit()
    with pytest.raises(ParamsError, match="weights: must be one of fp32, fp16, int8"):
        lowbit.Linear(torch.ones(2, 2), torch.zeros(2), "int4")
    with pytest.raises(ParamsError, match="weights: must be one of fp32, fp16, int8"):
        lowbit.LowBitStep(CharRNN(ModelConfig(arch="gru", vocab_size=5, hidden_size=4,
                                              num_layers=1, embedding_dim=3)), "int4")


def test_lowbit_fp32_step_is_charlms_step():
    """LowBitStep(model, "fp32") is OneStep exactly (its linear is the same addmm)."""
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(arch="lstm", vocab_size=12, hidden_size=16, num_layers=2,
                                dropout=0.0, embedding_dim=6)).eval()
    a, b = sample_mod.OneStep(model), _lowbit().LowBitStep(model, "fp32")
    sa, sb = a.state_from(None, 2), b.state_from(None, 2)
    with torch.no_grad():
        for t in torch.randint(0, 12, (20, 2)):
            assert torch.equal(a(t, sa), b(t, sb))


def test_cli_streams_a_sample_and_reports_errors(trained, tmp_path, monkeypatch, capsys):
    model, vocab = trained
    d = tmp_path / "data" / "models" / "toy" / "lstm"
    save_trained(d, model, vocab)
    toy_params(tmp_path, "toy", {"lstm": "{arch: lstm, hidden_size: 32}",
                                 "gru": "{arch: gru, hidden_size: 8}"})
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        cli_main(["sample", "--corpus", "toy", "--model", "lstm", "--prime", "to be",
                  "--length", "40", "--seed", "3", "--top-k", "1"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert out == sample(model, vocab, 40, seed=3, prime="to be", top_k=1) + "\n"
    with pytest.raises(SystemExit) as e:
        cli_main(["sample", "--corpus", "toy", "--model", "lstm", "--prime", "Zebra"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: prime has") and "'Z'" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as e:
        cli_main(["sample", "--corpus", "toy", "--model", "gru"])
    assert e.value.code == 2 and ("toy/gru is not trained yet (no data/models/toy/gru/model."
                                  "safetensors): run `dvc repro train@toy-gru`"
                                  in capsys.readouterr().err)
    for args, message in ((["--corpus", "tyo"], "unknown corpus 'tyo' (did you mean 'toy'?)"),
                          (["--model", "lstn"], "unknown model 'lstn' (did you mean 'lstm'?)"),
                          (["--prime", "a", "--prime-file", "f"], "give one of them")):
        with pytest.raises(SystemExit) as e:
            cli_main(["sample", "--corpus", "toy", "--model", "lstm", *args])
        err = capsys.readouterr().err
        assert e.value.code == 2 and message in err and err.count("\n") == 1, err
    # --prime-file, and several samples as one batch
    (tmp_path / "prime.txt").write_text("to be", encoding="utf-8")
    with pytest.raises(SystemExit) as e:
        cli_main(["sample", "--corpus", "toy", "--model", "lstm", "--prime-file", "prime.txt",
                  "--length", "40", "--seed", "3", "--num-samples", "3", "--temperature", "2"])
    texts = sample_batch(model, vocab, 3, 40, seed=3, prime="to be", temperature=2.0)
    assert capsys.readouterr().out == "".join(f"=== sample {i} of 3 ===\n{t}\n"
                                              for i, t in enumerate(texts, 1))
    # outside the repository root
    monkeypatch.chdir(tmp_path / "data")
    with pytest.raises(SystemExit) as e:
        cli_main(["sample", "--corpus", "toy", "--model", "lstm"])
    assert e.value.code == 2 and f"cd {tmp_path}" in capsys.readouterr().err
    monkeypatch.chdir(tmp_path)
    # a model directory given explicitly
    with pytest.raises(SystemExit) as e:
        cli_main(["sample", "--checkpoint", str(d),
                  "--length", "5", "--seed", "3", "--top-k", "1", "--prime", "to be"])
    assert e.value.code == 0 and capsys.readouterr().out == out[:5] + "\n"


def test_cli_samples_from_a_training_checkpoint(tmp_path):
    """End to end: train a tiny model, sample from checkpoint/last.safetensors in a subprocess."""
    from charlm.params import ModelSpec, SplitParams, TrainCommon, TrainParams
    from charlm.data.prepare import prepare_text, save_prepared
    from charlm.train.run import train_model
    text = "abc abd abe. " * 400
    prepared = tmp_path / "data" / "prepared" / "toy"
    save_prepared(prepared, *prepare_text(text, SplitParams(0.8, 0.1, 0.1), "toy"))
    tp = TrainParams(models={"gru": ModelSpec(arch="gru", hidden_size=16, embedding_dim=8)},
                     common=TrainCommon(steps=10, batch_size=4, seq_len=16, eval_every=10, device="cpu"))
    out = tmp_path / "data" / "models" / "toy" / "gru"
    train_model(prepared, out, tp, "gru", progress=False, log=lambda m: None)
    r = subprocess.run([sys.executable, "-m", "charlm.cli", "sample",
                        "--checkpoint", str(out / "checkpoint" / "last.safetensors"), "--length", "25"],
                       cwd=tmp_path, capture_output=True, text=True, env={"PYTHONPATH": str(ROOT),
                                                                         "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    assert len(r.stdout) == 26 and set(r.stdout[:-1]) <= set("abcde. ")
    bad = out / "checkpoint" / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint")
    r = subprocess.run([sys.executable, "-m", "charlm.cli", "sample",
                        "--checkpoint", str(bad)], cwd=tmp_path, capture_output=True, text=True,
                       env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 2 and "bad.safetensors: corrupt checkpoint" in r.stderr
