"""params.yaml validation: every bad value is refused up front with a one-line error."""

from __future__ import annotations

import codecs
import copy
import dataclasses
import math
import re

import pytest
import yaml
from hypothesis import assume, given, settings, strategies as st

from charlm.core.errors import ParamsError
from charlm.params import load_params, parse_params

from helpers import ROOT

RAW = yaml.safe_load((ROOT / "params.yaml").read_text())
if "corpora" not in RAW and (ROOT / "corpora.yaml").is_file():     # corpora in their own file
    RAW["corpora"] = yaml.safe_load((ROOT / "corpora.yaml").read_text())["corpora"]
PARSED = parse_params(copy.deepcopy(RAW))


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
    ("run.pairs.latex-lstm.model", "lstn", "unknown model 'lstn'.*did you mean 'lstm'"),
    ("run.pairs.latex-lstm.corpus", "tinyshakespeare", "key must be 'tinyshakespeare-lstm'"),
    ("run.pairs", {"enwik8-lstm": {"corpus": "enwik8", "model": "lstm"}}, "'enwik8' is not in run.corpora"),
    ("train.models.lstm.amp", "fp16", r"train\.models\.lstm\.amp: must be one of"),
    ("train.models.lstm.batch_size", 0, r"train\.models\.lstm\.batch_size: must be > 0"),
    ("train.models.gru.min_lr", 0.1, r"train\.models\.gru\.min_lr: must be <= lr"),
    ("train.models.ngram", {"arch": "lstm", "hidden_size": 8}, "invalid model name"),
    ("run.pairs.latex-lstm.steps", 0, r"run\.pairs\.latex-lstm\.steps: must be > 0"),
    ("run.pairs.latex-lstm.stepz", 9, r"run\.pairs\.latex-lstm\.stepz: unknown key.*'steps'"),
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
    with pytest.raises(ParamsError, match="prepar: unknown (section|key).*did you mean 'prepare'"):
        parse_params(raw)


def test_invalid_yaml_and_missing_file(tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("run: [unclosed\n")
    with pytest.raises(ParamsError, match="invalid YAML at line"):
        load_params(bad)
    with pytest.raises(ParamsError, match="file not found"):
        load_params(tmp_path / "none.yaml")


# --------------------------------------------------------------------------- fuzzing
# Each fuzz test decides, independently of charlm.params, whether a generated params file is
# valid (an oracle written from the documented rules), then asserts the outcome: an invalid
# value is a ParamsError whose message names the key; a valid one is accepted and kept.

_scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=True),
                     st.text(max_size=5))
_trees = st.recursive(_scalars, lambda c: st.one_of(st.lists(c, max_size=3),
                                                    st.dictionaries(st.text(max_size=6), c, max_size=3)),
                      max_leaves=8)
# integers within +-1e12: an int too large for a float is tested on its own below
_numbers = st.one_of(st.integers(-10**12, 10**12), st.floats(allow_nan=True, allow_infinity=True),
                     st.sampled_from([0, 1, -1, 0.0, -0.0, 0.5, 0.999, 1.0, 2.0, 3.0, 1e-12, 1e300]))
_values = st.one_of(_numbers, _numbers, _trees)

TRAIN = "train.common" if "common" in RAW.get("train", {}) else "train"   # where the shared keys live


def _node(raw, path: str):
    for k in path.split("."):
        raw = raw[k]
    return raw


def _get(obj, path: str):
    """The parsed value at a params-file path (mappings by key, sections by attribute)."""
    for k in path.split("."):
        obj = obj[k] if isinstance(obj, dict) else getattr(obj, k)
    return obj


_INVALID = object()


def _int(v):
    """A YAML value as an int field takes it: ints, and floats that are whole; not bools;
    none beyond 2**53 in size (an absurd value)."""
    if isinstance(v, bool):
        return _INVALID
    if isinstance(v, float) and math.isfinite(v) and v.is_integer():
        v = int(v)
    if isinstance(v, int):
        return v if abs(v) <= 2**53 else _INVALID
    return _INVALID


