"""Does bf16 autocast hurt the 3x512 LSTM? Same 300 steps, bf16 vs fp32, several seeds.
Run by hand on a lent GPU machine (torch only, no dvc; no lock: nothing else runs there):

    python benchmarks/gpu/gpu_amp_lstm.py --data .gpu/tinyshakespeare --out "$OUT/gpu_amp_lstm.json"

Its file feeds gpu_report.py (benchmarks/results/gpu_amp_lstm.json).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # benchmarks/: common
import common  # noqa: E402

import torch  # noqa: E402

from charlm.params import ModelSpec, TrainCommon, TrainParams  # noqa: E402
from charlm.train.run import train_model  # noqa: E402


def main() -> None:
    ap = common.parser(__doc__)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--seeds", default="1,2")
    args = ap.parse_args()
    rows = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        for amp in (True, False):
            for lr in (0.002, 0.001):
                tp = TrainParams(models={"lstm": ModelSpec(arch="lstm", hidden_size=512, num_layers=3)}, common=TrainCommon(steps=args.steps, batch_size=128, seq_len=128, lr=lr, min_lr=lr / 10,
                                 warmup_steps=50, eval_every=10**9, checkpoint_every=10**9,
                                 seed=seed, amp="auto" if amp else "off"))
                with tempfile.TemporaryDirectory() as tmp:
                    s = train_model(args.data, Path(tmp), tp, "lstm", progress=False,
                                    log=lambda m: None, write_outputs=False).summary
                row = {"seed": seed, "amp_bf16": amp, "lr": lr, "val_bpc": s["best_val_bpc"],
                       "chars_per_s": s["chars_per_s"]}
                print(json.dumps(row), flush=True)
                rows.append(row)
    common.write_json(args.out, {"torch": torch.__version__, "device": torch.cuda.get_device_name(0)
                                 if torch.cuda.is_available() else "cpu", "steps": args.steps,
                                 "runs": rows}, ensure_ascii=False)


if __name__ == "__main__":
    main()
