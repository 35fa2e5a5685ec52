"""The comparison: metrics/summary.json, report.md with tables and charts, surprise pages.

Reads only what the report stage declares as deps: what the evaluate stages wrote
(metrics/eval/<corpus>/<model>.json, samples/<corpus>/<model>.txt,
data/eval/<corpus>/<model>/surprise.json), the training curves DVCLive wrote
(metrics/train/<corpus>/<model>/plots/metrics/) and the n-gram's per-order curve
(metrics/ngram/<corpus>_orders.tsv). Charts are PNGs (matplotlib, Agg) and the
surprise view is a self-contained HTML page, so the report reads offline. The "best"
neural model (the one beside the n-gram on the surprise page) is chosen on val.
"""

from __future__ import annotations

import csv
import html
from pathlib import Path

from ..core import paths
from ..core.errors import CharlmError
from ..core.fsutil import atomic_open, read_json, write_json, write_text

REPORT_DIR = Path("report")
REPORT_MD = Path("report.md")
SAMPLE_CHARS = 400


# --------------------------------------------------------------------------- data

# What people compare, per corpus and model (the declared metrics: keep them few).
SUMMARY_KEYS = ("test_bpc", "val_bpc", "test_ppl", "params", "train_chars")


def collect(models: dict[str, list[str]]) -> dict:
    """corpus -> model -> metrics dict, for each corpus's models (`models`: corpus -> names)."""
    out: dict = {}
    for c, names in models.items():
        for m in names:
            f = paths.metrics_file(c, m)
            if not f.exists():
                raise CharlmError(f"{f}: missing (run `dvc repro {paths.evaluate_stage(c, m)}`)")
            out.setdefault(c, {})[m] = read_json(f)
    return out


DYNAMIC_KEYS = ("dynamic_test_bpc", "dynamic_val_bpc")     # where a model was also adapted


def summary(results: dict) -> dict:
    return {c: {m: {**{k: r[k] for k in SUMMARY_KEYS},
                    **{k: r[k] for k in DYNAMIC_KEYS if k in r}} for m, r in ms.items()}
            for c, ms in results.items()}


def best_neural(ms: dict) -> str | None:
    """The neural model with the lowest val bpc (chosen on val, never on test)."""
    neural = {m: r for m, r in ms.items() if m not in ("ngram", paths.MIX)}
    return min(neural, key=lambda k: neural[k]["val_bpc"]) if neural else None


def read_tsv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def learning_curve(corpus: str, model: str, result: dict) -> list[tuple[int, float]] | None:
    """(training chars, val bpc) points from DVCLive's log, or None if absent."""
    f = paths.val_curve(corpus, model)
    if not f.exists():
        return None
    rows = read_tsv(f)
    if not rows:
        return None
    value_col = [k for k in rows[0] if k not in ("step", "timestamp")][0]
    per_step = result["train_chars"] // max(1, result["steps"])
    return [(int(r["step"]) * per_step, float(r[value_col])) for r in rows]


# --------------------------------------------------------------------------- dvc plots

def write_plot_data(results: dict) -> None:
    """plots/val_bpc/<corpus>.tsv (val bpc vs training chars, a series per model) and
    plots/ngram_orders.tsv (the chosen smoothing's val bpc vs order, a series per corpus)."""
    for corpus, ms in results.items():
        rows = [(m, chars, bpc) for m in ms if m not in ("ngram", paths.MIX)
                for chars, bpc in (learning_curve(corpus, m, ms[m]) or [])]
        _write_tsv(paths.val_bpc_plot(corpus), ("series", "chars", "val_bpc"), rows)
    rows = []
    for corpus, ms in results.items():
        f = paths.ngram_orders_tsv(corpus)
        if "ngram" in ms and f.exists():
            col = ms["ngram"].get("smoothing", "kneser_ney")
            rows += [(corpus, int(r["order"]), float(r[col])) for r in read_tsv(f) if r.get(col)]
    _write_tsv(paths.ngram_orders_plot(), ("series", "order", "val_bpc"), rows)


def _write_tsv(path: Path, header: tuple, rows: list[tuple]) -> None:
    lines = ["\t".join(header)] + ["\t".join(map(str, r)) for r in rows]
    write_text(path, "\n".join(lines) + "\n")


# --------------------------------------------------------------------------- charts