def _float(v):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return _INVALID
    return float(v)


def _rule(conv, ok=lambda x: True, optional=False, why=None):
    """An oracle for one key: value -> (expected parsed value, or _INVALID; regex the error
    must match when invalid). `why`: the key a cross-key rule's message names instead."""
    def oracle(path, v):
        if v is None and optional:
            return None, None
        x = conv(v)
        if x is _INVALID or not ok(x):
            return _INVALID, re.escape(path)
        if why is not None and why(x):
            return _INVALID, why.message
        return x, None
    return oracle


def _literal(*options):
    def oracle(v):
        if isinstance(v, bool):               # YAML 1.1's bare off / on
            return ("on" if v else "off") if ("on" if v else "off") in options else _INVALID
        return v if isinstance(v, str) and v in options else _INVALID
    return oracle


def _string(v):
    return v if isinstance(v, str) else _INVALID


def _encoding(v):
    if not isinstance(v, str):
        return _INVALID
    try:
        codecs.lookup(v)
    except (LookupError, ValueError):
        return _INVALID
    return v


def _names(known, non_empty=False):
    def conv(v):
        if not isinstance(v, list) or (non_empty and not v):
            return _INVALID
        return v if all(isinstance(x, str) and x in known for x in v) else _INVALID
    return conv


def _cross(message, test):
    test.message = message
    return test


_common = _node(RAW, TRAIN)
_models = RAW["train"]["models"]
_batches = [m.get("batch_size") or _common["batch_size"] for m in _models.values()] + [_common["batch_size"]]
_lr_floor = max([_common["min_lr"]] + [m["min_lr"] for m in _models.values()
                                        if m.get("min_lr") is not None and m.get("lr") is None])
_corpora = RAW["corpora"]
_pair_corpora = {p["corpus"] for p in RAW["run"]["pairs"].values()}
_ARCHIVES = ("zip", "tar", "tar.gz", "tar.bz2", "tar.xz")

