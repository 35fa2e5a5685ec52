"""Every trained model of the run a DVC artifact: dvc.yaml's `artifacts:` section.

Written by the report stage from what ran (params.yaml's run.corpora, run.pairs and
run.finetune), never kept by hand: one artifact per corpus's n-gram (`<corpus>-ngram`,
data/ngram/<corpus>/) and per neural run (`<corpus>-<model>`, data/models/<corpus>/<model>/),
each the folder a user of the model needs (weights, config, model card; the training checkpoint
lives apart, in data/checkpoints/). With them, `dvc artifacts get REPO NAME` fetches a model
and GTO (`gto register`, `gto assign --stage`) versions it.

The section is the tail of dvc.yaml after MARKER; everything above it is left byte for byte.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from ..core import paths
from ..core.errors import CharlmError
from ..core.fsutil import write_text
from ..params import Params

MARKER = ("# Every trained model of the run, as DVC artifacts (`dvc artifacts get`, GTO): written by\n"
          "# the report stage from params.yaml's run (charlm/compare/artifacts.py); do not edit.\n")


def artifact_name(corpus: str, model: str) -> str:
    """The name a user types (`dvc artifacts get REPO NAME`, `gto show NAME`): the stage key
    <corpus>-<model>, in GTO's alphabet (letters, digits, '-', '_'): a '.' becomes '-'."""
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "-"
                   for c in f"{corpus}-{model}")


def declarations(params: Params) -> dict[str, dict]:
    """name -> {path, type, desc, labels} for every model the run trains, corpus by corpus."""
    out: dict[str, dict] = {}
    for corpus in params.run.corpora:
        out[artifact_name(corpus, "ngram")] = {
            "path": paths.ngram_dir(corpus).as_posix(), "type": "model",
            "desc": f"character-level {params.ngram.chosen} n-gram of {corpus} (charlm)",
            "labels": [corpus, "ngram"]}
        for key, pair in params.run.all_pairs().items():
            if pair.corpus == corpus:
                out[artifact_name(corpus, pair.model)] = _neural(params, corpus, pair.model)
    for name in out:
        _check_name(name)
    return out


def _neural(params: Params, corpus: str, model: str) -> dict:
    spec = params.train.models[model]
    init = params.init_from(corpus, model)
    how = f", fine-tuned from {'/'.join(init)}" if init else ""
    return {"path": paths.model_dir(corpus, model).as_posix(), "type": "model",
            "desc": (f"character-level {spec.arch.upper()} ({spec.num_layers}x{spec.hidden_size}) "
                     f"of {corpus}{how} (charlm)"),
            "labels": [corpus, spec.arch]}


def _check_name(name: str) -> None:
    from gto.constants import assert_name_is_valid
    from gto.exceptions import ValidationError
    try:
        assert_name_is_valid(name)
    except ValidationError as e:
        raise CharlmError(f"artifact {name!r}: {e} (rename the corpus or model)") from None


def section(decl: dict[str, dict]) -> str:
    """MARKER + the `artifacts:` YAML."""
    body = yaml.safe_dump({"artifacts": decl}, sort_keys=False, allow_unicode=True, width=100)
    return MARKER + body


def updated(text: str, decl: dict[str, dict]) -> str:
    """dvc.yaml's text with its generated tail replaced (or appended): the rest unchanged."""
    head = text.split(MARKER, 1)[0] if MARKER in text else text.rstrip("\n") + "\n\n"
    if any(line.startswith("artifacts:") for line in head.splitlines()):
        raise CharlmError("dvc.yaml: an artifacts: section outside the generated one (after "
                          "its marker comment); move it out or delete it")
    return head + section(decl)


def write_artifacts(params: Params, dvc_yaml: Path = Path("dvc.yaml")) -> bool:
    """Rewrite dvc.yaml's artifacts if they differ from the run's (atomically); True if so."""
    text = dvc_yaml.read_text(encoding="utf-8")
    new = updated(text, declarations(params))
    if new == text:
        return False
    write_text(dvc_yaml, new)
    return True
