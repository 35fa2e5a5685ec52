"""`charlm corpus add`: train on your own text.

    charlm corpus add mybook ~/books/mybook.txt                 # a local file
    charlm corpus add notes notes/*.md --to-run                  # several, and into the run
    charlm corpus add stacks https://host/stacks.tar.gz --unpack tar.gz --member '*.tex'

Each source (a local path, file:// or http(s):// URL; mirrors in $CHARLM_MIRROR are
tried first) is fetched into the download cache, hashed (sha256 and size), unpacked and
decoded strictly in --encoding. The corpus must be long enough for the pipeline: its
val and test splits non-empty and its train split at least one training batch of
--model. Then its entry is written to corpora.yaml, the file's comments and order kept.
With --to-run the corpus is also added to params.yaml's run.corpora with a
<name>-<model> pair, so a plain `dvc repro` trains and scores it. Nothing is written
if any check fails.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import re
import tempfile
from pathlib import Path

from ..core import paths
from ..core.errors import CorpusError, ParamsError
from ..params import CORPORA_FILE, DEFAULT_PARAMS, CorpusSpec, Params, from_dict
from ..params.sections import NAME
from .args import MAX_NAME, encoding, path_arg, text

UNPACK_CHOICES = ("plain", "bz2", "gz", "zip", "tar", "tar.gz", "tar.bz2", "tar.xz")


def _round_trip_yaml():
    """A ruamel.yaml loader/dumper that keeps comments, order and flow style."""
    from ruamel.yaml import YAML
    y = YAML()
    y.preserve_quotes = True
    y.width = 4096
    y.indent(mapping=2, sequence=4, offset=2)
    return y


def _check_name(name: str, params: Params, force: bool) -> None:
    if len(name) > MAX_NAME or not NAME.fullmatch(name):
        raise ParamsError(f"corpus name {name[:40]!r}: use letters, digits, '_', '.', '-' "
                          f"(starting with a letter or digit, at most {MAX_NAME} chars)")
    if name in params.corpora and not force:
        raise ParamsError(f"corpus {name!r} already exists in {CORPORA_FILE} "
                          "(--force replaces it)")


def _source_url(source: str) -> str:
    """A URL as given; a local path checked (exists, is a file) and kept relative to the
    repository root when it lies inside it, else made absolute."""
    if "://" in source:
        return source
    p = Path(source).expanduser()
    if not p.exists():
        raise CorpusError(f"{source}: no such file")
    if p.is_dir():
        raise CorpusError(f"{source}: is a directory (name its files, e.g. {source}/*.txt)")
    if not p.is_file():
        raise CorpusError(f"{source}: not a regular file (a device, pipe or socket); "
                          "give a text file")
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p.resolve())


def _fetch_sources(urls: list[str]) -> list[dict]:
    """Each URL fetched into the download cache: [{url, sha256, bytes}]."""
    from ..data.download import fetch_unverified
    out = []
    for url in urls:
        sha, size = fetch_unverified(url, paths.download_cache())
        if size == 0:
            raise CorpusError(f"{url}: empty file")
        out.append({"url": url, "sha256": sha, "bytes": size})
    return out


# --unpack when it is not given: from the source's name
SUFFIXES = [(".tar.gz", "tar.gz"), (".tgz", "tar.gz"), (".tar.bz2", "tar.bz2"),
            (".tbz2", "tar.bz2"), (".tar.xz", "tar.xz"), (".txz", "tar.xz"), (".tar", "tar"),
            (".zip", "zip"), (".bz2", "bz2"), (".gz", "gz")]
ARCHIVES = ("zip", "tar", "tar.gz", "tar.bz2", "tar.xz")


def unpack_method(args: argparse.Namespace) -> str:
    """--unpack as given, else what every source's name says (plain when it says nothing);
    --member only with an archive."""
    how = args.unpack
    if how is None:
        found = {next((m for s, m in SUFFIXES if src.lower().endswith(s)), "plain")
                 for src in args.sources}
        if len(found) > 1:
            raise ParamsError(f"--unpack: the sources' names say {', '.join(sorted(found))}; "
                              "give --unpack (one method for all of them)")
        how = found.pop()
    if args.member and how not in ARCHIVES:
        raise ParamsError(f"--member names files inside a zip or tar archive; this source is "
                          f"unpacked as {how} (give --unpack)")
    if how in ARCHIVES and not args.member:
        raise ParamsError(f"--member: required for a {how} source (a name or a glob such as "
                          "'*.txt')")
    return how


def _spec(args: argparse.Namespace, sources: list[dict], how: str) -> tuple[dict, CorpusSpec]:
    names = ", ".join(s["url"].rstrip("/").rsplit("/", 1)[-1] for s in sources)
    entry: dict = {"description": args.description or f"added by charlm corpus add from {names}",
                   "sources": sources, "unpack": how}
    if args.member:
        entry["member"] = args.member
    entry["encoding"] = args.encoding
    return entry, from_dict(CorpusSpec, entry, f"corpora.{args.name}")


def min_chars(params: Params, model: str) -> int:
    """The shortest corpus the pipeline can run `model` on: one training batch in the
    train split, at least one char in val and in test."""
    run = params.train.effective(model)
    split = params.prepare.split
    need_train = run.batch_size * run.seq_len + 1
    return max(math.ceil(need_train / split.train), math.ceil(1 / split.val),
               math.ceil(1 / split.test), 2)


def _build_text(name: str, spec: CorpusSpec, params: Params, model: str) -> str:
    """The corpus text as the download stage will make it; CorpusError if unusable."""
    from ..data.download import build_corpus
    from ..data.prepare import prepare_text
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"{name}.txt"
        build_corpus(name, spec, out, paths.download_cache(), cfg=None)
        text = out.read_text(encoding="utf-8")
    need = min_chars(params, model)
    if len(text) < need:
        raise CorpusError(f"corpus {name!r} has {len(text):,} chars; the pipeline needs at "
                          f"least {need:,} (one training batch of {model} in the train split)")
    prepare_text(text, params.prepare.split, name)       # empty splits, a 1-char vocabulary
    return text


def _corpora_text(corpora_file: Path, name: str, entry: dict) -> str:
    """corpora.yaml with `name` added or replaced, the rest of the file as it was."""
    import yaml
    y = _round_trip_yaml()
    text = corpora_file.read_text(encoding="utf-8")
    doc = y.load(text)
    doc["corpora"][name] = entry
    buf = io.StringIO()
    y.dump(doc, buf)
    expected = yaml.safe_load(text)
    expected["corpora"][name] = entry
    if yaml.safe_load(buf.getvalue()) != expected:
        raise ParamsError(f"{CORPORA_FILE}: could not add {name} safely; add it by hand")
    return buf.getvalue()


def _run_lines(lines: list[str], name: str, pair: str) -> list[str]:
    """params.yaml's lines with `name` in run.corpora's flow list and `pair` appended to
    run.pairs (text edits, so every comment and line break stays); ParamsError if the
    run section is not laid out as in the committed file."""
    out, section, in_pairs, last_pair, indent = list(lines), None, False, None, None
    for i, line in enumerate(lines):
        if line and not line[0].isspace() and not line.startswith("#"):
            section, in_pairs = line.split(":")[0], False
        if section != "run":
            continue
        m = re.match(r"(\s+corpora:\s*\[)([^\]]*)(\].*)", line)
        if m:
            items = [c.strip() for c in m.group(2).split(",") if c.strip()]
            out[i] = m.group(1) + ", ".join(items + [name]) + m.group(3)
        if re.match(r"\s+pairs:\s*(#.*)?$", line):
            in_pairs = True
        elif in_pairs and re.match(r"\s{4,}[^\s#]", line):
            last_pair = i           # a pair, or the continuation line of one
            if indent is None:      # the pairs' own indent: the first pair's
                indent = re.match(r"\s*", line).group(0)
    if last_pair is None or out == lines:
        raise ParamsError(f"{DEFAULT_PARAMS}: run.corpora and run.pairs are not laid out as "
                          "expected; add the corpus and its pair there by hand")
    out.insert(last_pair + 1, f"{indent}{pair}")
    return out


def _run_text(params_file: Path, name: str, model: str) -> str:
    """params.yaml with `name` appended to run.corpora and the pair `<name>-<model>` to
    run.pairs; the edited text is parsed and must differ from the old by exactly that."""
    import yaml
    text = params_file.read_text(encoding="utf-8")
    old = yaml.safe_load(text)
    if name in old["run"]["corpora"]:
        raise ParamsError(f"{DEFAULT_PARAMS}: {name} is already in run.corpora")
    key = f"{name}-{model}"
    lines = _run_lines(text.split("\n"), name, f"{key}: {{corpus: {name}, model: {model}}}")
    new_text = "\n".join(lines)
    old["run"]["corpora"].append(name)
    old["run"]["pairs"][key] = {"corpus": name, "model": model}
    if yaml.safe_load(new_text) != old:
        raise ParamsError(f"{DEFAULT_PARAMS}: could not add {name} to run safely; add it to "
                          f"run.corpora and the pair {key} by hand")
    return new_text


def _next_steps(name: str, model: str, to_run: bool) -> str:
    if to_run:
        return (f"added {name} to run.corpora and the pair {name}-{model} in {DEFAULT_PARAMS}; "
                f"next: dvc repro   (then: charlm models --corpus {name})")
    key = f"{name}-{model}"
    return ("next, the n-gram and the " + model + " on it alone:\n"
            f"  dvc exp run -S 'run.corpora=[{name}]' -S '~run.pairs' "
            f"-S '+run.pairs={{{key}: {{corpus: {name}, model: {model}}}}}'\n"
            f"or in every run: rerun with --to-run (or edit run in {DEFAULT_PARAMS}), then dvc repro")


@contextlib.contextmanager
def _cache_kept_only_on_success():
    """On a refusal, the sources this command fetched into the download cache (and the
    cache folder, if it made it) are removed again: a refused add leaves nothing behind."""
    cache = paths.download_cache()
    existed = cache.is_dir()
    before = set(cache.iterdir()) if existed else set()
    try:
        yield
    except BaseException:
        for f in (set(cache.iterdir()) if cache.is_dir() else set()) - before:
            with contextlib.suppress(OSError):
                f.unlink()
        if not existed:
            with contextlib.suppress(OSError):
                cache.rmdir()
        raise


def add(args: argparse.Namespace) -> int:
    """Check every source, then write the corpus entry (and, with --to-run, the run)."""
    from ..core.fsutil import write_text
    from .lookup import check_model_name, repo_params
    params = repo_params()
    corpora_file = Path(CORPORA_FILE)
    if not corpora_file.is_file():
        raise ParamsError(f"no {CORPORA_FILE} in {Path.cwd()}: corpus add writes there")
    _check_name(args.name, params, args.force)
    check_model_name(params, args.model, allow_ngram=False)
    how = unpack_method(args)                           # before any fetch
    urls = [_source_url(s) for s in args.sources]       # local paths checked before any fetch
    with _cache_kept_only_on_success():
        entry, spec = _spec(args, _fetch_sources(urls), how)
        text = _build_text(args.name, spec, params, args.model)
        writes = {corpora_file: _corpora_text(corpora_file, args.name, entry)}
        if args.to_run:
            writes[Path(DEFAULT_PARAMS)] = _run_text(Path(DEFAULT_PARAMS), args.name, args.model)
        for path in writes:
            if not os.access(path, os.W_OK) or not path.stat().st_mode & 0o222:
                raise ParamsError(f"{path} is read-only: not changing it (nothing was written)")
    for path, new_text in writes.items():      # every check passed: write both files
        write_text(path, new_text)
    total = sum(s["bytes"] for s in entry["sources"])
    print(f"added corpus {args.name!r} to {CORPORA_FILE}: {len(text):,} chars from "
          f"{len(urls)} source(s) ({total:,} bytes, sha256 recorded)")
    print(_next_steps(args.name, args.model, args.to_run))
    return 0


def register(sub) -> None:
    from ..core.entry import HelpFormatter
    p = sub.add_parser("corpus", help="add your own text as a corpus",
                       description=__doc__, formatter_class=HelpFormatter)
    csub = p.add_subparsers(dest="corpus_command", required=True)
    a = csub.add_parser("add", help="check a text and add it to corpora.yaml",
                        description=__doc__, formatter_class=HelpFormatter)
    a.add_argument("name", type=text, help="the corpus name (letters, digits, _ . -)")
    a.add_argument("sources", nargs="+", metavar="SOURCE", type=path_arg,
                   help="local file, file:// or http(s):// URL; several are concatenated in order")
    a.add_argument("--encoding", default="utf-8", type=encoding,
                   help="encoding of the text (decoded strictly)")
    a.add_argument("--unpack", default=None, choices=UNPACK_CHOICES,
                   help="how each source is unpacked (default: from its name, e.g. .tar.gz, "
                        ".zip, .bz2; else plain)")
    a.add_argument("--member", default=None, type=text,
                   help="archive member name or glob, e.g. '*.tex' (zip and tar sources)")
    a.add_argument("--description", default=None, type=text, help="one line on what the text is")
    a.add_argument("--model", default="lstm",
                   help="the neural model to pair with it")
    a.add_argument("--to-run", action="store_true",
                   help="also add it to params.yaml's run.corpora, with a <name>-<model> pair")
    a.add_argument("--force", action="store_true", help="replace an existing corpus of that name")
    a.set_defaults(func=add)
