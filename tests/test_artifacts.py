"""dvc.yaml's artifacts (charlm/compare/artifacts.py): every trained model of the run declared,
generated from params.yaml's run by the report stage, the rest of dvc.yaml untouched."""

from __future__ import annotations

import copy
import os

import pytest
import yaml

from charlm.compare import artifacts
from charlm.compare.artifacts import artifact_name
from charlm.core import paths
from charlm.core.errors import CharlmError
from charlm.params import load_params, parse_params

from helpers import ROOT


def params_with(**run) -> object:
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["corpora"] = yaml.safe_load((ROOT / "corpora.yaml").read_text())["corpora"]
    raw["run"].update(copy.deepcopy(run))
    return parse_params(raw)


def test_the_committed_dvc_yaml_declares_every_model_of_the_default_run():
    text = (ROOT / "dvc.yaml").read_text(encoding="utf-8")
    params = load_params(ROOT / "params.yaml")
    assert artifacts.updated(text, artifacts.declarations(params)) == text
    declared = yaml.safe_load(text)["artifacts"]
    runs = [(c, "ngram") for c in params.run.corpora] + \
        [(p.corpus, p.model) for p in params.run.all_pairs().values()]
    assert sorted(declared) == sorted(artifact_name(c, m) for c, m in runs)
    for corpus, model in runs:
        a = declared[artifact_name(corpus, model)]
        folder = paths.model_card(corpus, model).parent
        assert a["path"] == folder.as_posix() and a["type"] == "model"
        assert a["labels"][0] == corpus and corpus in a["desc"]
        if model != "ngram":    # the training checkpoint is not in what a user fetches
            assert not paths.checkpoint_dir(corpus, model).is_relative_to(folder)


def test_dvc_reads_the_declarations(tmp_path):
    """DVC's own reader (what `dvc artifacts get` resolves names with) sees each one."""
    from dvc.repo import Repo
    os.environ["DVC_NO_ANALYTICS"] = "1"
    with Repo(str(ROOT)) as repo:
        read = repo.artifacts.read()["dvc.yaml"]
    declared = yaml.safe_load((ROOT / "dvc.yaml").read_text())["artifacts"]
    assert set(read) == set(declared)
    for name, a in read.items():
        assert (a.path, a.type, list(a.labels)) == (declared[name]["path"], "model",
                                                     declared[name]["labels"])


def test_a_finetuned_run_is_declared_and_the_rest_of_dvc_yaml_is_kept_byte_for_byte():
    text = (ROOT / "dvc.yaml").read_text(encoding="utf-8")
    params = params_with(finetune={"latex-gru": {"corpus": "latex", "model": "gru",
                                                 "init_from": "tinyshakespeare/gru"}})
    new = artifacts.updated(text, artifacts.declarations(params))
    head = text.split(artifacts.MARKER)[0]
    assert new.startswith(head) and new != text
    a = yaml.safe_load(new)["artifacts"]["latex-gru"]
    assert a["path"] == "data/models/latex/gru" and "fine-tuned from tinyshakespeare/gru" in a["desc"]
    assert artifacts.updated(new, artifacts.declarations(params)) == new      # idempotent
    # a dvc.yaml without the section gets it appended, its text kept
    bare = head.rstrip("\n") + "\n"
    assert artifacts.updated(bare, artifacts.declarations(params)).startswith(bare)


def test_a_hand_written_artifacts_section_is_refused_not_duplicated():
    text = (ROOT / "dvc.yaml").read_text(encoding="utf-8").split(artifacts.MARKER)[0]
    with pytest.raises(CharlmError, match="artifacts: section outside"):
        artifacts.updated(text + "artifacts:\n  x: {path: a}\n", {})


def test_a_model_name_gto_cannot_take_is_one_line_of_error():
    params = params_with()
    params.train.models["lstm-"] = params.train.models["lstm"]
    params.run.pairs["latex-lstm"].model = "lstm-"
    with pytest.raises(CharlmError, match="artifact 'latex-lstm-'.*rename"):
        artifacts.declarations(params)


def test_write_artifacts_rewrites_only_when_the_run_changed(tmp_path):
    dvc_yaml = tmp_path / "dvc.yaml"
    dvc_yaml.write_text((ROOT / "dvc.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    assert artifacts.write_artifacts(load_params(ROOT / "params.yaml"), dvc_yaml) is False
    params = params_with(corpora=["tinyshakespeare"],
                         pairs={"tinyshakespeare-gru": {"corpus": "tinyshakespeare",
                                                        "model": "gru"}})
    assert artifacts.write_artifacts(params, dvc_yaml) is True
    assert sorted(yaml.safe_load(dvc_yaml.read_text())["artifacts"]) == \
        ["tinyshakespeare-gru", "tinyshakespeare-ngram"]
