"""params.yaml validation: every bad value is refused up front with a one-line error."""

from __future__ import annotations

import copy

import pytest
import yaml
from hypothesis import given, settings, strategies as st

from charlm.errors import ParamsError
from charlm.params import load_params, parse_params

from helpers import ROOT

RAW = yaml.safe_load((ROOT / "params.yaml").read_text())


def _with(path: str, value):
    raw = copy.deepcopy(RAW)
    node = raw
    keys = path.split(".")
    for k in keys[:-1]:
        node = node[k]
    node[keys[-1]] = value
    return raw


def test_shipped_params_are_valid():
    p = load_params(ROOT / "params.yaml")
    assert p.run.corpora == ["tinyshakespeare", "enwiki-sample", "latex"]
    assert len(p.corpus("latex-full").sources) == 119
    assert p.corpus("enwik8").member == "enwik8"
    assert p.corpus("latex").urls()[0].startswith("https://raw.githubusercontent.com/stacks/")


@pytest.mark.parametrize("path,value,message", [
    ("prepare.split.train", 0.8, "must sum to 1"),
    ("prepare.split.val", -0.05, "must be > 0"),
    ("prepare.split.tran", 0.9, "did you mean 'train'"),
    ("run.corpora", ["tinyshakespear"], "unknown corpus 'tinyshakespear'.*did you mean 'tinyshakespeare'"),
    ("run.corpora", [], "at least one corpus"),
    ("run.models", ["lstn"], "unknown model 'lstn'.*did you mean 'lstm'"),
    ("corpora.tinyshakespeare.unpack", "rar", "must be one of"),
    ("corpora.tinyshakespeare.encoding", "utf-9", "unknown encoding"),
    ("corpora.tinyshakespeare.max_chars", 0, "max_chars: must be > 0"),
    ("corpora.tinyshakespeare.max_chars", "lots", "must be an integer"),
    ("corpora.enwik8.member", None, "required when unpack is 'zip'"),
])
def test_bad_values_are_refused(path, value, message):
    with pytest.raises(ParamsError, match=message):
        parse_params(_with(path, value))


def test_bad_sha_and_unknown_section():
    raw = copy.deepcopy(RAW)
    raw["corpora"]["tinyshakespeare"]["sources"][0]["sha256"] = "abc"
    with pytest.raises(ParamsError, match=r"sources\[0\].sha256: must be 64 hex digits"):
        parse_params(raw)
    raw = copy.deepcopy(RAW)
    raw["prepar"] = {}
    with pytest.raises(ParamsError, match="prepar: unknown section.*did you mean 'prepare'"):
        parse_params(raw)


def test_invalid_yaml_and_missing_file(tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("run: [unclosed\n")
    with pytest.raises(ParamsError, match="invalid YAML at line"):
        load_params(bad)
    with pytest.raises(ParamsError, match="file not found"):
        load_params(tmp_path / "none.yaml")


_scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=True),
                     st.text(max_size=5))
_trees = st.recursive(_scalars, lambda c: st.one_of(st.lists(c, max_size=3),
                                                    st.dictionaries(st.text(max_size=6), c, max_size=3)),
                      max_leaves=8)


@settings(max_examples=200, deadline=None)
@given(section=st.sampled_from(sorted(RAW)), key=st.text(max_size=8), value=_trees)
def test_fuzz_params_accepts_or_raises_params_error(section, key, value):
    raw = copy.deepcopy(RAW)
    if isinstance(raw.get(section), dict):
        if key in raw[section] and isinstance(raw[section][key], dict) and isinstance(value, dict):
            raw[section][key].update(value)
        else:
            raw[section][key] = value
    else:
        raw[section] = value
    try:
        parse_params(raw)
    except ParamsError:
        pass


@settings(max_examples=100, deadline=None)
@given(value=_trees)
def test_fuzz_whole_file(value):
    try:
        parse_params(value)
    except ParamsError:
        pass
