"""The regression gate on test bpc (`charlm check-metrics`: charlm.cli.check_metrics).

Compares metrics/summary.json in the working tree with the same file at a git
revision (default HEAD), prints a Markdown table of every corpus/model, and
exits 1 when any test bpc is worse than the baseline by more than the
tolerance (in bits per char; 0: not worse at all), when a baseline entry is
missing now, or when a test bpc (now or in the baseline) is not a finite
number (NaN, inf, a string, ...): a value the gate cannot compare fails it.

Each row also says whether its change is within the seed noise or beyond it, in both
directions: the noise is 2 standard deviations of that test bpc over the seeds that
benchmarks/quality/seed_noise.py trained (benchmarks/results/seed_noise.json; the n-gram has no
seed: its noise is 0, so any change of it is beyond noise). A change of exactly 0 is
"same"; a row whose noise was not measured says so.
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

from ..core import paths
from ..core.errors import CharlmError

FAILING = ("WORSE", "MISSING", "INVALID")
NOISE_FILE = Path("benchmarks/results/seed_noise.json")
NOISE_SIGMAS = 2.0


def _summary(data, where: str) -> dict:
    """The summary mapping corpus -> model -> metrics, or a CharlmError naming `where`."""
    if not isinstance(data, dict) or not all(
            isinstance(models, dict) and all(isinstance(m, dict) for m in models.values())
            for models in data.values()):
        raise CharlmError(f"{where}: not a metrics summary (corpus -> model -> metrics)")
    return data


def parse_summary(text: str, where: str) -> dict:
    """A metrics summary from its JSON text, or a CharlmError naming `where`."""
    try:
        return _summary(json.loads(text), where)
    except json.JSONDecodeError as e:
        raise CharlmError(f"{where}: invalid JSON ({e.msg} at line {e.lineno})") from None


def read_text(path: Path) -> str:
    """A summary file's text: one reader for every input (charlm.core.inputs)."""
    from ..core.inputs import MIB, decode, read_input
    return decode(read_input(str(path), str(path), 64 * MIB, stdin_ok=False), "utf-8", str(path))


def load(path: Path) -> dict:
    return parse_summary(read_text(path), str(path))


def text_at_rev(rev: str, path: Path, missing_ok: bool = False) -> str | None:
    """A git-tracked file's text at `rev`; where git cannot show it, None if `missing_ok`,
    else a CharlmError with git's reason."""
    try:
        proc = subprocess.run(["git", "show", f"{rev}:{path.as_posix()}"], capture_output=True,
                              text=True)
    except FileNotFoundError:
        raise CharlmError("git not found: needed to read the baseline at a revision "
                          "(or pass --baseline FILE)") from None
    if proc.returncode == 0:
        return proc.stdout
    if missing_ok:
        return None
    last = (proc.stderr.strip().splitlines() or ["git show failed"])[-1]
    raise CharlmError(f"cannot read {path} at {rev}: {last}")


def load_at_rev(rev: str, path: Path) -> dict:
    return parse_summary(text_at_rev(rev, path), f"{path} at {rev}")


def valid_bpc(x) -> bool:
    """A test bpc the gate can compare: a finite real number (not a bool, not a string)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def load_noise(path: Path = NOISE_FILE) -> dict[tuple[str, str], float]:
    """(corpus, model) -> the standard deviation of its test bpc over seeds ({} when the
    default table is absent)."""
    if path == NOISE_FILE and not path.exists():
        return {}                 # not measured here; a file named by --noise must exist
    try:
        rows = json.loads(read_text(path))["rows"]
        return {(r["corpus"], r["model"]): float(r["test_bpc"]["std"]) for r in rows}
    except (ValueError, KeyError, TypeError) as e:
        raise CharlmError(f"{path}: not a seed-noise table ({e})") from None


def verdict(a, b, std: float | None) -> str:
    """same / within noise / beyond noise (better|worse) for a change from a to b."""
    if not (valid_bpc(a) and valid_bpc(b)):
        return "—"
    d = b - a
    if d == 0:
        return "same"
    if std is None:
        return "noise not measured"
    if abs(d) <= NOISE_SIGMAS * std:
        return "within noise"
    return "beyond noise, " + ("worse" if d > 0 else "better")


def compare(old: dict, new: dict, tolerance: float,
            noise: dict[tuple[str, str], float] | None = None) -> tuple[list[dict], bool]:
    """One row per corpus/model of either summary; ok is False when any row fails.

    Status: INVALID (a test bpc, now or in the baseline, is present but not a finite
    number), MISSING (in the baseline, no test bpc now), WORSE (now - baseline >
    tolerance), better (baseline - now > tolerance), new (no baseline), else ok.
    """
    if not (isinstance(tolerance, (int, float)) and math.isfinite(tolerance) and tolerance >= 0):
        raise CharlmError(f"tolerance: must be a finite number >= 0, got {tolerance!r}")
    rows, ok = [], True
    for corpus in sorted(set(old) | set(new)):
        for model in sorted(set(old.get(corpus, {})) | set(new.get(corpus, {}))):
            a = old.get(corpus, {}).get(model, {}).get("test_bpc")
            b = new.get(corpus, {}).get(model, {}).get("test_bpc")
            if (a is not None and not valid_bpc(a)) or (b is not None and not valid_bpc(b)):
                status = "INVALID"
            elif b is None:
                status = "MISSING"
            elif a is None:
                status = "new"
            elif b - a > tolerance:
                status = "WORSE"
            elif a - b > tolerance:
                status = "better"
            else:
                status = "ok"
            ok = ok and status not in FAILING
            std = (noise or {}).get((corpus, model))
            rows.append({"corpus": corpus, "model": model, "old": a, "new": b, "status": status,
                         "noise": None if std is None else NOISE_SIGMAS * std,
                         "verdict": verdict(a, b, std)})
    return rows, ok


def _cell(x) -> str:
    if x is None:
        return "—"
    if valid_bpc(x):
        return f"{x:.4f}"
    if isinstance(x, float):                    # nan, inf, -inf
        return str(x)
    return json.dumps(x, default=str).replace("|", "\\|")


def markdown(rows: list[dict], tolerance: float, against: str) -> str:
    lines = [f"Test bpc against `{against}` (tolerance {tolerance:g} bits/char)", "",
             f"Noise: {NOISE_SIGMAS:g} standard deviations of the test bpc over seeds "
             f"({NOISE_FILE}); a change within it is not evidence of a real one.", "",
             "| corpus | model | baseline | now | change | noise | verdict | status |",
             "|---|---|---:|---:|---:|---:|---|---|"]
    for r in rows:
        d = f"{r['new'] - r['old']:+.4f}" if valid_bpc(r["old"]) and valid_bpc(r["new"]) else "—"
        s = f"**{r['status']}**" if r["status"] in FAILING else r["status"]
        n = "—" if r["noise"] is None else f"±{r['noise']:.4f}"
        lines.append(f"| {r['corpus']} | {r['model']} | {_cell(r['old'])} | {_cell(r['new'])} "
                     f"| {d} | {n} | {r['verdict']} | {s} |")
    return "\n".join(lines)


def check(against: str, tolerance: float, current: Path | None = None,
          baseline: Path | None = None, noise: Path = NOISE_FILE) -> tuple[str, bool]:
    current = current or paths.summary_file()
    if not current.exists():
        raise CharlmError(f"{current}: not found (run `dvc repro report`)")
    new = load(current)
    old = (load(baseline) if baseline
           else load_at_rev(against, paths.summary_file()))
    rows, ok = compare(old, new, tolerance, load_noise(noise))
    return markdown(rows, tolerance, str(baseline or against)), ok
