"""dvc.yaml and the documented `dvc exp run -S` overrides against the code: every stage's
params exist in params.yaml, the train stage lists every common key of TrainParams (a key
left out would let a changed param keep a stale model), each stage's command module is one
of its deps, and every override the README and params.yaml show applies (through DVC's
own Hydra override code) and gives valid params."""

from __future__ import annotations

import dataclasses
import re
import shlex
import shutil
from pathlib import Path

import pytest
import yaml
from dvc.utils.hydra import apply_overrides

from charlm.param_sections import TrainParams
from charlm.params import load_params

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


def _readme_commands() -> list[str]:
    """Every `dvc exp run` command in the README, continuation lines joined."""
    text = (ROOT / "README.md").read_text().replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip().startswith("dvc exp run")]


def _overrides(cmd: str) -> list[str]:
    tokens = shlex.split(cmd, comments=True)
    return [tokens[i + 1] for i, t in enumerate(tokens) if t == "-S"]


def _apply(tmp_path: Path, overrides: list[str]):
    p = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", p)
    apply_overrides(p, overrides)
    return load_params(p)


def test_readme_exp_run_commands_apply_and_validate(tmp_path):
    cmds = _readme_commands()
    assert len(cmds) >= 8, cmds
    for cmd in cmds:
        _apply(tmp_path, _overrides(cmd))
    # the measured 10-minute LSTM preset is the run benchmarks/results/train.json records
    preset = next(c for c in cmds if "train.amp=bf16" in c)
    tp = _apply(tmp_path, _overrides(preset)).train
    spec = tp.models["lstm"]
    assert (spec.hidden_size, spec.num_layers, spec.dropout, spec.seq_len, spec.steps) == \
        (512, 2, 0.05, 100, 1630)
    assert (tp.lr, tp.min_lr, tp.warmup_steps, tp.weight_decay, tp.grad_clip, tp.amp) == \
        (0.003, 0, 50, 0.1, 5, "bf16")


def test_every_documented_override_applies_on_its_own(tmp_path):
    """Also the ones in prose and in params.yaml's comments (a plain `-S` on a key that
    params.yaml lacks is refused by DVC: those need `++`)."""
    texts = (ROOT / "README.md").read_text() + (ROOT / "params.yaml").read_text()
    found = re.findall(r"-S '([^']+)'", texts)
    assert len(found) >= 40
    for o in sorted(set(found)):
        if o in ("train.nproc=N", "section.key=value"):      # placeholders in prose
            continue
        _apply(tmp_path, [o])
    from dvc.exceptions import InvalidArgumentError
    with pytest.raises(InvalidArgumentError) as e:              # why the `++` is needed
        _apply(tmp_path, ["train.models.lstm.seq_len=100"])
    assert "Could not override" in str(e.value.__cause__)
