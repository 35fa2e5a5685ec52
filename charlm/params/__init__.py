"""The params files: `params.yaml` (what people tune) and `corpora.yaml` (where the text
comes from), validated whole before any work starts.

    params = load_params()                  # params.yaml + corpora.yaml beside it
    params.train.common.steps, params.train.models["lstm"].hidden_size, params.corpus("latex")

Every section is a typed dataclass (charlm.params.sections); a wrong key, type or value
is a `ParamsError` with one line naming the key path (charlm.params.convert).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal


from ..core.errors import ParamsError
from .convert import did_you_mean, fail, from_dict, positive
from .defaults import value
from .yamlfile import read_yaml
from .sections import (
    OVERRIDABLE,
    CorpusSpec,
    DynamicParams,
    EvaluateParams,
    Finetune,
    ModelShape,
    ModelSpec,
    NgramAdaptParams,
    NgramParams,
    Pair,
    PrepareParams,
    RunParams,
    SampleParams,
    Source,
    SplitParams,
    TrainCommon,
    TrainParams,
)

DEFAULT_PARAMS = Path("params.yaml")
CORPORA_FILE = "corpora.yaml"        # read from the params file's folder

__all__ = ["Params", "load_params", "parse_params", "from_dict", "positive", "ParamsError",
           "CorpusSpec", "DynamicParams", "EvaluateParams", "Finetune", "ModelShape", "ModelSpec", "NgramParams",
           "NgramAdaptParams",
           "Pair", "PrepareParams", "RunParams", "SampleParams", "Source", "SplitParams", "TrainCommon",
           "TrainParams", "OVERRIDABLE", "DEFAULT_PARAMS", "CORPORA_FILE"]


@dataclass
class Params:
    corpora: dict[str, CorpusSpec]
    run: RunParams
    prepare: PrepareParams = field(default_factory=PrepareParams)
    ngram: NgramParams = field(default_factory=NgramParams)
    train: TrainParams = field(default_factory=TrainParams)
    evaluate: EvaluateParams = field(default_factory=EvaluateParams)
    # charlm/core/numerics.py; dvc.yaml passes it to each computing stage as CHARLM_NUMERICS
    numerics: Literal["portable", "native"] = value("numerics")

    def corpus(self, name: str) -> CorpusSpec:
        if name not in self.corpora:
            fail("corpus", f"unknown corpus {name!r}{did_you_mean(name, self.corpora)}; "
                 f"known: {', '.join(self.corpora)}")
        return self.corpora[name]

    def check(self, where: str) -> None:
        if not self.run.corpora:
            fail("run.corpora", "must list at least one corpus")
        for i, name in enumerate(self.run.corpora):
            if name not in self.corpora:
                fail(f"run.corpora[{i}]", f"unknown corpus {name!r}"
                     + did_you_mean(name, self.corpora))
        for key in set(self.run.pairs) & set(self.run.finetune):
            fail(f"run.finetune.{key}", "is also in run.pairs (one run per <corpus>-<model>)")
        for key, pair in self.run.pairs.items():
            self._check_pair(f"run.pairs.{key}", key, pair)
        for key, pair in self.run.finetune.items():
            self._check_pair(f"run.finetune.{key}", key, pair)
            self._check_init(f"run.finetune.{key}.init_from", key, pair)

    def _check_pair(self, where: str, key: str, pair: Pair) -> None:
        if pair.corpus not in self.run.corpora:
            fail(f"{where}.corpus", f"{pair.corpus!r} is not in run.corpora"
                 + did_you_mean(pair.corpus, self.run.corpora))
        if pair.model not in self.train.models:
            defined = ", ".join(self.train.models) or "none"
            fail(f"{where}.model", f"unknown model {pair.model!r}"
                 + did_you_mean(pair.model, self.train.models)
                 + f"; train.models defines: {defined}")
        if key != f"{pair.corpus}-{pair.model}":
            fail(where, f"the key must be '{pair.corpus}-{pair.model}' "
                 "(<corpus>-<model>: it names the stages)")
        self.train.effective(pair.model, pair.overrides()).check(where)

    def _check_init(self, where: str, key: str, pair: Finetune) -> None:
        """init_from names another run of this params file (so DVC trains it first)."""
        corpus, model = pair.source()
        runs = self.run.all_pairs()
        if f"{corpus}-{model}" not in runs or f"{corpus}-{model}" == key:
            others = [f"{p.corpus}/{p.model}" for k, p in runs.items() if k != key]
            fail(where, f"{pair.init_from!r} is not another run of run.pairs or run.finetune "
                 f"(<corpus>/<model>{did_you_mean(pair.init_from, others)}; runs: "
                 f"{', '.join(others) or 'none'})")
        src, dst = self.train.models[model], self.train.models[pair.model]
        if src.shape() | {"dropout": 0} != dst.shape() | {"dropout": 0}:
            fail(where, f"{pair.init_from} is {_shape(src)} but {pair.model} is {_shape(dst)}: "
                 "fine-tuning needs the same architecture and sizes")

    def pair_overrides(self, corpus: str, model: str) -> dict:
        """The train.common keys run.pairs (or run.finetune) sets for this corpus and model."""
        pair = self.run.all_pairs().get(f"{corpus}-{model}")
        return pair.overrides() if pair else {}

    def init_from(self, corpus: str, model: str) -> tuple[str, str] | None:
        """(corpus, model) of the run whose weights this run starts from, if it is fine-tuned."""
        pair = self.run.finetune.get(f"{corpus}-{model}")
        return pair.source() if pair else None

    def models_of(self, corpus: str) -> list[str]:
        """The neural models run on `corpus`: run.pairs order, then run.finetune's."""
        return [p.model for p in self.run.all_pairs().values() if p.corpus == corpus]


def _shape(spec: ModelSpec) -> str:
    s = spec.shape()
    return (f"{s['arch']} {s['num_layers']}x{s['hidden_size']} (embedding {s['embedding_dim']}"
            + (f", {s['heads']} heads, context {s['context']})" if "heads" in s else ")"))


def parse_params(raw: Any) -> Params:
    if not isinstance(raw, dict):
        fail("params", "the file must be a mapping of sections")
    for key in ("corpora", "run"):
        if key not in raw:
            fail(key, "missing required section")
    return from_dict(Params, raw)


def _read_yaml(path: Path) -> Any:
    return read_yaml(path)


def _with_corpora(raw: Any, corpora_path: Path) -> Any:
    """The params mapping with `corpora` from corpora.yaml (a name in both is an error)."""
    if not isinstance(raw, dict) or not corpora_path.is_file():
        return raw
    extra = _read_yaml(corpora_path)
    if not isinstance(extra, dict) or not isinstance(extra.get("corpora"), dict):
        fail(str(corpora_path), "must hold a mapping `corpora: {name: {...}}`")
    inline = raw.get("corpora") or {}
    if not isinstance(inline, dict):
        fail("corpora", f"must be a mapping, got {type(inline).__name__}")
    for name in extra["corpora"]:
        if name in inline:
            fail(f"corpora.{name}", f"defined both in the params file and in {corpora_path}")
    return {**raw, "corpora": {**extra["corpora"], **inline}}


def load_params(path: str | Path = DEFAULT_PARAMS) -> Params:
    """params.yaml (or `path`), plus the corpora of corpora.yaml in the same folder."""
    path = Path(path)
    raw = _with_corpora(_read_yaml(path), path.parent / CORPORA_FILE)
    return parse_params(raw)
