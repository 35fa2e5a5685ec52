"""dvc.yaml and the documented `dvc exp run -S` overrides against the code: every stage's
params exist in the params files, the train stage tracks all of train.common and its own
model's entry (a key left out would let a changed param keep a stale model), each stage's
command module is one of its deps, and every override the README and params.yaml show applies (through DVC's
own Hydra override code) and gives valid params."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
import yaml

from charlm.params import load_params

from helpers import apply_exp_run, exp_overrides

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
    from charlm.params import TrainParams
    dvc, _ = _load()
    keys = dvc["stages"]["train"]["do"]["params"]
    assert sorted(keys) == ["numerics", "run.pairs.${key}", "train.common", "train.models.${item.model}"]
    # train.common and train.models are the whole train section: nothing else to track
    assert {f.name for f in dataclasses.fields(TrainParams)} == {"common", "models"}


def _stage_params(stage: dict, params: dict):
    """(key, the mapping it must exist in) for every params entry of a stage."""
    corpora = yaml.safe_load((ROOT / "corpora.yaml").read_text())
    for entry in stage.get("do", stage).get("params", []):
        if isinstance(entry, dict):                       # {"corpora.yaml": [keys]}
            (file, keys), = entry.items()
            assert file == "corpora.yaml", file
            yield from ((k, corpora) for k in keys)
        else:
            yield entry, params


# run.finetune is empty by default: its stages are checked against this entry
EXAMPLE_FINETUNE = {"latex-lstm_ft": {"corpus": "latex", "model": "lstm",
                                      "init_from": "latex/lstm"}}


def test_every_stage_param_exists_in_params_yaml():
    dvc, params = _load()
    for name, stage in dvc["stages"].items():
        items = [{}]
        if stage.get("foreach") in ("${run.pairs}", "${run.finetune}"):
            runs = params["run"][stage["foreach"][6:-1]] or EXAMPLE_FINETUNE
            items = [{**v, "key": k} for k, v in runs.items()]
            params = {**params, "run": {**params["run"], "finetune": EXAMPLE_FINETUNE}}
        for key, where in _stage_params(stage, params):
            for item in items:
                resolved = re.sub(r"\$\{item\.(\w+)\}", lambda m: item.get(m.group(1), "?"), key)
                resolved = resolved.replace("${key}", item.get("key", "?"))
                if "${item}" in resolved:       # foreach over corpora: the key is per corpus
                    for corpus in params["run"]["corpora"]:
                        _lookup(where, resolved.replace("${item}", corpus))
                else:
                    _lookup(where, resolved)


def test_each_stage_depends_on_its_entry_point():
    dvc, _ = _load()
    for name, stage in dvc["stages"].items():
        body = stage.get("do", stage)
        module = re.search(r"python -m (stages\.\w+)", body["cmd"]).group(1)
        assert module.replace(".", "/") + ".py" in body["deps"], name


DOC_PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _doc_text() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in DOC_PAGES)


def _readme_commands() -> list[str]:
    """Every `dvc exp run` command in the README and docs/, continuation lines joined."""
    text = _doc_text().replace("\\\n", " ")
    text = text.replace("$h", "128").replace("$lr", "0.003")     # the sweep loop's first point
    return [line.strip() for line in text.splitlines() if line.strip().startswith("dvc exp run")]


def test_readme_exp_run_commands_apply_and_validate(tmp_path):
    cmds = _readme_commands()
    assert len(cmds) >= 8, cmds
    for cmd in cmds:
        if any(f"model: {name}}}" in cmd for name in PRESETS):     # a preset: one short line
            assert len(exp_overrides(cmd)) <= 3, f"more than three -S flags: {cmd}"
        apply_exp_run(tmp_path, exp_overrides(cmd))


PRESETS = ("lstm-10min", "lecture-rnn3", "char-rnn-lstm", "enwik8-lstm")


def test_every_preset_resolves_validates_and_runs_from_one_documented_line(tmp_path):
    """Each preset is a train.models entry: valid once resolved against train.common, and
    the README or docs run it with a one-line `dvc exp run` whose pairs select it alone."""
    from charlm.train.run import resolve
    params = load_params(ROOT / "params.yaml")
    cmds = _readme_commands()
    for name in PRESETS:
        spec, run = resolve(params.train, name)
        run.check(f"train.models.{name}")
        line = [c for c in cmds if f"model: {name}}}" in c]
        assert line and all("~run.pairs" in x for x in line), (name, line)
        for x in line:
            applied = apply_exp_run(tmp_path, exp_overrides(x))
            assert {p.model for p in applied.run.pairs.values()} == {name}, x


def test_the_10_minute_preset_is_the_benchmarked_recipe_resized_for_fp32():
    """The lstm-10min preset is the recipe of the run benchmarks/results/train.json records
    (its "quality" entry, 1,630 steps with CPU bf16), re-sized to fewer steps for about ten
    fp32 minutes (no preset uses CPU bf16: the portable profile refuses it), every val
    evaluation at the same fraction of the run; the presets table says its steps."""
    q = json.loads((ROOT / "benchmarks" / "results" / "train.json").read_text())["quality"]
    layers, hidden, emb, dropout = re.fullmatch(
        r"LSTM (\d+)x(\d+), embedding (\d+), dropout ([\d.]+)", q["model"]).groups()
    from charlm.train.run import resolve
    spec, run = resolve(load_params(ROOT / "params.yaml").train, "lstm-10min")
    assert (spec.arch, spec.num_layers, spec.hidden_size, spec.embedding_dim, spec.dropout) == \
        ("lstm", int(layers), int(hidden), int(emb), float(dropout))
    for key in ("batch_size", "seq_len", "lr", "warmup_steps", "min_lr", "weight_decay",
                "grad_clip"):
        assert getattr(run, key) == q[key], key
    import torch
    from charlm.train.run import uses_bf16
    assert q["amp"] == "bf16" and not uses_bf16(run, torch.device("cpu"))
    assert run.steps < q["steps"] and run.steps % run.eval_every == 0
    assert run.steps // run.eval_every == len(q["learning_curve"])     # as many evaluations
    assert q["train_chars"] == q["steps"] * q["batch_size"] * q["seq_len"]
    row = [x for x in (ROOT / "docs" / "experiments.md").read_text().splitlines()
           if x.startswith("| `lstm-10min` |")]
    assert row and f"{run.steps:,} steps of {run.batch_size} x {run.seq_len}" in row[0]


def test_every_documented_override_applies_on_its_own(tmp_path):
    """Also the ones in prose and in params.yaml's comments (a plain `-S` on a key that
    params.yaml lacks is refused by DVC: those need `++`)."""
    texts = _doc_text() + (ROOT / "params.yaml").read_text()
    found = re.findall(r"-S '([^']+)'", texts)
    # those of a README `dvc exp run` command apply together (the test above)
    in_commands = {o for cmd in _readme_commands() for o in exp_overrides(cmd)}
    placeholders = {"train.common.nproc=N", "section.key=value",      # the grammar's table
                    "a.b=v", "++a.b=v", "~a.b", "+a.b=v"}
    alone = sorted(set(found) - in_commands - placeholders)
    assert len(found) >= 20, found
    for o in alone:
        apply_exp_run(tmp_path, [o])
    from dvc.exceptions import InvalidArgumentError
    with pytest.raises(InvalidArgumentError) as e:              # why the `++` is needed
        apply_exp_run(tmp_path, ["train.models.lstm.batch_size=64"])
    assert "Could not override" in str(e.value.__cause__)


def test_a_new_variant_is_defined_and_run_from_the_command_line(tmp_path):
    """A model name params.yaml does not define, added and selected with DVC's own overrides."""
    from charlm.train.run import resolve
    pairs = "run.pairs={tinyshakespeare-gru_tiny: {corpus: tinyshakespeare, model: gru_tiny}}"
    define = "++train.models.gru_tiny={arch: gru, hidden_size: 32, num_layers: 1, steps: 20}"
    params = apply_exp_run(tmp_path, ["~run.pairs", "+" + pairs, define])      # in place of the pairs
    assert [(p.corpus, p.model) for p in params.run.pairs.values()] == \
        [("tinyshakespeare", "gru_tiny")]
    added = apply_exp_run(tmp_path, ["++" + pairs, define])                     # added to them
    assert len(added.run.pairs) == len(load_params(ROOT / "params.yaml").run.pairs) + 1
    spec, run = resolve(params.train, "gru_tiny")
    assert (spec.arch, spec.hidden_size, spec.num_layers, run.steps) == ("gru", 32, 1, 20)
    from charlm.core.errors import ParamsError
    with pytest.raises(ParamsError, match=r"run.pairs.tinyshakespeare-gru_tiny.model: unknown "
                                          r"model 'gru_tiny'"):
        apply_exp_run(tmp_path, ["~run.pairs", "+" + pairs])


def test_no_preset_or_default_uses_cpu_bf16():
    """CPU bf16 is out of reach of the portable profile and its speed depends on the CPU
    (docs/neural.md): every model entry trains in fp32 on a CPU, bf16 on CUDA only."""
    import torch
    from charlm.train.run import resolve, uses_bf16
    train = load_params(ROOT / "params.yaml").train
    for name in train.models:
        _, run = resolve(train, name)
        assert not uses_bf16(run, torch.device("cpu")), name
        assert uses_bf16(run, torch.device("cuda")) == (run.amp != "off"), name
