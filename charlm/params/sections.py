"""The typed sections of `params.yaml` (and `corpora.yaml`): each key's type here, its
range rule in its section's `check(where)`, its default and help in params.yaml only
(`defaults_from`, charlm/params/defaults.py): a default cannot be written twice.
"""

from __future__ import annotations

import re
import typing
from dataclasses import dataclass, field, fields, make_dataclass, replace
from typing import Literal, Optional, Union

from ..core.inputs import encoding_problem
from .convert import fail, positive
from .defaults import defaults_from, resumable

Arch = Literal["rnn", "lstm", "gru", "transformer"]
Smoothing = Literal["kneser_ney", "witten_bell", "add_k"]


# --------------------------------------------------------------------------- corpora

@dataclass
class Source:
    url: str        # absolute, or relative to the corpus's base_url
    sha256: str     # of the file as downloaded (before unpacking)
    bytes: Optional[int] = None   # its size; a download of another size is refused

    def check(self, where: str) -> None:
        positive(where, "bytes", self.bytes)
        s = self.sha256.lower()
        if len(s) != 64 or any(c not in "0123456789abcdef" for c in s):
            fail(f"{where}.sha256", f"must be 64 hex digits, got {self.sha256!r}")
        self.sha256 = s


@dataclass
class CorpusSpec:
    sources: list[Source]
    base_url: Optional[str] = None
    unpack: Literal["plain", "bz2", "gz", "zip", "tar", "tar.gz", "tar.bz2", "tar.xz"] = "plain"
    # archive members to read (zip, tar*): a name, a glob (`*.tex`) or a list of them;
    # the matches are concatenated in sorted name order
    member: Union[str, list[str], None] = None
    encoding: str = "utf-8"
    max_chars: Optional[int] = None       # keep only the first N chars of the corpus (null: all)
    description: str = ""

    def check(self, where: str) -> None:
        if not self.sources:
            fail(f"{where}.sources", "must list at least one source")
        if self.unpack in ("zip", "tar", "tar.gz", "tar.bz2", "tar.xz") and not self.member:
            fail(f"{where}.member", f"required when unpack is {self.unpack!r}")
        if isinstance(self.member, list) and "" in self.member:
            fail(f"{where}.member[{self.member.index('')}]", "must not be empty")
        positive(where, "max_chars", self.max_chars)
        problem = encoding_problem(self.encoding)
        if problem:
            fail(f"{where}.encoding", problem)

    def urls(self) -> list[str]:
        base = self.base_url or ""
        if base and not base.endswith("/"):
            base += "/"
        return [s.url if "://" in s.url else base + s.url for s in self.sources]


# --------------------------------------------------------------------------- run, prepare

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")     # corpus and model names (DVC stage keys)
MAX_BATCH_CHARS = 2**28     # batch_size x seq_len: chars per optimiser step (a larger one is a typo)




@dataclass
@defaults_from("prepare.split")
class SplitParams:
    train: float
    val: float
    test: float

    def check(self, where: str) -> None:
        for name in ("train", "val", "test"):
            positive(where, name, getattr(self, name))
        total = self.train + self.val + self.test
        if abs(total - 1.0) > 1e-9:
            fail(where, f"train + val + test must sum to 1, got {total:g}")


@dataclass
class PrepareParams:
    split: SplitParams = field(default_factory=SplitParams)


# --------------------------------------------------------------------------- models

DEFAULT_EMBEDDING = 64      # a recurrent model's embedding_dim when its entry leaves it out
MAX_CONTEXT = 8192          # a transformer's context: attention's memory grows with its square

