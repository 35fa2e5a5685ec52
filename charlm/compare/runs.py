"""Runs side by side (`charlm compare`): the workspace, commits and `dvc exp` runs, the params
that differ among them and the bpc of every corpus x model, in a table that fits a terminal.

    runs = collect(["HEAD~1", "my-exp"])        # [] -> the workspace, HEAD and HEAD's experiments
    frame = table(runs, splits=("test",))       # pandas: one row per run, or transposed
    print(render(frame, "text", width=120))

Read through DVC's Python API (`dvc.api.exp_show`, one flat row per run), never by parsing its
printed table. A column is a param when its first key is a section of params.yaml or
corpora.yaml (DVC prefixes "file:" only where two files share a key), a metric when it is
<corpus>.<model>.<split>_bpc of metrics/summary.json; deps (paths) and the rest are dropped.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..core.errors import CharlmError

PARAM_FILES = ("params.yaml", "corpora.yaml")
METRICS_FILE = "metrics/summary.json"
SPLITS = ("test", "val")
MISSING = "—"
DVC_FILL = "None"              # what dvc.api.exp_show puts where a run lacks a column
CELL = 24                      # longest param value shown (a longer one is cut with "…")


@dataclass
class Run:
    """One column of `dvc exp show`: its label, git rev, kind and flat params/metrics."""
    name: str
    rev: str
    kind: str                                   # workspace | commit | experiment
    params: dict[str, object] = field(default_factory=dict)
    bpc: dict[tuple[str, str, str], float] = field(default_factory=dict)  # (corpus, model, split)


def _sections(root: Path) -> set[str]:
    """The top-level keys of the param files: the first part of every param's name."""
    keys: set[str] = set()
    for name in PARAM_FILES:
        try:
            data = yaml.safe_load((root / name).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue
        keys |= set(data) if isinstance(data, dict) else set()
    return keys


def _unprefixed(key: str, files: tuple[str, ...]) -> tuple[str, str | None]:
    """("a.b", "params.yaml") from "params.yaml:a.b"; (key, None) without a file prefix."""
    head, sep, rest = key.partition(":")
    return (rest, head) if sep and head in files else (key, None)


def split_row(row: dict, sections: set[str]) -> tuple[dict, dict]:
    """(params, bpc) of one flat exp_show row."""
    params, bpc = {}, {}
    for key, value in row.items():
        name, file = _unprefixed(key, (*PARAM_FILES, METRICS_FILE))
        first = name.split(".", 1)[0]
        if file in PARAM_FILES or (file is None and first in sections and "/" not in name):
            params[name] = None if value == DVC_FILL else value
            continue
        corpus_model, _, metric = name.rpartition(".")
        corpus, _, model = corpus_model.rpartition(".")
        split = metric[:-len("_bpc")] if metric.endswith("_bpc") else None
        if split in SPLITS and corpus and "/" not in name and _number(value):
            bpc[(corpus, model, split)] = float(value)
    return params, bpc


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _show(root: Path, revs: list[str]) -> list[dict]:
    import dvc.api
    from dvc.exceptions import DvcException
    try:
        return dvc.api.exp_show(str(root), revs=revs or None)
    except DvcException as e:
        raise CharlmError(f"dvc exp show: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
                          ) from None


def _commit(root: Path, rev: str) -> str:
    """The full hash of the commit `rev` names ("" when it names none)."""
    return subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
                          cwd=root, capture_output=True, text=True).stdout.strip()


def _runs(rows: list[dict], sections: set[str]) -> list[Run]:
    """Every run of exp_show's rows except queued ones (nothing computed yet)."""
    runs = []
    for r in rows:
        if r.get("State") == "Queued":
            continue
        kind = ("workspace" if r["rev"] == "workspace" else
                "experiment" if r.get("Experiment") else "commit")
        params, bpc = split_row(r, sections)
        runs.append(Run(r.get("Experiment") or r["rev"], r["rev"], kind, params, bpc))
    return runs


def collect(wanted: list[str], root: Path = Path(".")) -> list[Run]:
    """The runs named in `wanted` (experiment names, git revisions, "workspace"), in that
    order; with none, the workspace, HEAD and HEAD's experiments."""
    if not (root / "dvc.yaml").is_file():
        raise CharlmError(f"no dvc.yaml in {root.resolve()}: run charlm compare from the "
                          "repository root")
    if not _commit(root, "HEAD"):
        inside = subprocess.run(["git", "rev-parse", "--git-dir"], cwd=root,
                                capture_output=True).returncode == 0
        raise CharlmError("no commit yet: commit the run first (dvc exp show compares against "
                          "HEAD)" if inside else f"{root.resolve()}: not a git repository")
    commits = {w: c for w in wanted if w != "workspace" and (c := _commit(root, w))}
    runs = _runs(_show(root, list(dict.fromkeys(["HEAD", *commits]))), _sections(root))
    if not wanted:
        return runs
    run_commits = {r.rev: _commit(root, r.rev) for r in runs if r.kind != "workspace"} \
        if commits else {}
    chosen = []
    for w in wanted:
        found = [r for r in runs if r.name == w or (w in commits
                                                    and run_commits.get(r.rev) == commits[w])]
        if not found:
            names = ", ".join(r.name for r in runs)
            raise CharlmError(f"{w!r}: not an experiment of these commits nor a git revision "
                              f"(known: {names})")
        chosen += [r for r in found[:1] if r not in chosen]
    return chosen


