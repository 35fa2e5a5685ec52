"""The default runs' learning-rate schedules, chosen on VAL bits per char.

Commit d65f104 changed the default neural runs' schedules (rnn, rnn3 and lstm from
warm-up + cosine decay to a constant lr; the gru kept its decay). Both runs' metrics
are in git: `metrics/summary.json` at d65f104~1 (the old schedules) and at d65f104
(the new ones), each with val_bpc and test_bpc per corpus x model, and `params.yaml`
at each revision says what each model's schedule was.

This script reads those two revisions, and for every model picks the schedule with
the lower MEAN VAL bpc over the corpora (and says which one val prefers per corpus).
Test bpc is printed beside, for the record only: it plays no part in the choice. It
also says whether the schedule in the working tree's params.yaml is the val choice.

    python benchmarks/choices/schedule_choice.py    # prints the table, writes
                                                    # benchmarks/results/schedule_choice.md
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # benchmarks/: common
import common  # noqa: E402
from common import ROOT  # noqa: E402

import yaml  # noqa: E402


def git_show(rev: str, path: str) -> str:
    r = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=ROOT, capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"error: git show {rev}:{path}: {r.stderr.strip()}")
    return r.stdout


def commit_of(rev: str) -> str:
    return subprocess.run(["git", "rev-parse", "--short", rev], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout.strip()


def schedules(params: dict) -> dict[str, dict]:
    """model -> its effective {lr, warmup_steps, min_lr, steps} (common keys + its overrides).

    Reads both layouts of params.yaml: the common keys directly under `train` (up to
    d65f104) or under `train.common` (later)."""
    train = params.get("train", {})
    common = train.get("common", train)
    out = {}
    for name, spec in (train.get("models") or {}).items():
        s = {k: spec.get(k, common.get(k)) for k in ("lr", "warmup_steps", "min_lr", "steps")}
        if s["min_lr"] is not None and s["lr"] is not None and s["min_lr"] > s["lr"]:
            s["min_lr"] = s["lr"]                    # the trainer clips min_lr to lr
        out[name] = s
    return out


def describe(s: dict) -> str:
    if s["min_lr"] == s["lr"]:
        return f"constant lr {s['lr']:g}"
    warm = f"{s['warmup_steps']} warm-up steps + " if s["warmup_steps"] else ""
    return f"lr {s['lr']:g}, {warm}cosine decay to {s['min_lr']:g}"


def same(a: dict, b: dict) -> bool:
    return all(a.get(k) == b.get(k) for k in ("lr", "warmup_steps", "min_lr", "steps"))


def choose(old_rev: str, new_rev: str, current: Path | None,
           command: str | None = None) -> tuple[str, list[dict]]:
    """The page (its first line the provenance of `command`, default: this script with no
    arguments) and the rows."""
    command = common.command(__file__, []) if command is None else command
    old_m = json.loads(git_show(old_rev, "metrics/summary.json"))
    new_m = json.loads(git_show(new_rev, "metrics/summary.json"))
    old_s = schedules(yaml.safe_load(git_show(old_rev, "params.yaml")))
    new_s = schedules(yaml.safe_load(git_show(new_rev, "params.yaml")))
    cur_s = {}
    if current is not None and current.is_file():
        try:
            cur_s = schedules(yaml.safe_load(current.read_text()))
        except (yaml.YAMLError, AttributeError, TypeError):
            cur_s = {}
    corpora = [c for c in new_m if c in old_m]
    models = [m for m in new_m[corpora[0]] if m != "ngram" and m in old_s and m in new_s]
    o, n = commit_of(old_rev), commit_of(new_rev)
    rows = []
    for m in models:
        cs = [c for c in corpora if m in old_m[c] and m in new_m[c]]
        per = [{"corpus": c,
                "old_val": old_m[c][m]["val_bpc"], "new_val": new_m[c][m]["val_bpc"],
                "old_test": old_m[c][m]["test_bpc"], "new_test": new_m[c][m]["test_bpc"]} for c in cs]
        mean = {k: sum(p[k] for p in per) / len(per) for k in ("old_val", "new_val", "old_test", "new_test")}
        row = {"model": m, "old": describe(old_s[m]), "new": describe(new_s[m]), "per_corpus": per,
               "mean": mean, "comparable": not same(old_s[m], new_s[m])}
        if row["comparable"]:
            row["choice"] = "new" if mean["new_val"] < mean["old_val"] else "old"
            chosen = new_s[m] if row["choice"] == "new" else old_s[m]
            for p in per:
                p["val_prefers"] = "new" if p["new_val"] < p["old_val"] else "old"
        if m in cur_s:
            row["current"] = describe(cur_s[m])
            if row["comparable"]:
                row["agrees"] = same(cur_s[m], chosen)
                row["current_is"] = ("new" if same(cur_s[m], new_s[m]) else
                                     "old" if same(cur_s[m], old_s[m]) else "neither")
        rows.append(row)

    def label(which: str) -> str:
        return f"{o} (old)" if which == "old" else f"{n} (new)"

    L = [common.provenance(command) + f" (reads git; no training). Old = `{old_rev}` = {o}, new = "
         f"`{new_rev}` = {n}: `metrics/summary.json` (whole val and test splits) and "
         "`params.yaml` of each revision. The schedule with the lower **mean val bpc** over "
         f"the corpora is chosen; test bpc is shown for the record and plays no part.", "",
         "# Learning-rate schedules of the default runs, chosen on val", "",
         "| model | old schedule | new schedule | mean val old | mean val new | val choice | "
         "mean test old | mean test new | working tree's params.yaml |",
         "| --- | --- | --- | ---: | ---: | --- | ---: | ---: | --- |"]
    for r in rows:
        mn = r["mean"]
        if r["comparable"]:
            choice = f"**{r['choice']}**"
            cur = ("-" if "current" not in r else
                   f"{r['current']}: {'agrees' if r['agrees'] else 'DISAGREES'}")
        else:
            choice = "none (same schedule in both)"
            cur = r.get("current", "-") + ": not decided by these runs" if "current" in r else "-"
        L.append(f"| {r['model']} | {r['old']} | {r['new']} | {mn['old_val']:.4f} | "
                 f"{mn['new_val']:.4f} | {choice} | {mn['old_test']:.4f} | {mn['new_test']:.4f} | {cur} |")
    L += ["", "Per corpus (val decides; test beside):", "",
          "| model | corpus | val old | val new | val prefers | test old | test new |",
          "| --- | --- | ---: | ---: | --- | ---: | ---: |"]
    for r in rows:
        for p in r["per_corpus"]:
            L.append(f"| {r['model']} | {p['corpus']} | {p['old_val']:.4f} | {p['new_val']:.4f} | "
                     f"{p.get('val_prefers', '-')} | {p['old_test']:.4f} | {p['new_test']:.4f} |")
    L.append("")
    for r in rows:
        if not r["comparable"]:
            L.append(f"- {r['model']}: both revisions ran the same schedule ({r['old']}), so these two "
                     "runs cannot choose it; any comparison with another schedule for it is not "
                     "recorded in these files.")
            continue
        split = [p["corpus"] for p in r["per_corpus"] if p["val_prefers"] != r["choice"]]
        txt = (f"- {r['model']}: val chooses the {r['choice']} schedule ({label(r['choice'])}: "
               f"{r[r['choice']]}), mean val {r['mean']['old_val']:.4f} old vs "
               f"{r['mean']['new_val']:.4f} new")
        txt += (f"; per corpus val prefers the other one on {', '.join(split)}" if split
                else "; val prefers it on every corpus")
        if "agrees" in r:
            txt += (f". The working tree's params.yaml ({r['current']}) "
                    f"{'agrees' if r['agrees'] else 'does not agree'}.")
        L.append(txt)
    return "\n".join(L) + "\n", rows


def main() -> None:
    ap = common.parser(__doc__)
    ap.add_argument("--old", default="d65f104~1", help="revision with the old schedules")
    ap.add_argument("--new", default="d65f104", help="revision with the new schedules")
    ap.add_argument("--params", default=str(ROOT / "params.yaml"),
                    help="the params.yaml compared with the choice (default: the working tree's)")
    ap.add_argument("--out", default=str(common.RESULTS / "schedule_choice.md"))
    args = ap.parse_args()
    text, _ = choose(args.old, args.new, Path(args.params), common.command(__file__))
    print(text, end="")
    common.write_text(args.out, text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
