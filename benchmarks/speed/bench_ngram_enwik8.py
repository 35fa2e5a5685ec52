"""The `ngram` stage on an enwik8-sized text inside a 4 GB address space.

enwik8 itself is not in the mirror, so the stand-in is made from the two largest corpora
that are: latex-full (27.7 MB of LaTeX) and the Wikipedia XML sample (6.1 MB), their
paragraphs (split at blank lines) repeated and shuffled (a fixed seed) to exactly 100 M
chars, as enwik8's 10^8 bytes. It is prepared as the pipeline prepares a corpus (90/5/5
contiguous splits) and the real stage (`python -m stages.ngram`, the default params) runs
on it twice in fresh processes: once with its address space limited (RLIMIT_AS, 4 GB:
every mapping counts, not only what is resident) and once without. Every output file
(the model, fit.json, the samples, the per-order table) must be the same in both.

A repeated text has fewer distinct n-grams than enwik8 (which has ~5 x latex-full's per
char): what the stand-in checks is everything that grows with the text (the streams, the
ranks of val and test, the tuner's val tables); the tables themselves are sized in
docs/ngram.md from their bytes per n-gram.

    CHARLM_MIRROR=../shared/corpora python benchmarks/speed/bench_ngram_enwik8.py

Writes benchmarks/results/ngram_enwik8.json and ngram_enwik8.md; takes the heavy-job lock.
"""

from __future__ import annotations

import hashlib
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # benchmarks/: common
import common  # noqa: E402
from common import ROOT  # noqa: E402

NAME = "enwik8-standin"
SOURCES = ("latex-full", "enwiki-sample")
CHARS = 10**8                       # enwik8's size
LIMIT_MB = 4096
SEED = 8


def standin_text(texts: list[str], n_chars: int, seed: int = SEED) -> str:
    """The paragraphs of `texts` (split at blank lines), every copy of the list in its own
    shuffled order, joined by blank lines until `n_chars` chars, cut there."""
    paras = [p for t in texts for p in t.split("\n\n") if p]
    if not paras:
        raise ValueError("no text to make a stand-in from")
    rng = np.random.default_rng(seed)
    out, n = [], -2                         # the joined length so far (no separator before one)
    while n < n_chars:
        for i in rng.permutation(len(paras)):
            out.append(paras[i])
            n += 2 + len(paras[i])
            if n >= n_chars:
                break
    return "\n\n".join(out)[:n_chars]


def make_repo(tmp: Path, n_chars: int, sources=SOURCES, env: dict | None = None) -> Path:
    """A working directory in `tmp` with the repository's params and corpora files, the
    sources downloaded (from $CHARLM_MIRROR), the stand-in written as data/raw/<NAME>.txt
    and prepared by the pipeline's prepare stage."""
    for f in ("params.yaml", "corpora.yaml"):
        shutil.copy(ROOT / f, tmp / f)
    _register(tmp / "corpora.yaml")
    env = env or _env()
    texts = []
    for c in sources:
        _stage(tmp, env, "download", c)
        texts.append((tmp / "data" / "raw" / f"{c}.txt").read_text(encoding="utf-8"))
    raw = tmp / "data" / "raw" / f"{NAME}.txt"
    raw.write_text(standin_text(texts, n_chars), encoding="utf-8")
    del texts
    _stage(tmp, env, "prepare", NAME)
    return tmp


def _stage(repo: Path, env: dict, stage: str, corpus: str) -> None:
    p = subprocess.run([sys.executable, "-m", f"stages.{stage}", corpus], cwd=repo, env=env,
                       capture_output=True, text=True)
    if p.returncode:
        raise RuntimeError(f"{stage} {corpus}: {(p.stderr.strip().splitlines() or ['?'])[-1]}")


def _register(corpora_yaml: Path) -> None:
    """The stand-in's entry in the copied corpora.yaml (the stages check the name; its
    text is written in place, so the source is never fetched)."""
    with corpora_yaml.open("a", encoding="utf-8") as f:
        f.write(f"  {NAME}:\n    description: enwik8-sized stand-in (benchmarks/speed/"
                f"bench_ngram_enwik8.py)\n    sources:\n      - url: file:///dev/null\n"
                f"        sha256: '{'0' * 64}'\n    unpack: plain\n    encoding: utf-8\n")


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "DVC_NO_ANALYTICS": "1"}


