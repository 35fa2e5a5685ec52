"""How `charlm sample` and `charlm score` name a model, designed once for both.

    --corpus C --model M      the pipeline's own: data/models/C/M/ (or the n-gram of C)
    --checkpoint DIR          a model directory (model.safetensors + config.json), e.g. one
                              fetched from elsewhere (`dvc get`, an artifact); `score` also
                              takes an n-gram's folder (model.json + model.npz)
    --checkpoint FILE         a training checkpoint (data/checkpoints/C/M/last.safetensors);
                              its vocabulary is the config.json of its model directory

One or the other: --checkpoint with --corpus or --model is refused, as is half a name.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..core import paths
from ..core.errors import CheckpointError, ParamsError
from .args import name, path_arg

MIXED = ("give either --corpus and --model, or --checkpoint (a model directory or "
         "checkpoint file), not both")
MISSING = "name the model: --corpus C --model M, or --checkpoint PATH"


def add_model_options(p: argparse.ArgumentParser, model_help: str) -> None:
    p.add_argument("--corpus", type=name, help="corpus the model was trained on (corpora.yaml)")
    p.add_argument("--model", type=name, help=model_help)
    p.add_argument("--checkpoint", default=None, type=path_arg,
                   help="a model directory or training checkpoint file, instead of --corpus "
                        "and --model")


def check_model_options(args: argparse.Namespace) -> None:
    """Exactly one way of naming the model (before anything is loaded)."""
    named = args.corpus is not None or args.model is not None
    if args.checkpoint is not None and named:
        raise ParamsError(MIXED)
    if args.checkpoint is None and (args.corpus is None or args.model is None):
        raise ParamsError(MISSING)


def model_label(args: argparse.Namespace) -> str:
    """How messages name the model: corpus/model, or the checkpoint path."""
    return args.checkpoint if args.checkpoint is not None else f"{args.corpus}/{args.model}"


def is_ngram_folder(p: Path) -> bool:
    """An n-gram's folder (data/ngram/<corpus>/ or one fetched): model.json, no config.json."""
    return p.is_dir() and (p / "model.json").is_file() and not (p / "config.json").is_file()


def load_neural(corpus: str | None, model: str | None, checkpoint: str | None,
                device: str = "cpu"):
    """(network in eval mode, vocab) from the stage's output, a model directory or a
    training checkpoint file."""
    from ..neural.models import load_trained
    if checkpoint is None:
        net, vocab, _ = load_trained(paths.model_dir(corpus, model), device)
        return net, vocab
    p = Path(checkpoint)
    if p.is_dir():
        if not (p / "config.json").is_file():
            ngram = " (an n-gram's: `charlm score --checkpoint` scores with it; its samples " \
                "are in its samples/)" if is_ngram_folder(p) else ""
            raise CheckpointError(f"--checkpoint {checkpoint}: not a neural model directory "
                                  f"(no config.json){ngram}")
        net, vocab, _ = load_trained(p, device)
        return net, vocab
    if not p.is_file():
        raise CheckpointError(f"--checkpoint {checkpoint}: no such file or model directory")
    return _from_training_checkpoint(p, device)


def _model_dir_of(ckpt: Path) -> Path:
    """The model directory of a checkpoint: the pipeline's data/checkpoints/C/M/ ->
    data/models/C/M/, train_model's default <model>/checkpoint/ -> <model>/, else its own."""
    d = ckpt.parent
    if d.parent.parent.name == "checkpoints":
        return d.parent.parent.parent / "models" / d.parent.name / d.name
    return d.parent if d.name == "checkpoint" else d


def _from_training_checkpoint(p: Path, device: str):
    """A training checkpoint's weights in the network its model directory's config.json
    describes (validated there; the checkpoint must have been made for that config)."""
    from ..neural.checkpoint import load_checkpoint, unprefixed
    from ..neural.models import build_model, load_config
    tensors, meta = load_checkpoint(p)             # a safe, complete checkpoint first
    cfg_path = _model_dir_of(p) / "config.json"
    mcfg, vocab, _ = load_config(cfg_path)
    if meta.get("model") != mcfg.to_json():
        raise CheckpointError(f"{p}: made for another model than {cfg_path} describes")
    net = build_model(mcfg)
    try:
        net.load_state_dict(unprefixed("model.", tensors))
    except RuntimeError as e:
        raise CheckpointError(f"{p}: weights do not fit {cfg_path} "
                              f"({str(e).splitlines()[0]})") from None
    return net.to(device).eval(), vocab
