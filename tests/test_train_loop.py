"""The trainer's parts around the loop: progress lines without a terminal, step hooks,
the bf16 guard, per-model overrides, and the fingerprint's resumable keys."""

from __future__ import annotations

import dataclasses
import re

import pytest
import torch

from charlm.core.errors import TrainingError
from charlm.params import ModelSpec, TrainCommon, TrainParams
from charlm.train.run import TrainingInterrupted, resolve, train_model
from charlm.train.state import fingerprint

SPEC = ModelSpec(arch="gru", hidden_size=12, num_layers=1, dropout=0.0, embedding_dim=6)


def small(**over) -> TrainParams:
    common = dict(seed=5, steps=40, batch_size=8, seq_len=16, lr=0.01, warmup_steps=0,
                  min_lr=0.01, eval_every=20, eval_streams=1, checkpoint_every=20, log_every=2,
                  device="cpu")
    common.update(over)
    return TrainParams(models={"m": SPEC}, common=TrainCommon(**common))


def test_progress_lines_every_tenth_of_the_run_and_val_at_each_evaluation(prepared, tmp_path):
    lines: list[str] = []
    train_model(prepared, tmp_path / "m", small(), "m", corpus="tiny", progress="lines",
                log=lines.append)
    steps = [int(m.group(1)) for ln in lines if (m := re.search(r"tiny/m: step (\d+)/40 ", ln))]
    assert steps == [4, 8, 12, 16, 20, 24, 28, 32, 36, 40]
    progress = [ln for ln in lines if "/40 (" in ln]
    assert all(re.search(r"train loss \d+\.\d+, [\d,]+ chars/s, elapsed \d+:\d\d, ETA \d+:\d\d$", ln)
               for ln in progress), progress
    vals = [m.group(1) for ln in lines if (m := re.search(r"tiny/m: step (\d+): val bpc \d\.\d+ \(best", ln))]
    assert vals == ["20", "40"]


def test_progress_off_prints_no_step_lines(prepared, tmp_path):
    lines: list[str] = []
    train_model(prepared, tmp_path / "m", small(steps=10, eval_every=10), "m", progress="off",
                log=lines.append)
    assert not [ln for ln in lines if "step" in ln and "/10" in ln]


def test_a_step_hook_stops_after_that_step_with_a_checkpoint(prepared, tmp_path):
    with pytest.raises(TrainingInterrupted, match="why not: stopped after step 7/40"):
        train_model(prepared, tmp_path / "m", small(), "m", progress=False, log=lambda m: None,
                    on_step=lambda done: "why not" if done == 7 else None)
    from charlm.neural.checkpoint import load_checkpoint
    assert load_checkpoint(tmp_path / "m" / "checkpoint" / "last.safetensors")[1]["step"] == 7


@pytest.mark.parametrize("flags, why", [(False, "this CPU has no native bf16"),
                                        (True, "the portable numerics profile keeps oneDNN")])
def test_bf16_where_onednn_has_none_is_a_one_line_error_that_says_why(prepared, tmp_path,
                                                                      monkeypatch, flags, why):
    import charlm.train.run as train_run
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    monkeypatch.setattr(train_run, "_cpu_flag", lambda *names: flags)
    monkeypatch.setenv("CHARLM_NUMERICS", "portable")
    with pytest.raises(TrainingError, match=f"amp is 'bf16' but oneDNN cannot run bf16 here \\({why}"):
        train_model(prepared, tmp_path / "m", small(amp="bf16"), "m", progress=False,
                    log=lambda m: None)
    assert not (tmp_path / "m").exists()


def test_cpu_bf16_where_it_runs_warns_with_what_it_was_measured_at(monkeypatch, capsys):
    import charlm.train.run as train_run
    from helpers import ROOT
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)
    train_run._check_bf16(TrainCommon(amp="bf16"), torch.device("cpu"))
    err = capsys.readouterr().err
    assert err.startswith("warning: train.common.amp is 'bf16' on the CPU") and "1.56x" in err
    assert err.count("\n") == 1
    for cited in ("benchmarks/results/amp_native_bf16.md", "benchmarks/results/amp.md"):
        assert (ROOT / cited).is_file(), cited        # the cost it quotes is on record
    train_run._check_bf16(TrainCommon(amp="auto"), torch.device("cpu"))
    assert capsys.readouterr().err == ""


def test_overrides_apply_and_a_common_min_lr_above_the_models_lr_is_clamped():
    tp = TrainParams(models={"m": dataclasses.replace(SPEC, lr=0.001, steps=9)},
                     common=TrainCommon(lr=0.01, min_lr=0.005))
    spec, run = resolve(tp, "m")
    assert (run.lr, run.steps, run.min_lr) == (0.001, 9, 0.001)


def test_only_result_changing_keys_enter_the_fingerprint():
    import numpy as np
    from charlm.neural.models import ModelConfig
    cfg = ModelConfig.from_shape(SPEC, 10)
    data = np.arange(100, dtype=np.uint8)
    base = fingerprint(cfg, TrainCommon(), data)
    for key, value in [("checkpoint_every", 7), ("log_every", 3), ("threads", 1), ("nproc", 2),
                       ("device", "cpu"), ("compile", True)]:
        assert fingerprint(cfg, dataclasses.replace(TrainCommon(), **{key: value}), data) == base, key
    for key, value in [("lr", 0.004), ("steps", 301), ("seed", 1), ("grad_clip", 2.0),
                       ("eval_streams", 1), ("amp", "off")]:
        assert fingerprint(cfg, dataclasses.replace(TrainCommon(), **{key: value}), data) != base, key
