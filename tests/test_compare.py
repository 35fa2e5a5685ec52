"""`charlm compare` (runs side by side within 120 columns, read through dvc.api.exp_show) and
`charlm diff REV --out DIR` (the pull-request report: tables, changed params, one chart per
corpus). The 2-run queue sweep's comparison is checked in tests/test_queue.py."""

from __future__ import annotations

import csv
import io
import json
import subprocess

import pytest

from charlm.compare import runs as R

from helpers import ROOT, copy_repo, git, run_cli

PNG = b"\x89PNG\r\n\x1a\n"


def summary_models(summary: dict) -> list[tuple[str, str]]:
    return [(c, m) for c, models in summary.items() for m in models]


def test_compare_on_the_default_run_fits_120_columns_and_shows_every_model(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    summary = json.loads((ROOT / "metrics" / "summary.json").read_text())
    code, out, err = run_cli(["compare", "workspace", "HEAD"], capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert max(map(len, lines)) <= 120 and lines[0].startswith("2 runs: test bits per char")
    assert lines[1].split()[:2] == ["run", "workspace"]       # transposed: a column per run
    for corpus, model in summary_models(summary):
        if "test_bpc" in summary[corpus][model]:
            assert f"{summary[corpus][model]['test_bpc']:.4f}" in out, (corpus, model)
    code, out, err = run_cli(["compare", "workspace", "HEAD", "--json"], capsys)
    rows = json.loads(out)
    assert [r["kind"] for r in rows] == ["workspace", "commit"]
    assert rows[1]["bpc"]["latex"]["lstm"]["test_bpc"] == summary["latex"]["lstm"]["test_bpc"]
    assert rows[1]["bpc"]["latex"]["lstm"]["val_bpc"] == summary["latex"]["lstm"]["val_bpc"]
    code, out, err = run_cli(["compare", "HEAD", "--val", "--csv"], capsys)
    table = list(csv.reader(io.StringIO(out)))
    assert table[0][1:] == [rows[1]["name"]]
    got = {r[0]: float(r[1]) for r in table[1:]}
    assert got["latex/lstm val"] == pytest.approx(summary["latex"]["lstm"]["val_bpc"], abs=1e-6)
    assert got["tinyshakespeare/ngram"] == pytest.approx(
        summary["tinyshakespeare"]["ngram"]["test_bpc"], abs=1e-6)
    code, out, err = run_cli(["compare", "HEAD", "--md"], capsys)
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in out.splitlines()]
    assert ["latex/lstm", f"{summary['latex']['lstm']['test_bpc']:.4f}"] in cells


def fake_runs(n_runs: int, n_models: int) -> list[R.Run]:
    return [R.Run(f"exp-{i}", f"{i:07x}", "experiment",
                  {"train.models.gru.hidden_size": 16 * (i + 1), "train.common.seed": 1,
                   "train.models.lstm.hidden_size": 8},
                  {("tinyshakespeare", f"model{j}", s): 2.0 + i / 100 + j / 10
                   for j in range(n_models) for s in ("test", "val")})
            for i in range(n_runs)]


@pytest.mark.parametrize("n_runs, n_models, transposed", [(3, 8, True), (8, 3, False),
                                                         (40, 2, False), (2, 40, True)])
def test_the_table_transposes_when_models_outnumber_runs_and_wraps_to_the_width(
        n_runs, n_models, transposed):
    runs = fake_runs(n_runs, n_models)
    frame = R.table(runs)
    assert (frame.columns[0] == "exp-0") == transposed
    text = R.render(frame, "text", 120)
    assert max(map(len, text.splitlines())) <= 120
    for r in runs:                     # every run is shown, wrapped or not
        assert r.name in text
    # only the param that differs, by its shortest unique name
    assert "gru.hidden_size" in text and "seed" not in text and "lstm.hidden_size" not in text


def test_short_names_are_the_shortest_unique_tails():
    keys = ["train.models.gru.lr", "train.models.lstm.lr", "ngram.seed", "train.common.seed",
            "run.corpora"]
    assert R.short_names(keys) == {"train.models.gru.lr": "gru.lr",
                                   "train.models.lstm.lr": "lstm.lr", "ngram.seed": "ngram.seed",
                                   "train.common.seed": "common.seed",
                                   "run.corpora": "run.corpora"}


def test_a_row_splits_into_params_metrics_and_nothing_else():
    row = {"Experiment": None, "rev": "workspace", "typ": "baseline", "State": None,
           "latex.lstm.test_bpc": 1.7, "latex.lstm.val_bpc": 1.8, "latex.lstm.test_ppl": 3.2,
           "train.models.lstm.hidden_size": 256.0, "params.yaml:ngram.seed": 1234,
           "train.models.gru.amp": "None",                      # exp_show's fill: absent
           "metrics/summary.json:ngram.mix.test_bpc": 2.0,          # a corpus named "ngram"
           "charlm/core": "abc123", "data/raw/latex.txt": "def456"}
    params, bpc = R.split_row(row, {"train", "ngram", "run"})
    assert params == {"train.models.lstm.hidden_size": 256.0, "ngram.seed": 1234,
                      "train.models.gru.amp": None}
    assert bpc == {("latex", "lstm", "test"): 1.7, ("latex", "lstm", "val"): 1.8,
                   ("ngram", "mix", "test"): 2.0}


def test_compare_refuses_an_unknown_run_and_a_folder_outside_a_repo_in_one_line(
        capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)
    code, out, err = run_cli(["compare", "no-such-exp"], capsys)
    assert code == 2 and "'no-such-exp': not an experiment" in err and out == ""
    assert len(err.strip().splitlines()) == 1
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(["compare"], capsys)
    assert code == 2 and "no dvc.yaml" in err and len(err.strip().splitlines()) == 1
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    code, out, err = run_cli(["compare"], capsys)
    assert code == 2 and "not a git repository" in err and len(err.strip().splitlines()) == 1
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    code, out, err = run_cli(["compare"], capsys)
    assert code == 2 and "no commit yet" in err and len(err.strip().splitlines()) == 1


# --- charlm diff ---------------------------------------------------------------------------

@pytest.fixture
def changed(tmp_path, monkeypatch):
    """A repository whose commit holds the default run's metrics and val curves, and whose
    workspace changed a param, a test bpc (beyond the gate's tolerance) and a curve."""
    repo = copy_repo(tmp_path / "repo")
    for rel in ("metrics/summary.json", "plots/val_bpc/tinyshakespeare.tsv",
                "plots/val_bpc/latex.tsv", "plots/val_bpc/enwiki-sample.tsv"):
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_bytes((ROOT / rel).read_bytes())
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    params = (repo / "params.yaml").read_text()
    (repo / "params.yaml").write_text(params.replace("  seed: 1234", "  seed: 7", 1))
    summary = json.loads((repo / "metrics/summary.json").read_text())
    summary["latex"]["lstm"]["test_bpc"] += 0.05
    (repo / "metrics/summary.json").write_text(json.dumps(summary))
    tsv = repo / "plots/val_bpc/latex.tsv"
    tsv.write_text(tsv.read_text().replace("lstm\t153600", "lstm\t100000"))
    monkeypatch.chdir(repo)
    return repo, summary


def test_diff_writes_the_tables_the_changed_params_and_one_chart_per_corpus(changed, capsys):
    repo, summary = changed
    code, out, err = run_cli(["diff", "HEAD", "--out", "rep"], capsys)
    assert code == 0 and "gate: FAIL" in err, err
    text = (repo / "rep/report.md").read_text()
    assert "**FAIL**" in text and "| **WORSE** |" in text
    lstm = next(l for l in text.splitlines() if l.startswith("| latex ") and "| lstm " in l)
    cells = [c.strip() for c in lstm.strip("|").split("|")]
    assert cells[2:5] == [f"{summary['latex']['lstm']['test_bpc'] - 0.05:.4f}",
                          f"{summary['latex']['lstm']['test_bpc']:.4f}", "+0.0500"]
    assert "| params.yaml | `ngram.seed` | `1234` | `7` |" in text.replace("  ", " ").replace(
        "  ", " ")
    images = sorted(p.name for p in (repo / "rep").glob("*.png"))
    assert images == [f"val_bpc_{c}.png" for c in sorted(summary)]
    for name in images:
        data = (repo / "rep" / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 5000 and f"]({name})" in text
    # --fail makes the gate's verdict the exit status; an earlier report is replaced
    code, out, err = run_cli(["diff", "HEAD", "--out", "rep", "--fail"], capsys)
    assert code == 1


def test_diff_refuses_a_folder_that_is_not_a_report_and_leaves_it(changed, capsys):
    repo, _ = changed
    (repo / "mine").mkdir()
    (repo / "mine" / "notes.txt").write_text("keep")
    for out in ("mine", "params.yaml"):
        before = sorted(p.name for p in repo.iterdir())
        code, _, err = run_cli(["diff", "HEAD", "--out", out], capsys)
        assert code == 2 and "is not an earlier report" in err and len(err.splitlines()) == 1
        assert sorted(p.name for p in repo.iterdir()) == before    # nothing left behind
    assert (repo / "mine" / "notes.txt").read_text() == "keep"
    code, _, err = run_cli(["diff", "no-such-rev", "--out", "rep"], capsys)
    assert code == 2 and "cannot read metrics/summary.json at no-such-rev" in err
    assert not (repo / "rep").exists()


def test_diff_against_the_previous_commit_of_this_repository(capsys, monkeypatch, tmp_path):
    """The command CI runs, on the committed default run: HEAD~1 against the workspace."""
    if subprocess.run(["git", "rev-parse", "--verify", "-q", "HEAD~1"], cwd=ROOT,
                      capture_output=True).returncode != 0:
        pytest.skip("a shallow clone: no HEAD~1")
    monkeypatch.chdir(ROOT)
    code, _, err = run_cli(["diff", "HEAD~1", "--out", str(tmp_path / "r")], capsys)
    assert code == 0, err
    summary = json.loads((ROOT / "metrics/summary.json").read_text())
    assert {f"val_bpc_{c}.png" for c in summary} <= {p.name for p in (tmp_path / "r").glob("*.png")}
    text = (tmp_path / "r/report.md").read_text()
    for corpus, model in summary_models(summary):
        assert any(l.startswith(f"| {corpus} ") and f"| {model} " in l for l in text.splitlines())