@dataclass(kw_only=True)
class ModelShape:
    """What a neural model is: charlm.neural.models.ModelConfig adds the vocabulary size.

    A transformer (charlm.neural.gpt) reads hidden_size as its width, num_layers as its
    blocks, and needs `heads` and `context` (the chars it attends over); its input
    embedding is tied to its output layer, so its embedding_dim is its width."""
    arch: Arch
    hidden_size: int                      # units per layer (a transformer's width)
    num_layers: int = 1
    dropout: float = 0.1                  # on the top output and between stacked layers
    embedding_dim: Optional[int] = None   # replaces the one-hot input (same function); 64 if unset
    heads: Optional[int] = None           # transformer only: attention heads
    context: Optional[int] = None         # transformer only: chars of history it attends over

    def check(self, where: str) -> None:
        for name in ("hidden_size", "num_layers", "embedding_dim", "heads", "context"):
            positive(where, name, getattr(self, name))
        if not 0.0 <= self.dropout < 1.0:
            fail(f"{where}.dropout", f"must be in [0, 1), got {self.dropout}")
        if self.arch != "transformer":
            for name in ("heads", "context"):
                if getattr(self, name) is not None:
                    fail(f"{where}.{name}", f"only a transformer has it (arch is {self.arch!r})")
            return
        for name in ("heads", "context"):
            if getattr(self, name) is None:
                fail(f"{where}.{name}", "missing required key (arch is 'transformer')")
        if self.hidden_size % self.heads:
            fail(f"{where}.heads", f"must divide hidden_size {self.hidden_size}, got {self.heads}")
        if not 2 <= self.context <= MAX_CONTEXT:
            fail(f"{where}.context", f"must be in 2..{MAX_CONTEXT}, got {self.context}")
        if self.embedding_dim not in (None, self.hidden_size):
            fail(f"{where}.embedding_dim", f"a transformer's embedding is tied to its output, so it "
                 f"is hidden_size ({self.hidden_size}) wide: leave it out, got {self.embedding_dim}")

    def shape(self) -> dict:
        """The shape as ModelConfig takes it: embedding_dim resolved, unused keys left out."""
        d = {f.name: getattr(self, f.name) for f in fields(ModelShape)}
        d["embedding_dim"] = self.input_width()
        return {k: v for k, v in d.items() if v is not None}

    def input_width(self) -> int:
        """embedding_dim, or what it is when unset: a transformer's width (its embedding is
        tied to its output), DEFAULT_EMBEDDING for a recurrent model."""
        if self.embedding_dim is not None:
            return self.embedding_dim
        return self.hidden_size if self.arch == "transformer" else DEFAULT_EMBEDDING


# --------------------------------------------------------------------------- train

@dataclass
@defaults_from("train.common")
class TrainCommon:
    """`train.common`: every model's settings unless its `train.models` entry overrides them.
    `resumable()`: a checkpoint made under another value of that key may be resumed."""
    seed: int
    steps: int
    batch_size: int
    seq_len: int
    lr: float
    warmup_steps: int
    min_lr: float
    weight_decay: float
    grad_clip: float
    eval_every: int
    eval_streams: int
    eval_overlap: int
    checkpoint_every: int = resumable()
    log_every: int = resumable()
    device: Literal["auto", "cpu", "cuda"] = resumable()
    amp: Literal["auto", "bf16", "off"]
    compile: bool = resumable()
    grad_accum: int
    nproc: int = resumable()
    threads: int = resumable()

    def check(self, where: str) -> None:
        for name in ("steps", "batch_size", "seq_len", "lr", "eval_every", "eval_streams",
                     "checkpoint_every", "log_every", "grad_accum", "nproc"):
            positive(where, name, getattr(self, name))
        for name in ("warmup_steps", "min_lr", "weight_decay", "grad_clip", "eval_overlap",
                     "threads"):
            positive(where, name, getattr(self, name), zero_ok=True)
        if self.min_lr > self.lr:
            fail(f"{where}.min_lr", f"must be <= lr ({self.lr}), got {self.min_lr}")
        if self.batch_size * self.seq_len > MAX_BATCH_CHARS:
            fail(f"{where}.batch_size", f"batch_size x seq_len = {self.batch_size * self.seq_len:,} "
                 f"chars per step: at most {MAX_BATCH_CHARS:,}")
        if self.batch_size % (self.grad_accum * self.nproc):
            fail(f"{where}.batch_size", self.divisibility(self.batch_size))

    def divisibility(self, batch_size: int) -> str:
        by = (f"grad_accum {self.grad_accum}" if self.nproc == 1 else
              f"nproc x grad_accum ({self.nproc} x {self.grad_accum})")
        return f"{batch_size} is not divisible by {by}"


