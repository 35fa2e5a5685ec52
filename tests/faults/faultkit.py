"""Helpers of the fault-injection suite: throwaway projects (its fixtures are in conftest.py).

A "project" is a directory laid out like the repository (params.yaml, data/prepared/tiny)
in which the real stage commands run as subprocesses (`python -m stages.train tiny lstm`),
with PYTHONPATH pointing at this checkout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from helpers import ROOT

ENV = {**os.environ, "PYTHONPATH": str(ROOT), "DVC_NO_ANALYTICS": "1", "OMP_NUM_THREADS": "1"}
ENV.pop("CHARLM_FRESH", None)
ENV.pop("CHARLM_STOP_AFTER_STEPS", None)
TRAIN = [sys.executable, "-m", "stages.train", "tiny", "lstm", "--progress", "off"]

# Small and fast: a 2x24 LSTM, 8 streams of 16 chars, a checkpoint every 7 steps.
TRAIN_PARAMS = dict(steps=60, batch_size=8, seq_len=16, lr=0.01, warmup_steps=5, min_lr=0.001,
                    eval_every=20, eval_streams=1, checkpoint_every=7, log_every=1, device="cpu",
                    threads=1)
SAMPLE_CHARS = 30
MODEL = {"arch": "lstm", "hidden_size": 24, "num_layers": 2, "embedding_dim": 8}


def write_params(root: Path, model: dict | None = None, ngram: dict | None = None, **train) -> None:
    raw = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    raw["corpora"] = {"tiny": {"sources": [{"url": "http://127.0.0.1/x", "sha256": "0" * 64}]}}
    raw["run"] = {"corpora": ["tiny"], "pairs": {"tiny-lstm": {"corpus": "tiny", "model": "lstm"}}}
    raw["evaluate"]["sample"]["chars"] = train.pop("sample_chars", SAMPLE_CHARS)
    raw["train"]["common"].update({**TRAIN_PARAMS, **train})
    raw["train"]["models"] = {"lstm": {**MODEL, **(model or {})}}
    if ngram is not None:
        raw["ngram"].update(ngram)
    (root / "params.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")


def make_project(root: Path, prepared: Path | None, **kw) -> Path:
    """A project dir whose data/prepared/tiny is `prepared` (a symlink) or empty."""
    (root / "data" / "prepared").mkdir(parents=True)
    if prepared is not None:
        os.symlink(prepared, root / "data" / "prepared" / "tiny")
    write_params(root, **kw)
    return root


class Project:
    def __init__(self, root: Path):
        self.root = root
        self.model = root / "data" / "models" / "tiny" / "lstm"
        self.ckpt = root / "data" / "checkpoints" / "tiny" / "lstm" / "last.safetensors"
        self.live = root / "metrics" / "train" / "tiny" / "lstm"

    def rel(self, path: Path) -> str:
        """`path` as the stage names it (relative to the project root, where it runs)."""
        return str(path.relative_to(self.root))

    def run(self, *extra: str, env: dict | None = None, cmd: list[str] | None = None, **kw):
        return subprocess.run((cmd or TRAIN) + list(extra), cwd=self.root, env={**ENV, **(env or {})},
                              capture_output=True, text=True, **kw)

    def popen(self, env: dict | None = None):
        return subprocess.Popen(TRAIN, cwd=self.root, env={**ENV, **(env or {})},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def summary(self) -> dict:
        return json.loads((self.model / "summary.json").read_text())

    def loss_rows(self) -> list[str]:
        f = self.live / "plots" / "metrics" / "train" / "loss.tsv"
        return f.read_text().splitlines() if f.exists() else []


def one_line_error(proc) -> str:
    """The process failed as a user error: exit 2 and exactly one stderr line 'error: ...'."""
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    return lines[0]