def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _finish(fig, ax, path: Path, xlabel: str, ylabel: str, title: str) -> None:
    """Label, grid and legend a chart, write it atomically as PNG, free the figure."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format="png", dpi=110, bbox_inches="tight")
    _plt().close(fig)


def chart_curves(corpus: str, results: dict, out: Path) -> bool:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    drawn = False
    for model in results:
        pts = learning_curve(corpus, model, results[model]) if model not in ("ngram", paths.MIX) \
            else None
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=".", label=model)
            drawn = True
    if "ngram" in results:
        ax.axhline(results["ngram"]["val_bpc"], color="grey", ls="--", label="n-gram (KN)")
    _finish(fig, ax, out, "training chars", "val bpc", f"{corpus}: validation bpc during training")
    return drawn


def chart_bpc_vs_params(results: dict, out: Path) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for corpus, ms in results.items():
        xs = [r["params"] for r in ms.values()]
        ys = [r["test_bpc"] for r in ms.values()]
        ax.scatter(xs, ys, label=corpus)
        for m, r in ms.items():
            ax.annotate(m, (r["params"], r["test_bpc"]), fontsize=8, xytext=(3, 3),
                        textcoords="offset points")
    ax.set_xscale("log")
    _finish(fig, ax, out, "parameters (n-gram: stored entries)", "test bpc", "test bpc vs model size")


def chart_ngram_orders(corpus: str, out: Path) -> bool:
    f = paths.ngram_orders_tsv(corpus)
    if not f.exists():
        return False
    rows = read_tsv(f)          # columns: order, then val bpc per smoothing
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    orders = [int(r["order"]) for r in rows]
    for name in [k for k in rows[0] if k != "order"]:
        ax.plot(orders, [float(r[name]) for r in rows], marker="o", label=name)
    _finish(fig, ax, out, "order (chars of history)", "val bpc", f"{corpus}: n-gram val bpc vs order")
    return True


# --------------------------------------------------------------------------- surprise view

_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>charlm surprise: {title}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; }}
.cols {{ display: flex; gap: 2em; }}
.col {{ flex: 1; min-width: 0; }}
pre {{ white-space: pre-wrap; font-family: monospace; font-size: 13px; line-height: 1.5; }}
span.c {{ border-radius: 2px; }}
span.c:hover {{ outline: 1px solid #000; }}
.legend span {{ padding: 0 .5em; }}
</style></head><body>
<h1>{title}</h1>
<p>Each character of the test passage is coloured by the model's surprise,
&minus;log<sub>2</sub> P(char | history): white = 0 bits, dark red = 8+ bits.
Hover a character for the model's top predictions there. Offline, no scripts.</p>
<p class="legend">{legend}</p>
<div class="cols">{cols}</div>
</body></html>
"""


def _colour(bits: float) -> str:
    t = max(0.0, min(1.0, bits / 8.0))
    g = int(255 * (1 - t))
    return f"rgb(255,{g},{g})" if t < 0.75 else f"rgb({int(255 - 80 * (t - 0.75) * 4)},{g},{g})"


def surprise_html(title: str, columns: dict[str, dict]) -> str:
    cols = []
    for name, data in columns.items():
        spans = []
        for ch, bits, top in zip(data["text"], data["bits"], data["top"]):
            tip = f"{ch!r}: {bits:.2f} bits&#10;" + "&#10;".join(
                f"{c!r} {p:.3f}" for c, p in top)
            shown = html.escape(ch) if ch != "\n" else "\u21b5\n"
            spans.append(f'<span class="c" style="background:{_colour(bits)}" '
                         f'title="{html.escape(tip, quote=True)}">{shown}</span>')
        mean = sum(data["bits"]) / max(1, len(data["bits"]))
        cols.append(f'<div class="col"><h2>{html.escape(name)} ({mean:.3f} bpc on this passage)'
                    f'</h2><pre>{"".join(spans)}</pre></div>')
    legend = "".join(f'<span style="background:{_colour(b)}">{b} bits</span>' for b in (0, 2, 4, 6, 8))
    return _PAGE.format(title=html.escape(title), legend=legend, cols="".join(cols))


# --------------------------------------------------------------------------- report

def _fmt_int(n: float) -> str:
    n = float(n)
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= div:
            return f"{n / div:.2f} {unit}"
    return f"{n:.0f}"


def corpus_table(ms: dict) -> str:
    best = min(r["test_bpc"] for r in ms.values())
    lines = ["| model | test bpc | val bpc | test perplexity | params | train chars |",
             "|---|---:|---:|---:|---:|---:|"]
    for m, r in sorted(ms.items(), key=lambda kv: kv[1]["test_bpc"]):
        b = "**" if r["test_bpc"] == best else ""
        lines.append(f"| {b}{m}{b} | {b}{r['test_bpc']:.3f}{b} | {r['val_bpc']:.3f} | "
                     f"{r['test_ppl']:.2f} | {_fmt_int(r['params'])} | {_fmt_int(r['train_chars'])} |")
    return "\n".join(lines)


