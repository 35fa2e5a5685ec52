"""Data and models shared through a DVC remote (a local folder stands in for S3/GCS/SSH)."""

from __future__ import annotations

import hashlib
import subprocess

import pytest

from helpers import copy_repo, git, run_dvc, set_params


def _digest(root, rel_paths):
    return {p: hashlib.sha256((root / p).read_bytes()).hexdigest() for p in rel_paths}


@pytest.mark.slow
def test_push_clone_pull_gives_identical_outputs_without_rerun(mirror, tmp_path):
    repo = copy_repo(tmp_path / "repo")
    set_params(repo, ["run.corpora=[tinyshakespeare]", "~run.pairs", "+run.pairs={}"])
    env = {"CHARLM_MIRROR": str(mirror)}
    run_dvc(["repro", "evaluate_ngram"], repo, env)
    run_dvc(["remote", "add", "-d", "shared", str(tmp_path / "remote")], repo)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "run")
    run_dvc(["push", "--with-deps", "evaluate_ngram"], repo)

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    outs = ["data/raw/tinyshakespeare.txt", "data/prepared/tinyshakespeare/train.npy",
            "data/prepared/tinyshakespeare/vocab.json", "data/prepared/tinyshakespeare/stats.json",
            "data/ngram/tinyshakespeare/model.npz", "data/eval/tinyshakespeare/ngram/surprise.json",
            "metrics/eval/tinyshakespeare/ngram.json", "data/ngram/tinyshakespeare/fit.json"]
    assert not (clone / outs[0]).exists()
    run_dvc(["pull", "--with-deps", "evaluate_ngram"], clone)
    assert _digest(clone, outs) == _digest(repo, outs)
    # nothing to re-run: the pulled outputs match dvc.lock (no mirror needed either)
    status = run_dvc(["status", "--with-deps", "evaluate_ngram"], clone)
    assert "up to date" in status.stdout
    again = run_dvc(["repro", "evaluate_ngram"], clone)
    assert "Running stage" not in again.stdout