ORACLES = {
    # train: shared keys
    f"{TRAIN}.steps": _rule(_int, lambda x: x > 0),
    f"{TRAIN}.seed": _rule(_int),
    f"{TRAIN}.eval_every": _rule(_int, lambda x: x > 0),
    f"{TRAIN}.eval_overlap": _rule(_int, lambda x: x >= 0),
    f"{TRAIN}.warmup_steps": _rule(_int, lambda x: x >= 0),
    f"{TRAIN}.weight_decay": _rule(_float, lambda x: x >= 0),
    f"{TRAIN}.grad_clip": _rule(_float, lambda x: x >= 0),
    f"{TRAIN}.compile": _rule(lambda v: v if isinstance(v, bool) else _INVALID),
    f"{TRAIN}.device": _rule(_literal("auto", "cpu", "cuda")),
    f"{TRAIN}.amp": _rule(_literal("auto", "bf16", "off")),
    # lr must stay >= min_lr (the shared one, and that of every model without its own lr)
    f"{TRAIN}.lr": _rule(_float, lambda x: x > 0,
                         why=_cross(r"min_lr: must be <= (the model's )?lr", lambda x: x < _lr_floor)),
    # every model's batch must split into grad_accum micro-batches
    f"{TRAIN}.grad_accum": _rule(_int, lambda x: x > 0, why=_cross(
        r"is not divisible by grad_accum", lambda x: any(b % x for b in _batches))),
    # one model's entry
    # a transformer needs heads and context, which the LSTM's entry lacks: refused naming them
    "train.models.lstm.arch": _rule(_literal("rnn", "lstm", "gru", "transformer"), why=_cross(
        r"train\.models\.lstm\.heads: missing required key", lambda x: x == "transformer")),
    "train.models.lstm.hidden_size": _rule(_int, lambda x: x > 0),
    "train.models.lstm.num_layers": _rule(_int, lambda x: x > 0),
    "train.models.lstm.dropout": _rule(_float, lambda x: 0 <= x < 1),
    "train.models.lstm.steps": _rule(_int, lambda x: x > 0, optional=True),
    "train.models.lstm.warmup_steps": _rule(_int, lambda x: x >= 0, optional=True),
    # prepare, run, ngram
    "prepare.split.train": _rule(_float, lambda x: x > 0, why=_cross(
        "must sum to 1", lambda x: abs(x + RAW["prepare"]["split"]["val"]
                                       + RAW["prepare"]["split"]["test"] - 1.0) > 1e-9)),
    # every corpus of run.pairs must stay in run.corpora
    "run.corpora": _rule(_names(_corpora, non_empty=True), why=_cross(
        r"run\.pairs\..*\.corpus: .* is not in run\.corpora",
        lambda x: not _pair_corpora <= set(x))),
    # a model entry may override any train.common key
    "train.models.rnn.steps": _rule(_int, lambda x: x > 0, optional=True),
    "train.models.rnn.amp": _rule(_literal("auto", "bf16", "off"), optional=True),
    "train.models.rnn.weight_decay": _rule(_float, lambda x: x >= 0, optional=True),
    "ngram.max_order": _rule(_int, lambda x: 1 <= x <= 32, why=_cross(
        r"ngram\.sample_orders\[\d\]: must be in 1\.\.max_order",
        lambda x: x < max(RAW["ngram"]["sample_orders"]))),
    "ngram.sample_length": _rule(_int, lambda x: x >= 0),
    "ngram.chosen": _rule(_literal(*RAW["ngram"]["smoothings"])),
    # a corpus
    "corpora.tinyshakespeare.max_chars": _rule(_int, lambda x: x > 0, optional=True),
    "corpora.tinyshakespeare.encoding": _rule(_encoding),
    "corpora.tinyshakespeare.description": _rule(_string),
    # an archive needs a member, which tinyshakespeare has not
    "corpora.tinyshakespeare.unpack": _rule(_literal("plain", "bz2", "gz", *_ARCHIVES), why=_cross(
        r"corpora\.tinyshakespeare\.member: required when unpack is '(zip|tar[.a-z0-9]*)'",
        lambda x: x in _ARCHIVES)),
}
# Values worth trying beyond random ones, per key: the options, the boundaries, both sides
# of each cross-key rule (random values rarely hit them).
_odd = [float("nan"), float("inf"), float("-inf"), None, True, "1", [1], {"a": 1}]
_ints = [0, 1, 2, 3, 5, 9, 10, 16, 32, 33, -1, 4.0, 2.5, 1e300, 0.003] + _odd
_fracs = [0.0, -0.0, 0.1, 0.5, 0.99, 0.999999, 1.0, 1, 0, -0.1, 2] + _odd
EXAMPLES = {
    f"{TRAIN}.device": ["auto", "cpu", "cuda", "gpu", "CPU"],
    f"{TRAIN}.amp": ["auto", "bf16", "off", "fp16", "on", True, False],
    f"{TRAIN}.compile": [True, False, "true", 1, 0],
    f"{TRAIN}.lr": [_lr_floor, _lr_floor * 0.99, _lr_floor * 1.01, 1, 0.1, 0.0, 1e-9],
    f"{TRAIN}.grad_accum": [1, 2, 3, 4, 5, 8, 32, 64, 2.0, 0],
    "train.models.lstm.arch": ["rnn", "lstm", "gru", "LSTM", "transformer"],
    "train.models.lstm.dropout": _fracs,
    f"{TRAIN}.weight_decay": _fracs,
    f"{TRAIN}.grad_clip": _fracs,
    "prepare.split.train": [0.9, 0.9 + 1e-12, 0.9 - 1e-12, 0.9 + 1e-6, 0.8, 1.0, "0.9"],
    "run.corpora": [["tinyshakespeare"], ["latex", "enwiki-sample"], list(_corpora), [],
                    ["tinyshakespear"], ["latex", 1], "tinyshakespeare"],
    "train.models.rnn.amp": ["auto", "bf16", "off", "fp16", None, True],
    "ngram.chosen": list(RAW["ngram"]["smoothings"]) + ["kneser-ney", "good_turing"],
    "corpora.tinyshakespeare.encoding": ["utf-8", "latin-1", "ascii", "utf8", "utf-9", "", "utf 8"],
    "corpora.tinyshakespeare.unpack": ["plain", "bz2", "gz", "zip", "rar", "PLAIN", "tar", "tar.gz",
                                       "tar.bz2", "tar.xz", "tgz"],
    "corpora.tinyshakespeare.description": ["", "text", 1, None],
}


