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

from . import paths
from .errors import CharlmError
from .fsutil import atomic_open, read_json, write_json, write_text

REPORT_DIR = Path("report")
REPORT_MD = Path("report.md")
SAMPLE_CHARS = 400


# --------------------------------------------------------------------------- data

def collect(corpora: list[str], models: list[str]) -> dict:
    """corpus -> model -> metrics dict, for every (corpus, model) that was evaluated."""
    out: dict = {}
    for c in corpora:
        for m in models:
            f = paths.metrics_file(c, m)
            if not f.exists():
                raise CharlmError(f"{f}: missing (run the evaluate stage for {c}/{m})")
            out.setdefault(c, {})[m] = read_json(f)
    return out


def summary(results: dict) -> dict:
    keys = ("test_bpc", "val_bpc", "test_ppl", "params", "train_seconds")
    return {c: {m: {k: r[k] for k in keys} for m, r in ms.items()} for c, ms in results.items()}


def read_tsv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def learning_curve(corpus: str, model: str, result: dict) -> list[tuple[float, float]] | None:
    """(training chars, val bpc) points from DVCLive's log, or None if absent."""
    f = paths.val_curve(corpus, model)
    if not f.exists():
        return None
    rows = read_tsv(f)
    if not rows:
        return None
    value_col = [k for k in rows[0] if k not in ("step", "timestamp")][0]
    per_step = result["train_chars"] / max(1, result["steps"])
    return [(float(r["step"]) * per_step, float(r[value_col])) for r in rows]


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
        pts = learning_curve(corpus, model, results[model]) if model != "ngram" else None
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
    lines = ["| model | test bpc | val bpc | test perplexity | params | train chars | train s | eval chars/s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for m, r in sorted(ms.items(), key=lambda kv: kv[1]["test_bpc"]):
        b = "**" if r["test_bpc"] == best else ""
        lines.append(f"| {b}{m}{b} | {b}{r['test_bpc']:.3f}{b} | {r['val_bpc']:.3f} | "
                     f"{r['test_ppl']:.2f} | {_fmt_int(r['params'])} | {_fmt_int(r['train_chars'])} | "
                     f"{r['train_seconds']:.1f} | {_fmt_int(r['eval_chars_per_s'])} |")
    return "\n".join(lines)


def build_report(corpora: list[str], models: list[str]) -> dict:
    """Write metrics/summary.json, report.md and report/*; return the summary."""
    results = collect(corpora, models)
    summ = summary(results)
    write_json(paths.summary_file(), summ)
    REPORT_DIR.mkdir(exist_ok=True)
    md = ["# charlm report", "",
          "Every model scored by the same routine on the same contiguous splits: "
          "bpc = total −log2 P(char | history) over the split / its chars, perplexity = 2^bpc. "
          "Generated by the `report` stage; numbers from `metrics/`.", ""]
    chart_bpc_vs_params(results, REPORT_DIR / "bpc_vs_params.png")
    for corpus, ms in results.items():
        md += [f"## {corpus}", "", corpus_table(ms), ""]
        if chart_curves(corpus, ms, REPORT_DIR / f"{corpus}_curves.png"):
            md += [f"![learning curves]({REPORT_DIR}/{corpus}_curves.png)", ""]
        if chart_ngram_orders(corpus, REPORT_DIR / f"{corpus}_ngram_orders.png"):
            md += [f"![n-gram val bpc vs order]({REPORT_DIR}/{corpus}_ngram_orders.png)", ""]
        neural = {m: r for m, r in ms.items() if m != "ngram"}
        columns = {}
        for m in ["ngram"] + ([min(neural, key=lambda k: neural[k]["val_bpc"])] if neural else []):
            f = paths.surprise_data(corpus, m)
            if m in ms and f.exists():
                columns[f"{m} (test bpc {ms[m]['test_bpc']:.3f})"] = read_json(f)
        if columns:
            page = REPORT_DIR / f"surprise_{corpus}.html"
            write_text(page, surprise_html(f"{corpus}: per-character surprise", columns))
            md += [f"Per-character surprise on a test passage, n-gram vs the best RNN on val: "
                   f"[{page}]({page})", ""]
        md += ["### Samples", ""]
        for m in ms:
            f = paths.sample_file(corpus, m)
            if f.exists():
                text = f.read_text(encoding="utf-8")[:SAMPLE_CHARS]
                md += [f"**{m}**", "", "```", text.replace("```", "`\u200b``"), "```", ""]
    md += ["## Size and speed", "", f"![bpc vs params]({REPORT_DIR}/bpc_vs_params.png)", ""]
    write_text(REPORT_MD, "\n".join(md))
    return summ
