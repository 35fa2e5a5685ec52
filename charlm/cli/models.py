"""`charlm models`: the trained models on disk, with their val and test bpc.

    charlm models
    charlm models --corpus latex
    charlm models --json

One row per trained model: the n-gram of data/ngram/<corpus>/ and each neural model of
data/models/<corpus>/<model>/, for every corpus of corpora.yaml (also corpora that are
not in run.corpora). val and test bpc come from the evaluate stage's
metrics/eval/<corpus>/<model>.json ("-": not evaluated yet). The best model of each
corpus, marked *, is the one with the lowest val bpc: models are chosen on val, and
test is only reported. With no trained model at all, a line says to run `dvc repro`
(exit status 0; --json then prints an empty list).

Each model's files are checked as `sample` and `score` would load them (config.json by
the params schema, the weights' CRC-32, the n-gram's arrays): a model that fails is
marked `!` with the reason under the table ("problem" in --json), and is never the best.

Each model is also a DVC artifact, <corpus>-<model> (dvc.yaml's artifacts). Where GTO has
registered versions of any (git tags: `gto register`, `gto assign --stage`), a `registry`
column shows each model's latest version and its stages (e.g. `v0.0.2 prod=v0.0.1`);
--json always has "artifact", "version" and "stages".
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Optional

from ..core import paths
from ..core.fsutil import read_json
from ..params import Params
from .args import name
from .lookup import NGRAM, repo_params

COLUMNS = ["corpus", "model", "architecture", "params", "train chars", "val bpc", "test bpc"]
NUMERIC = {"params", "train chars", "val bpc", "test bpc"}


def _json_or_none(path: Path) -> Optional[dict]:
    """A JSON object from `path`, or None when it is missing or unreadable."""
    try:
        d = read_json(path)
    except (OSError, ValueError):
        return None
    return d if isinstance(d, dict) else None


def _int_or_none(*values: Any) -> Optional[int]:
    """The first value that is a number, as an int."""
    for v in values:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return int(v)
    return None


def ngram_row(corpus: str) -> Optional[dict]:
    """The corpus's n-gram, if one is trained (model.npz and fit.json present)."""
    d = paths.ngram_dir(corpus)
    if not ((d / "model.npz").is_file() and (d / "fit.json").is_file()):
        return None
    fit = _json_or_none(paths.ngram_fit_file(corpus)) or {}
    meta = _json_or_none(d / "model.json") or {}
    smoothing = fit.get("smoothing", meta.get("smoothing", "?"))
    order = fit.get("order", meta.get("order", "?"))
    return {"corpus": corpus, "model": NGRAM, "arch": f"ngram ({smoothing}, order {order})",
            "params": _int_or_none(fit.get("n_grams"), meta.get("n_grams")),
            "train_chars": _int_or_none(fit.get("train_chars"), meta.get("train_chars")),
            "path": str(d)}


def neural_row(corpus: str, model_dir: Path) -> Optional[dict]:
    """A neural model, if its folder holds final weights (model.safetensors + config.json)."""
    if not ((model_dir / "model.safetensors").is_file() and (model_dir / "config.json").is_file()):
        return None
    shape = (_json_or_none(model_dir / "config.json") or {}).get("model") or {}
    summary = _json_or_none(paths.summary_in(model_dir)) or {}
    arch = (f"{shape['arch']} {shape['num_layers']}x{shape['hidden_size']}"
            if {"arch", "num_layers", "hidden_size"} <= set(shape) else "?")
    return {"corpus": corpus, "model": model_dir.name, "arch": arch,
            "params": _int_or_none(summary.get("params")),
            "train_chars": _int_or_none(summary.get("train_chars")), "path": str(model_dir)}


def file_problem(row: dict) -> Optional[str]:
    """Why the model's files cannot be used (None when they load and pass their checks)."""
    from ..core.errors import CharlmError
    try:
        if row["model"] == NGRAM:
            from ..ngram.store import read_model
            read_model(row["path"])
        else:
            from ..neural.models import load_trained
            load_trained(row["path"], "cpu")
    except CharlmError as e:
        return str(e)
    return None


def corpus_rows(corpus: str) -> list[dict]:
    """The trained models of one corpus (n-gram first, then by name), with their metrics
    and the result of their files' checks."""
    rows = [ngram_row(corpus)]
    d = paths.DATA / "models" / corpus
    if d.is_dir():
        rows += [neural_row(corpus, m) for m in sorted(d.iterdir()) if m.is_dir()]
    rows = [with_metrics(r) for r in rows if r is not None]
    for r in rows:
        r["problem"] = file_problem(r)
    return mark_best(rows)


def with_metrics(row: dict) -> dict:
    """The row with val/test bpc from the evaluate stage's metrics file (None if absent);
    sizes missing from the model's own files are taken from there too."""
    m = _json_or_none(paths.metrics_file(row["corpus"], row["model"])) or {}
    return {"corpus": row["corpus"], "model": row["model"], "arch": row["arch"],
            "params": _int_or_none(row["params"], m.get("params")),
            "train_chars": _int_or_none(row["train_chars"], m.get("train_chars")),
            "val_bpc": m.get("val_bpc"), "test_bpc": m.get("test_bpc"), "best": False,
            "path": row["path"]}


