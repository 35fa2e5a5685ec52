"""Train a small LSTM on CUDA and write its outputs, to check they load on a CPU machine.

Run by hand on a lent GPU machine (torch only, no dvc; no lock), with the prepared data
carried in .gpu/ (gpu_check.sh beside this says how); the model folder OUT then comes
back and `load_trained(OUT, device="cpu")` on a CPU machine should score the same val bpc:

    python benchmarks/gpu/gpu_cuda_model.py "$OUT/cuda_lstm"
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # benchmarks/: common
import common  # noqa: E402


def main() -> None:
    ap = common.parser(__doc__)
    ap.add_argument("out", help="the model folder to write")
    ap.add_argument("--data", default=".gpu/tinyshakespeare", help="prepared corpus folder")
    args = ap.parse_args()
    from charlm.params import ModelSpec, TrainCommon, TrainParams
    from charlm.train.run import train_model

    tp = TrainParams(models={"lstm": ModelSpec(arch="lstm", hidden_size=128, num_layers=2)},
                     common=TrainCommon(steps=200, batch_size=64, seq_len=128, warmup_steps=40,
                                        min_lr=0.0003, eval_every=100, checkpoint_every=100,
                                        device="cuda", amp="auto"))
    res = train_model(args.data, Path(args.out), tp, "lstm", live_dir=None,
                      corpus="tinyshakespeare", progress=False)
    print(json.dumps({k: res.summary[k] for k in ("device", "chars_per_s", "best_val_bpc", "params")}))


if __name__ == "__main__":
    main()
