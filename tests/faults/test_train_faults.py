"""Faults during training, done for real to `python -m stages.train` in subprocesses:
SIGKILL at a random step, SIGTERM/SIGINT, corrupt checkpoints, a full disk, divergence."""

from __future__ import annotations

import random
import signal
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from charlm.neural.checkpoint import load_checkpoint, save_checkpoint
from faultkit import one_line_error

SEED = 6          # seeds the choice of the step at which the run is killed


def wait_for_step(p, proc, step: int, timeout: float = 60.0) -> int:
    """Poll the DVCLive loss log (one row per step) until `step` is logged; return the last step."""
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        rows = p.loss_rows()
        if len(rows) > 1:
            try:
                last = int(rows[-1].split("\t")[0])
            except ValueError:          # a row being written
                last = -1
            if last >= step:
                return last
        time.sleep(0.005)
    raise AssertionError(f"the run never reached step {step} (rc {proc.poll()})")


def test_sigkill_at_a_random_step_then_rerun_resumes_to_identical_metrics(project):
    full, cut = project("full", steps=120), project("cut", steps=120)   # margin after the kill step
    reference = full.popen()                         # the uninterrupted run, alongside
    k = random.Random(SEED).randint(8, 50)           # after the first checkpoint (step 7)
    proc = cut.popen()
    reached = wait_for_step(cut, proc, k)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    reference.communicate(timeout=120)
    assert reference.returncode == 0
    assert proc.returncode == -signal.SIGKILL
    assert not (cut.model / "summary.json").exists()
    _, meta = load_checkpoint(cut.ckpt)               # the last checkpoint is intact
    assert 7 <= meta["step"] <= reached and meta["step"] % 7 == 0
    again = cut.run()
    assert again.returncode == 0, again.stderr
    assert f"resuming from {cut.rel(cut.ckpt)} at step {meta['step']}/120" in again.stdout
    a, b = full.summary(), cut.summary()
    assert b["resumed"] is True
    assert a["best_val_bpc"] == b["best_val_bpc"]
    assert [h["val_bpc"] for h in a["history"]] == [h["val_bpc"] for h in b["history"]]
    assert (full.model / "model.safetensors").read_bytes() == (cut.model / "model.safetensors").read_bytes()
    assert (full.model / "config.json").read_bytes() == (cut.model / "config.json").read_bytes()
    assert full.loss_rows() == cut.loss_rows()      # each step logged once, same losses
    assert not list(cut.ckpt.parent.glob(".*.tmp"))


def test_sigterm_and_sigint_write_a_checkpoint_before_exiting(project):
    runs = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        p = project(sig.name, steps=2000, checkpoint_every=5000)   # no scheduled checkpoint
        runs[sig] = (p, p.popen())
    for sig, (p, proc) in runs.items():
        wait_for_step(p, proc, 12)
        proc.send_signal(sig)
    for sig, (p, proc) in runs.items():
        _, err = proc.communicate(timeout=60)
        line = one_line_error(type("P", (), {"returncode": proc.returncode, "stderr": err})())
        assert f"{sig.name}: stopped after step" in line and "rerun to resume" in line
        stopped = int(line.split("stopped after step ")[1].split("/")[0])
        _, meta = load_checkpoint(p.ckpt)
        assert meta["step"] == stopped and 12 <= stopped < 2000   # written at the stop


# --------------------------------------------------------------------------- corrupt checkpoints

def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flip_middle(path: Path) -> None:
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    for i in range(mid, mid + 16):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def _wrong_shapes(path: Path) -> None:
    """Same fingerprint and valid CRC, but a weight of another shape (an edited checkpoint)."""
    tensors, meta = load_checkpoint(path)
    meta.pop("format"), meta.pop("crc32")
    name = "model.rnn.weight_hh_l0"
    tensors[name] = torch.zeros(tensors[name].shape[0], tensors[name].shape[1] + 3)
    save_checkpoint(path, tensors, meta)


