"""Distributed training (issue 7): torchrun + DDP on CPU with gloo, 2 processes, 127.0.0.1 only.

- a 2-process run (grad_accum 2, launched by `train.nproc: 2`) reaches the same losses and
  val bpc as a 1-process run of the same global batch;
- a 2-process run stopped after k steps on ONE rank stops both, resumes from rank 0's
  checkpoint and ends bit-identical to the uninterrupted 2-process run; the same checkpoint
  also resumes in 1 process (world-size independent);
- a NaN loss on one rank stops every rank with the TrainingError at the same step (no hang);
- gather/shard of the carried hidden states round-trips in the global stream order.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import yaml

from charlm.neural.checkpoint import load_checkpoint
from charlm.train.distributed import DistInfo, broadcast_float, gather_batch, shard_batch
from charlm.core.errors import TrainingError
from charlm.params import parse_params
from charlm.train.batcher import StreamBatcher
from charlm.train.run import train_model
from charlm.train.state import state_tensors, states_from

from helpers import ROOT

STOP_ENV, STOP_RANK_ENV = "CHARLM_STOP_AFTER_STEPS", "CHARLM_STOP_RANK"

pytestmark = pytest.mark.dist

MODEL = "lstm"
STEPS = 24
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
            "-m", "stages.train", "tiny", MODEL, "--progress", "off"]
STAGE = [sys.executable, "-m", "stages.train", "tiny", MODEL, "--progress", "off"]


def _raw_params(**train) -> dict:
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["corpora"] = {"tiny": {"sources": [{"url": "http://127.0.0.1/x", "sha256": "0" * 64}]}}
    raw["run"] = {"corpora": ["tiny"], "pairs": {f"tiny-{MODEL}": {"corpus": "tiny", "model": MODEL}}}
    raw["train"]["common"].update(steps=STEPS, batch_size=8, seq_len=16, lr=0.03, warmup_steps=3,
                                  min_lr=0.003, eval_every=12, eval_streams=1, checkpoint_every=5,
                                  log_every=4, device="cpu", threads=1, grad_accum=2, nproc=2)
    raw["train"]["models"] = {MODEL: {"arch": "lstm", "hidden_size": 16, "num_layers": 2,
                                      "embedding_dim": 8, "dropout": 0.0}}
    raw["train"]["common"].update(train)
    return raw


def _project(root: Path, prepared: Path, **train) -> Path:
    (root / "data" / "prepared").mkdir(parents=True)
    shutil.copytree(prepared, root / "data" / "prepared" / "tiny")
    (root / "params.yaml").write_text(yaml.safe_dump(_raw_params(**train)))
    return root


def _run(cmd, cwd: Path, **env) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    for k in (STOP_ENV, STOP_RANK_ENV):
        if k not in env:
            full_env.pop(k, None)
    return subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=240)


def _model_dir(project: Path) -> Path:
    return project / "data" / "models" / "tiny" / MODEL


def _ckpt_dir(project: Path) -> Path:
    return project / "data" / "checkpoints" / "tiny" / MODEL


def _summary(project: Path) -> dict:
    return json.loads((_model_dir(project) / "summary.json").read_text())


def _loss_rows(live: Path) -> list[tuple[int, float]]:
    lines = (live / "plots" / "metrics" / "train" / "loss.tsv").read_text().splitlines()[1:]
    return [(int(r.split("\t")[0]), float(r.split("\t")[1])) for r in lines]


@pytest.fixture(scope="module")
def two_proc_full(prepared, tmp_path_factory) -> Path:
    """The uninterrupted 2-process run, launched as `dvc repro` would: `train.nproc: 2`."""
    project = _project(tmp_path_factory.mktemp("full"), prepared)
    r = _run(STAGE, project)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    assert "torch.distributed.run" in r.stdout and "--nproc_per_node=2" in r.stdout
    assert r.stdout.count("best val bpc") == 2            # rank 0's log line + the stage's line
    return project


def test_two_processes_reach_the_same_loss_and_val_bpc_as_one(two_proc_full, prepared, tmp_path):
    two = _summary(two_proc_full)
    assert two["nproc"] == 2 and two["steps"] == STEPS and two["batch_size"] == 8
    tp = parse_params(_raw_params(grad_accum=1)).train     # one process, the same global batch
    one = train_model(prepared, tmp_path / "one", tp, MODEL, live_dir=tmp_path / "live",
                      corpus="tiny", progress=False, log=lambda m: None).summary
    assert one["nproc"] == 1
    assert [h["step"] for h in two["history"]] == [h["step"] for h in one["history"]] == [12, 24]
    np.testing.assert_allclose([h["val_bpc"] for h in two["history"]],
                               [h["val_bpc"] for h in one["history"]], atol=1e-4, rtol=0)
    assert one["history"][-1]["val_bpc"] < one["history"][0]["val_bpc"]     # it learned
    loss2 = _loss_rows(two_proc_full / "metrics" / "train" / "tiny" / MODEL)
    loss1 = _loss_rows(tmp_path / "live")
    assert [s for s, _ in loss2] == [s for s, _ in loss1] == list(range(4, STEPS + 1, 4))
    np.testing.assert_allclose([v for _, v in loss2], [v for _, v in loss1], atol=1e-4, rtol=0)
    out = _model_dir(two_proc_full)
    for name in ("model.safetensors", "config.json", "summary.json"):
        assert (out / name).is_file(), name
    assert (_ckpt_dir(two_proc_full) / "last.safetensors").is_file()
    assert not (out / "checkpoint").exists()           # a model's folder holds no training state


def test_two_process_run_stopped_on_one_rank_resumes_to_identical_metrics(two_proc_full, prepared,
                                                                          tmp_path):
    cut = _project(tmp_path / "cut", prepared)
    r = _run(TORCHRUN, cut, **{STOP_ENV: "7", STOP_RANK_ENV: "1"})   # only rank 1 "gets the signal"
    assert r.returncode != 0
    assert "stopped after step 7/24" in r.stderr
    # rank 0 stopped there too: it alone writes, and step 7 is no checkpoint_every (5) step.
    # (Its own message may be lost: torchrun SIGTERMs the others once rank 1 has exited.)
    ckpt = _ckpt_dir(cut) / "last.safetensors"
    tensors, meta = load_checkpoint(ckpt)
    assert meta["step"] == 7 and meta["world_size"] == 2 and meta["data"]["pos"] == 7 * 16
    assert tuple(tensors["hidden.0"].shape) == (2, 8, 16)       # global: all 8 streams
    assert not (_model_dir(cut) / "summary.json").exists()
    one = tmp_path / "one"                                      # the same checkpoint, 1 process
    shutil.copytree(_ckpt_dir(cut), one / "checkpoint")

    r = _run(TORCHRUN, cut)
    assert r.returncode == 0, r.stderr[-4000:]
    assert "resuming from" in r.stdout and "at step 7/24" in r.stdout
    full, resumed = _summary(two_proc_full), _summary(cut)
    assert resumed["resumed"] is True
    assert [h["val_bpc"] for h in resumed["history"]] == [h["val_bpc"] for h in full["history"]]
    assert resumed["best_val_bpc"] == full["best_val_bpc"]
    assert (_model_dir(cut) / "model.safetensors").read_bytes() == \
        (_model_dir(two_proc_full) / "model.safetensors").read_bytes()
    assert _loss_rows(cut / "metrics/train/tiny" / MODEL) == \
        _loss_rows(two_proc_full / "metrics/train/tiny" / MODEL)

    logs: list[str] = []
    tp = parse_params(_raw_params()).train
    alone = train_model(prepared, one, tp, MODEL, corpus="tiny", progress=False, log=logs.append).summary
    assert alone["resumed"] is True and any("at step 7/24" in m for m in logs)
    np.testing.assert_allclose([h["val_bpc"] for h in alone["history"]],
                               [h["val_bpc"] for h in full["history"]], atol=1e-4, rtol=0)


# --------------------------------------------------------------------------- collectives

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _collectives_worker(rank: int, port: int, world: int) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=60))
    try:
        info = DistInfo(rank, world)
        layers, batch, hidden, accum = 2, 8, 3, 2
        h = torch.arange(layers * batch * hidden, dtype=torch.float32).reshape(layers, batch, hidden)
        c = -h - 1
        states = states_from({"hidden.0": h, "hidden.1": c}, accum, True, batch, info, "cpu")
        # rank r, micro-batch m holds exactly the streams StreamBatcher gives it, in order
        b = StreamBatcher(np.arange(1000), batch, 5, rank, world)
        mine = b.starts[0] // b.stream_len
        per = batch // world // accum
        for m, (hm, cm) in enumerate(states):
            idx = torch.from_numpy(mine[m * per:(m + 1) * per])
            assert torch.equal(hm, h[:, idx]) and torch.equal(cm, c[:, idx])
        back = state_tensors(states, info)                    # gathered: the global order again
        assert torch.equal(back["hidden.0"], h) and torch.equal(back["hidden.1"], c)
        assert torch.equal(gather_batch(shard_batch(h, info), info), h)
        assert broadcast_float(3.25 if rank == 0 else -1.0, info, "cpu") == 3.25
    finally:
        dist.destroy_process_group()


def test_hidden_states_gather_and_shard_round_trip_in_the_global_stream_order():
    torch.multiprocessing.spawn(_collectives_worker, args=(_free_port(), 2), nprocs=2, join=True)
    # one process, any grad_accum: the same global tensor back
    h = torch.randn(3, 8, 4)
    one = DistInfo()
    for accum in (1, 2, 4):
        states = states_from({"hidden.0": h}, accum, False, 8, one, "cpu")
        assert len(states) == accum and torch.equal(state_tensors(states, one)["hidden.0"], h)
    assert states_from({}, 2, True, 8, one, "cpu") == [None, None]


def _nan_worker(rank: int, port: int, prepared: Path, out: Path) -> None:
    """Rank 1's loss turns NaN at step 3; every rank must raise the TrainingError at step 3."""
    import charlm.train.run as tr
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2, timeout=datetime.timedelta(seconds=60))
    real, calls = tr.F.cross_entropy, [0]

    def poisoned(*a, **kw):
        calls[0] += 1                          # grad_accum 2: calls 5 and 6 are step 3
        loss = real(*a, **kw)
        return loss * float("nan") if rank == 1 and calls[0] == 5 else loss

    tr.F.cross_entropy = poisoned
    tp = parse_params(_raw_params(steps=10)).train
    try:
        train_model(prepared, out / "model", tp, MODEL, rank=rank, world_size=2, progress=False,
                    log=lambda m: None)
        (out / f"rank{rank}.txt").write_text("finished")
    except TrainingError as e:
        (out / f"rank{rank}.txt").write_text(str(e))
    finally:
        tr.F.cross_entropy = real
        dist.destroy_process_group()