def outputs(repo: Path) -> dict[str, str]:
    """sha256 of every file the stage wrote (its timings excepted: they vary)."""
    files = [*sorted((repo / "data" / "ngram" / NAME).rglob("*")),
             repo / "metrics" / "ngram" / f"{NAME}_orders.tsv"]
    return {str(f.relative_to(repo)): hashlib.sha256(f.read_bytes()).hexdigest()
            for f in files if f.is_file()}


def run_stage(repo: Path, limit_mb: float | None, env: dict | None = None) -> dict:
    """The ngram stage in a fresh process, its address space limited to `limit_mb` (None:
    unlimited): seconds, peak RSS, exit status, the last line it printed, its outputs."""
    def limit():
        if limit_mb is not None:
            b = int(limit_mb * 2**20)
            resource.setrlimit(resource.RLIMIT_AS, (b, b))
    shutil.rmtree(repo / "data" / "ngram" / NAME, ignore_errors=True)
    t0 = time.perf_counter()
    p = subprocess.Popen([sys.executable, "-m", "stages.ngram", NAME], cwd=repo,
                         env=env or _env(), preexec_fn=limit, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    out = p.stdout.read()
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    last = (out.strip().splitlines() or [""])[-1]
    return {"limit_mb": limit_mb, "seconds": round(time.perf_counter() - t0, 1),
            "peak_rss_mb": round(usage.ru_maxrss / 1024), "returncode": p.returncode,
            "last_line": last, "outputs": outputs(repo) if p.returncode == 0 else {}}


def main() -> None:
    ap = common.parser(__doc__)
    ap.add_argument("--chars", type=int, default=CHARS, help="the stand-in's length")
    ap.add_argument("--limit-mb", type=float, default=LIMIT_MB, help="RLIMIT_AS of the run")
    a = ap.parse_args()
    with common.heavy_lock(), tempfile.TemporaryDirectory(prefix="charlm-enwik8-") as t:
        repo = make_repo(Path(t), a.chars)
        stats = (repo / "data" / "prepared" / NAME / "stats.json").read_text()
        limited = run_stage(repo, a.limit_mb)
        free = run_stage(repo, None)
    write(limited, free, stats, a)


def write(limited: dict, free: dict, stats: str, a) -> None:
    import json

    same = limited["returncode"] == 0 and limited["outputs"] == free["outputs"]
    s = json.loads(stats)["splits"]
    res = {"date": common.now(), "cpu": common.cpu_description(), "chars": a.chars,
           "command": common.command(__file__, env=("CHARLM_MIRROR",)), "splits": s,
           "limited": limited, "unlimited": free, "same_outputs": same}
    lines = [common.provenance(res["command"], when=res["date"]), "",
             f"# The ngram stage on an enwik8-sized stand-in ({a.chars:,} chars)", "",
             f"latex-full and the Wikipedia sample, paragraphs repeated and shuffled; train "
             f"{s['train']['chars']:,} / val {s['val']['chars']:,} / test {s['test']['chars']:,} "
             "chars; the stage with the default params (ngram.memory_mb 1024, orders 1..10, "
             "three smoothings, discounts tuned on val).", "",
             "| run | exit | seconds | peak RSS (MB) | files |", "|---|---:|---:|---:|---:|"]
    for name, r in ((f"address space limited to {a.limit_mb:,.0f} MB", limited),
                    ("unlimited", free)):
        lines.append(f"| {name} | {r['returncode']} | {r['seconds']:.0f} | "
                     f"{r['peak_rss_mb']:,} | {len(r['outputs'])} |")
    lines += ["", f"Every output file the same in both runs: **{same}**.",
              f"The stage's last line: `{free['last_line']}`"]
    common.write_results(common.RESULTS / "ngram_enwik8", res, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
