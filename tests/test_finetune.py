"""Fine-tuning: a run starts from another trained model's weights, vocabularies mapped by
character; it learns the new corpus faster than a run from scratch; params and DVC agree."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import torch

from helpers import copy_repo, run_dvc, set_params

from charlm.core.errors import CheckpointError, ParamsError
from charlm.train.finetune import id_map, init_from_trained
from charlm.neural.models import CharRNN, ModelConfig, load_trained
from charlm.params import ModelSpec, SplitParams, TrainCommon, TrainParams, load_params
from charlm.data.prepare import prepare_text, save_prepared
from charlm.train.run import train_model
from charlm.core.vocab import Vocab

SPEC = ModelSpec(arch="gru", hidden_size=48, num_layers=1, dropout=0.0, embedding_dim=16)


def _prepare(d: Path, text: str) -> Path:
    save_prepared(d, *prepare_text(text, SplitParams(0.8, 0.1, 0.1), d.name))
    return d


def _tp(steps: int, lr: float = 0.01) -> TrainParams:
    return TrainParams(models={"m": SPEC}, common=TrainCommon(
        seed=5, steps=steps, batch_size=8, seq_len=32, lr=lr, warmup_steps=0, min_lr=lr,
        eval_every=steps, checkpoint_every=steps, log_every=steps, device="cpu", threads=1))


@pytest.fixture(scope="module")
def corpora(tmp_path_factory, mirror):
    """Two slices of Shakespeare; the second has characters the first lacks ('@', '#')."""
    text = (mirror / "raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/"
            "input.txt").read_text(encoding="utf-8")
    root = tmp_path_factory.mktemp("ft")
    a = _prepare(root / "a", text[:100_000])
    b = _prepare(root / "b", text[200_000:230_000].replace("?", "@").replace(";", "#"))
    pre = root / "models" / "a"
    train_model(a, pre, _tp(300), "m", progress=False, log=lambda m: None)
    return a, b, pre, root


def test_vocabularies_are_mapped_by_character(corpora):
    a, b, pre, _ = corpora
    va, vb = Vocab.load(a / "vocab.json"), Vocab.load(b / "vocab.json")
    here, there, new = id_map(vb, va)
    assert sorted(new) == sorted(set(vb.chars) - set(va.chars)) and {"@", "#"} <= set(new)
    assert here[0] == there[0] == 0 and len(here) == vb.size - len(new)
    assert all(vb.chars[h - 1] == va.chars[t - 1] for h, t in zip(here[1:], there[1:]))
    source, _, _ = load_trained(pre)
    torch.manual_seed(11)
    model = CharRNN(ModelConfig.from_shape(SPEC, vb.size))
    fresh = {k: v.clone() for k, v in model.state_dict().items()}
    info = init_from_trained(model, vb, pre)
    assert info["shared_chars"] == len(here) - 1 and info["new_chars"] == new
    sd, src = model.state_dict(), source.state_dict()
    for name in ("embed.weight", "head.weight", "head.bias"):
        assert torch.equal(sd[name][here], src[name][there])
        new_ids = [vb.stoi[c] for c in new]
        assert torch.equal(sd[name][new_ids], fresh[name][new_ids])      # fresh rows kept
    assert torch.equal(sd["rnn.weight_hh_l0"], src["rnn.weight_hh_l0"])


def test_fine_tuning_beats_training_from_scratch_after_the_same_steps(corpora):
    _, b, pre, root = corpora
    steps = 30
    scratch = train_model(b, root / "models/scratch", _tp(steps), "m", progress=False,
                          log=lambda m: None)
    logs = []
    tuned = train_model(b, root / "models/tuned", _tp(steps, lr=0.003), "m", progress=False,
                        log=logs.append, init_from=pre)
    s, t = scratch.summary["best_val_bpc"], tuned.summary["best_val_bpc"]
    print(f"val bpc after {steps} steps: fine-tuned {t:.4f}, from scratch {s:.4f}")
    assert t < s - 0.3, (t, s)
    assert tuned.summary["init_from"] == str(pre) and "init_from" not in scratch.summary
    new = id_map(Vocab.load(b / "vocab.json"), Vocab.load(pre.parent.parent / "a/vocab.json"))[2]
    assert any(f"characters shared, {len(new)} new here" in m for m in logs), logs


def test_a_checkpoint_of_another_start_is_not_resumed(corpora):
    _, b, pre, root = corpora
    out = root / "models/resume"
    train_model(b, out, _tp(5), "m", progress=False, log=lambda m: None)     # from scratch
    logs = []
    train_model(b, out, _tp(5), "m", progress=False, log=logs.append, init_from=pre)
    assert any("made with other params or data; moved aside" in m for m in logs), logs


def test_another_architecture_is_a_one_line_error(corpora):
    _, b, pre, root = corpora
    tp = _tp(5)
    tp.models["m"] = ModelSpec(arch="lstm", hidden_size=48, num_layers=1, embedding_dim=16)
    with pytest.raises(CheckpointError, match=r"cannot fine-tune from it: its arch gru \(here "
                                              r"lstm\) differ"):
        train_model(b, root / "models/bad", tp, "m", progress=False, log=lambda m: None,
                    init_from=pre)


def _params(tmp_path: Path, finetune: dict, models: dict | None = None):
    repo = copy_repo(tmp_path / "repo")
    set_params(repo, ["++train.models.small={arch: lstm, hidden_size: 32}",
                      *(f"++train.models.{k}={v}" for k, v in (models or {}).items()),
                      "++run.finetune={" + ", ".join(
                          f"{k}: {{" + ", ".join(f"{a}: {b}" for a, b in v.items()) + "}"
                          for k, v in finetune.items()) + "}"])
    return load_params(repo / "params.yaml")


@pytest.mark.parametrize("finetune, models, message", [
    ({"latex-lstm_ft": {"corpus": "latex", "model": "lstm_ft", "init_from": "latex-full/lstm"}},
     {"lstm_ft": "{arch: lstm, hidden_size: 256, num_layers: 2, embedding_dim: 64}"},
     "'latex-full/lstm' is not another run of run.pairs or run.finetune"),
    ({"latex-small": {"corpus": "latex", "model": "small", "init_from": "latex/lstm"}}, None,
     "latex/lstm is lstm 2x256 (embedding 64) but small is lstm 1x32 (embedding 64): "
     "fine-tuning needs the same architecture"),
    ({"latex-lstm": {"corpus": "latex", "model": "lstm", "init_from": "tinyshakespeare/lstm"}},
     None, "run.finetune.latex-lstm: is also in run.pairs"),
    ({"latex-small": {"corpus": "latex", "model": "small", "init_from": "latex/small"}}, None,
     "'latex/small' is not another run"),
])
def test_bad_finetune_params_are_one_line_errors(tmp_path, finetune, models, message):
    with pytest.raises(ParamsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _params(tmp_path, finetune, models)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_dvc_trains_the_source_first_and_tracks_it(tmp_path, mirror):
    """`dvc repro`: finetune@ runs after the train@ it starts from; its weights are a
    dependency (a retrained source makes it stale); the report lists it."""
    repo = copy_repo(tmp_path / "repo")
    tiny = ("{arch: gru, hidden_size: 16, embedding_dim: 8, steps: 12, eval_every: 6, "
            "batch_size: 4, seq_len: 16}")
    set_params(repo, ["run.corpora=[tinyshakespeare]", "~run.pairs",
                      "+run.pairs={tinyshakespeare-tiny: {corpus: tinyshakespeare, model: tiny}}",
                      f"++train.models.tiny={tiny}", f"++train.models.tiny_ft={tiny}",
                      "++run.finetune={tinyshakespeare-tiny_ft: {corpus: tinyshakespeare, "
                      "model: tiny_ft, init_from: tinyshakespeare/tiny, lr: 0.001}}",
                      "ngram.max_order=3", "ngram.sample_orders=[2,3]", "evaluate.sample.chars=40"])
    set_params(repo, ["++corpora.tinyshakespeare.max_chars=100000"], file="corpora.yaml")
    for args in (["add", "-A"], ["commit", "-qm", "params"]):       # DVCLive needs a commit
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo,
                       check=True, capture_output=True)
    env = {"CHARLM_MIRROR": str(mirror)}
    out = run_dvc(["repro"], repo, env).stdout
    assert out.index("'train@tinyshakespeare-tiny'") < out.index("'finetune@tinyshakespeare-tiny_ft'")
    summary = json.loads((repo / "metrics/summary.json").read_text())
    assert set(summary["tinyshakespeare"]) == {"ngram", "tiny", "tiny_ft", "mix"}
    ft = json.loads((repo / "data/models/tinyshakespeare/tiny_ft/summary.json").read_text())
    assert ft["init_from"] == "data/models/tinyshakespeare/tiny"
    set_params(repo, ["++train.models.tiny.seed=7"])
    status = run_dvc(["status", "finetune@tinyshakespeare-tiny_ft"], repo, env).stdout
    assert "data/models/tinyshakespeare/tiny/model.safetensors" not in status   # not yet retrained
    run_dvc(["repro", "train@tinyshakespeare-tiny"], repo, env)
    status = run_dvc(["status", "finetune@tinyshakespeare-tiny_ft"], repo, env).stdout
    assert "modified:" in status and "tiny/model.safetensors" in status, status
