"""Issue 14's quality file: every model of the committed default run and of the 10-minute
LSTM preset run, static and adapted, and the mixture, val and test side by side.

    python benchmarks/quality/quality.py [--adapt-all]     # --adapt-all takes the heavy-job lock

The figures are read, not measured here: the default run's from metrics/ (made by
`dvc repro` at the commit named, on the default params.yaml), the preset's from
benchmarks/results/preset_quality.json (made by preset_quality.py beside this, whose
`dvc exp run` command it records). `--adapt-all` also scores every neural model of the
default run that its `evaluate.dynamic.pairs` leaves out (none in the default
params.yaml since the Wikipedia sample's LSTM joined) by dynamic evaluation, with the same settings (chosen on val for the
tiny-shakespeare LSTM), and adds them to the tables (saved in quality.json; without the
flag the saved ones are reused). Writes benchmarks/results/quality.md and quality.json.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # benchmarks/: common
import common  # noqa: E402
from common import RESULTS, ROOT  # noqa: E402


def rows(summary: dict) -> list[tuple[str, float, float]]:
    """(model, val bpc, test bpc) per model and adapted model, best on val first."""
    out = []
    for m, r in summary.items():
        out.append((m, r["val_bpc"], r["test_bpc"]))
        if "dynamic_test_bpc" in r:
            out.append((f"{m}, adapted", r["dynamic_val_bpc"], r["dynamic_test_bpc"]))
    return sorted(out, key=lambda x: x[1])


def table(summary: dict) -> list[str]:
    lines = ["| model | val bpc | test bpc |", "| --- | ---: | ---: |"]
    lines += [f"| {m} | {v:.4f} | {t:.4f} |" for m, v, t in rows(summary)]
    singles = [r for r in rows(summary) if r[0] != "mix"]
    best = min(singles, key=lambda r: r[1])
    mix = summary.get("mix")
    if mix:
        lines += ["", f"The mixture against the best single model on val ({best[0]}): "
                  f"{best[2] - mix['test_bpc']:+.4f} bpc on test, {best[1] - mix['val_bpc']:+.4f} "
                  "on val (positive: the mixture is better)."]
    return lines


def adapt_all(summary: dict) -> dict:
    """{corpus: {model: {dynamic_val_bpc, dynamic_test_bpc, chars_per_s}}} for the neural
    models the default run did not adapt."""
    from charlm.evaluate.run import dynamic_scores
    from charlm.params import load_params
    dp = load_params(ROOT / "params.yaml").evaluate.dynamic
    out: dict = {}
    for corpus, ms in summary.items():
        for m, r in ms.items():
            if m in ("ngram", "mix") or "dynamic_test_bpc" in r:
                continue
            dyn, _ = dynamic_scores(corpus, m, dp, "cpu")
            out.setdefault(corpus, {})[m] = {
                "dynamic_val_bpc": dyn["val"]["bpc"], "dynamic_test_bpc": dyn["test"]["bpc"],
                "chars_per_s": dyn["test"]["chars_per_s"]}
            print(corpus, m, out[corpus][m], flush=True)
    return out


def saved_adapted(commit: str) -> dict:
    """The `--adapt-all` scores quality.json holds for this default run (its dvc.lock
    commit), else none."""
    f = RESULTS / "quality.json"
    saved = json.loads(f.read_text()).get("adapted_here", {}) if f.is_file() else {}
    return saved.get("models", {}) if saved.get("dvc_lock_commit") == commit else {}


def main() -> None:
    ap = common.parser(__doc__)
    ap.add_argument("--adapt-all", action="store_true",
                    help="score the neural models the default run does not adapt (minutes)")
    args = ap.parse_args()
    commit = subprocess.run(["git", "log", "-1", "--format=%h", "--", "dvc.lock"], cwd=ROOT,
                            check=True, capture_output=True, text=True).stdout.strip()
    summary = json.loads((ROOT / "metrics" / "summary.json").read_text())
    if args.adapt_all:
        with common.heavy_lock():
            extra = adapt_all(summary)
    else:
        extra = saved_adapted(commit)
    tables = {c: {m: {**r, **extra.get(c, {}).get(m, {})} for m, r in ms.items()}
              for c, ms in summary.items()}
    cmd = common.command(__file__)
    md = [common.provenance(cmd) + " from the committed runs' metrics.", "",
          "# Quality: every model, static and adapted, and the mixture", "",
          f"## The default run (`dvc repro` on the default params.yaml; dvc.lock of {commit})",
          "", "Adapted: scored while adapting to the text already scored (a neural model by "
          "dynamic evaluation, with the settings chosen on the tiny-shakespeare LSTM's val; "
          "the n-gram by counting it). Every setting and mixture weight chosen on val; test "
          "read once."
          + (" The adapted " + ", ".join(f"{c} {m}" for c, ms in extra.items() for m in ms)
             + " are scored by `--adapt-all` (not in the default run: too slow for its "
             "budget), with the same settings; the mixture does not use them."
             if extra else ""), ""]
    for corpus, s in tables.items():
        md += [f"### {corpus}", "", *table(s), ""]
    out = {"default_run": {"dvc_lock_commit": commit, "summary": summary},
           "adapted_here": {"dvc_lock_commit": commit, "models": extra} if extra else {}}
    preset = RESULTS / "preset_quality.json"
    if preset.is_file():
        p = json.loads(preset.read_text())
        t = p["train"]
        md += ["## The 10-minute LSTM preset on tiny-shakespeare", "",
               f"`{p['script']}` at commit {p['commit']} ({p['date']}): in a fresh clone, "
               f"`{p['command']}` ({p['seconds'] / 60:.1f} min in all; training "
               f"{t['train_seconds']:.0f} s at {t['chars_per_s']:,.0f} chars/s).", "",
               *table(p["summary"]), ""]
        out["preset"] = p
    common.write_results(RESULTS / "quality", out, "\n".join(md), ensure_ascii=False)
    print("\n".join(md))


if __name__ == "__main__":
    main()
