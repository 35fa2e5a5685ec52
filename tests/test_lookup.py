"""The CLI's guidance: devices, the command that trains a model, the repository root."""

from __future__ import annotations

import pytest
import torch

from helpers import ROOT

from charlm.core.errors import CharlmError, ParamsError
from charlm.core.device import pick_device
from charlm.cli.lookup import repo_params, train_command
from charlm.params import load_params


def test_devices():
    assert pick_device("cpu") == "cpu"
    assert pick_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ParamsError, match="--device: expected one of auto, cpu, cuda, got 'gpu'"):
        pick_device("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(CharlmError, match="train.device is cuda but no CUDA device"):
            pick_device("cuda", "train.device")


def test_the_command_that_trains_each_kind_of_model():
    p = load_params(ROOT / "params.yaml")
    assert train_command(p, "latex", "ngram") == "dvc repro ngram@latex"
    assert train_command(p, "latex", "lstm") == "dvc repro train@latex-lstm"
    assert train_command(p, "latex", "gru") == (
        "dvc exp run -S '++run.pairs={latex-gru: {corpus: latex, model: gru}}'")


def test_outside_the_repository_root(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CharlmError, match="charlm runs from the repository root "
                                          r"\(cd to your charlm checkout first\)"):
        repo_params()
    monkeypatch.chdir(ROOT / "charlm")
    with pytest.raises(CharlmError, match=f"cd {ROOT} first"):
        repo_params()


def test_evaluation_follows_train_device(tmp_path, monkeypatch):
    """The evaluate stage scores a neural model on train.device: cuda without a GPU is a
    one-line error naming the key, before anything is loaded."""
    import subprocess
    import sys

    from helpers import copy_repo, set_params
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the error cannot happen")
    repo = copy_repo(tmp_path / "repo")
    set_params(repo, ["train.common.device=cuda"])
    r = subprocess.run([sys.executable, "-m", "stages.evaluate", "tinyshakespeare", "lstm"],
                       cwd=repo, capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    assert r.stderr == "error: train.device is cuda but no CUDA device is available (use cpu or auto)\n"


def _parsers(parser, path=("charlm",)):
    """Every parser of the `charlm` command, with its command path."""
    import argparse
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, path + (name,))


def test_every_help_shows_its_defaults_and_the_version(capsys):
    import argparse

    from charlm import __version__
    from charlm.cli.main import build_parser
    parser = build_parser()
    checked = 0
    for path, p in _parsers(parser):
        help_text = p.format_help()
        # no module plumbing (`register(subparsers)`) leaks into a help; GTO's `gto register` may
        assert "register(" not in help_text and "TODO" not in help_text, path
        for a in p._actions:
            if a.option_strings and a.default not in (None, False, argparse.SUPPRESS) \
                    and a.help is not None and not a.required:
                assert "default" in (a.help % {"default": a.default}
                                     if "%(default)" in a.help else
                                     p._get_formatter()._get_help_string(a)), (path, a.dest)
                checked += 1
    assert checked >= 12            # options with a default (several default to None: unset)
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        parser.parse_args(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"charlm {__version__}"