def test_a_nan_loss_on_one_rank_stops_every_rank_at_the_same_step(prepared, tmp_path):
    torch.multiprocessing.spawn(_nan_worker, args=(_free_port(), prepared, tmp_path), nprocs=2, join=True)
    msgs = [(tmp_path / f"rank{r}.txt").read_text() for r in (0, 1)]
    assert msgs[0] == msgs[1], msgs
    assert "loss is nan at step 3" in msgs[0] and "diverged" in msgs[0]
    assert not (tmp_path / "model" / "summary.json").exists()


def test_a_transformer_trains_in_two_processes_as_in_one(prepared, tmp_path):
    """The transformer's random windows are split by rank: 2 processes (grad_accum 2) draw
    the global batch one process draws, and reach the same losses and val bpc. (The entry
    keeps the module's model name, `lstm`, so the stage's paths are the same.)"""
    gpt = {"arch": "transformer", "hidden_size": 16, "num_layers": 1, "heads": 2, "context": 16,
           "dropout": 0.0}
    raw = _raw_params()
    raw["train"]["models"] = {MODEL: gpt}
    project = tmp_path / "two"
    (project / "data" / "prepared").mkdir(parents=True)
    shutil.copytree(prepared, project / "data" / "prepared" / "tiny")
    (project / "params.yaml").write_text(yaml.safe_dump(raw))
    r = _run(STAGE, project)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    two = _summary(project)
    assert two["nproc"] == 2 and two["arch"] == "transformer"
    raw["train"]["common"].update(grad_accum=1, nproc=1)
    one = train_model(prepared, tmp_path / "one", parse_params(raw).train, MODEL,
                      live_dir=tmp_path / "live", corpus="tiny", progress=False,
                      log=lambda m: None).summary
    np.testing.assert_allclose([h["val_bpc"] for h in two["history"]],
                               [h["val_bpc"] for h in one["history"]], atol=1e-4, rtol=0)
    np.testing.assert_allclose([v for _, v in _loss_rows(project / "metrics" / "train" / "tiny" / MODEL)],
                               [v for _, v in _loss_rows(tmp_path / "live")], atol=1e-4, rtol=0)
