"""The report's charts: PNGs drawn with matplotlib's Agg backend (no display needed),
written atomically. Each function returns whether it drew anything."""

from __future__ import annotations

from pathlib import Path

from ..core import paths
from ..core.fsutil import atomic_open
from .results import NEURAL_EXCLUDED, learning_curve, read_tsv


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
        pts = None if model in NEURAL_EXCLUDED else learning_curve(corpus, model, results[model])
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=".", label=model)
            drawn = True
    if "ngram" in results:
        ax.axhline(results["ngram"]["val_bpc"], color="grey", ls="--", label="smoothed n-gram")
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