class _Overrides:
    """Optional values for any `train.common` key (None: the value set further up)."""

    def overrides(self) -> dict:
        return {k: getattr(self, k) for k in OVERRIDABLE if getattr(self, k) is not None}


class _ModelBase(_Overrides):
    def check(self, where: str) -> None:
        ModelShape.check(self, where)


@dataclass(kw_only=True)
class _PairBase(_Overrides):
    """One neural run: a model of `train.models` trained and scored on a corpus."""
    corpus: str
    model: str


# Every key of TrainCommon may be overridden per model and per pair: the fields are made
# from TrainCommon's, so each key (its type) is still declared once.
OVERRIDABLE = tuple(f.name for f in fields(TrainCommon))
_HINTS = typing.get_type_hints(TrainCommon)


def _with_overrides(name: str, bases: tuple, doc: str) -> type:
    cls = make_dataclass(
        name, [(f.name, Optional[_HINTS[f.name]], field(default=None, metadata=f.metadata))
               for f in fields(TrainCommon)], bases=bases, kw_only=True)
    cls.__module__, cls.__doc__ = __name__, doc
    return cls


ModelSpec = _with_overrides("ModelSpec", (_ModelBase, ModelShape),
                            "One entry of `train.models`: an architecture, its sizes and any "
                            "overrides of `train.common` (e.g. steps, lr, batch_size, amp).")
# A pair may set any train.common key for this corpus only (e.g. fewer steps on a big one).
Pair = _with_overrides("Pair", (_PairBase,), _PairBase.__doc__)


@dataclass(kw_only=True)
class _FinetuneBase(_PairBase):
    """A pair whose model starts from another trained run's best weights."""
    init_from: str                        # "<corpus>/<model>": a run of run.pairs or run.finetune

    def source(self) -> tuple[str, str]:
        corpus, _, model = self.init_from.partition("/")
        return corpus, model


Finetune = _with_overrides("Finetune", (_FinetuneBase,), _FinetuneBase.__doc__)


@dataclass
class RunParams:
    corpora: list[str]                    # corpora the pipeline runs on (keys of `corpora`)
    # the neural runs: stage key (`<corpus>-<model>`, as in train@<key>) -> corpus, model
    # and any train.common key set for this run only
    pairs: dict[str, Pair]
    # runs that start from another run's weights (stages finetune@<key>, evaluate_finetuned@<key>)
    finetune: dict[str, Finetune] = field(default_factory=dict)

    def all_pairs(self) -> dict:
        """Every neural run, trained from scratch or fine-tuned, by stage key."""
        return {**self.pairs, **self.finetune}


@dataclass
class TrainParams:
    models: dict[str, ModelSpec] = field(default_factory=dict)
    common: TrainCommon = field(default_factory=TrainCommon)

    def check(self, where: str) -> None:
        for name, spec in self.models.items():
            if not NAME.fullmatch(name) or name == "ngram":
                fail(f"{where}.models.{name}", "invalid model name (letters, digits, '_', '-', "
                     "'.'; 'ngram' is the n-gram's)")
            self.effective(name).check(f"{where}.models.{name}")

    def effective(self, name: str, pair: dict | None = None) -> TrainCommon:
        """train.common with model `name`'s overrides, then a pair's, applied; a common
        min_lr above the model's own lr is lowered to it (a constant schedule). A
        transformer's seq_len is its context (a seq_len set for it is refused)."""
        spec = self.models[name]
        own = {**spec.overrides(), **(pair or {})}
        if spec.arch == "transformer":      # it trains on windows as long as its context
            if own.get("seq_len", spec.context) != spec.context:
                fail(f"train.models.{name}.seq_len", f"a transformer trains on windows of its "
                     f"context ({spec.context} chars): leave seq_len out, got {own['seq_len']}")
            own["seq_len"] = spec.context
        run = replace(self.common, **own)
        return run if "min_lr" in own else replace(run, min_lr=min(run.min_lr, run.lr))


