"""The params schema against the committed params files: defaults written once, in
params.yaml (the schema reads them), corpora from corpora.yaml, model names checked
against train.models."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest
import yaml

from charlm.core.errors import ParamsError
from charlm.params import (DynamicParams, NgramParams, SampleParams, SplitParams, TrainCommon,
                           from_dict, load_params)
from charlm.params import defaults

ROOT = Path(__file__).resolve().parent.parent
RAW = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))


SECTIONS = ROOT / "charlm" / "params" / "sections.py"


def _decorated(node: ast.ClassDef) -> str | None:
    for d in node.decorator_list:
        if isinstance(d, ast.Call) and getattr(d.func, "id", "") == "defaults_from":
            return d.args[0].value
    return None


def test_no_default_is_written_in_the_schema():
    """Each section that params.yaml sets takes its defaults from the file (defaults_from):
    its fields carry no value of their own, only nested sections and resumable() markers."""
    own, sections = [], []
    for node in ast.walk(ast.parse(SECTIONS.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ClassDef) and _decorated(node):
            sections.append(_decorated(node))
            for stmt in node.body:
                if isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
                    call = stmt.value
                    ok = isinstance(call, ast.Call) and (
                        getattr(call.func, "id", "") == "resumable" or
                        [k.arg for k in call.keywords] == ["default_factory"]
                        and isinstance(call.keywords[0].value, ast.Name))
                    if not ok:
                        own.append(f"{node.name}.{stmt.target.id}")
    assert not own, f"defaults written in the schema, not params.yaml: {own}"
    assert {"prepare.split", "ngram", "train.common", "evaluate.sample", "evaluate.dynamic",
            "evaluate.dynamic.ngram"} <= set(sections)


@pytest.mark.parametrize("cls, section", [
    (TrainCommon, "train.common"), (NgramParams, "ngram"), (SplitParams, "prepare.split"),
    (SampleParams, "evaluate.sample"), (DynamicParams, "evaluate.dynamic"),
])
def test_every_key_of_a_section_is_in_params_yaml_and_the_reverse(cls, section):
    node = RAW
    for key in section.split("."):
        node = node[key]
    names = {f.name for f in dataclasses.fields(cls)}
    assert names == set(node)


def test_a_key_the_defaults_file_lacks_is_required(monkeypatch):
    """defaults_from gives a field the file's value; a field the file does not set has no
    default: a params file without it is refused, not run on a value from elsewhere."""
    monkeypatch.setattr(defaults, "_RAW", {"toy": {"a": 3, "xs": [1, 2]}})

    @dataclasses.dataclass
    @defaults.defaults_from("toy")
    class Toy:
        a: int
        xs: list[int]
        b: int

    t = from_dict(Toy, {"b": 1})
    assert (t.a, t.xs, t.b) == (3, [1, 2], 1)
    t.xs.append(9)
    assert from_dict(Toy, {"b": 1}).xs == [1, 2]        # a list default is never shared
    with pytest.raises(ParamsError, match=r"^toy.b: missing required key$"):
        from_dict(Toy, {}, "toy")


def test_a_missing_key_takes_the_params_yaml_value(tmp_path):
    raw = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    del raw["train"]["common"]["steps"], raw["train"]["common"]["min_lr"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    (tmp_path / "corpora.yaml").write_text((ROOT / "corpora.yaml").read_text())
    full, partial = load_params(ROOT / "params.yaml"), load_params(tmp_path / "params.yaml")
    assert partial.train.common == full.train.common


def test_corpora_come_from_corpora_yaml_and_a_name_in_both_files_is_refused(tmp_path):
    params = load_params(ROOT / "params.yaml")
    assert "tinyshakespeare" in params.corpora and "corpora" not in RAW
    raw = dict(RAW, corpora={"tinyshakespeare": {"sources": [{"url": "x", "sha256": "0" * 64}]}})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    (tmp_path / "corpora.yaml").write_text((ROOT / "corpora.yaml").read_text())
    with pytest.raises(ParamsError, match="corpora.tinyshakespeare: defined both"):
        load_params(tmp_path / "params.yaml")


@pytest.mark.parametrize("key, pair, message", [
    ("tinyshakespeare-lstmm", ["tinyshakespeare", "lstmm"],
     "run.pairs.tinyshakespeare-lstmm.model: unknown model 'lstmm' (did you mean 'lstm'?)"),
    ("tinyshakespeare-ngram", ["tinyshakespeare", "ngram"],
     "run.pairs.tinyshakespeare-ngram.model: unknown model 'ngram'"),
    ("latex-lstm", ["latex", "lstm"],
     "run.pairs.latex-lstm.corpus: 'latex' is not in run.corpora"),
    ("shakespeare-lstm", ["tinyshakespeare", "lstm"],
     "run.pairs.shakespeare-lstm: the key must be 'tinyshakespeare-lstm'"),
])
def test_run_pairs_name_a_run_corpus_and_a_defined_model(tmp_path, key, pair, message):
    pairs = {key: {"corpus": pair[0], "model": pair[1]}}
    raw = dict(RAW, run={"corpora": ["tinyshakespeare"], "pairs": pairs})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    (tmp_path / "corpora.yaml").write_text((ROOT / "corpora.yaml").read_text())
    with pytest.raises(ParamsError) as e:
        load_params(tmp_path / "params.yaml")
    assert str(e.value).startswith(message)


# --------------------------------------------------------------------------- issue 27

def _params_with(tmp_path, old: str, new: str):
    from charlm.params import load_params
    text = (ROOT / "params.yaml").read_text(encoding="utf-8")
    assert old in text
    (tmp_path / "params.yaml").write_text(text.replace(old, new, 1), encoding="utf-8")
    (tmp_path / "corpora.yaml").write_text((ROOT / "corpora.yaml").read_text(encoding="utf-8"))
    return load_params(tmp_path / "params.yaml")


def test_params_read_as_dvc_reads_them_yaml_1_2(tmp_path):
    """`lr: 1e-3` is a number (YAML 1.1 made it a string and charlm refused it)."""
    p = _params_with(tmp_path, "    lr: 0.003 ", "    lr: 3e-3 ")
    assert p.train.common.lr == 0.003


def test_a_duplicate_key_is_refused_with_its_line(tmp_path):
    with pytest.raises(ParamsError, match=r"params.yaml: invalid YAML at line \d+: a key given "
                                          r"twice: .*duplicate key \"seed\""):
        _params_with(tmp_path, "    seed: 1337 ", "    seed: 1337\n    seed: 7 ")


@pytest.mark.parametrize("old,new,match", [
    ("    batch_size: 32 ", "    batch_size: " + "1" + "0" * 30 + " ",
     r"train.common.batch_size: absurdly large"),
    ("    batch_size: 32 ", "    batch_size: 10000000 ", r"batch_size x seq_len = 640,000,000"),
])
def test_absurd_sizes_are_refused_with_their_key_path(tmp_path, old, new, match):
    with pytest.raises(ParamsError, match=match):
        _params_with(tmp_path, old, new)


def test_an_unreadable_params_file_is_one_line(tmp_path):
    from charlm.params import load_params
    (tmp_path / "params.yaml").mkdir()
    with pytest.raises(ParamsError, match="params.yaml: cannot read"):
        load_params(tmp_path / "params.yaml")
