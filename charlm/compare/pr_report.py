"""The pull-request report (`charlm diff REV --out DIR`): the workspace's run against REV's.

DIR/report.md has, per corpus and model, the val and test bpc at REV and now, the test
change with its verdict against the seed noise and the gate's status (the same rows as
`charlm check-metrics`: charlm/compare/check_metrics.py), the val change, the params that
changed (DVC's `params diff`) and, per corpus, one PNG of the val curves: each neural
model's val bpc against training chars (plots/val_bpc/<corpus>.tsv, the data `dvc plots diff`
draws), REV dashed and now solid, the models without a curve (n-gram, mixture) as
horizontal lines at their val bpc. Offline and without a browser (matplotlib's Agg).

The folder is written whole or not at all: built beside DIR, then moved into place; a DIR
that holds anything but an earlier report is refused, never overwritten.
"""

from __future__ import annotations

import csv
import io
import shutil
import tempfile
from pathlib import Path

from ..core import paths
from ..core.errors import CharlmError
from . import check_metrics as gate

CURVES = Path("plots/val_bpc")
TITLE = "# charlm: this change's run against "


def curves(text: str | None) -> dict[str, list[tuple[int, float]]]:
    """model -> [(chars, val bpc)] from a val_bpc TSV (series, chars, val_bpc)."""
    out: dict[str, list] = {}
    for row in csv.DictReader(io.StringIO(text or ""), delimiter="\t"):
        try:
            out.setdefault(row["series"], []).append((int(row["chars"]), float(row["val_bpc"])))
        except (KeyError, TypeError, ValueError):
            continue
    return out


def param_changes(rev: str) -> list[tuple[str, str, object, object]]:
    """(file, param, at REV, now) for every param that changed, through DVC's params diff."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo
    try:
        with Repo(".") as repo:
            diff = repo.params.diff(a_rev=rev).get("diff", {})
    except DvcException as e:
        raise CharlmError(f"dvc params diff {rev}: {str(e).splitlines()[0]}") from None
    return [(f, k, v.get("old"), v.get("new")) for f, keys in sorted(diff.items())
            for k, v in keys.items()]


def rows(old: dict, new: dict, tolerance: float) -> tuple[list[dict], bool]:
    """The gate's rows (test bpc, verdict, status) with val bpc at REV and now added."""
    table, ok = gate.compare(old, new, tolerance, gate.load_noise())
    for r in table:
        r["val_old"] = old.get(r["corpus"], {}).get(r["model"], {}).get("val_bpc")
        r["val_new"] = new.get(r["corpus"], {}).get(r["model"], {}).get("val_bpc")
    return table, ok


def _num(x) -> str:
    return f"{x:.4f}" if gate.valid_bpc(x) else "—"


def _change(a, b) -> str:
    return f"{b - a:+.4f}" if gate.valid_bpc(a) and gate.valid_bpc(b) else "—"


def metrics_table(table: list[dict]) -> str:
    import pandas as pd
    frame = pd.DataFrame([{
        "corpus": r["corpus"], "model": r["model"],
        "test then": _num(r["old"]), "test now": _num(r["new"]), "change": _change(r["old"], r["new"]),
        "noise": "—" if r["noise"] is None else f"±{r['noise']:.4f}", "verdict": r["verdict"],
        "val then": _num(r["val_old"]), "val now": _num(r["val_new"]),
        "val change": _change(r["val_old"], r["val_new"]),
        "gate": f"**{r['status']}**" if r["status"] in gate.FAILING else r["status"]}
        for r in table])
    align = ["left", "left", "right", "right", "right", "right", "left", "right", "right",
             "right", "left"]
    return frame.to_markdown(index=False, disable_numparse=True, colalign=align)


def params_table(changes: list[tuple]) -> str:
    if not changes:
        return "No param changed."
    import pandas as pd
    cell = lambda v: "—" if v is None else f"`{v}`".replace("|", "\\|")  # noqa: E731
    frame = pd.DataFrame([{"file": f, "param": f"`{k}`", "then": cell(a), "now": cell(b)}
                          for f, k, a, b in changes])
    return frame.to_markdown(index=False, disable_numparse=True)


