"""The 10-minute LSTM preset (`lstm-10min`, 2 x 512) on tiny-shakespeare, scored static and
adapted (dynamic evaluation), and mixed with the n-gram and the adapted n-gram: issue 14's
preset targets. Runs `dvc exp run` in a fresh clone of this repository's HEAD (the
workspace here is untouched), with the corpus mirror from $CHARLM_MIRROR; every number
comes from that run's metrics/summary.json (val picks, test is reported once).

    CHARLM_MIRROR=../shared/corpora python benchmarks/quality/preset_quality.py

`--amp off` (the default here) trains in fp32: this CPU has no native bf16, where the
preset's own `amp: bf16` runs at a fiftieth of the speed. Writes
benchmarks/results/preset_quality.json (read by quality.py beside this). It takes the
heavy-job lock: it trains for about 20 minutes on every core.
"""

from __future__ import annotations

import datetime
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

OUT = common.RESULTS / "preset_quality.json"


def overrides(amp: str) -> list[str]:
    run = "tinyshakespeare-lstm-10min"
    own = "" if amp == "preset" else f", amp: {amp}"
    return ["run.corpora=[tinyshakespeare]", "~run.pairs",
            f"+run.pairs={{{run}: {{corpus: tinyshakespeare, model: lstm-10min{own}}}}}",
            f"evaluate.dynamic.pairs=[{run}]"]


def main() -> None:
    ap = common.parser(__doc__)
    ap.add_argument("--amp", default="off", choices=["off", "bf16", "preset"],
                    help="the run's train.amp (preset: the preset's own, bf16)")
    args = ap.parse_args()
    commit = common.git_commit(short=True)
    ov = overrides(args.amp)
    with common.heavy_lock(), tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "charlm"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True)
        argv = [sys.executable, "-m", "dvc", "exp", "run"] + [a for o in ov for a in ("-S", o)]
        t0 = time.perf_counter()
        subprocess.run(argv, cwd=repo, check=True,
                       env={**os.environ, "DVC_NO_ANALYTICS": "1"})
        seconds = time.perf_counter() - t0
        summary = json.loads((repo / "metrics" / "summary.json").read_text())
        timing = json.loads((repo / "data" / "checkpoints" / "tinyshakespeare"
                             / "lstm-10min" / "timing.json").read_text())
    result = {"commit": commit, "date": datetime.date.today().isoformat(),
              "command": "dvc exp run " + " ".join("-S " + shlex.quote(o) for o in ov),
              "script": common.command(__file__, env=("CHARLM_MIRROR",)),
              "seconds": round(seconds, 1), "train": timing,
              "summary": summary["tinyshakespeare"]}
    common.write_results(OUT, result)
    print(json.dumps(result["summary"], indent=2))


if __name__ == "__main__":
    main()
