"""The equal-budget comparison script (benchmarks/quality/lstm_vs_gpt.py) end to end at toy
size: one `dvc exp run` trains an LSTM and a transformer in a fresh repository, and the script
writes both models' static, adapted and with-the-n-gram scores, their timing, the chart and
the table from what that run left."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT, small_repo

CORPUS = "tinyshakespeare"
GPT = ("{arch: transformer, hidden_size: 32, num_layers: 1, heads: 2, context: 16, dropout: 0.0, "
       "steps: 24, batch_size: 8, lr: 0.003, min_lr: 0.0003, eval_every: 8}")


def _held_lock() -> tuple[int, ...]:
    """The heavy-job lock's descriptor where this run holds it (CI runs the suite under
    `flock /tmp/charlm-heavy.lock`): the script takes the lock, and would wait forever for
    its own parent's without it (subprocess closes inherited descriptors)."""
    lock = os.path.realpath("/tmp/charlm-heavy.lock")
    fds = []
    for fd in os.listdir("/proc/self/fd") if os.path.isdir("/proc/self/fd") else []:
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == lock:
                fds.append(int(fd))
        except OSError:
            continue
    return tuple(fds)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_comparison_trains_both_in_one_run_and_reports_what_it_left(mirror, tmp_path):
    repo = small_repo(tmp_path / "repo")
    out = tmp_path / "results" / "cmp"
    argv = [sys.executable, str(ROOT / "benchmarks/quality/lstm_vs_gpt.py"), "--repo", str(repo),
            "--lstm", "lstm", "--gpt", "g", "--out", str(out), "--set", f"++train.models.g={GPT}",
            "--set", "train.models.lstm.steps=24", "--set", "train.models.lstm.eval_every=8"]
    proc = subprocess.run(argv, capture_output=True, text=True, pass_fds=_held_lock(),
                          env={**os.environ, "CHARLM_MIRROR": str(mirror), "DVC_NO_ANALYTICS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]

    res = json.loads(out.with_suffix(".json").read_text())["results"]
    assert (res["lstm"]["arch"], res["g"]["arch"]) == ("lstm", "transformer")
    for m in ("lstm", "g"):
        r = res[m]
        assert all(math.isfinite(r[k]) and 0 < r[k] < 8 for k in
                   ("val_bpc", "test_bpc", "dynamic_val_bpc", "dynamic_test_bpc"))
        assert r["steps"] == 24 and r["train_seconds"] > 0 and r["chars_per_s"] > 0
        assert [p[1] for p in r["curve"]] == [8, 16, 24]                  # step of each val
        assert [p[0] for p in r["curve"]] == sorted(p[0] for p in r["curve"])   # seconds grow
        assert min(p[2] for p in r["curve"]) == pytest.approx(r["val_bpc"], abs=1e-6)
        pair = r["with_ngram"]
        assert set(pair["weights"]) == {"ngram", "ngram:dynamic", m, f"{m}:dynamic"}
        # fitted on val: never worse there than its best component (EM's tolerance aside)
        assert pair["val_bpc"] <= min(r["val_bpc"], r["dynamic_val_bpc"], res["ngram"]["val_bpc"],
                                      res["ngram"]["dynamic_val_bpc"]) + 1e-4
    assert set(res["mix_weights"]) == {"ngram", "ngram:dynamic", "lstm", "lstm:dynamic", "g",
                                       "g:dynamic"}
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = out.with_suffix(".md").read_text()
    assert "| lstm (lstm) |" in md and "| g (transformer) |" in md and "(cmp.png)" in md
    assert "dvc exp run -S '++train.models.g=" in md
