"""The gru's learning-rate schedule in the default run, chosen on val.

The default run's gru (params.yaml) decays its lr 0.01 (30 warm-up steps, cosine to
0.0003); the other models train at a constant lr. This trains the same gru with a
constant lr 0.01 on each default corpus, scores the whole val split (the choice) and the
whole test split (reported only) exactly as the evaluate stage does, and compares with
the decayed gru's numbers of the committed run (metrics/summary.json). Run from the
repository root after `dvc repro` (it needs data/prepared/<corpus>/):

    python benchmarks/choices/gru_schedule.py      # takes the heavy-job lock

Writes benchmarks/results/gru_schedule.md and .json.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # benchmarks/: common
import common  # noqa: E402

from charlm.core import paths  # noqa: E402
from charlm.neural.models import log2prob_sequence  # noqa: E402
from charlm.params import TrainParams, load_params  # noqa: E402
from charlm.core.splits import load_split  # noqa: E402
from charlm.core.scoring import bpc  # noqa: E402
from charlm.train.run import train_model  # noqa: E402

OUT = common.RESULTS / "gru_schedule"


def constant_run(corpus: str, tp: TrainParams, tmp: Path) -> dict:
    spec = tp.models["gru"]
    const = dataclasses.replace(spec, warmup_steps=0, min_lr=spec.lr)
    res = train_model(paths.prepared(corpus), tmp / corpus, TrainParams({"gru": const}, tp.common),
                      "gru", progress="off", log=lambda m: None, write_outputs=False)
    prep = paths.prepared(corpus)
    return {split: bpc(log2prob_sequence(res.model.to("cpu"), load_split(prep, split), "cpu"))
            for split in ("val", "test")}


def main() -> None:
    common.parser(__doc__).parse_args()
    params = load_params()
    summary = json.loads(paths.summary_file().read_text(encoding="utf-8"))
    rows = []
    with common.heavy_lock(), tempfile.TemporaryDirectory() as tmp:
        for corpus in params.run.corpora:
            c = constant_run(corpus, params.train, Path(tmp))
            d = summary[corpus]["gru"]
            rows.append({"corpus": corpus, "decay_val": d["val_bpc"], "constant_val": c["val"],
                         "decay_test": d["test_bpc"], "constant_test": c["test"]})
            print(json.dumps(rows[-1]), flush=True)
    mean = {k: sum(r[k] for r in rows) / len(rows) for k in rows[0] if k != "corpus"}
    choice = "decay" if mean["decay_val"] <= mean["constant_val"] else "constant"
    cmd = common.command(__file__)
    lines = [common.provenance(cmd) + " (the decayed gru's numbers: the committed default run's "
             "`metrics/summary.json`). The schedule with the lower mean **val** bpc is chosen; "
             "test is shown for the record.", "",
             "# The gru's schedule in the default run, chosen on val", "",
             "| corpus | val: decay (lr 0.01, 30 warm-up, cosine to 0.0003) | val: constant 0.01 "
             "| test: decay | test: constant |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {r['corpus']} | {r['decay_val']:.4f} | {r['constant_val']:.4f} | "
              f"{r['decay_test']:.4f} | {r['constant_test']:.4f} |" for r in rows]
    lines += [f"| mean | {mean['decay_val']:.4f} | {mean['constant_val']:.4f} | "
              f"{mean['decay_test']:.4f} | {mean['constant_test']:.4f} |", "",
              f"Chosen on val: **{choice}**" + (" (the default run's schedule)." if choice == "decay"
                                                 else " (differs from params.yaml).")]
    _, md = common.write_results(OUT, {"command": cmd, "rows": rows, "mean": mean,
                                       "choice_on_val": choice}, "\n".join(lines) + "\n", indent=1)
    print(f"chosen on val: {choice}; wrote {md}  ({shlex.quote(cmd)})")


if __name__ == "__main__":
    main()
