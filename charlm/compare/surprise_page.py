"""The surprise view: a self-contained HTML page (no scripts, reads offline) with each
character of a test passage coloured by each model's -log2 P(char | history)."""

from __future__ import annotations

import html

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


