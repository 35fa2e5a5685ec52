"""LSTM or transformer at ten CPU minutes? `lstm-10min` against `gpt-10min` on tiny-shakespeare,
trained in one `dvc exp run` (one after the other, on the same machine, fp32), scored by the
pipeline's one routine on the same splits.

For each model: val and test bpc, static and adapted (dynamic evaluation), the mixture of the
model with the n-gram (weights fitted on val, charlm.compare.mix), training seconds and
chars/s; then the run's own mixture of everything, and one chart of val bpc against training
seconds for both. Runs `dvc exp run` in a fresh clone of this repository's HEAD (the workspace
is untouched) with the corpus mirror from $CHARLM_MIRROR, or in `--repo` as it is; every
number comes from that run's outputs. Val picks; test is read once, here, for the record.

    CHARLM_MIRROR=../shared/corpora python benchmarks/quality/lstm_vs_gpt.py   # ~25 min

Writes benchmarks/results/lstm_vs_gpt.md, .json and .png. Takes the heavy-job lock.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # benchmarks/: common
import common  # noqa: E402
from common import ROOT  # noqa: E402

CORPUS = "tinyshakespeare"


def overrides(models: list[str], extra: list[str]) -> list[str]:
    """The experiment: only tiny-shakespeare, only these models, each adapted too."""
    keys = [f"{CORPUS}-{m}" for m in models]
    pairs = ", ".join(f"{k}: {{corpus: {CORPUS}, model: {m}}}" for k, m in zip(keys, models))
    return [*extra, f"run.corpora=[{CORPUS}]", "~run.pairs", f"+run.pairs={{{pairs}}}",
            f"evaluate.dynamic.pairs=[{', '.join(keys)}]"]


def run_experiment(repo: Path, ov: list[str]) -> float:
    argv = [sys.executable, "-m", "dvc", "exp", "run"] + [a for o in ov for a in ("-S", o)]
    t0 = time.perf_counter()
    subprocess.run(argv, cwd=repo, check=True, env={**os.environ, "DVC_NO_ANALYTICS": "1"})
    return time.perf_counter() - t0


def collect(repo: Path, models: list[str]) -> dict:
    """What the run left, per model: its scores, its mixture with the n-gram, its training
    time and val curve (seconds, bpc); and the run's whole mixture."""
    from charlm.compare.mix import mix_corpus
    from charlm.core import paths

    cwd = os.getcwd()
    os.chdir(repo)
    try:
        summary = json.loads(paths.summary_file().read_text())[CORPUS]
        out = {"ngram": summary["ngram"], "mix": summary["mix"],
               "mix_weights": json.loads(paths.metrics_file(CORPUS, paths.MIX).read_text())["weights"]}
        for m in models:
            timing = json.loads(paths.timing_in(paths.checkpoint_dir(CORPUS, m)).read_text())
            trained = json.loads(paths.train_summary(CORPUS, m).read_text())
            pair, _, _ = mix_corpus(CORPUS, ["ngram", m])
            curve = [(t, h["step"], h["val_bpc"])
                     for t, h in zip(timing["eval_at_seconds"], trained["history"])]
            out[m] = {**summary[m], "arch": trained["arch"], "steps": trained["steps"],
                      "best_step": trained["best_step"],
                      "train_seconds": timing["train_seconds"], "chars_per_s": timing["chars_per_s"],
                      "with_ngram": {k: pair[k] for k in ("val_bpc", "test_bpc", "weights")},
                      "curve": curve}
    finally:
        os.chdir(cwd)
    return out


def chart(res: dict, models: list[str], path: Path) -> None:
    from charlm.compare.charts import _finish, _plt

    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for m in models:
        c = res[m]["curve"]
        ax.plot([p[0] for p in c], [p[2] for p in c], marker=".", label=f"{m} ({res[m]['arch']})")
    ax.axhline(res["ngram"]["val_bpc"], color="grey", ls="--", label="n-gram")
    _finish(fig, ax, path, "training seconds", "val bpc", f"{CORPUS}: val bpc against training time")


def markdown(res: dict, models: list[str], meta: dict) -> str:
    rows = ["| model | weights | steps | train s | chars/s | val bpc | test bpc | adapted val | "
            "adapted test | with the n-gram: val | test |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for m in models:
        r = res[m]
        rows.append(f"| {m} ({r['arch']}) | {r['params']:,} | {r['steps']:,} | "
                    f"{r['train_seconds']:.0f} | {r['chars_per_s']:,.0f} | {r['val_bpc']:.4f} | "
                    f"{r['test_bpc']:.4f} | {r['dynamic_val_bpc']:.4f} | {r['dynamic_test_bpc']:.4f} | "
                    f"{r['with_ngram']['val_bpc']:.4f} | {r['with_ngram']['test_bpc']:.4f} |")
    g = res["ngram"]
    rows.append(f"| n-gram | {g['params']:,} | | | | {g['val_bpc']:.4f} | {g['test_bpc']:.4f} | "
                f"{g.get('dynamic_val_bpc', float('nan')):.4f} | "
                f"{g.get('dynamic_test_bpc', float('nan')):.4f} | | |")
    best = min(models, key=lambda m: res[m]["val_bpc"])
    w = ", ".join(f"{k} {v:.3f}" for k, v in res["mix_weights"].items())
    lines = [f"# LSTM or transformer at ten CPU minutes ({CORPUS})", "",
             f"{common.provenance(meta['script'])}: `dvc exp run {meta['overrides']}` "
             f"({meta['seconds']:.0f} s in all).", "",
             "Both trained in that one run, one after the other, fp32, the pipeline's numerics; "
             "best-on-val weights; val and test scored whole by the same routine (the "
             "transformer by its sliding window). Adapted: dynamic evaluation. With the n-gram: "
             "the two-model mixture (and their adapted versions), weights fitted on val.", "",
             *rows, "",
             f"Static, by val: **{best}** ({res[best]['val_bpc']:.4f}). The run's mixture of all "
             f"of them: val {res['mix']['val_bpc']:.4f}, test {res['mix']['test_bpc']:.4f} "
             f"(weights: {w}).", "",
             f"![val bpc against training seconds]({meta['chart']})"]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = common.parser(__doc__)
    ap.add_argument("--lstm", default="lstm-10min", help="the recurrent model entry")
    ap.add_argument("--gpt", default="gpt-10min", help="the transformer model entry")
    ap.add_argument("--set", action="append", default=[], metavar="OVERRIDE",
                    help="another `dvc exp run -S` override, applied first (repeatable)")
    ap.add_argument("--repo", help="run in this repository as it is (default: a fresh clone of HEAD)")
    ap.add_argument("--out", default=str(common.RESULTS / "lstm_vs_gpt"))
    a = ap.parse_args()
    models = [a.lstm, a.gpt]
    ov = overrides(models, a.set)
    meta = {"script": common.command(__file__, env=("CHARLM_MIRROR",)),
            "overrides": " ".join("-S " + shlex.quote(o) for o in ov)}
    out = common.out_path(a.out)
    meta["chart"] = out.with_suffix(".png").name
    with common.heavy_lock(), tempfile.TemporaryDirectory() as tmp:
        repo = Path(a.repo) if a.repo else Path(tmp) / "charlm"
        if not a.repo:
            subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True)
        meta["seconds"] = run_experiment(repo, ov)
        res = collect(repo, models)
    chart(res, models, out.with_suffix(".png"))
    common.write_results(out, {**meta, "commit": common.git_commit(), "cpu": common.cpu_description(),
                               "results": res}, markdown(res, models, meta))
    print(out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
