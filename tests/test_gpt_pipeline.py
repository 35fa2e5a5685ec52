"""A transformer defined on the command line runs through `dvc exp run` in a fresh repository:
trained, scored (static and adapted), in the mixture and the summary, then sampled and
scored by the `charlm` command from what the experiment left."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import run_dvc, small_repo

CORPUS = "tinyshakespeare"
GPT = ("{arch: transformer, hidden_size: 32, num_layers: 2, heads: 4, context: 32, dropout: 0.0, "
       "steps: 30, batch_size: 8, lr: 0.003, min_lr: 0.0003, eval_every: 15}")


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_transformer_from_the_command_line_runs_through_dvc_exp_run(mirror, tmp_path):
    repo = small_repo(tmp_path / "repo", [f"run.corpora=[{CORPUS}]", "~run.pairs",
                                          "+run.pairs={}", f"evaluate.dynamic.pairs=[{CORPUS}-gpt]"])
    env = {"CHARLM_MIRROR": str(mirror)}
    run_dvc(["exp", "run", "-S", f"++train.models.gpt={GPT}",
             "-S", f"++run.pairs.{CORPUS}-gpt={{corpus: {CORPUS}, model: gpt}}"], repo, env)

    summary = json.loads((repo / "metrics/summary.json").read_text())[CORPUS]
    assert set(summary) == {"ngram", "gpt", "mix"}
    gpt = summary["gpt"]
    assert 0 < gpt["test_bpc"] < 8 and math.isfinite(gpt["dynamic_test_bpc"])
    assert gpt["train_chars"] == 30 * 8 * 32                  # windows of its context
    mix = json.loads((repo / f"metrics/eval/{CORPUS}/mix.json").read_text())
    assert {"gpt", "gpt:dynamic", "ngram"} <= set(mix["weights"])
    config = json.loads((repo / f"data/models/{CORPUS}/gpt/config.json").read_text())["model"]
    assert (config["arch"], config["heads"], config["context"]) == ("transformer", 4, 32)
    card = (repo / f"data/models/{CORPUS}/gpt/README.md").read_text()
    assert "context (chars) | 32" in card
    sample = (repo / f"samples/{CORPUS}/gpt.txt").read_text()
    assert len(sample) >= 40

    charlm = [str(Path(sys.executable).parent / "charlm")]
    run = dict(cwd=repo, capture_output=True, text=True, env={**os.environ, **env})
    out = subprocess.run([*charlm, "sample", "--corpus", CORPUS, "--model", "gpt",
                          "--length", "80", "--seed", "3"], **run)
    assert out.returncode == 0 and len(out.stdout) >= 80, out.stderr
    (tmp_path / "play.txt").write_text("First Citizen:\nBefore we proceed any further, hear me "
                                       "speak.\n" * 3)
    scored = subprocess.run([*charlm, "score", "--corpus", CORPUS, "--model", "gpt", "--json",
                             "--per-char", str(tmp_path / "bits.tsv"), str(tmp_path / "play.txt")],
                            **run)
    assert scored.returncode == 0, scored.stderr
    assert 0 < json.loads(scored.stdout)["bpc"] < 8
    rows = (tmp_path / "bits.tsv").read_text().splitlines()
    assert len(rows) == 1 + len((tmp_path / "play.txt").read_text())   # a header, a row per char
    listed = subprocess.run([*charlm, "models"], **run)
    assert listed.returncode == 0 and "transformer" in listed.stdout, listed.stderr
    assert Path(repo / "dvc.lock").is_file()
