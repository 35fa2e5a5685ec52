"""Untrusted files where a checkpoint, a model or prepared data is expected: loading refuses
them and never executes code (a planted pickle whose __reduce__ creates a marker directory)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from charlm.neural.models import save_trained
from faultkit import ENV, Project, make_project, one_line_error

CLI = [sys.executable, "-m", "charlm.cli"]


class Evil:
    """Unpickling this calls os.makedirs(marker): proof that code ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.makedirs, (self.marker,))


def run(argv, cwd):
    return subprocess.run(argv, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=180)


def test_the_planted_pickle_is_live_and_torch_weights_only_refuses_it(tmp_path):
    evil, marker = tmp_path / "evil.pt", tmp_path / "PWNED"
    torch.save({"model": Evil(marker)}, evil)
    safe = f"import torch\ntry:\n    torch.load({str(evil)!r}, weights_only=True)\nexcept Exception as e:\n    print(type(e).__name__)"
    r = run([sys.executable, "-c", safe], tmp_path)
    assert r.returncode == 0 and "UnpicklingError" in r.stdout and not marker.exists()
    # positive control: a plain pickle load would run the payload
    r = run([sys.executable, "-c", f"import torch; torch.load({str(evil)!r}, weights_only=False)"], tmp_path)
    assert marker.is_dir()


def test_loaders_refuse_a_planted_pickle_and_never_run_it(tmp_path, prepared):
    from charlm.core.vocab import Vocab
    root = make_project(tmp_path / "p", prepared, steps=10, eval_every=10, checkpoint_every=10)
    p, marker = Project(root), tmp_path / "PWNED"
    # 1. as the training checkpoint: the train stage
    p.ckpt.parent.mkdir(parents=True)
    torch.save({"model": Evil(marker)}, p.ckpt)
    # 2. as a model's weights (config.json valid): `charlm sample`
    from charlm.neural.models import CharRNN, ModelConfig
    vocab = Vocab.load(prepared / "vocab.json")
    other = root / "other_model"
    save_trained(other, CharRNN(ModelConfig(arch="gru", vocab_size=vocab.size, hidden_size=8, embedding_dim=64)), vocab)
    torch.save({"weights": Evil(marker)}, other / "model.safetensors")
    # 3. as a checkpoint file given to `charlm sample --checkpoint`
    evil_pt = tmp_path / "evil.pt"
    torch.save(Evil(marker), evil_pt)
    # 4. as a prepared split: an object array (pickled) in train.npy of a copy of the corpus
    bad_prep = tmp_path / "prep-bad"
    bad_prep.mkdir()
    for f in prepared.iterdir():
        (bad_prep / f.name).write_bytes(f.read_bytes())
    np.save(bad_prep / "train.npy", np.array([Evil(marker)], dtype=object), allow_pickle=True)
    bad = make_project(tmp_path / "q", bad_prep)
    procs = {
        "train_ckpt": ([sys.executable, "-m", "stages.train", "tiny", "lstm", "--progress", "off"], root),
        "model_file": (CLI + ["sample", "--length", "5", "--checkpoint", str(other)], root),
        "ckpt_file": (CLI + ["sample", "--length", "5", "--checkpoint", str(evil_pt)], root),
        "npy": (CLI + ["ngram", "sample", "--corpus", "tiny", "--order", "2", "--length", "5"], bad),
    }
    running = {n: subprocess.Popen(a, cwd=c, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True) for n, (a, c) in procs.items()}
    expect = {"train_ckpt": "data/checkpoints/tiny/lstm/last.safetensors: corrupt checkpoint",
              "model_file": f"{other / 'model.safetensors'}: unreadable weights",
              "ckpt_file": f"{evil_pt}: corrupt checkpoint",
              "npy": "data/prepared/tiny/train.npy: unreadable"}
    for name, proc in running.items():
        out, err = proc.communicate(timeout=180)
        line = one_line_error(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
        assert expect[name] in line, (name, line)
    assert not marker.exists()
    assert p.ckpt.read_bytes()[:2] == b"PK"            # left in place for the user to inspect


def test_params_yaml_with_python_tags_is_refused(tmp_path, prepared):
    root = make_project(tmp_path / "p", prepared)
    marker = tmp_path / "PWNED"
    text = (root / "params.yaml").read_text()
    (root / "params.yaml").write_text(text + f"\nevil: !!python/object/apply:os.makedirs [{str(marker)!r}]\n")
    line = one_line_error(run([sys.executable, "-m", "stages.prepare", "tiny"], root))
    assert "params.yaml: invalid YAML" in line and "python/object/apply:os.makedirs" in line, line
    assert not marker.exists()


def test_flipped_bytes_in_a_trained_model_are_caught(tmp_path, prepared):
    from charlm.core.errors import CheckpointError
    from charlm.neural.models import CharRNN, ModelConfig, load_trained
    from charlm.core.vocab import Vocab
    vocab = Vocab.load(prepared / "vocab.json")
    d = tmp_path / "m"
    save_trained(d, CharRNN(ModelConfig(arch="gru", vocab_size=vocab.size, hidden_size=8, embedding_dim=64)), vocab)
    load_trained(d)                                      # intact: loads
    data = bytearray((d / "model.safetensors").read_bytes())
    data[-20] ^= 0x01                                    # one bit of the last weights
    (d / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"model\.safetensors: corrupt weights .*CRC-32"):
        load_trained(d)
