"""report.md's text: per corpus, the lecture's walk from the unsmoothed n-gram to the
neural models and their mixture. Every number comes from the metrics and fit records
the report reads (`results`); the prose around them is fixed."""

from __future__ import annotations

from ..core import paths
from .results import NGRAM, best_neural, neural

SAMPLE_CHARS = 400          # chars of each sample shown
SMOOTHING_NAMES = {"kneser_ney": "Kneser-Ney", "witten_bell": "Witten-Bell", "add_k": "add-k",
                   "mle": "unsmoothed"}
MIN_WEIGHT = 0.001          # mixture weights listed from this size up


# --------------------------------------------------------------------------- formatting

def fmt_count(n: float) -> str:
    n = float(n)
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= div:
            return f"{n / div:.2f} {unit}"
    return f"{n:.0f}"


def fence(text: str, chars: int = SAMPLE_CHARS) -> list[str]:
    """A sample as a code block that the text cannot break out of."""
    return ["```", text[:chars].replace("```", "`\u200b``"), "```"]


def char_cell(c: str) -> str:
    """A character as a table cell: visible whitespace, a pipe that keeps the table."""
    if c in (" ", "`"):
        return {" ": "space", "`": "backtick"}[c]
    shown = {"\n": "\\n", "\t": "\\t"}.get(c, c).replace("|", "\\|")
    return f"`{shown}`"


def _bpc(x) -> str:
    return "—" if x is None else f"{x:.3f}"


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %" if x >= 0.001 or x == 0 else f"{100 * x:.2f} %"


# --------------------------------------------------------------------------- the opening

def headline(results: dict) -> list[str]:
    """One row per corpus: the n-gram, the best static neural model on val, the mixture."""
    lines = ["| corpus | smoothed n-gram, val / test | best neural model on val | its val / test "
             "| neural − n-gram, val / test | mixture, val / test |",
             "|---|---:|---|---:|---:|---:|"]
    for corpus, ms in results.items():
        ng, mix, best = ms.get(NGRAM), ms.get(paths.MIX), best_neural(ms)
        b = ms.get(best) if best else None
        gap = (f"{b['val_bpc'] - ng['val_bpc']:+.3f} / {b['test_bpc'] - ng['test_bpc']:+.3f}"
               if b and ng else "—")
        lines.append(f"| [{corpus}](#{corpus}) | {_pair(ng)} | {best or 'none in this run'} | "
                     f"{_pair(b)} | {gap} | {_pair(mix)} |")
    return lines + [""]


def _pair(r: dict | None) -> str:
    return "—" if not r else f"{r['val_bpc']:.3f} / {r['test_bpc']:.3f}"


# --------------------------------------------------------------------------- 1. unsmoothed

def aside(*parts: str | None) -> str:
    """' (a; b)' of the parts given, or ''."""
    kept = [p for p in parts if p]
    return f" ({'; '.join(kept)})" if kept else ""


def words_note(share: float | None) -> str | None:
    """How much of a sample is real words: the share of its words found in the train text."""
    return None if share is None else f"{100 * share:.0f} % of its words are words of the train text"


def unsmoothed(fit: dict | None, samples: dict[int, tuple[str, float | None]]) -> list[str]:
    """The lecture's model: lm['ello'], its samples, the test chars it cannot score."""
    lines = ["### 1. The unsmoothed n-gram", ""]
    if not fit:
        return lines + ["(No n-gram fit in this run.)", ""]
    lines += [f"The lecture's model counts the train split ({fit['train_chars']:,} chars): "
              "P(c | the last n chars) = count(history + c) / count(history), with `~` padding "
              "the start of the text.", ""]
    lines += lecture_query(fit.get("lecture_query"))
    for order, (text, share) in samples.items():
        lines += [f"Order {order} writes{aside(words_note(share))}:", "",
                  *fence(text), ""]
    return lines + zero_share(fit.get("mle", {}))