def _mix_note(ms: dict) -> list[str]:
    """Dynamic evaluation's scores, and the mixture's weights, as fitted on val."""
    def settings(r):
        return ", ".join(f"{k} {v:g}" for k, v in r.get("dynamic", {}).items()
                         if isinstance(v, (int, float)))
    lines = [f"Dynamic evaluation (adapting to the text as it is scored): {m} test "
             f"{r['dynamic_test_bpc']:.3f} bpc (static {r['test_bpc']:.3f}), val "
             f"{r['dynamic_val_bpc']:.3f} (static {r['val_bpc']:.3f}); settings (chosen on val, "
             f"the neural models' on the tiny-shakespeare LSTM's): {settings(r)}."
             for m, r in ms.items() if "dynamic_test_bpc" in r]
    w = ms.get(paths.MIX, {}).get("weights")
    if w:
        lines.append("The mixture: " + ", ".join(f"{m} {x:.3f}" for m, x in w.items())
                     + " (weights fitted on val by EM; test read once).")
    return [x for line in lines for x in (line, "")]


def _fence(text: str) -> list[str]:
    return ["```", text.replace("```", "`\u200b``"), "```"]


def lead_sample(results: dict) -> list[str]:
    """The report's opening: the first corpus's best model on val, and its sample."""
    corpus = next(iter(results))
    best = best_neural(results[corpus])
    f = paths.sample_file(corpus, best) if best else None
    if not f or not f.exists():
        return []
    r, ng = results[corpus][best], results[corpus].get("ngram")
    vs = (f"; the n-gram: {ng['test_bpc']:.3f}" if ng else "")
    return [f"**{corpus}, {best}** (the best neural model on val; test bpc "
            f"{r['test_bpc']:.3f}{vs}) writes:", "",
            *_fence(f.read_text(encoding="utf-8")[:SAMPLE_CHARS]), ""]


def _surprise(corpus: str, ms: dict) -> list[str]:
    """The surprise page: n-gram, the best neural model on val, and their mixture."""
    columns = {}
    for m in ["ngram", best_neural(ms), paths.MIX]:
        f = paths.surprise_data(corpus, m) if m else None
        if m in ms and f.exists():
            columns[f"{m} (test bpc {ms[m]['test_bpc']:.3f})"] = read_json(f)
    if not columns:
        return []
    page = REPORT_DIR / f"surprise_{corpus}.html"
    write_text(page, surprise_html(f"{corpus}: per-character surprise", columns))
    return [f"Per-character surprise on a test passage: the n-gram, the best neural model on "
            f"val and the mixture of all: [{page}]({page})", ""]


def build_report(models: dict[str, list[str]]) -> dict:
    """Write metrics/summary.json, the plot data, report.md and report/*; return the summary.
    `models`: corpus -> the models run on it (the n-gram first)."""
    results = collect(models)
    summ = summary(results)
    write_json(paths.summary_file(), summ)
    write_plot_data(results)
    REPORT_DIR.mkdir(exist_ok=True)
    md = ["# charlm report", "", *lead_sample(results),
          "Every model scored by the same routine on the same contiguous splits: "
          "bpc = total −log2 P(char | history) over the split / its chars, perplexity = 2^bpc. "
          "Generated by the `report` stage; numbers from `metrics/`.", ""]
    chart_bpc_vs_params(results, REPORT_DIR / "bpc_vs_params.png")
    for corpus, ms in results.items():
        md += [f"## {corpus}", "", corpus_table(ms), "", *_mix_note(ms)]
        if chart_curves(corpus, ms, REPORT_DIR / f"{corpus}_curves.png"):
            md += [f"![learning curves]({REPORT_DIR}/{corpus}_curves.png)", ""]
        if chart_ngram_orders(corpus, REPORT_DIR / f"{corpus}_ngram_orders.png"):
            md += [f"![n-gram val bpc vs order]({REPORT_DIR}/{corpus}_ngram_orders.png)", ""]
        md += _surprise(corpus, ms) + ["### Samples", ""]
        for m in ms:
            f = paths.sample_file(corpus, m)
            if f.exists():
                md += [f"**{m}**", "", *_fence(f.read_text(encoding="utf-8")[:SAMPLE_CHARS]), ""]
    md += ["## Size", "", f"![bpc vs params]({REPORT_DIR}/bpc_vs_params.png)", ""]
    write_text(REPORT_MD, "\n".join(md))
    return summ
