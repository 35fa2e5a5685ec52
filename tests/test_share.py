"""Sharing a run, the DVC way, in a throw-away repository with a file remote: push after a run;
a fresh clone + `dvc pull` has every output with nothing to re-run and samples the models;
GTO registers versions and assigns a stage; `dvc artifacts get` fetches a model folder by
version and by stage from another place, and the fetched folder samples and scores on its own.
README.md "Share and pull runs" and docs/sharing.md describe these steps."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers import copy_repo, run_dvc, set_params

pytestmark = pytest.mark.slow
PAIR = "tinyshakespeare-gru"
NAME = "tinyshakespeare-gru"                 # its artifact
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
TINY = ["run.corpora=[tinyshakespeare]", "~run.pairs",
        f"+run.pairs={{{PAIR}: {{corpus: tinyshakespeare, model: gru, steps: 6, eval_every: 3, "
        "checkpoint_every: 6, log_every: 3, batch_size: 8, seq_len: 16}}",
        "train.models.gru.hidden_size=16", "train.models.gru.embedding_dim=8",
        "ngram.max_order=3", "ngram.sample_orders=[2]", "ngram.sample_length=40",
        "evaluate.dynamic.pairs=[]", "evaluate.dynamic.ngram.spans=[]", "evaluate.sample.chars=40"]


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
                          env={**os.environ, **GIT_ENV}).stdout


def tool(name: str, args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    """A console script of this environment (gto, charlm) run in `cwd`."""
    proc = subprocess.run([str(Path(sys.executable).parent / name), *args], cwd=cwd,
                          capture_output=True, text=True,
                          env={**os.environ, **GIT_ENV, "DVC_NO_ANALYTICS": "1"})
    if check and proc.returncode != 0:
        raise AssertionError(f"{name} {' '.join(args)}: {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def shared(mirror, tmp_path_factory):
    """A run of a tiny pipeline, committed with the team remote and pushed; then a second
    run (more steps) committed and pushed: two versions of the GRU."""
    root = tmp_path_factory.mktemp("share")
    repo = copy_repo(root / "repo")
    set_params(repo, TINY)
    git(repo, "add", "-A")            # DVCLive (the train stage) needs a commit to start from
    git(repo, "commit", "-qm", "params")
    run_dvc(["repro"], repo, {"CHARLM_MIRROR": str(mirror)})
    run_dvc(["remote", "add", "-d", "team", str(root / "remote")], repo)     # the one step
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "first run")
    run_dvc(["push"], repo)
    weights = repo / "data/models/tinyshakespeare/gru/model.safetensors"
    first = digest(weights)
    tool("gto", ["register", NAME], repo)                                       # v0.0.1
    tool("gto", ["assign", NAME, "--version", "v0.0.1", "--stage", "prod"], repo)
    set_params(repo, [f"run.pairs.{PAIR}.steps=9", f"run.pairs.{PAIR}.checkpoint_every=9"])
    run_dvc(["repro"], repo, {"CHARLM_MIRROR": str(mirror)})
    git(repo, "commit", "-qam", "longer run")
    run_dvc(["push"], repo)
    tool("gto", ["register", NAME], repo)                                       # v0.0.2
    return {"root": root, "repo": repo, "first": first, "second": digest(weights)}


def test_a_fresh_clone_pulls_the_run_with_nothing_to_rerun_and_samples(shared):
    repo, clone = shared["repo"], shared["root"] / "clone"
    git(shared["root"], "clone", "-q", str(repo), str(clone))
    assert not (clone / "data/models/tinyshakespeare/gru/model.safetensors").exists()
    run_dvc(["pull"], clone)                     # no mirror, no network: all from the remote
    status = run_dvc(["status"], clone)
    assert "Data and pipelines are up to date" in status.stdout, status.stdout
    assert digest(clone / "data/models/tinyshakespeare/gru/model.safetensors") == shared["second"]
    for corpus_model in (["--corpus", "tinyshakespeare", "--model", "gru"],):
        out = tool("charlm", ["sample", *corpus_model, "--length", "30", "--seed", "2"], clone)
        assert len(out.stdout.rstrip("\n")) >= 30
    text = shared["root"] / "t.txt"
    text.write_text("First Citizen:\n", encoding="utf-8")
    got = json.loads(tool("charlm", ["score", "--corpus", "tinyshakespeare", "--model", "ngram",
                                     "--json", str(text)], clone).stdout)
    assert got["chars"] == 15 and got["bpc"] > 0
    again = run_dvc(["repro"], clone)
    assert "Running stage" not in again.stdout
    assert git(clone, "status", "--porcelain") == ""


def test_every_model_of_the_run_is_a_declared_artifact(shared):
    declared = yaml.safe_load((shared["repo"] / "dvc.yaml").read_text())["artifacts"]
    assert sorted(declared) == ["tinyshakespeare-gru", "tinyshakespeare-ngram"]
    assert declared[NAME] == {"path": "data/models/tinyshakespeare/gru", "type": "model",
                              "desc": "character-level GRU (2x16) of tinyshakespeare (charlm)",
                              "labels": ["tinyshakespeare", "gru"]}


@pytest.mark.parametrize("how, want", [(["--rev", "v0.0.1"], "first"),
                                       (["--stage", "prod"], "first"),
                                       ([], "second")])
def test_artifacts_get_fetches_a_version_or_a_stage_that_samples_and_scores(shared, how, want,
                                                                            tmp_path):
    out = tmp_path / "gru"
    run_dvc(["artifacts", "get", str(shared["repo"]), NAME, *how, "-o", str(out)], tmp_path)
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json",
                                                     "model.safetensors", "summary.json"]
    assert digest(out / "model.safetensors") == shared[want]      # that version's weights
    card = (out / "README.md").read_text(encoding="utf-8")
    assert f"# {NAME}" in card and "## Results" in card
    sample = tool("charlm", ["sample", "--checkpoint", str(out), "--length", "25"], tmp_path)
    assert len(sample.stdout.rstrip("\n")) >= 25
    (tmp_path / "t.txt").write_text("Before we proceed any further, hear me speak.\n")
    scored = json.loads(tool("charlm", ["score", "--checkpoint", str(out), "--json", "t.txt"],
                             tmp_path).stdout)
    assert scored["chars"] == 46 and scored["bpc"] > 0


def test_the_ngram_artifact_scores_from_its_fetched_folder(shared, tmp_path):
    out = tmp_path / "ng"
    tool("gto", ["register", "tinyshakespeare-ngram"], shared["repo"])
    run_dvc(["artifacts", "get", str(shared["repo"]), "tinyshakespeare-ngram", "-o", str(out)],
            tmp_path)
    assert {"model.npz", "model.json", "fit.json", "samples", "README.md"} <= \
        {p.name for p in out.iterdir()}
    (tmp_path / "t.txt").write_text("First Citizen:\n", encoding="utf-8")
    scored = json.loads(tool("charlm", ["score", "--checkpoint", str(out), "--json", "t.txt"],
                             tmp_path).stdout)
    own = json.loads(tool("charlm", ["score", "--corpus", "tinyshakespeare", "--model", "ngram",
                                     "--json", str(tmp_path / "t.txt")], shared["repo"]).stdout)
    assert scored["bits"] == own["bits"]


def test_charlm_models_shows_versions_and_stages(shared):
    out = tool("charlm", ["models"], shared["repo"]).stdout
    header, *rows = out.splitlines()
    assert header.split()[-1] == "registry"
    gru = next(r for r in rows if r.startswith("tinyshakespeare") and " gru" in r)
    assert gru.endswith("v0.0.2 prod=v0.0.1"), out
    listed = json.loads(tool("charlm", ["models", "--json"], shared["repo"]).stdout)
    by = {r["artifact"]: r for r in listed}
    assert (by[NAME]["version"], by[NAME]["stages"]) == ("v0.0.2", {"prod": "v0.0.1"})
