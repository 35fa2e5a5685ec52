"""benchmarks/results/gpu.md from the recorded JSON files of the CUDA check (no GPU needed).

Every figure in gpu.md is read from one of these files, and the page says which:

    gpu.json            benchmarks/gpu/gpu_bench.py --steps 300            (bf16 autocast)
    gpu_fp32.json       benchmarks/gpu/gpu_bench.py --steps 300 --no-amp   (fp32)
    gpu_amp_lstm.json   benchmarks/gpu/gpu_amp_lstm.py, the LSTM's core in fp32 under autocast

A file that is missing is left out of the page (and named as missing). It measures
nothing (no GPU, no torch):

    python benchmarks/gpu/gpu_report.py                   # benchmarks/results/ -> gpu.md there
    python benchmarks/gpu/gpu_report.py --dir "$OUT"      # what gpu_check.sh runs at its end
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # benchmarks/: common
import common  # noqa: E402

FILES = {
    "bf16": ("gpu.json", "`benchmarks/gpu/gpu_bench.py --steps 300` (bf16 autocast)"),
    "fp32": ("gpu_fp32.json", "`benchmarks/gpu/gpu_bench.py --steps 300 --no-amp` (fp32, TF32 matmuls)"),
    "after": ("gpu_amp_lstm.json", "`benchmarks/gpu/gpu_amp_lstm.py`, after the fix: the LSTM's "
              "recurrent core in fp32 under CUDA autocast (`charlm/neural/models.py`)"),
}


def load(folder: Path) -> dict[str, dict]:
    out = {}
    for key, (name, _) in FILES.items():
        path = folder / name
        if path.is_file():
            out[key] = json.loads(path.read_text())
    return out


def _rng(values: list[float]) -> str:
    lo, hi = min(values), max(values)
    return f"{lo:.2f}" if f"{lo:.2f}" == f"{hi:.2f}" else f"{lo:.2f}-{hi:.2f}"


def markdown(runs: dict[str, dict], command: str, log_runs: list[dict] | None = None) -> str:
    L = [common.provenance(command) + " from the JSON files the CUDA check wrote "
         "(`benchmarks/gpu/gpu_check.sh` for the first two; `benchmarks/gpu/gpu_amp_lstm.py` run by "
         "hand for the LSTM file); every figure below names the file it comes from.", "",
         "# CUDA check", "",
         "| file | what made it | device | torch | date |", "| --- | --- | --- | --- | --- |"]
    for key, (name, what) in FILES.items():
        r = runs.get(key)
        if r is None:
            L.append(f"| `{name}` | {what} | (missing) | | |")
            continue
        m = r.get("machine", r)
        dev = m.get("gpu") or m.get("device", "?")
        extra = f", CUDA {m['cuda']}, cuDNN {m['cudnn']}" if "cuda" in m else ""
        L.append(f"| `{name}` | {what} | {dev}{extra} | {m.get('torch', '?')} | "
                 f"{m.get('date', 'not recorded')} |")
    L.append("")
    bf, fp = runs.get("bf16"), runs.get("fp32")
    if bf or fp:
        ref = (bf or fp)["machine"]
        L += ["## Speed, memory and val bpc per variant", "",
              f"Each variant trained {ref['steps']} steps of batch {ref['batch_size']} x seq "
              f"{ref['seq_len']} with charlm's trainer (the full-size presets and schedule that "
              "`benchmarks/gpu/gpu_bench.py` sets); val bpc on the whole tiny-shakespeare "
              "val split. bf16 columns: `gpu.json`; fp32 columns: `gpu_fp32.json` (a separate run: "
              "see the dates above).", "",
              "| model | params | bf16 chars/s | bf16 ms/step | bf16 peak memory | bf16 val bpc | "
              "fp32 chars/s | fp32 ms/step | fp32 peak memory | fp32 val bpc |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        names = list((bf or fp)["models"])
        for n in names:
            a, b = (bf or {}).get("models", {}).get(n), (fp or {}).get("models", {}).get(n)
            any_ = a or b
            size = f"{n} ({any_['num_layers']}x{any_['hidden_size']})"

            def cols(x):
                if x is None:
                    return ["-"] * 4
                return [f"{x['chars_per_s']:,.0f}", f"{x['step_ms']:.1f}",
                        f"{x['peak_memory_mib']:.0f} MiB" if x.get("peak_memory_mib") else "-",
                        f"{x['val_bpc']:.3f}"]
            L.append("| " + " | ".join([size, f"{any_['params']:,}"] + cols(a) + cols(b)) + " |")
        L.append("")
        if bf and fp:
            ratios = {n: bf["models"][n]["chars_per_s"] / fp["models"][n]["chars_per_s"]
                      for n in names if n in fp["models"]}
            diff = {n: abs(bf["models"][n]["val_bpc"] - fp["models"][n]["val_bpc"])
                    for n in names if n in fp["models"]}
            L += ["bf16 autocast / fp32 chars/s: " + ", ".join(f"{n} {v:.2f}x" for n, v in ratios.items())
                  + ". Peak memory in bf16: " + ", ".join(
                      f"{n} {bf['models'][n]['peak_memory_mib'] / 1024:.2f} GiB" for n in names)
                  + ". val bpc, bf16 minus fp32 in absolute value: " + ", ".join(f"{n} {v:.3f}" for n, v in diff.items())
                  + ".", ""]
    data = runs.get("after")
    if data:
        bf_v = [x["val_bpc"] for x in data["runs"] if x["amp_bf16"]]
        fp_v = [x["val_bpc"] for x in data["runs"] if not x["amp_bf16"]]
        seeds = sorted({x["seed"] for x in data["runs"]})
        seeds_txt = ("seed " if len(seeds) == 1 else "seeds ") + ", ".join(map(str, seeds))
        L += ["## bf16 and the LSTM", "",
              f"`{FILES['after'][0]}` ({FILES['after'][1]}; 3x512 LSTM, {data['steps']} steps of "
              f"128 x 128, {seeds_txt}): val bpc {_rng(bf_v)} with bf16 autocast, "
              f"{_rng(fp_v)} in fp32.", "",
              "| seed | autocast | lr | val bpc | chars/s |", "|---:|---|---:|---:|---:|"]
        L += [f"| {x['seed']} | {'bf16' if x['amp_bf16'] else 'fp32'} | {x['lr']} | "
              f"{x['val_bpc']:.3f} | {x['chars_per_s']:,.0f} |" for x in data["runs"]]
        L += ["", "Before the fix (the whole LSTM under bf16 autocast) it did not learn; that "
              "record is superseded by this file (benchmarks/README.md, Measurements).", ""]
    L += ["## A CUDA-trained model on a CPU", "",
          "`benchmarks/gpu/gpu_cuda_model.py` trains a small LSTM on CUDA and writes its model folder; "
          "loaded on a CPU machine with `load_trained(..., device='cpu')` it scored the same val "
          "bpc as on the GPU, to float rounding, when this was checked by hand. That check is not "
          "part of `gpu_check.sh` and its numbers were not recorded in a file.", ""]
    if log_runs is not None:
        kinds = ", ".join(f"{'bf16' if r.get('amp_bf16') else 'fp32'} of {r.get('date', '?')}"
                          for r in log_runs) or "none"
        L += [f"`gpu_log.txt` holds the console output of these gpu_bench.py runs: {kinds}. "
              "Runs missing from it have their JSON file as their only record.", ""]
    return "\n".join(L)


def log_runs(folder: Path) -> list[dict] | None:
    """The machine lines gpu_bench.py printed into gpu_log.txt (one per run)."""
    path = folder / "gpu_log.txt"
    if not path.is_file():
        return None
    runs = []
    for line in path.read_text().splitlines():
        if line.startswith("{"):
            try:
                runs.append(json.loads(line))
            except ValueError:
                pass
    return runs


def main() -> None:
    ap = common.parser(__doc__)
    ap.add_argument("--dir", default="benchmarks/results", help="folder with the JSON files")
    ap.add_argument("--out", help="default: <dir>/gpu.md")
    args = ap.parse_args()
    folder = common.out_path(args.dir)
    out = common.out_path(args.out) if args.out else folder / "gpu.md"
    common.write_text(out, markdown(load(folder), common.command(__file__), log_runs(folder)))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