def differing(runs: list[Run]) -> list[str]:
    """The params whose values are not all the same among the runs (in the order DVC lists
    them; a param absent from a run counts as a value)."""
    keys = list(dict.fromkeys(k for r in runs for k in r.params))
    return [k for k in keys
            if len({json.dumps(r.params.get(k), sort_keys=True, default=str) for r in runs}) > 1]


def short_names(keys: list[str]) -> dict[str, str]:
    """Each dotted key -> its shortest tail of at least two parts that no other key ends with
    (train.models.gru.hidden_size -> gru.hidden_size)."""
    out = {}
    for k in keys:
        parts = k.split(".")
        for n in range(min(2, len(parts)), len(parts) + 1):
            tail = ".".join(parts[-n:])
            if not any(o != k and (o == tail or o.endswith("." + tail)) for o in keys):
                break
        out[k] = tail
    return out


def _value(v) -> str:
    if isinstance(v, float) and v.is_integer() and abs(v) < 2**53:
        v = int(v)                          # DVC's table gives every number as a float
    s = MISSING if v is None else v if isinstance(v, str) else json.dumps(v, default=str)
    return s if len(s) <= CELL else s[:CELL - 1] + "…"


def table(runs: list[Run], splits: tuple[str, ...] = ("test",), transpose: bool | None = None):
    """A DataFrame, one row per run: the differing params ("param", short name), then the bpc
    of every corpus x model (the corpus, then the model, "model val" for val). Transposed (a
    row per param and model, a column per run) when there are more models than runs, or as
    asked."""
    import pandas as pd
    keys = differing(runs)
    names = short_names(keys)
    models = list(dict.fromkeys((c, m) for r in runs for (c, m, s) in r.bpc if s in splits))
    cols = [("param", names[k]) for k in keys]
    cols += [(c, m if s == "test" else f"{m} {s}") for c, m in models for s in splits]
    data = []
    for r in runs:
        row = [_value(r.params.get(k)) for k in keys]
        row += [r.bpc.get((c, m, s)) for c, m in models for s in splits]
        data.append(row)
    frame = pd.DataFrame(data, index=pd.Index([r.name for r in runs], name="run"),
                         columns=pd.MultiIndex.from_tuples(cols) if cols else None)
    if transpose if transpose is not None else len(models) * len(splits) > len(runs):
        frame = frame.T
    return frame


def _formatted(frame):
    """Every bpc to 4 decimals, a missing one as MISSING; other cells as they are."""
    return frame.map(lambda v: MISSING if v is None or v != v else
                     f"{v:.4f}" if isinstance(v, float) else str(v))


def _flat(frame):
    """Column and row labels as single strings ("corpus/model"), for CSV and Markdown."""
    out = frame.copy()
    for axis in ("index", "columns"):
        labels = getattr(out, axis)
        if getattr(labels, "nlevels", 1) > 1:
            setattr(out, axis, ["/".join(str(x) for x in t) for t in labels])
    return out


def render(frame, fmt: str = "text", width: int = 120) -> str:
    """text (wrapped in blocks of columns to `width`), md, csv; empty cells as MISSING."""
    shown = _formatted(frame)
    if fmt == "csv":
        return _flat(frame).to_csv(float_format="%.6f")
    if fmt == "md":
        flat = _flat(shown)
        return flat.to_markdown(disable_numparse=True,
                                colalign=["left"] + ["right"] * len(flat.columns))
    return shown.to_string(line_width=width, justify="right", sparsify=True)


def as_json(runs: list[Run]) -> list[dict]:
    """Each run: name, rev, kind, the differing params and {corpus: {model: {split: bpc}}}."""
    keys = differing(runs)
    out = []
    for r in runs:
        bpc: dict = {}
        for (c, m, s), v in r.bpc.items():
            bpc.setdefault(c, {}).setdefault(m, {})[f"{s}_bpc"] = v
        out.append({"name": r.name, "rev": r.rev, "kind": r.kind,
                    "params": {k: r.params.get(k) for k in keys}, "bpc": bpc})
    return out