def lecture_query(q: dict | None) -> list[str]:
    if not q or not q.get("top"):
        return []
    where = (f"the lecture's history, seen {q['train_count']:,} times in train"
             if q["chosen"] == "the lecture's" else
             f"the train text's most frequent {q['order']}-char history, seen "
             f"{q['train_count']:,} times; the lecture's `ello` is rare here")
    top = q["top"]
    return [f"`lm['{q['history']}']` ({where}) continues with {q['continuations']} different "
            "chars; the most likely:", "",
            "| next char | " + " | ".join(char_cell(c) for c, _ in top) + " |",
            "|---|" + "---:|" * len(top),
            "| P | " + " | ".join(_prob(p) for _, p in top) + " |", ""]


def _prob(p: float) -> str:
    """Three decimals, or two significant digits below 0.001 (never a 0.000 that is not 0)."""
    return f"{p:.3f}" if p >= 0.001 else f"{p:.2g}"


def zero_share(mle: dict) -> list[str]:
    """The share of test chars each order gives probability 0, as one table row."""
    orders = sorted(mle, key=int)
    if not orders:
        return []
    shares = [mle[o]["test_zero_prob_fraction"] for o in orders]
    top = orders[-1]
    return ["It cannot score text it has not seen. The test characters it gives probability 0 "
            "(an unseen history, or a char never seen after it), by order:", "",
            "| order | " + " | ".join(orders) + " |", "|---|" + "---:|" * len(orders),
            "| test chars with P = 0 | " + " | ".join(_pct(s) for s in shares) + " |", "",
            f"One zero makes the test bpc infinite; at order {top}, {_pct(shares[-1])} of the "
            "test is unscorable. Smoothing moves probability to what was not seen.", ""]


# --------------------------------------------------------------------------- 2. smoothed

def smoothed(fit: dict | None, ng: dict | None, sample: tuple[str, float | None] | None,
             orders_chart: str | None) -> list[str]:
    lines = ["### 2. The smoothed n-gram", ""]
    if not fit or not ng:
        return lines + ["(No n-gram in this run.)", ""]
    others = ", ".join(SMOOTHING_NAMES.get(s, s) for s in fit["smoothings"])
    lines += [f"{SMOOTHING_NAMES.get(fit['smoothing'], fit['smoothing'])} at order "
              f"{fit['order']}, chosen on val among orders 1–{fit['max_order']} of {others}: "
              f"val {ng['val_bpc']:.3f}, test {ng['test_bpc']:.3f} bpc, "
              f"{fmt_count(ng['params'])} stored n-grams. Every test char gets a probability.", ""]
    if orders_chart:
        lines += [f"![n-gram val bpc vs order]({orders_chart})", ""]
    if sample:
        lines += [f"The smoothed order-{fit['order']} model writes{aside(words_note(sample[1]))}:",
                  "", *fence(sample[0]), ""]
    return lines


# --------------------------------------------------------------------------- 3. neural