CORRUPTIONS = {"truncated": (_truncate, "corrupt checkpoint"),
               "flipped": (_flip_middle, "corrupt checkpoint"),
               "wrong_shapes": (_wrong_shapes, "does not fit the model")}


def test_corrupt_checkpoints_are_a_clear_error_and_fresh_moves_them_aside(project):
    base = project("base")
    stop_in_process(base, 10)
    good = base.ckpt.read_bytes()
    projects = {}
    for name, (corrupt, _) in CORRUPTIONS.items():
        p = project(name)
        p.ckpt.parent.mkdir(parents=True)
        p.ckpt.write_bytes(good)
        corrupt(p.ckpt)
        projects[name] = (p, p.ckpt.read_bytes())
    # the three reruns at once (they fail while loading): each a one-line error naming the file
    procs = {n: p.popen() for n, (p, _) in projects.items()}
    for name, proc in procs.items():
        p, bad = projects[name]
        _, err = proc.communicate(timeout=120)
        line = one_line_error(type("P", (), {"returncode": proc.returncode, "stderr": err})())
        assert p.rel(p.ckpt) in line and CORRUPTIONS[name][1] in line, line
        assert "--fresh" in line and "CHARLM_FRESH=1" in line
        assert p.ckpt.read_bytes() == bad              # never a silent restart over it
        assert not (p.model / "summary.json").exists()
    # --fresh: the bad file is moved aside (kept, byte for byte) and training starts afresh
    p, bad = projects["truncated"]
    done = p.run("--fresh")
    assert done.returncode == 0, done.stderr
    aside = list(p.ckpt.parent.glob("last.safetensors.bad-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == bad
    assert f"moved aside to {p.rel(aside[0])}" in done.stdout
    assert p.summary()["resumed"] is False and load_checkpoint(p.ckpt)[1]["step"] == 60


def stop_in_process(p, step: int) -> None:
    """The stage's training, stopped after `step` (the SIGTERM path) with a checkpoint: in process."""
    from charlm.params import load_params
    from charlm.train.run import TrainingInterrupted, train_model
    params = load_params(p.root / "params.yaml").train
    with pytest.raises(TrainingInterrupted, match=f"after step {step}/"):
        train_model(p.root / "data" / "prepared" / "tiny", p.model, params, "lstm",
                    progress=False, log=lambda m: None,
                    on_step=lambda done: "stop hook" if done == step else None,
                    ckpt_dir=p.ckpt.parent)
    assert load_checkpoint(p.ckpt)[1]["step"] == step


def test_checkpoint_of_other_params_is_moved_aside_not_overwritten(project, prepared, tmp_path):
    from charlm.params import load_params
    from charlm.train.run import train_model
    p = project()
    stop_in_process(p, 14)
    logs: list[str] = []
    old = p.ckpt.read_bytes()
    stale = p.ckpt.parent / ".last.safetensors.abc123.tmp"     # as a kill mid-write leaves it
    stale.write_bytes(old[:100])
    from faultkit import write_params
    write_params(p.root, model={"hidden_size": 20})          # params change: fingerprint differs
    params = load_params(p.root / "params.yaml").train
    res = train_model(prepared, p.model, params, "lstm", progress=False, log=logs.append,
                      ckpt_dir=p.ckpt.parent)
    aside = list(p.ckpt.parent.glob("last.safetensors.other-params-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == old      # the 14 steps of progress kept
    assert any(f"moved aside to {aside[0]}" in m and "starting afresh" in m for m in logs)
    assert res.summary["resumed"] is False and load_checkpoint(p.ckpt)[1]["model"]["hidden_size"] == 20
    assert not stale.exists()


# --------------------------------------------------------------------------- full disk

DISK_FULL_STAGE = r"""
import resource, runpy, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)      # get EFBIG instead of being killed
resource.setrlimit(resource.RLIMIT_FSIZE, (32768, 32768))
sys.argv = ["stages.train", "tiny", "lstm", "--progress", "off"]
runpy.run_module("stages.train", run_name="__main__", alter_sys=True)
"""


def test_full_disk_while_checkpointing_keeps_the_previous_checkpoint(project):
    import sys
    p = project()
    stop_in_process(p, 5)
    before = p.ckpt.read_bytes()
    assert len(before) > 32768                       # so the next checkpoint cannot be written
    proc = p.run(cmd=[sys.executable, "-c", DISK_FULL_STAGE])
    line = one_line_error(proc)
    assert f"cannot write {p.rel(p.ckpt)}: File too large" in line and "intact" in line
    assert p.ckpt.read_bytes() == before
    assert load_checkpoint(p.ckpt)[1]["step"] == 5
    assert not list(p.ckpt.parent.glob(".*.tmp"))
    assert not (p.model / "summary.json").exists()


# --------------------------------------------------------------------------- divergence

def test_absurd_learning_rate_stops_with_a_training_error_and_keeps_the_last_good_checkpoint(project):
    # lr ramps from 10 to 20 over the first two steps (a warm-up of 10^9 steps): the first
    # step is checkpointed, the second diverges
    p = project(lr=1e10, min_lr=0.0, warmup_steps=10**9, checkpoint_every=1)
    proc = p.run()
    line = one_line_error(proc)
    assert "lstm: loss is" in line and "(diverged; last good checkpoint kept: " in line, line
    step = int(line.split(" at step ")[1].split(" ")[0])
    tensors, meta = load_checkpoint(p.ckpt)
    assert meta["step"] == step - 1 >= 1
    assert all(bool(torch.isfinite(t).all()) for t in tensors.values() if t.is_floating_point())
    assert not (p.model / "summary.json").exists() and not (p.model / "model.safetensors").exists()
    metrics = p.live / "metrics.json"
    assert not metrics.exists() or "NaN" not in metrics.read_text()


def test_nan_weights_are_never_checkpointed_nor_kept_as_best(prepared, tmp_path, monkeypatch):
    """The CUDA path checks the loss only at log steps; the checkpoint guard catches NaN weights
    that appear between them (simulated on CPU: the optimiser poisons a weight at step 10)."""
    from charlm.core.errors import TrainingError
    from charlm.params import ModelSpec, TrainCommon, TrainParams
    from charlm.train.run import train_model
    calls = {"n": 0}
    real_step = torch.optim.AdamW.step

    def poisoned(self, *a, **kw):
        out = real_step(self, *a, **kw)
        calls["n"] += 1
        if calls["n"] == 10:
            with torch.no_grad():
                for t in self.param_groups[0]["params"]:
                    t.fill_(float("nan"))
        return out

    monkeypatch.setattr(torch.optim.AdamW, "step", poisoned)
    common = TrainCommon(steps=30, batch_size=8, seq_len=16, eval_every=30, eval_streams=1,
                         checkpoint_every=5, log_every=5, device="cpu")
    tp = TrainParams(models={"m": ModelSpec(arch="gru", hidden_size=16, embedding_dim=8)},
                     common=common)
    out = tmp_path / "m"
    with pytest.raises(TrainingError, match=r"weights are NaN/inf at step 10 .*last good checkpoint kept"):
        train_model(prepared, out, tp, "m", progress=False, log=lambda m: None)
    tensors, meta = load_checkpoint(out / "checkpoint" / "last.safetensors")
    assert meta["step"] == 5
    assert all(bool(torch.isfinite(t).all()) for t in tensors.values() if t.is_floating_point())
    assert not (out / "summary.json").exists()
    # and a NaN val bpc stops training before it can enter the history or the best weights
    calls["n"] = 0
    tp2 = TrainParams(models=tp.models, common=replace(common, eval_every=10, checkpoint_every=15))
    with pytest.raises(TrainingError, match="val bpc is nan at step 10"):
        train_model(prepared, tmp_path / "m2", tp2, "m", progress=False, log=lambda m: None)
    assert not (tmp_path / "m2" / "checkpoint" / "last.safetensors").exists()
