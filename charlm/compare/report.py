"""The comparison: metrics/summary.json, report.md with tables and charts, surprise pages.

Reads only what the report stage declares as deps (`results`): what the evaluate stages
wrote (metrics/eval/<corpus>/<model>.json, samples/<corpus>/<model>.txt,
data/eval/<corpus>/<model>/surprise.json), the ngram stage's fit record and unsmoothed
samples (data/ngram/<corpus>/), the training curves DVCLive wrote
(metrics/train/<corpus>/<model>/plots/metrics/) and the n-gram's per-order curve
(metrics/ngram/<corpus>_orders.tsv). report.md walks each corpus the way the lecture
does (`walk`): the unsmoothed n-gram, the smoothed one, the neural models, the mixture.
Charts are PNGs and the surprise view is a self-contained HTML page, so the report reads
offline. The "best" neural model is always chosen on val.
"""

from __future__ import annotations

from pathlib import Path

from ..core import paths
from ..core.fsutil import read_json, write_json, write_text
from . import charts, walk
from .results import (NEURAL_EXCLUDED, NGRAM, best_neural, collect, learning_curve,
                      mle_samples, neural, ngram_fit, read_tsv, sample_text, summary,
                      train_words, word_share)
from .surprise_page import surprise_html

__all__ = ["build_report", "collect", "summary", "surprise_html", "write_plot_data"]

REPORT_DIR = Path("report")
REPORT_MD = Path("report.md")


# --------------------------------------------------------------------------- dvc plots

def write_plot_data(results: dict) -> None:
    """plots/val_bpc/<corpus>.tsv (val bpc vs training chars, a series per model) and
    plots/ngram_orders.tsv (the chosen smoothing's val bpc vs order, a series per corpus)."""
    for corpus, ms in results.items():
        rows = [(m, chars, bpc) for m in ms if m not in NEURAL_EXCLUDED
                for chars, bpc in (learning_curve(corpus, m, ms[m]) or [])]
        _write_tsv(paths.val_bpc_plot(corpus), ("series", "chars", "val_bpc"), rows)
    rows = []
    for corpus, ms in results.items():
        f = paths.ngram_orders_tsv(corpus)
        if NGRAM in ms and f.exists():
            col = ms[NGRAM].get("smoothing", "kneser_ney")
            rows += [(corpus, int(r["order"]), float(r[col])) for r in read_tsv(f) if r.get(col)]
    _write_tsv(paths.ngram_orders_plot(), ("series", "order", "val_bpc"), rows)


def _write_tsv(path: Path, header: tuple, rows: list[tuple]) -> None:
    lines = ["\t".join(header)] + ["\t".join(map(str, r)) for r in rows]
    write_text(path, "\n".join(lines) + "\n")


# --------------------------------------------------------------------------- report

def _surprise(corpus: str, ms: dict) -> str | None:
    """The surprise page (n-gram, the best neural model on val, the mixture); its path."""
    columns = {}
    for m in [NGRAM, best_neural(ms), paths.MIX]:
        f = paths.surprise_data(corpus, m) if m else None
        if m in ms and f.exists():
            columns[f"{m}, test bpc {ms[m]['test_bpc']:.3f}"] = read_json(f)
    if not columns:
        return None
    page = REPORT_DIR / f"surprise_{corpus}.html"
    write_text(page, surprise_html(f"{corpus}: per-character surprise", columns))
    return str(page)


def corpus_section(corpus: str, ms: dict) -> list[str]:
    """One corpus, in the lecture's order: unsmoothed, smoothed, neural, mixture."""
    fit = ngram_fit(corpus) if NGRAM in ms else None
    orders_png = REPORT_DIR / f"{corpus}_ngram_orders.png"
    curves_png = REPORT_DIR / f"{corpus}_curves.png"
    orders = str(orders_png) if charts.chart_ngram_orders(corpus, orders_png) else None
    curves = str(curves_png) if charts.chart_curves(corpus, ms, curves_png) else None
    words = train_words(corpus) if paths.prepared(corpus).exists() else None

    def judged(text: str | None):
        return None if text is None else (text, word_share(text, words) if words else None)

    samples = {m: judged(t) for m in neural(ms) for t in [sample_text(corpus, m)] if t is not None}
    mle = {o: judged(t) for o, t in (mle_samples(corpus) if fit else {}).items()}
    return [f"## {corpus}", "",
            *walk.unsmoothed(fit, mle),
            *walk.smoothed(fit, ms.get(NGRAM), judged(sample_text(corpus, NGRAM)), orders),
            *walk.neural_models(corpus, ms, samples, curves),
            *walk.mixture(ms, _surprise(corpus, ms))]


def build_report(models: dict[str, list[str]]) -> dict:
    """Write metrics/summary.json, the plot data, report.md and report/*; return the summary.
    `models`: corpus -> the models run on it (the n-gram first)."""
    results = collect(models)
    summ = summary(results)
    write_json(paths.summary_file(), summ)
    write_plot_data(results)
    REPORT_DIR.mkdir(exist_ok=True)
    md = ["# charlm report", "",
          "The lecture's walk on each corpus: the unsmoothed n-gram (`lm['ello']`), the smoothed "
          "n-gram, the neural models, their mixture. Every model is scored by the same routine "
          "on the same contiguous splits: bpc = total −log2 P(char | history) over a split / its "
          "chars. Every choice was made on val; test was read once, for these numbers. "
          "Generated by the `report` stage from `metrics/`.", "",
          *walk.headline(results)]
    for corpus, ms in results.items():
        md += corpus_section(corpus, ms)
    charts.chart_bpc_vs_params(results, REPORT_DIR / "bpc_vs_params.png")
    md += ["## Size", "", f"![bpc vs params]({REPORT_DIR}/bpc_vs_params.png)", ""]
    write_text(REPORT_MD, "\n".join(md))
    return summ