def mark_best(rows: list[dict]) -> list[dict]:
    """Set `best` on the usable row with the lowest val bpc (none when nothing is
    evaluated)."""
    scored = [r for r in rows if isinstance(r["val_bpc"], (int, float)) and not r.get("problem")]
    best = min(scored, key=lambda r: r["val_bpc"]) if scored else None
    for r in rows:
        r["best"] = r is best
    return rows


def corpora_on_disk(params: Params) -> list[str]:
    """Corpora known to the params that have a folder under data/ngram/ or data/models/."""
    found = set()
    for base in (paths.DATA / "ngram", paths.DATA / "models"):
        if base.is_dir():
            found |= {d.name for d in base.iterdir() if d.is_dir()}
    return sorted(found & set(params.corpora))


def collect(params: Params, corpus: Optional[str] = None) -> list[dict]:
    """Every trained model's row, sorted by corpus then model (n-gram first)."""
    if corpus is not None:
        params.corpus(corpus)
    names = [corpus] if corpus is not None else corpora_on_disk(params)
    return [r for c in names for r in corpus_rows(c)]


def _cell(key: str, r: dict) -> str:
    v = r[key]
    if v is None:
        return "-"
    if key.endswith("bpc"):
        return f"{v:.4f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def table(rows: list[dict]) -> str:
    """Aligned columns; numbers right-aligned; `*` after the best model of each corpus."""
    keys = ["corpus", "model", "arch", "params", "train_chars", "val_bpc", "test_bpc"]
    cells = [[_cell(k, r) for k in keys] for r in rows]
    for r, c in zip(rows, cells):
        c[1] += " *" if r["best"] else " !" if r.get("problem") else ""
    columns = COLUMNS
    if any(r.get("version") or r.get("stages") for r in rows):
        columns = [*COLUMNS, "registry"]
        for r, c in zip(rows, cells):
            c.append(registry_cell(r))
    widths = [max(len(x) for x in col) for col in zip(columns, *cells)]
    lines = []
    for c in [columns, *cells]:
        lines.append("  ".join(x.rjust(w) if name in NUMERIC else x.ljust(w)
                               for x, w, name in zip(c, widths, columns)).rstrip())
    lines.append("* the best model of its corpus: lowest val bpc (chosen on val; test is reported)")
    lines += [f"! {r['corpus']}/{r['model']} fails its checks: {r['problem']}"
              for r in rows if r.get("problem")]
    return "\n".join(lines)


def no_models_message(params: Params, corpus: Optional[str]) -> str:
    """What to do when nothing is trained (for one corpus, or at all)."""
    if corpus is not None and corpus not in params.run.corpora:
        return (f"no trained models for corpus {corpus} yet: it is not in run.corpora of "
                f"params.yaml (add it, then run `dvc repro`)")
    where = f" for corpus {corpus}" if corpus else ""
    return f"no trained models{where} yet: run `dvc repro` to train and evaluate them"


def registry(root: Path = Path(".")) -> dict:
    """GTO's registry of the repository at `root`: artifact -> {"version": latest or None,
    "stage": {stage: version}}; {} outside git or with no tag at all (GTO is not asked)."""
    import subprocess
    try:
        tags = subprocess.run(["git", "tag", "--list"], cwd=root, capture_output=True, text=True)
    except OSError:                     # no git on this machine
        return {}
    if tags.returncode != 0 or not tags.stdout.strip():
        return {}
    from gto.api import show
    from scmrepo.exceptions import SCMError
    try:
        return show(str(root))
    except SCMError:
        return {}


def with_registry(rows: list[dict], reg: dict) -> list[dict]:
    """Each row's artifact name, latest registered version and stages."""
    from ..compare.artifacts import artifact_name
    for r in rows:
        r["artifact"] = artifact_name(r["corpus"], r["model"])
        entry = reg.get(r["artifact"]) or {}
        r["version"], r["stages"] = entry.get("version"), dict(entry.get("stage") or {})
    return rows


def registry_cell(r: dict) -> str:
    stages = " ".join(f"{s}={v}" for s, v in sorted(r["stages"].items()) if v)
    return " ".join(x for x in (r["version"] or "", stages) if x) or "-"


def run(args: argparse.Namespace) -> int:
    """Print the table (or the JSON list); no model at all is a message, not an error."""
    params = repo_params()
    rows = with_registry(collect(params, args.corpus), registry())
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
    elif rows:
        print(table(rows))
    if not rows:
        print(no_models_message(params, args.corpus), file=sys.stderr if args.json else sys.stdout)
    return 0


def register(sub) -> None:
    from ..core.entry import HelpFormatter
    p = sub.add_parser("models", help="list the trained models with their val and test bpc",
                       description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("--corpus", default=None, type=name,
                   help="only this corpus's models (default: every corpus with a trained model)")
    p.add_argument("--json", action="store_true",
                   help="print a JSON list of objects instead of the table (default: off)")
    p.set_defaults(func=run)