def draw_corpus(corpus: str, rev: str, old: dict, new: dict, then: dict, now: dict,
                path: Path) -> None:
    """One PNG: val bpc against training chars, REV dashed, now solid; the models without a
    curve as horizontal lines at their val bpc."""
    from .charts import _plt
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    names = list(dict.fromkeys([*now, *then, *new.get(corpus, {}), *old.get(corpus, {})]))
    colour = {m: f"C{i % 10}" for i, m in enumerate(names)}
    for label, data, summary, style in (("now", now, new, "-"), (rev, then, old, "--")):
        for m in names:
            if data.get(m):
                xs, ys = zip(*data[m])
                ax.plot(xs, ys, style, color=colour[m], label=f"{m} ({label})")
            elif gate.valid_bpc(summary.get(corpus, {}).get(m, {}).get("val_bpc")):
                ax.axhline(summary[corpus][m]["val_bpc"], ls=style, color=colour[m], lw=1,
                           label=f"{m} ({label})")
    ax.set_xlabel("training chars")
    ax.set_ylabel("val bits per char")
    ax.set_title(f"{corpus}: val bpc, {rev} (dashed) against now (solid)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.savefig(path, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)


def _image(corpus: str) -> str:
    return "val_bpc_" + "".join(c if c.isalnum() or c in "-_." else "_" for c in corpus) + ".png"


def build(rev: str, tolerance: float = 0.02) -> tuple[str, dict[str, tuple], bool]:
    """(report.md's text, {image name: (corpus, then, now)}, the gate's verdict)."""
    current = paths.summary_file()
    if not current.exists():
        raise CharlmError(f"{current}: not found (run `dvc repro` first)")
    new = gate.load(current)
    old = gate.load_at_rev(rev, paths.summary_file())
    table, ok = rows(old, new, tolerance)
    images = {}
    for corpus in dict.fromkeys([*new, *old]):
        then = curves(gate.text_at_rev(rev, CURVES / f"{corpus}.tsv", missing_ok=True))
        f = CURVES / f"{corpus}.tsv"
        now = curves(f.read_text(encoding="utf-8") if f.is_file() else None)
        images[_image(corpus)] = (corpus, then, now)
    lines = [f"{TITLE}`{rev}`", "",
             f"Bits per char (lower is better) at `{rev}` (then) and in this run (now). The test "
             f"change is judged against the seed noise ({gate.NOISE_SIGMAS:g} standard deviations "
             f"over seeds, {gate.NOISE_FILE}); the gate fails a test bpc worse by more than "
             f"{tolerance:g}: **{'PASS' if ok else 'FAIL'}**.", "",
             metrics_table(table), "", "## Params that changed", "",
             params_table(param_changes(rev)), "", "## Val curves", ""]
    for name, (corpus, _, _) in images.items():
        lines += [f"### {corpus}", "", f"![{corpus}: val bpc, {rev} against now]({name})", ""]
    return "\n".join(lines), {"old": old, "new": new, "images": images}, ok


def _is_report(folder: Path) -> bool:
    """An earlier report: only report.md and PNGs, report.md starting with TITLE."""
    files = list(folder.iterdir())
    md = folder / "report.md"
    return all(p.is_file() and (p.name == "report.md" or p.suffix == ".png") for p in files) \
        and (not files or (md.is_file() and md.read_text(encoding="utf-8",
                                                          errors="replace").startswith(TITLE)))


def write(rev: str, out: Path, tolerance: float = 0.02) -> bool:
    """Write the report folder `out` (whole, or not at all); the gate's verdict."""
    if out.exists() and not (out.is_dir() and _is_report(out)):
        raise CharlmError(f"{out}: exists and is not an earlier report (choose another --out)")
    text, data, ok = build(rev, tolerance)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for name, (corpus, then, now) in data["images"].items():
            draw_corpus(corpus, rev, data["old"], data["new"], then, now, tmp / name)
        (tmp / "report.md").write_text(text + "\n", encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return ok
