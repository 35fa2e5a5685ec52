"""Fine-tuning against training from scratch, at the same number of steps: the README's
example (pretrain the LSTM on latex-full, all 119 Stacks chapters; fine-tune it on latex,
the 8 chapters of the default run) against the same LSTM trained from scratch on latex.

Both runs go through `dvc exp run` in a fresh clone of this repository's HEAD (so the
workspace here is untouched), with the corpus mirror from $CHARLM_MIRROR; the numbers
come from each run's metrics/summary.json (val picks, test is reported). Writes
benchmarks/results/finetune.md and finetune.json.

    CHARLM_MIRROR=../shared/corpora python benchmarks/quality/finetune.py

It takes the heavy-job lock: it trains for several minutes on every core.
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

STEPS = 300
PRETRAIN_STEPS = 2000
# The command of docs/experiments.md (kept identical: tests/test_pipeline_params.py checks
# the docs' commands)
FINETUNE = [
    "run.corpora=[latex-full,latex]", "~run.pairs",
    f"+run.pairs={{latex-full-lstm: {{corpus: latex-full, model: lstm, steps: {PRETRAIN_STEPS}}}}}",
    f"++run.finetune={{latex-lstm: {{corpus: latex, model: lstm, init_from: latex-full/lstm, "
    f"steps: {STEPS}, eval_every: 75}}}}",
]
SCRATCH = [
    "run.corpora=[latex]", "~run.pairs",
    f"+run.pairs={{latex-lstm: {{corpus: latex, model: lstm, steps: {STEPS}, eval_every: 75}}}}",
]


def exp_run(repo: Path, overrides: list[str]) -> tuple[dict, float, str]:
    """(metrics/summary.json, seconds, the command) of one `dvc exp run` in `repo`."""
    argv = [sys.executable, "-m", "dvc", "exp", "run"] + [a for o in overrides for a in ("-S", o)]
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    t0 = time.perf_counter()
    subprocess.run(argv, cwd=repo, env=env, check=True)
    secs = time.perf_counter() - t0
    summary = json.loads((repo / "metrics" / "summary.json").read_text())
    return summary, secs, "dvc exp run " + " ".join("-S " + shlex.quote(o) for o in overrides)


def write(results: dict) -> None:
    ft, sc = results["finetuned"]["latex"]["lstm"], results["scratch"]["latex"]["lstm"]
    pre = results["finetuned"]["latex-full"]["lstm"]
    lines = [
        "# Fine-tuning against training from scratch (latex, the same LSTM and schedule)", "",
        common.provenance(results["command"], results["commit"], when=results["date"])
        + " (a fresh clone, `dvc exp run`).", "",
        "| run | steps on latex | val bpc | test bpc |", "|---|---:|---:|---:|",
        f"| from scratch | {STEPS} | {sc['val_bpc']:.4f} | {sc['test_bpc']:.4f} |",
        f"| fine-tuned from latex-full/lstm ({PRETRAIN_STEPS} steps there: val "
        f"{pre['val_bpc']:.4f}, test {pre['test_bpc']:.4f}) | {STEPS} | {ft['val_bpc']:.4f} "
        f"| {ft['test_bpc']:.4f} |", "",
        f"Fine-tuning gains {sc['val_bpc'] - ft['val_bpc']:.4f} bpc on val and "
        f"{sc['test_bpc'] - ft['test_bpc']:.4f} on test.", "",
        "Commands (in the clone):", "",
        f"- fine-tuned ({results['finetuned_seconds']:.0f} s, latex-full's download, n-gram "
        f"and pretraining included): `{results['finetuned_command']}`",
        f"- from scratch ({results['scratch_seconds']:.0f} s): `{results['scratch_command']}`", ""]
    common.write_results(common.RESULTS / "finetune", results, "\n".join(lines))


def main() -> None:
    common.parser(__doc__).parse_args()
    commit = common.git_commit(short=True)
    command = common.command(__file__, env=("CHARLM_MIRROR",))
    with common.heavy_lock(), tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "charlm"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True)
        finetuned, ft_s, ft_cmd = exp_run(repo, FINETUNE)
        subprocess.run(["git", "checkout", "-q", "--", "."], cwd=repo, check=True)
        scratch, sc_s, sc_cmd = exp_run(repo, SCRATCH)
    write({"command": command, "commit": commit, "date": time.strftime("%Y-%m-%d"),
           "finetuned": finetuned, "finetuned_seconds": ft_s, "finetuned_command": ft_cmd,
           "scratch": scratch, "scratch_seconds": sc_s, "scratch_command": sc_cmd})
    print((common.RESULTS / "finetune.md").read_text())


if __name__ == "__main__":
    main()
