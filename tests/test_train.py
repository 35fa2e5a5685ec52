"""The trainer: learning, determinism, kill-and-resume with identical metrics, checkpoints."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from charlm.neural.checkpoint import load_checkpoint
from charlm.core.errors import CheckpointError, ParamsError, TrainingError
from charlm.train.batcher import StreamBatcher
from charlm.params import ModelSpec, TrainCommon, TrainParams, parse_params
from charlm.train.run import TrainingInterrupted, lr_at, resolve, train_model

from helpers import ROOT


def params(**over) -> TrainParams:
    spec = over.pop("spec", ModelSpec(arch="lstm", hidden_size=16, num_layers=2, dropout=0.1,
                                      embedding_dim=8))
    base = dict(seed=3, steps=40, batch_size=8, seq_len=16, lr=0.01,
                warmup_steps=5, min_lr=0.001, eval_every=20, eval_streams=1, checkpoint_every=10,
                log_every=5, device="cpu", threads=0)
    base.update(over)
    return TrainParams(models={"m": spec}, common=TrainCommon(**base))


def run(prepared, out, tp, live=None, **kw):
    return train_model(prepared, out, tp, "m", live_dir=live, corpus="tiny", progress=False,
                       log=lambda m: None, **kw)


def weights(out: Path) -> dict:
    from safetensors.torch import load_file
    return load_file(str(out / "model.safetensors"))


# Logged values that measure time, not what was computed: never compared between runs.
TIME_LIKE = ("timestamp", "seconds", "chars_per_s")


def _time_like(name: str) -> bool:
    return any(name == t or name.endswith("_" + t) for t in TIME_LIKE)


def live_logs(live: Path) -> dict:
    """Every DVCLive table under `live` as {path: {column: [values]}} and metrics.json
    flattened ({"metrics.json:val/bpc": value}), time-like columns and keys left out."""
    logs = {}
    tables = sorted((live / "plots" / "metrics").rglob("*.tsv"))
    assert tables, f"no DVCLive tables under {live}"
    for f in tables:
        header, *rows = [line.split("\t") for line in f.read_text().splitlines()]
        assert all(len(r) == len(header) for r in rows), f
        logs[str(f.relative_to(live))] = {c: [float(r[i]) for r in rows]
                                          for i, c in enumerate(header) if not _time_like(c)}

    def flat(d, prefix=""):
        for k, v in d.items():
            if isinstance(v, dict):
                yield from flat(v, f"{prefix}{k}/")
            elif not _time_like(k):
                yield f"metrics.json:{prefix}{k}", v
    logs.update(flat(json.loads((live / "metrics.json").read_text())))
    return logs


def assert_same_logs(a: Path, b: Path, rtol: float = 0.0) -> None:
    """The DVCLive logs of two runs hold the same tables, steps and numbers (exactly, or
    within `rtol`), time-like columns aside."""
    la, lb = live_logs(a), live_logs(b)
    assert la.keys() == lb.keys()
    for name, ta in la.items():
        tb = lb[name]
        if not isinstance(ta, dict):
            assert tb == pytest.approx(ta, rel=rtol, abs=0), name
            continue
        assert ta.keys() == tb.keys(), name
        assert len(ta["step"]) > 0 and ta["step"] == tb["step"], name       # same rows
        for col in ta:
            np.testing.assert_allclose(tb[col], ta[col], rtol=rtol, atol=0, err_msg=f"{name}:{col}")


def assert_same_history(a: dict, b: dict, rtol: float = 0.0) -> None:
    """Two summaries' val histories: same length, same steps and chars, val bpc equal
    (or within rtol); the wall-clock seconds aside."""
    assert len(a["history"]) == len(b["history"]) > 0
    for ha, hb in zip(a["history"], b["history"], strict=True):
        assert ha.keys() == hb.keys()
        for k in ha:
            if _time_like(k):
                continue
            assert hb[k] == (pytest.approx(ha[k], rel=rtol, abs=0) if rtol else ha[k]), k


def test_training_learns_and_writes_every_output(prepared, tmp_path):
    out, live = tmp_path / "model", tmp_path / "live"
    res = run(prepared, out, params(steps=80, lr=0.03, eval_every=40), live)
    s = res.summary
    counts = np.array(json.loads((prepared / "vocab.json").read_text())["counts"], dtype=float)
    unigram_bpc = float(-(counts / counts.sum() * np.log2(counts / counts.sum())).sum())
    assert s["best_val_bpc"] < unigram_bpc - 0.3           # it uses the context, not just frequencies
    assert s["history"][-1]["step"] == 80 and len(s["history"]) == 2
    for name in ("model.safetensors", "config.json", "summary.json",
                 "checkpoint/last.safetensors"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text())
    for key in ("model", "corpus", "params", "train_chars", "steps", "best_val_bpc", "device",
                "numerics"):
        assert key in summary
    # machine facts are not what training computed: they go to the untracked timing.json
    assert not {"threads", "torch"} & set(summary)
    assert {"threads", "torch"} <= set(json.loads((out / "checkpoint" / "timing.json").read_text()))
    assert summary["train_chars"] == 80 * 8 * 16
    # what varies run to run is kept apart: summary.json and the checkpoint hold no timings
    # (the same run gives the same files), timing.json (untracked) holds them
    _, meta = load_checkpoint(out / "checkpoint" / "last.safetensors")
    timing_words = ("seconds", "chars_per_s", "timestamp")
    assert not [k for k in (json.dumps(summary) + json.dumps(meta)).split('"')
                if any(w in k for w in timing_words)]
    timing = json.loads((out / "checkpoint" / "timing.json").read_text())
    assert timing["step"] == 80 and timing["train_seconds"] > 0 and timing["chars_per_s"] > 0
    assert s["chars_per_s"] == timing["chars_per_s"]            # the caller still gets them
    assert not (out / "sample.txt").exists()          # sampling is the evaluate stage's job
    metrics = json.loads((live / "metrics.json").read_text())
    assert metrics["best_val_bpc"] == pytest.approx(s["best_val_bpc"])
    loss_rows = (live / "plots" / "metrics" / "train" / "loss.tsv").read_text().splitlines()
    assert loss_rows[0].split("\t") == ["step", "loss"] and len(loss_rows) == 1 + 16
    assert (live / "plots" / "metrics" / "val" / "bpc.tsv").is_file()
    assert not (live / "dvc.yaml").exists()


def test_same_seed_same_metrics_and_weights(prepared, tmp_path):
    a = run(prepared, tmp_path / "a", params(steps=20, eval_every=10), tmp_path / "live-a").summary
    b = run(prepared, tmp_path / "b", params(steps=20, eval_every=10), tmp_path / "live-b").summary
    assert len(a["history"]) == 2
    assert_same_history(a, b)
    assert_same_logs(tmp_path / "live-a", tmp_path / "live-b")
    assert a["best_val_bpc"] == b["best_val_bpc"]
    wa, wb = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    c = run(prepared, tmp_path / "c", params(steps=20, eval_every=10, seed=4)).summary
    assert c["best_val_bpc"] != a["best_val_bpc"]


@pytest.mark.skipif(not torch.ops.mkldnn._is_mkldnn_bf16_supported(),
                    reason="this CPU has no native bf16 (test_train_loop checks the refusal)")
def test_cpu_bf16_autocast_is_opt_in_learns_and_is_deterministic(prepared, tmp_path):
    fp32 = run(prepared, tmp_path / "fp32", params(steps=60, lr=0.03, eval_every=30)).summary
    assert fp32["amp"] is False                   # "auto": bf16 on CUDA only
    a = run(prepared, tmp_path / "a", params(steps=60, lr=0.03, eval_every=30, amp="bf16")).summary
    b = run(prepared, tmp_path / "b", params(steps=60, lr=0.03, eval_every=30, amp="bf16")).summary
    assert a["amp"] is True
    assert a["best_val_bpc"] == b["best_val_bpc"]                     # same seed, same machine
    assert a["best_val_bpc"] != fp32["best_val_bpc"]                  # the autocast did apply
    assert abs(a["best_val_bpc"] - fp32["best_val_bpc"]) < 0.1        # and trains like fp32
    # on CPU the LSTM core itself runs in bf16 (on CUDA it is kept in fp32; see models.py)
    from charlm.neural.models import CharRNN, ModelConfig
    m = CharRNN(ModelConfig(arch="lstm", vocab_size=10, hidden_size=16, num_layers=2, dropout=0.0,
                            embedding_dim=8))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, _ = m.rnn(m.embed(torch.zeros(5, 2, dtype=torch.long)))
    assert out.dtype == torch.bfloat16
    from charlm.params import from_dict
    with pytest.raises(ParamsError, match="amp"):
        from_dict(TrainCommon, {"amp": True}, "train.common")


def test_interrupt_and_resume_ends_with_identical_metrics(prepared, tmp_path, monkeypatch):
    tp = params(steps=30, eval_every=10, checkpoint_every=7)
    full = run(prepared, tmp_path / "full", tp, tmp_path / "live-full").summary
    with pytest.raises(TrainingInterrupted, match="after step 13/30"):   # between checkpoints
        run(prepared, tmp_path / "cut", tp, tmp_path / "live-cut",
            on_step=lambda done: "stop" if done == 13 else None)
    _, meta = load_checkpoint(tmp_path / "cut" / "checkpoint" / "last.safetensors")
    assert meta["step"] == 13 and meta["data"]["pos"] == 13 * 16
    resumed = run(prepared, tmp_path / "cut", tp, tmp_path / "live-cut").summary
    assert resumed["resumed"] is True
    assert resumed["best_val_bpc"] == full["best_val_bpc"]
    assert len(full["history"]) == 3
    assert_same_history(full, resumed)
    wf, wc = weights(tmp_path / "full"), weights(tmp_path / "cut")
    assert wf.keys() == wc.keys() and all(torch.equal(wf[k], wc[k]) for k in wf)
    # the DVCLive logs have each step once, with the same numbers (train loss and bpc, lr,
    # val bpc, best val bpc; not chars/s), as if never interrupted
    assert_same_logs(tmp_path / "live-full", tmp_path / "live-cut")
    # a rerun after completion (dvc repro --force) changes nothing, logs included
    summary = lambda d: (d / "summary.json").read_text()          # noqa: E731 (no timings)
    before = summary(tmp_path / "cut")
    run(prepared, tmp_path / "cut", tp, tmp_path / "live-cut")
    assert summary(tmp_path / "cut") == before
    assert_same_logs(tmp_path / "live-full", tmp_path / "live-cut")
    before = summary(tmp_path / "full")
    assert full["resumed"] is False
    run(prepared, tmp_path / "full", tp, tmp_path / "live-full")
    assert summary(tmp_path / "full") == before                  # still "resumed": false
    assert_same_logs(tmp_path / "live-cut", tmp_path / "live-full")   # its curves kept


def test_checkpoint_from_other_params_is_not_resumed(prepared, tmp_path):
    out = tmp_path / "m"
    run(prepared, out, params(steps=10, eval_every=10))
    logs = []
    spec = ModelSpec(arch="lstm", hidden_size=20, num_layers=2, dropout=0.1, embedding_dim=8)
    res = train_model(prepared, out, params(steps=10, eval_every=10, spec=spec), "m",
                      progress=False, log=logs.append)
    assert res.summary["resumed"] is False
    assert any("starting afresh" in m for m in logs)


def test_corrupt_checkpoint_is_a_one_line_error_naming_the_file(prepared, tmp_path):
    out = tmp_path / "m"
    (out / "checkpoint").mkdir(parents=True)
    (out / "checkpoint" / "last.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{garbage")
    with pytest.raises(CheckpointError, match=r"last\.safetensors: corrupt checkpoint"):
        run(prepared, out, params(steps=10))


def test_stream_batcher_reads_contiguous_streams_and_shards_by_rank():
    data = np.arange(1000)
    b = StreamBatcher(data, batch_size=4, seq_len=10)
    x1, y1, r1 = b.next()
    x2, _, _ = b.next()
    assert x1.shape == (10, 4) and not r1
    np.testing.assert_array_equal(y1[:-1], x1[1:])              # targets are the next chars
    np.testing.assert_array_equal(x2[0], y1[-1])                # the next batch continues
    np.testing.assert_array_equal(x1[0], np.arange(4) * b.stream_len)
    halves = [StreamBatcher(data, 4, 10, rank=r, world_size=2).next()[0] for r in (0, 1)]
    np.testing.assert_array_equal(np.concatenate(halves, axis=1), x1)
    for _ in range(b.stream_len // 10 - 2):
        b.next()
    assert b.next()[2] is True and b.epoch == 1                # wrapped: states reset


def test_learning_rate_warms_up_then_decays_to_min():
    tp = params(steps=100, warmup_steps=10, lr=0.01, min_lr=0.001).common
    assert lr_at(0, tp) == pytest.approx(0.001)
    assert lr_at(9, tp) == pytest.approx(0.01)
    assert lr_at(10, tp) == pytest.approx(0.01)
    assert lr_at(100, tp) == pytest.approx(0.001)
    lrs = [lr_at(s, tp) for s in range(10, 100)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))


def test_grad_accum_matches_the_full_batch(prepared, tmp_path):
    """Two micro-batches of 4 streams compute the same step as one batch of 8: the same
    mean loss and gradient, summed in another order. float32 reassociation changes each
    loss and gradient in the last bits (~1e-7 relative; measured: losses 2e-7, val bpc 3e-10
    relative, weights 7e-7 absolute after 10 AdamW steps with clipping), so every logged
    number must agree to rtol 1e-5 and every weight to 1e-5: 15-50x the measured rounding,
    far below what a wrong loss scale or a misrouted stream does (1e-3 and up)."""
    spec = ModelSpec(arch="gru", hidden_size=16, num_layers=1, dropout=0.0, embedding_dim=8)
    tp = dict(steps=10, eval_every=5, log_every=1, spec=spec)
    a = run(prepared, tmp_path / "a", params(**tp), tmp_path / "live-a").summary
    b = run(prepared, tmp_path / "b", params(**tp, grad_accum=2), tmp_path / "live-b").summary
    assert len(a["history"]) == 2 and a["best_step"] == b["best_step"]
    assert_same_history(a, b, rtol=1e-5)
    assert_same_logs(tmp_path / "live-a", tmp_path / "live-b", rtol=1e-5)   # every step's loss
    assert len(live_logs(tmp_path / "live-a")["plots/metrics/train/loss.tsv"]["loss"]) == 10
    wa, wb = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert wa.keys() == wb.keys()
    for k in wa:
        torch.testing.assert_close(wb[k], wa[k], rtol=1e-5, atol=1e-5, msg=k)


def test_per_model_overrides_and_param_errors():
    spec = ModelSpec(arch="rnn", hidden_size=8, steps=7, lr=0.5, batch_size=6, seq_len=5)
    _, r = resolve(params(spec=spec), "m")
    assert (r.steps, r.lr, r.batch_size, r.seq_len) == (7, 0.5, 6, 5)
    assert (r.warmup_steps, r.min_lr) == (5, 0.001)                   # the common keys
    # a zero override counts (constant lr: no warm-up, min_lr = lr)
    spec = ModelSpec(arch="rnn", hidden_size=8, lr=0.5, warmup_steps=0, min_lr=0.5)
    _, r = resolve(params(spec=spec), "m")
    assert (r.warmup_steps, r.min_lr) == (0, 0.5)
    assert all(lr_at(s, r) == 0.5 for s in range(r.steps))
    with pytest.raises(ParamsError, match=r"models\.m\.min_lr: must be <= lr \(0\.01\)"):
        params(spec=ModelSpec(arch="rnn", hidden_size=8, min_lr=0.02)).check("train")
    # every train.common key may be overridden by a model (a preset is one model entry)
    spec = ModelSpec(arch="lstm", hidden_size=8, weight_decay=0.1, grad_clip=5.0, amp="off",
                     eval_every=3, seed=7)
    _, r = resolve(params(spec=spec), "m")
    assert (r.weight_decay, r.grad_clip, r.amp, r.eval_every, r.seed) == (0.1, 5.0, "off", 3, 7)
    # a pair's keys (run.pairs: this corpus only) come last
    _, r = resolve(params(spec=spec), "m", {"steps": 3, "seed": 8})
    assert (r.steps, r.seed, r.weight_decay) == (3, 8, 0.1)
    with pytest.raises(ParamsError, match=r"models\.m\.eval_every: must be > 0"):
        params(spec=ModelSpec(arch="rnn", hidden_size=8, eval_every=0)).check("train")
    with pytest.raises(ParamsError, match="no entry for model 'x'"):
        resolve(params(), "x")
    with pytest.raises(ParamsError, match="not divisible by grad_accum"):
        params(grad_accum=3).common.check("train.common")
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw.update(yaml.safe_load((ROOT / "corpora.yaml").read_text()))
    parsed = parse_params(raw).train
    assert set(parsed.models) >= {"rnn", "rnn3", "lstm", "gru"}
    raw["train"]["models"]["lstm"]["dropout"] = 1.5
    with pytest.raises(ParamsError, match=r"train\.models\.lstm\.dropout"):
        parse_params(raw)
    raw["train"]["models"]["lstm"]["dropout"] = 0.1
    raw["train"]["common"]["batch_sise"] = 3
    with pytest.raises(ParamsError, match="did you mean 'batch_size'"):
        parse_params(raw)


def test_too_small_split_is_a_training_error(prepared, tmp_path):
    with pytest.raises(TrainingError, match="too small"):
        run(prepared, tmp_path / "m", params(batch_size=4000, seq_len=64))


@pytest.mark.slow
@pytest.mark.faults
def test_stage_killed_by_sigterm_resumes_to_the_same_metrics(prepared, tmp_path):
    """The real stage in a subprocess: SIGTERM mid-run, rerun, same final metrics."""
    def project(name: str) -> Path:
        d = tmp_path / name
        (d / "data" / "prepared").mkdir(parents=True)
        os.symlink(prepared, d / "data" / "prepared" / "tiny")
        raw = yaml.safe_load((ROOT / "params.yaml").read_text())
        raw["corpora"] = {"tiny": {"sources": [{"url": "http://127.0.0.1/x", "sha256": "0" * 64}]}}
        raw["run"] = {"corpora": ["tiny"], "pairs": {"tiny-lstm": {"corpus": "tiny", "model": "lstm"}}}
        raw["train"]["common"].update(steps=400, batch_size=8, seq_len=16, eval_every=100,
                                      checkpoint_every=5, log_every=5, device="cpu", threads=1)
        raw["train"]["models"] = {"lstm": {"arch": "lstm", "hidden_size": 24, "num_layers": 2,
                                           "embedding_dim": 8}}
        (d / "params.yaml").write_text(yaml.safe_dump(raw))
        return d

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "stages.train", "tiny", "lstm", "--progress", "off"]
    full = project("full")
    subprocess.run(cmd, cwd=full, env=env, check=True, capture_output=True)
    cut = project("cut")
    proc = subprocess.Popen(cmd, cwd=cut, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ckpt = cut / "data" / "checkpoints" / "tiny" / "lstm" / "last.safetensors"
    deadline = time.time() + 60
    while not ckpt.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, err.decode()
    assert "SIGTERM: stopped after step" in err.decode()
    _, meta = load_checkpoint(ckpt)
    assert 0 < meta["step"] < 400
    subprocess.run(cmd, cwd=cut, env=env, check=True, capture_output=True)
    read = lambda d: json.loads((d / "data" / "models" / "tiny" / "lstm" / "summary.json").read_text())
    a, b = read(full), read(cut)
    assert b["resumed"] is True
    assert a["best_val_bpc"] == b["best_val_bpc"]
    assert [h["val_bpc"] for h in a["history"]] == [h["val_bpc"] for h in b["history"]]
    assert (full / "data/models/tiny/lstm/model.safetensors").read_bytes() == \
        (cut / "data/models/tiny/lstm/model.safetensors").read_bytes()
    assert (full / "data/models/tiny/lstm/config.json").read_text() == \
        (cut / "data/models/tiny/lstm/config.json").read_text()


def test_gpu_bench_runs_on_cpu_with_a_tiny_config_without_dvc(prepared, tmp_path):
    """benchmarks/gpu/gpu_bench.py (issue 7) runs end to end on CPU; dvc and dvclive are not needed."""
    out = tmp_path / "gpu.json"
    code = ("import runpy, sys; sys.modules['dvclive'] = None; sys.modules['dvc'] = None; "
            f"sys.argv = ['gpu_bench.py', '--data', {str(prepared)!r}, '--out', {str(out)!r}, "
            "'--steps', '4', '--batch-size', '4', '--seq-len', '8', '--tiny']; "
            f"runpy.run_path({str(ROOT / 'benchmarks' / 'gpu' / 'gpu_bench.py')!r}, run_name='__main__')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    result = json.loads(out.read_text())
    assert set(result["models"]) == {"rnn", "rnn3", "lstm", "gru"}
    for m in result["models"].values():
        assert m["chars_per_s"] > 0 and m["step_ms"] > 0 and np.isfinite(m["val_bpc"])
    assert result["machine"]["device"] in ("cpu", "cuda") and result["machine"]["steps"] == 4