# --------------------------------------------------------------------------- ngram

@dataclass
@defaults_from("ngram")
class NgramParams:
    max_order: int
    smoothings: list[Smoothing]
    add_k: list[float]
    chosen: Smoothing
    discounts: Literal["counts", "val"]
    memory_mb: float
    sample_orders: list[int]
    sample_length: int
    seed: int

    def check(self, where: str) -> None:
        if not 1 <= self.max_order <= 32:
            fail(f"{where}.max_order", f"must be in 1..32, got {self.max_order}")
        if not self.smoothings:
            fail(f"{where}.smoothings", "must list at least one smoothing")
        if self.chosen not in self.smoothings:
            fail(f"{where}.chosen", f"{self.chosen!r} is not in smoothings")
        if "add_k" in self.smoothings and not self.add_k:
            fail(f"{where}.add_k", "must list at least one k when add_k is fitted")
        for i, k in enumerate(self.add_k):
            positive(where, f"add_k[{i}]", k)
        for i, o in enumerate(self.sample_orders):
            if not 1 <= o <= self.max_order:
                fail(f"{where}.sample_orders[{i}]",
                     f"must be in 1..max_order ({self.max_order}), got {o}")
        positive(where, "sample_length", self.sample_length, zero_ok=True)
        positive(where, "memory_mb", self.memory_mb)


# --------------------------------------------------------------------------- evaluate

# below it the logits / temperature overflow to inf (for every practical purpose it samples
# greedily already: top-k 1 is greedy)
MIN_TEMPERATURE = 1e-3


@dataclass
@defaults_from("evaluate.sample")
class SampleParams:
    chars: int
    prime: str
    temperature: float
    seed: int

    def check(self, where: str) -> None:
        positive(where, "chars", self.chars)
        if not MIN_TEMPERATURE <= self.temperature <= 100:
            fail(f"{where}.temperature", f"must be in {MIN_TEMPERATURE:g}..100, "
                                         f"got {self.temperature!r}")


@dataclass
@defaults_from("evaluate.dynamic.ngram")
class NgramAdaptParams:
    """The n-gram adapted to the scored text (charlm.ngram.adapt): the grid chosen on val."""
    spans: list[int]
    strengths: list[float]

    def check(self, where: str) -> None:
        for i, s in enumerate(self.spans):
            if not 1 <= s <= 32:
                fail(f"{where}.spans[{i}]", f"must be in 1..32, got {s}")
        if self.spans and not self.strengths:
            fail(f"{where}.strengths", "must list at least one strength when spans are given")
        for i, a in enumerate(self.strengths):
            positive(where, f"strengths[{i}]", a)


@dataclass
@defaults_from("evaluate.dynamic")
class DynamicParams:
    """Dynamic evaluation (charlm.evaluate.dynamic) and the adapted n-gram (`ngram`)."""
    pairs: list[str]
    lr: float
    decay: float
    segment: int
    ngram: NgramAdaptParams = field(default_factory=NgramAdaptParams)

    def check(self, where: str) -> None:
        positive(where, "lr", self.lr)
        positive(where, "decay", self.decay, zero_ok=True)
        positive(where, "segment", self.segment)


@dataclass
class EvaluateParams:
    sample: SampleParams = field(default_factory=SampleParams)
    dynamic: DynamicParams = field(default_factory=DynamicParams)
