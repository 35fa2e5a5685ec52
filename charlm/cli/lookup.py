"""Finding a trained model from the command line, with errors that say what to do next.

    params = repo_params()                         # params.yaml of the repository root
    model_dir = trained_dir(params, "tinyshakespeare", "lstm")

Names are checked with a did-you-mean; a model that is not trained yet names the
command that trains it; a run outside the repository root says so.
"""

from __future__ import annotations

from pathlib import Path

from ..core import paths
from ..core.errors import CharlmError, ParamsError
from ..params import DEFAULT_PARAMS, Params, load_params
from ..params.convert import did_you_mean

NGRAM = "ngram"


def _repo_root_above(start: Path) -> Path | None:
    for d in [start, *start.parents]:
        if (d / "dvc.yaml").is_file() and (d / DEFAULT_PARAMS).is_file():
            return d
    return None


def repo_params(path: str | Path = DEFAULT_PARAMS) -> Params:
    """The params of the repository in the current folder (a one-line error elsewhere)."""
    path = Path(path)
    if not path.is_file():
        root = _repo_root_above(Path.cwd().resolve())
        where = f"cd {root} first" if root else "cd to your charlm checkout first"
        raise CharlmError(f"no {path} in {Path.cwd()}: charlm runs from the repository root "
                          f"({where})")
    return load_params(path)


def check_model_name(params: Params, model: str, allow_ngram: bool = True) -> None:
    """`model` is the n-gram or a name defined under train.models."""
    known = ([NGRAM] if allow_ngram else []) + list(params.train.models)
    if model not in known:
        raise ParamsError(f"unknown model {model!r}{did_you_mean(model, known)}; "
                          f"known: {', '.join(known)}")


def _corpora_override(params: Params, corpus: str) -> str:
    """The -S that adds `corpus` to run.corpora ("" when it is there already)."""
    if corpus in params.run.corpora:
        return ""
    return f"-S 'run.corpora=[{', '.join([*params.run.corpora, corpus])}]' "


def prepare_command(params: Params, corpus: str) -> str:
    """The command that prepares `corpus` (a stage only exists for corpora in the run)."""
    if corpus in params.run.corpora:
        return f"dvc repro prepare@{corpus}"
    return f"dvc exp run {_corpora_override(params, corpus)}".rstrip()


def train_command(params: Params, corpus: str, model: str) -> str:
    """The command that makes `model` on `corpus` (tests/test_cli_hints.py runs its
    validation)."""
    if model == NGRAM:
        return (f"dvc repro ngram@{corpus}" if corpus in params.run.corpora
                else prepare_command(params, corpus))
    key = f"{corpus}-{model}"
    if key in params.run.pairs:
        return f"dvc repro train@{key}"
    if key in params.run.finetune:
        return f"dvc repro finetune@{key}"
    return (f"dvc exp run {_corpora_override(params, corpus)}"
            f"-S '++run.pairs={{{key}: {{corpus: {corpus}, model: {model}}}}}'")


def trained_dir(params: Params, corpus: str, model: str, allow_ngram: bool = True) -> Path:
    """The folder of a trained model (n-gram or neural), after checking both names."""
    params.corpus(corpus)
    check_model_name(params, model, allow_ngram)
    if model == NGRAM:
        d, needed = paths.ngram_dir(corpus), ["model.npz", "fit.json"]
    else:
        d, needed = paths.model_dir(corpus, model), ["model.safetensors", "config.json"]
    if not all((d / f).is_file() for f in needed):
        raise CharlmError(f"{corpus}/{model} is not trained yet (no {d / needed[0]}): "
                          f"run `{train_command(params, corpus, model)}`")
    return d
