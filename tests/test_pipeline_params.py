"""dvc.yaml against the code: every stage's params exist in params.yaml, the train stage
lists every common key of TrainParams (a key left out would let a changed param keep a
stale model), and each stage's command module is one of its deps."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import yaml

from charlm.param_sections import TrainParams

ROOT = Path(__file__).resolve().parents[1]


def _load():
    return (yaml.safe_load((ROOT / "dvc.yaml").read_text()),
            yaml.safe_load((ROOT / "params.yaml").read_text()))


def _lookup(params: dict, dotted: str):
    node = params
    for part in dotted.split("."):
        assert isinstance(node, dict) and part in node, f"params.yaml has no {dotted!r}"
        node = node[part]
    return node


def test_train_stage_tracks_every_common_train_key_and_its_own_model():
    dvc, _ = _load()
    keys = dvc["stages"]["train"]["params"]
    assert "train.models.${item.model}" in keys
    common = {k.split(".", 1)[1] for k in keys if k.startswith("train.") and not k.startswith("train.models")}
    fields = {f.name for f in dataclasses.fields(TrainParams)} - {"models"}
    assert common == fields, (f"missing from dvc.yaml: {sorted(fields - common)}; "
                              f"not TrainParams fields: {sorted(common - fields)}")
    assert "train" not in keys      # the whole section would re-run every model on any change


def test_every_stage_param_exists_in_params_yaml():
    dvc, params = _load()
    for name, stage in dvc["stages"].items():
        items = [{}]
        if "matrix" in stage:
            items = [{"model": m} for m in params["run"]["models"]]
        for key in stage.get("do", stage).get("params", []):
            for item in items:
                resolved = re.sub(r"\$\{item\.(\w+)\}", lambda m: item.get(m.group(1), "?"), key)
                if "${item}" in resolved:       # foreach over corpora: the key is per corpus
                    for corpus in params["run"]["corpora"]:
                        _lookup(params, resolved.replace("${item}", corpus))
                else:
                    _lookup(params, resolved)


def test_each_stage_depends_on_its_entry_point():
    dvc, _ = _load()
    for name, stage in dvc["stages"].items():
        body = stage.get("do", stage)
        module = re.search(r"python -m (stages\.\w+)", body["cmd"]).group(1)
        assert module.replace(".", "/") + ".py" in body["deps"], name
