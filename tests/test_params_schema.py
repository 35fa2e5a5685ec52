"""The params schema against the committed params files: defaults equal to params.yaml
(deleting a key must not silently change a run), corpora from corpora.yaml, model
names checked against train.models."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from charlm.core.errors import ParamsError
from charlm.params import (EvaluateParams, NgramParams, PrepareParams, RunParams, TrainCommon,
                           load_params)

ROOT = Path(__file__).resolve().parent.parent
RAW = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))


def defaults(cls) -> dict:
    out = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            v = f.default_factory()
            out[f.name] = defaults(type(v)) if dataclasses.is_dataclass(v) else v
    return out


@pytest.mark.parametrize("cls, raw", [
    (TrainCommon, RAW["train"]["common"]),
    (NgramParams, RAW["ngram"]),
    (PrepareParams, RAW["prepare"]),
    (EvaluateParams, RAW["evaluate"]),
    (RunParams, RAW["run"]),
], ids=["train.common", "ngram", "prepare", "evaluate", "run"])
def test_defaults_equal_params_yaml(cls, raw):
    d = defaults(cls)
    assert set(d) <= set(raw), f"{cls.__name__}: defaults for keys params.yaml lacks: {set(d) - set(raw)}"
    for key, value in d.items():
        assert raw[key] == value, f"{cls.__name__}.{key}: default {value!r}, params.yaml {raw[key]!r}"


def test_every_train_common_key_is_in_params_yaml():
    names = {f.name for f in dataclasses.fields(TrainCommon)}
    assert names == set(RAW["train"]["common"])


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
