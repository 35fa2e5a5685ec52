"""Train a small LSTM on CUDA and write its outputs, to check they load on a CPU machine."""
# CUDA-trained model -> load on CPU here later (small model so the files come back)
import sys, json
from pathlib import Path
sys.path.insert(0, ".")
from charlm.params import ModelSpec, TrainCommon, TrainParams
from charlm.train.run import train_model
out = Path(sys.argv[1])
tp = TrainParams(models={"lstm": ModelSpec(arch="lstm", hidden_size=128, num_layers=2)},
                 common=TrainCommon(steps=200, batch_size=64, seq_len=128, warmup_steps=40,
                                    min_lr=0.0003, eval_every=100, checkpoint_every=100,
                                    device="cuda", amp="auto"))
res = train_model(".gpu/tinyshakespeare", out, tp, "lstm", live_dir=None, corpus="tinyshakespeare",
                  progress=False)
print(json.dumps({k: res.summary[k] for k in ("device", "chars_per_s", "best_val_bpc", "params")}))