def _key_and_value():
    """(key path, value): half the values from the key's examples, half random."""
    def value(path):
        examples = st.sampled_from(EXAMPLES.get(path, _ints))
        return st.booleans().flatmap(lambda pick: examples if pick else _values)
    return st.sampled_from(sorted(ORACLES)).flatmap(lambda path: st.tuples(st.just(path), value(path)))


def _check(path, value):
    """Set `path` to `value`: refused naming the key if the oracle says invalid, else
    accepted with the value kept (after the lossless int/float conversion)."""
    expected, message = ORACLES[path](path, value)
    raw = _with(path, value)
    if expected is _INVALID:
        with pytest.raises(ParamsError, match=message):
            parse_params(raw)
    else:
        parsed = _get(parse_params(raw), path)
        assert parsed == expected and type(parsed) is type(expected), (parsed, expected)


def test_oracles_cover_keys_that_exist():
    for path in ORACLES:
        _node(RAW, path.rsplit(".", 1)[0])           # the parent exists in params.yaml


def test_every_key_on_its_examples():
    """Every key on every one of its examples (or the generic ones), exhaustively."""
    for path in ORACLES:
        for value in EXAMPLES.get(path, _ints):
            try:
                _check(path, value)
            except BaseException as e:
                raise AssertionError(f"{path} = {value!r}: {e}") from e


@settings(max_examples=400, deadline=None)
@given(key_value=_key_and_value())
def test_fuzz_one_key(key_value):
    """One key set to a generated value: refused naming the key, or accepted and kept."""
    path, value = key_value
    _check(path, value)


@settings(max_examples=200, deadline=None)
@given(section=st.sampled_from(sorted(k for k in RAW if isinstance(RAW[k], dict) and k != "corpora")), key=st.text(max_size=8),
       value=_trees)
def test_fuzz_unknown_key(section, key, value):
    """A key a section does not define is refused, naming `section.key`, whatever its value."""
    known = {f.name for f in dataclasses.fields(_get(PARSED, section))}
    assume(key not in known)
    raw = copy.deepcopy(RAW)
    raw[section][key] = value
    with pytest.raises(ParamsError) as e:
        parse_params(raw)
    assert str(e.value).startswith(f"{section}.{key}: unknown key"), str(e.value)


@settings(max_examples=100, deadline=None)
@given(value=_trees)
def test_fuzz_whole_file(value):
    """A generated tree is never a valid params file: its keys are at most 6 characters, so
    it cannot hold `corpora`; it is refused with a ParamsError, nothing else."""
    with pytest.raises(ParamsError):
        parse_params(value)


@pytest.mark.parametrize("path,value", [
    (f"{TRAIN}.lr", 10**400),                               # YAML `lr: 1000...0`: float() overflows
    ("corpora.tinyshakespeare.encoding", "utf\x00"),      # YAML "utf\0": codecs.lookup ValueError
], ids=["lr-10**400", "encoding-nul"])
def test_values_that_crashed_the_converter_are_params_errors(path, value):
    """Found by test_fuzz_one_key (they raised OverflowError / ValueError tracebacks)."""
    with pytest.raises(ParamsError, match=re.escape(path)):
        parse_params(_with(path, value))


def test_a_bare_off_is_the_string_off():
    """`-S 'train.common.amp=off'` or `amp: off` in YAML arrive as False (YAML 1.1)."""
    from charlm.params import TrainCommon, from_dict
    assert from_dict(TrainCommon, {"amp": False}, "train.common").amp == "off"
    with pytest.raises(ParamsError, match="got True"):
        from_dict(TrainCommon, {"amp": True}, "train.common")
