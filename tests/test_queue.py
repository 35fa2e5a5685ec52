"""Sweeps on DVC's queue: two points of a grid (hidden size and learning rate, both changed)
of 20-step GRUs queued with `dvc exp run --queue`, run by `dvc queue start`, compared with
`dvc exp show`. (The README's sweep is 2 x 2; four runs here took 150 s of the suite, two
check the same: each queued run takes its own params and gives its own metrics.)"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import copy_repo, git, run_dvc, set_params

CORPUS, MODEL = "tinyshakespeare", "gru_tiny"
GRID = [(16, 0.003), (32, 0.01)]     # (hidden_size, lr)
NAMES = {f"h{h}-lr{lr}": (h, lr) for h, lr in GRID}
DONE = {"Success", "Failed"}
# The README's filter: only the columns that vary, without the deps (paths) and the other metrics.
DROP = ".*/|samples|Created|Executor|.*(val_bpc|test_ppl|params|train_chars|min_lr)$"


def _queue_states(repo, env) -> dict[str, str]:
    """Experiment name -> status (Queued, Running, Success, Failed) from `dvc queue status`."""
    out = run_dvc(["queue", "status"], repo, env).stdout
    states = {}
    for line in out.splitlines():
        words = line.split()
        if len(words) >= 3 and words[1] in NAMES:
            states[words[1]] = words[-1]
    return states


def _diagnostics(repo, env) -> str:
    parts = [run_dvc(["queue", "status"], repo, env, check=False).stdout]
    for name in NAMES:
        logs = run_dvc(["queue", "logs", name], repo, env, check=False)
        parts.append(f"--- dvc queue logs {name} ({logs.returncode}):\n"
                     f"{logs.stdout[-2000:]}{logs.stderr[-1000:]}")
    for log in sorted((repo / ".dvc/tmp/exps/celery").glob("*.out")):
        parts.append(f"--- {log.name}:\n{log.read_text(errors='replace')[-2000:]}")
    return "\n".join(parts)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_queue_runs_a_sweep_and_exp_show_lists_it(mirror, tmp_path):
    repo = copy_repo(tmp_path / "repo")
    set_params(repo, [
        f"run.corpora=[{CORPUS}]",
        "~run.pairs",          # `run.pairs={...}` alone would merge into the default pairs
        f"+run.pairs={{{CORPUS}-{MODEL}: {{corpus: {CORPUS}, model: {MODEL}}}}}",
        f"++train.models.{MODEL}={{arch: gru, hidden_size: 8, num_layers: 1, dropout: 0.0, "
        "embedding_dim: 16, steps: 20, batch_size: 8, seq_len: 32, eval_every: 10, "
        "lr: 0.003, min_lr: 0.003}",
        "ngram.max_order=3", "ngram.smoothings=[kneser_ney]", "ngram.sample_orders=[2,3]",
        "evaluate.sample.chars=50"])
    set_params(repo, [f"++corpora.{CORPUS}.max_chars=200000"], file="corpora.yaml")
    # The queue's worker is a detached `dvc exp queue-worker` found on PATH, and each stage
    # runs `python`: both must be this environment's.
    env = {"CHARLM_MIRROR": str(mirror),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}

    # The baseline: the shared stages run once; each queued experiment starts from a copy of
    # this commit and checks their outputs out of the cache (it re-runs only train, evaluate
    # and report).
    # (the train stage's DVCLive needs a commit: it fails with "Empty git repo" without one)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "params")
    run_dvc(["repro"], repo, env)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "baseline")

    p = f"train.models.{MODEL}"
    for name, (h, lr) in NAMES.items():
        run_dvc(["exp", "run", "--queue", "-n", name, "-S", f"{p}.hidden_size={h}",
                 "-S", f"{p}.lr={lr}", "-S", f"{p}.min_lr={lr}"], repo, env)
    assert set(_queue_states(repo, env).values()) == {"Queued"}

    run_dvc(["queue", "start", "-j", "1"], repo, env)
    try:
        deadline = time.monotonic() + 600
        states = {}
        while time.monotonic() < deadline:
            states = _queue_states(repo, env)
            if len(states) == len(NAMES) and set(states.values()) <= DONE:
                break
            time.sleep(5)
        ok = states == {name: "Success" for name in NAMES}
        assert ok, f"queue did not finish in time or failed: {states}\n{_diagnostics(repo, env)}"
    finally:
        # the worker stops by itself once the queue is empty; this ends one left by a failure
        run_dvc(["queue", "stop", "--kill"], repo, env, check=False)

    rows = json.loads(run_dvc(["exp", "show", "--json"], repo, env).stdout)
    baseline = [r for r in rows if r["rev"] != "workspace"]
    assert len(baseline) == 1, rows
    exps = {e["name"]: e["revs"][0]["data"] for e in baseline[0]["experiments"] or []}
    assert set(exps) == set(NAMES), sorted(exps)

    results = {}
    for name, data in exps.items():
        model = data["params"]["params.yaml"]["data"]["train"]["models"][MODEL]
        h, lr = NAMES[name]
        assert (model["hidden_size"], model["lr"], model["min_lr"]) == (h, lr, lr), (name, model)
        summary = data["metrics"]["metrics/summary.json"]["data"][CORPUS]
        bpc = summary[MODEL]["test_bpc"]
        assert math.isfinite(bpc) and 0 < bpc < 8, (name, bpc)
        results[name] = (bpc, summary[MODEL]["params"])
    # distinct runs, each trained with its own settings: the weight count follows the
    # hidden size, the scores differ
    assert len({bpc for bpc, _ in results.values()}) == len(GRID), results
    by_size = {NAMES[n][0]: w for n, (_, w) in results.items()}
    assert len(by_size) == 2 and by_size[16] < by_size[32], results

    # the README's comparison: only the columns that vary, one row per run
    table = run_dvc(["exp", "show", "--csv", "--only-changed", "--drop", DROP], repo, env).stdout
    header, *lines = table.strip().splitlines()
    assert header.split(",") == ["Experiment", "rev", "typ", "State",
                                 f"{CORPUS}.{MODEL}.test_bpc", f"{CORPUS}.mix.test_bpc",
                                 f"{p}.hidden_size", f"{p}.lr"], header
    assert {line.split(",")[0] for line in lines} >= set(NAMES), table

    # charlm compare: the sweep side by side within 120 columns (read through dvc.api), the
    # params that differ by their short names, each run's test bpc as exp show gave it
    proc = subprocess.run([str(Path(sys.executable).parent / "charlm"), "compare"], cwd=repo,
                          capture_output=True, text=True, env={**os.environ, **env})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert max(map(len, lines)) <= 120, proc.stdout
    assert lines[0].startswith("4 runs: test bits per char") and "3 params differ" in lines[0]
    for short in ("gru_tiny.hidden_size", "gru_tiny.lr", "gru_tiny.min_lr"):
        assert short in proc.stdout, proc.stdout
    for name, (bpc, _) in results.items():
        row = next(line for line in lines if line.startswith(name))
        assert f"{bpc:.4f}" in row, (name, row)
