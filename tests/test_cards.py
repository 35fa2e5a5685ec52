"""Model cards (charlm/evaluate/card.py): a README.md beside each scored model, readable on its
own: what it is, its val/test bpc (the metrics' own numbers), the data with its checksum, its
architecture and training settings, a sample and how to use it. Checked on the tiny repository
and on the committed default run."""

from __future__ import annotations

import json

import pytest
import yaml

from charlm.compare.artifacts import artifact_name
from charlm.core import paths
from charlm.core.fsutil import read_json
from charlm.evaluate.card import write_card
from charlm.params import load_params

from helpers import ROOT, run_cli
from tiny_repo import CORPUS


def front_matter(text: str) -> dict:
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def check_card(text: str, metrics: dict, sample: str, sha256s: list[str]) -> None:
    meta = front_matter(text)
    assert meta["library_name"] == "charlm" and meta["datasets"] == [metrics["corpus"]]
    assert meta["metrics"]["val_bpc"] == round(metrics["val_bpc"], 4)
    assert meta["metrics"]["test_bpc"] == round(metrics["test_bpc"], 4)
    assert f"| val | {metrics['val_bpc']:.4f} | {metrics['val_ppl']:.3f} |" in text
    assert f"| test | {metrics['test_bpc']:.4f} | {metrics['test_ppl']:.3f} |" in text
    assert sample.rstrip("\n") in text and sample.strip()
    for s in sha256s:
        assert s in text
    for head in ("## Results", "## Data", "## Model", "## Sample", "## Use", "## Files"):
        assert f"\n{head}\n" in text


@pytest.mark.parametrize("model", ["lstm", "ngram"])
def test_the_card_of_a_scored_model_has_its_metrics_data_sample_and_use(repo, model):
    params = load_params()
    metrics = read_json(paths.metrics_file(CORPUS, model))
    path = write_card(params, CORPUS, model, metrics)
    assert path == paths.model_card(CORPUS, model) and path.parent == (
        paths.ngram_dir(CORPUS) if model == "ngram" else paths.model_dir(CORPUS, model))
    text = path.read_text(encoding="utf-8")
    sample = paths.sample_file(CORPUS, model).read_text(encoding="utf-8")
    check_card(text, metrics, sample, [s.sha256 for s in params.corpus(CORPUS).sources])
    name = artifact_name(CORPUS, model)
    assert f"# {name}\n" in text and f"dvc artifacts get <repository> {name}" in text
    if model == "lstm":
        s = read_json(paths.summary_in(paths.model_dir(CORPUS, model)))
        assert f"| parameters | {s['params']:,} |" in text
        assert f"| {s['history'][-1]['step']:,} | " in text          # the val curve
        assert "| seed | " in text and "| steps | " in text


def test_a_sample_with_backticks_cannot_close_the_cards_code_block(repo, tmp_path):
    sample = paths.sample_file(CORPUS, "gru")
    sample.write_text("a ``` b ```` c", encoding="utf-8")
    text = write_card(load_params(), CORPUS, "gru",
                      read_json(paths.metrics_file(CORPUS, "gru"))).read_text(encoding="utf-8")
    assert "`````text\na ``` b ```` c\n`````" in text


def test_the_card_usage_runs_from_the_model_folder_as_fetched(repo, capsys, tmp_path):
    """What the card says works on a copy of the folder alone: sample and score the neural
    model, score the n-gram, the same bits as the pipeline's own names give."""
    import shutil
    (repo / "t.txt").write_text("First Citizen: speak.\n", encoding="utf-8")
    for model in ("lstm", "ngram"):
        src = paths.model_card(CORPUS, model).parent
        write_card(load_params(), CORPUS, model, read_json(paths.metrics_file(CORPUS, model)))
        fetched = tmp_path / artifact_name(CORPUS, model)
        shutil.copytree(src, fetched)
        code, out, err = run_cli(["score", "--checkpoint", str(fetched), "--json", "t.txt"], capsys)
        assert code == 0, err
        code, own, err = run_cli(["score", "--corpus", CORPUS, "--model", model, "--json",
                                  "t.txt"], capsys)
        assert json.loads(out)["bits"] == json.loads(own)["bits"]
    code, out, err = run_cli(["sample", "--checkpoint", str(tmp_path / f"{CORPUS}-lstm"),
                              "--length", "30", "--seed", "1"], capsys)
    assert code == 0 and len(out.rstrip("\n")) >= 30, err


def test_sample_refuses_an_ngram_folder_in_one_line(repo, capsys):
    code, out, err = run_cli(["sample", "--checkpoint", str(paths.ngram_dir(CORPUS))], capsys)
    assert code != 0 and "n-gram" in err and "charlm score --checkpoint" in err
    assert len(err.strip().splitlines()) == 1


def test_every_model_of_the_committed_default_run_has_its_card():
    """Each model folder of the default run: a card with its val and test bpc (the committed
    metrics' numbers) and its sample."""
    params = load_params(ROOT / "params.yaml")
    summary = read_json(ROOT / "metrics" / "summary.json")
    models = [(c, "ngram") for c in params.run.corpora] + \
        [(p.corpus, p.model) for p in params.run.all_pairs().values()]
    for corpus, model in models:
        card = ROOT / paths.model_card(corpus, model)
        assert card.is_file(), card
        metrics = read_json(ROOT / paths.metrics_file(corpus, model))
        assert summary[corpus][model]["test_bpc"] == metrics["test_bpc"]
        sample = (ROOT / paths.sample_file(corpus, model)).read_text(encoding="utf-8")
        check_card(card.read_text(encoding="utf-8"), metrics, sample,
                   [s.sha256 for s in params.corpus(corpus).sources])


def test_a_sample_is_fenced_by_more_backticks_than_it_holds():
    from charlm.evaluate.card import _longest_run
    assert [_longest_run(t, "`") for t in ("", "abc", "a`b", "``x```y`", "````")] == [0, 0, 1, 3, 4]
