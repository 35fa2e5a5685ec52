"""The commands the `charlm` errors hint at work: each hinted `dvc exp run -S ...` applies
with DVC's own override code and gives params that charlm accepts, and each hinted
`dvc repro <stage>` names a stage that exists."""

from __future__ import annotations

import pytest
import yaml

from charlm.cli.lookup import prepare_command, train_command
from charlm.params import load_params

from helpers import ROOT, apply_exp_run, exp_overrides

CASES = [("tinyshakespeare", "lstm"), ("tinyshakespeare", "ngram"), ("latex-full", "lstm"),
         ("latex-full", "ngram"), ("enwik8", "gru"), ("latex", "lstm1")]


def _stages(params) -> set[str]:
    """The stage names `dvc repro` knows for these params (foreach expanded by hand)."""
    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    names = set()
    for stage, body in dvc["stages"].items():
        over = body.get("foreach")
        if over is None:
            names.add(stage)
        elif "run.corpora" in over:
            names |= {f"{stage}@{c}" for c in params.run.corpora}
        elif "run.pairs" in over:
            names |= {f"{stage}@{k}" for k in params.run.pairs}
        elif "run.finetune" in over:
            names |= {f"{stage}@{k}" for k in params.run.finetune}
    return names


@pytest.mark.parametrize("corpus,model", CASES)
def test_every_hinted_command_validates(tmp_path, corpus, model):
    params = load_params(ROOT / "params.yaml")
    for hint in (train_command(params, corpus, model), prepare_command(params, corpus)):
        if hint.startswith("dvc repro "):
            assert hint.split()[2] in _stages(params), hint
            continue
        assert hint.startswith("dvc exp run -S "), hint
        new = apply_exp_run(tmp_path, exp_overrides(hint))      # raises if charlm refuses
        assert corpus in new.run.corpora, hint
        if model != "ngram" and "run.pairs" in hint:
            assert new.run.pairs[f"{corpus}-{model}"].model == model
