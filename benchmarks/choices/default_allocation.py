"""Which neural model the default run trains on tinyshakespeare, chosen on VAL bpc.

The default pipeline must finish in about 15 minutes on a 2-core CPU, which leaves
about BUDGET_S seconds of training for the best neural model. For every candidate
(shape + schedule, fp32, torch's default threads) this script

1. times a short probe (PROBE_STEPS steps) for its seconds per step,
2. fixes the steps that fit the budget (rounded down to a multiple of 25; the number is
   recorded, so the run is reproducible without the probe),
3. trains that many steps, scoring the whole val split about 8 times on the way,

and records the config, steps, chars, training seconds, chars/s, the val-bpc curve and
the best val bpc. The candidate with the lowest best val bpc is chosen. The test split
is never read. Run from the repository root (it takes the heavy-job lock):

    python benchmarks/choices/default_allocation.py [--only NAME ...]
    ... --only NAME --steps N      # N steps, no probe; recorded as NAME_<N>steps
    python benchmarks/choices/default_allocation.py --report-only     # rewrite the .md

Results merge into benchmarks/results/default_allocation.json (an interrupted sweep
continues with --only); benchmarks/results/default_allocation.md is rewritten from it.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # benchmarks/: common
import common  # noqa: E402

import torch  # noqa: E402

from charlm.core import paths  # noqa: E402
from charlm.params.sections import ModelSpec, TrainCommon, TrainParams  # noqa: E402
from charlm.train.run import train_model  # noqa: E402

OUT = common.RESULTS / "default_allocation"
JSON_OUT, MD_OUT = OUT.with_suffix(".json"), OUT.with_suffix(".md")
CORPUS = "tinyshakespeare"
BUDGET_S = 240.0
PROBE_STEPS = 20
PROBES = 2
STEP_ROUND = 25
EVALS = 8

# name -> (shape, schedule); unset schedule keys take BASE's values. BASE's 32 x 128 batch
# gave the most chars/s in the first speed probes (2x256 LSTM: ~17k vs ~13k at 32 x 64).
BASE = dict(lr=0.005, warmup_steps=25, min_lr=0.0005, weight_decay=0.0, grad_clip=1.0,
            batch_size=32, seq_len=128)


def _rnn(arch: str, hidden: int, layers: int = 2, dropout: float = 0.0) -> dict:
    return dict(arch=arch, hidden_size=hidden, num_layers=layers, dropout=dropout)


CANDIDATES: dict[str, tuple[dict, dict]] = {
    "lstm2x256": (_rnn("lstm", 256), {}),
    "lstm2x256_lr01": (_rnn("lstm", 256), dict(lr=0.01, min_lr=0.001)),
    "lstm2x256_drop01": (_rnn("lstm", 256, dropout=0.1), {}),
    "lstm2x256_b64x64": (_rnn("lstm", 256), dict(batch_size=64, seq_len=64)),
    "lstm2x256_b32x64": (_rnn("lstm", 256), dict(seq_len=64)),
    "lstm1x512": (_rnn("lstm", 512, layers=1), {}),
    # refinement after the first six: more, smaller steps won (32 x 64 beat 32 x 128 and
    # 64 x 64 at the same time), so the rest take 32 x 64 or fewer chars a step
    "lstm2x256_b32x64_lr01": (_rnn("lstm", 256), dict(seq_len=64, lr=0.01, min_lr=0.001)),
    "lstm2x256_b32x32": (_rnn("lstm", 256), dict(seq_len=32)),
    "gru2x256_lr01": (_rnn("gru", 256), dict(seq_len=64, lr=0.01, min_lr=0.001)),
    # 32 x 32 won the refinement at the same chars/s as 32 x 64: halve the step once more
    "lstm2x256_b32x16": (_rnn("lstm", 256), dict(seq_len=16)),
}


# --------------------------------------------------------------------------- configs

def schedule_of(name: str) -> dict:
    return {**BASE, **CANDIDATES[name][1]}


def params_of(name: str, steps: int, eval_every: int) -> TrainParams:
    """The candidate as TrainParams: its shape, its schedule, CPU fp32, no mid-run checkpoints."""
    shape, _ = CANDIDATES[name]
    spec = ModelSpec(embedding_dim=64, **shape)
    tc = TrainCommon(steps=steps, eval_every=eval_every, eval_streams=16, eval_overlap=512,
                     checkpoint_every=steps, log_every=max(1, steps // 20), device="cpu",
                     amp="off", **schedule_of(name))
    return TrainParams(models={name: spec}, common=tc)


def config_record(name: str) -> dict:
    shape, _ = CANDIDATES[name]
    return {"embedding_dim": 64, **shape, **schedule_of(name)}


def describe(cfg: dict) -> str:
    return (f"{cfg['arch'].upper()} {cfg['num_layers']}x{cfg['hidden_size']} emb "
            f"{cfg['embedding_dim']} drop {cfg['dropout']:g}, "
            f"{cfg['batch_size']}x{cfg['seq_len']}, "
            f"lr {cfg['lr']:g} (warm-up {cfg['warmup_steps']}, cosine to {cfg['min_lr']:g}), "
            f"wd {cfg['weight_decay']:g}, clip {cfg['grad_clip']:g}")


# --------------------------------------------------------------------------- runs

def train(name: str, steps: int, eval_every: int, tmp: Path, on_step=None) -> tuple[dict, float]:
    """Train the candidate (val only); its summary and the wall seconds, evals included."""
    t0 = time.perf_counter()
    res = train_model(paths.prepared(CORPUS), tmp / name, params_of(name, steps, eval_every),
                      name, corpus=CORPUS, progress="off", log=lambda m: None,
                      write_outputs=False, fresh=True, on_step=on_step)
    return res.summary, time.perf_counter() - t0


def probe(name: str, tmp: Path) -> float:
    """Seconds per training step: the lower of PROBES short runs' median step (no eval
    inside the timed steps).

    Median and minimum, not mean: other processes on this shared 2-core machine slow
    some steps down, and the budget is meant for the machine when it is quiet."""
    return min(_median_step(name, tmp) for _ in range(PROBES))


def _median_step(name: str, tmp: Path) -> float:
    stamps: list[float] = []
    train(name, PROBE_STEPS, PROBE_STEPS, tmp / "probe",
          on_step=lambda done: stamps.append(time.perf_counter()))
    gaps = sorted(b - a for a, b in zip(stamps[2:], stamps[3:]))     # skip the first steps
    return gaps[len(gaps) // 2]


def steps_for(sec_per_step: float, budget: float) -> int:
    return max(STEP_ROUND, int(budget / sec_per_step) // STEP_ROUND * STEP_ROUND)


def curve(summary: dict) -> list[dict]:
    """The val-bpc curve: step, chars, val bpc and, where the trainer gives them, the
    seconds since the start of training (evals included) at each evaluation."""
    secs = summary.get("eval_at_seconds") or [h.get("seconds") for h in summary["history"]]
    return [{"step": h["step"], "chars": h["chars"], "seconds": t, "val_bpc": h["val_bpc"]}
            for h, t in zip(summary["history"], secs)]


def full_run(name: str, budget: float, tmp: Path, command: str, steps: int = 0) -> dict:
    """Probe (unless `steps` is given), train, and the run's record."""
    sps = None if steps else probe(name, tmp)
    steps = steps or steps_for(sps, budget)
    print(f"{name}: probe {_num(sps)} s/step -> {steps} steps", flush=True)
    s, wall = train(name, steps, max(1, steps // EVALS), tmp)
    return {"name": name, "config": config_record(name), "steps": steps,
            "chars": s["train_chars"], "probe_s_per_step": sps and round(sps, 4),
            "train_seconds": s["train_seconds"], "s_per_step": round(s["train_seconds"] / steps, 4),
            "wall_seconds": round(wall, 1), "chars_per_s": s["chars_per_s"],
            "params": s["params"], "threads": s["threads"],
            "best_val_bpc": s["best_val_bpc"], "best_step": s["best_step"],
            "final_val_bpc": s["final_val_bpc"],
            "history": curve(s),
            "command": command, "when": common.now()}


# --------------------------------------------------------------------------- results

def load_runs() -> dict:
    if JSON_OUT.exists():
        return json.loads(JSON_OUT.read_text(encoding="utf-8"))["runs"]
    return {}


def machine() -> str:
    bf16 = "yes" if {"avx512_bf16", "amx_bf16"} & common.cpu_flags() else "no"
    return (f"{common.cpu_name()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}, "
            f"Python {sys.version.split()[0]}, native bf16: {bf16}")


def save(runs: dict, command: str, budget: float) -> None:
    common.write_results(OUT, {"command": command, "budget_s": budget, "machine": machine(),
                               "corpus": CORPUS, "runs": runs},
                         "\n".join(report(runs, command, budget)) + "\n", indent=1)


def report(runs: dict, command: str, budget: float) -> list[str]:
    ranked = sorted(runs.values(), key=lambda r: r["best_val_bpc"])
    lines = header(ranked, command, budget) + table(ranked) + over_budget(ranked, budget)
    lines += ["", "Val-bpc curves (step: bpc):", ""]
    lines += [f"- {r['name']}: " + ", ".join(f"{h['step']}: {h['val_bpc']:.4f}"
                                             for h in r["history"]) for r in ranked]
    return lines + ([""] + chosen(ranked[0]) if ranked else [])


def header(ranked: list[dict], command: str, budget: float) -> list[str]:
    cmds = ", ".join(f"`{c}`" for c in sorted({r["command"] for r in ranked}))
    return [common.provenance(command) + f" (runs merged from `{JSON_OUT.name}`; the runs' own "
            f"commands: {cmds}; each under the heavy-job lock).", "",
            f"# Default neural model for {CORPUS}: ~{budget:.0f} s of training, chosen on val", "",
            f"Machine: {machine()}. fp32, CPU. Steps fixed from {PROBES} speed probes of "
            f"{PROBE_STEPS} steps (the lower median step time; rounded down to a multiple of "
            f"{STEP_ROUND}). Val = whole val split, 16 streams with 512 chars of warm-up; "
            "best-on-val weights. The test split is not read. `s/step` and `chars/s`: the full "
            "run's training time (val evaluations excluded) over its steps.", ""]


def table(ranked: list[dict]) -> list[str]:
    return (["| rank | name | config | steps | chars | train s | probe s/step | s/step | chars/s "
             "| best val bpc (step) | final val bpc |",
             "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
            + [row(i + 1, r) for i, r in enumerate(ranked)])


def over_budget(ranked: list[dict], budget: float) -> list[str]:
    late = [f"{r['name']} ({r['train_seconds']:.0f} s)" for r in ranked
            if r["train_seconds"] > 1.05 * budget]
    return ["", f"Over the {budget:.0f} s budget by more than 5 % (the probe ran faster than the "
            "run: other processes share this machine): " + ", ".join(late) + "."] if late else []


def row(rank: int, r: dict) -> str:
    return (f"| {rank} | {r['name']} | {describe(r['config'])} | {r['steps']} | {r['chars']:,} | "
            f"{r['train_seconds']:.0f} | {_num(r['probe_s_per_step'])} | {r['s_per_step']:.3f} | "
            f"{r['chars_per_s']:,.0f} | "
            f"{r['best_val_bpc']:.4f} ({r['best_step']}) | {r['final_val_bpc']:.4f} |")


def _num(x) -> str:
    return "-" if x is None else f"{x:.3f}"


def chosen(r: dict) -> list[str]:
    cfg = r["config"]
    return [f"Chosen on val: **{r['name']}**: {describe(cfg)}, {r['steps']} steps "
            f"({r['chars']:,} chars, {r['train_seconds']:.0f} s of training, "
            f"{r['s_per_step']:.3f} s/step): best val bpc **{r['best_val_bpc']:.4f}**.", "",
            "```", json.dumps({**cfg, "steps": r["steps"]}), "```"]


# --------------------------------------------------------------------------- main

def main() -> None:
    ap = common.parser(__doc__)
    ap.add_argument("--only", nargs="+", choices=sorted(CANDIDATES), help="run just these")
    ap.add_argument("--budget", type=float, default=BUDGET_S, help="training seconds per run")
    ap.add_argument("--steps", type=int, default=0,
                    help="train this many steps, no probe (recorded as NAME_<steps>steps)")
    ap.add_argument("--redo", action="store_true", help="rerun candidates already recorded")
    ap.add_argument("--report-only", action="store_true", help="rewrite the .md from the .json")
    args = ap.parse_args()
    command = common.command(__file__)
    runs = load_runs()
    todo = [] if args.report_only else [n for n in (args.only or CANDIDATES)
                                        if args.redo or args.only or n not in runs]
    if todo:
        with common.heavy_lock(), tempfile.TemporaryDirectory(prefix="charlm-alloc-") as tmp:
            for name in todo:
                key = f"{name}_{args.steps}steps" if args.steps else name   # beside the probed run
                runs[key] = {**full_run(name, args.budget, Path(tmp), command, args.steps),
                             "name": key}
                keys = ("name", "steps", "train_seconds", "chars_per_s", "best_val_bpc")
                print(json.dumps({k: runs[key][k] for k in keys}), flush=True)
                save(runs, command, args.budget)
    save(runs, command, args.budget)
    print(f"wrote {MD_OUT}")


if __name__ == "__main__":
    main()