def models_table(ms: dict) -> list[str]:
    """Every model of the corpus in one table: static and adapted scores side by side, and
    each one's weight in the mixture (static / adapted)."""
    weights = ms.get(paths.MIX, {}).get("weights", {})
    lines = ["| model | params | train chars | val bpc | test bpc | adapted val | adapted test "
             "| mixture weight (static / adapted) |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for m, r in ms.items():
        w = "—" if m == paths.MIX else " / ".join(
            f"{weights[k]:.3f}" if k in weights else "—" for k in (m, f"{m}:dynamic"))
        lines.append(f"| {m} | {fmt_count(r['params'])} | {fmt_count(r['train_chars'])} | "
                     f"{r['val_bpc']:.3f} | {r['test_bpc']:.3f} | {_bpc(r.get('dynamic_val_bpc'))} "
                     f"| {_bpc(r.get('dynamic_test_bpc'))} | {w} |")
    return lines + [""]


def neural_models(corpus: str, ms: dict, samples: dict[str, tuple[str, float | None]],
                  curves_chart: str | None) -> list[str]:
    lines = ["### 3. The neural models", ""]
    nn, ng = neural(ms), ms.get(NGRAM)
    if not nn:
        return lines + [f"No neural model runs on {corpus} in this run (params.yaml's `run.pairs`). "
                        "The runs that add one, with what they measured: [docs/experiments.md]"
                        "(docs/experiments.md#closing-the-gap-to-the-n-gram).", ""]
    best = best_neural(ms)
    lines += ["Each trained for a fixed number of steps on the train split; its weights kept at "
              "its best val bpc. *Adapted*: scored again while adapting to the text already "
              "scored (dynamic evaluation: a small gradient step after each segment; the n-gram "
              "adds the counts of what it has scored). Every setting was chosen on val.", "",
              *models_table(ms)]
    if ng:
        lines += verdict(best, nn[best], ng)
    if curves_chart:
        lines += [f"![learning curves]({curves_chart})", ""]
    for m, (text, share) in samples.items():
        about = aside(f"{fmt_count(nn[m]['params'])} params, val {nn[m]['val_bpc']:.3f} bpc",
                      words_note(share))
        lines += [f"**{m}**{about} writes:", "", *fence(text), ""]
    return lines


def verdict(best: str, b: dict, ng: dict) -> list[str]:
    """The best static neural model on val against the n-gram; where the n-gram is ahead,
    how much of the train text the model saw and where the runs that close the gap are."""
    line = (f"The best static neural model on val, **{best}**, is "
            f"{_gap(b['val_bpc'] - ng['val_bpc'])} the smoothed n-gram on val and "
            f"{_gap(b['test_bpc'] - ng['test_bpc'])} it on test.")
    if b["val_bpc"] >= ng["val_bpc"]:
        passes = b["train_chars"] / max(1, ng["train_chars"])
        line += (f" The n-gram counted the whole train split; {best} trained on "
                 f"{fmt_count(b['train_chars'])} chars ({passes:.1f} passes over it) in the "
                 "default run's minutes. Longer runs that close the gap, measured: "
                 "[docs/experiments.md](docs/experiments.md#closing-the-gap-to-the-n-gram).")
    return [line, ""]


def _gap(d: float) -> str:
    return f"{abs(d):.3f} bpc {'below' if d < 0 else 'above'}"


# --------------------------------------------------------------------------- 4. mixture

def mixture(ms: dict, surprise_page: str | None) -> list[str]:
    lines = ["### 4. The mixture", ""]
    mix = ms.get(paths.MIX)
    if not mix:
        return lines + ["(No mixture in this run.)", ""]
    w = {k: x for k, x in mix.get("weights", {}).items() if x >= MIN_WEIGHT}
    single = singles(ms)
    best = min(single, key=lambda k: single[k][0])
    lines += ["Every model's per-char probabilities mixed with weights fitted on val (EM): "
              + ", ".join(f"{k.replace(':dynamic', ', adapted')} {x:.3f}" for k, x in w.items())
              + (" (the rest below 0.001)." if len(w) < len(mix.get("weights", {})) else "."),
              f"It scores val {mix['val_bpc']:.3f} and test {mix['test_bpc']:.3f} bpc; the best "
              f"single model on val ({best}) {single[best][0]:.3f} and {single[best][1]:.3f}.", ""]
    if surprise_page:
        who = "the n-gram, the best neural model on val and the mixture" if neural(ms) else \
            "the n-gram and the mixture"
        lines += [f"Per-character surprise on a test passage, {who} side by side: "
                  f"[{surprise_page}]({surprise_page})", ""]
    return lines


def singles(ms: dict) -> dict[str, tuple[float, float]]:
    """Every single model, static and adapted: label -> (val bpc, test bpc)."""
    out = {}
    for m, r in ms.items():
        if m != paths.MIX:
            out[m] = (r["val_bpc"], r["test_bpc"])
            if "dynamic_val_bpc" in r:
                out[f"{m}, adapted"] = (r["dynamic_val_bpc"], r["dynamic_test_bpc"])
    return out
