"""Stage `train@<corpus>-<model>`: train one neural model (resuming from its checkpoint).

Writes data/models/<corpus>/<model>/ (model.safetensors + config.json with the
best-on-val weights, checkpoint/, summary.json, sample.txt) and the DVCLive log in
metrics/train/<corpus>/<model>/. With `train.nproc: N` (N > 1) the command re-runs
itself under torchrun with N workers (DDP; see charlm/distributed.py); it also runs
as `torchrun --nproc_per_node N -m stages.train <corpus> <model>`.
"""

import argparse
import os
import sys

from charlm import distributed, paths
from charlm.cli_util import run_main, stage_args
from charlm.train import FRESH_ENV, pick_device, train_model


def _options(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    ap.add_argument("--fresh", action="store_true",
                    help="move an existing (e.g. corrupt) checkpoint aside to "
                         "checkpoint/last.safetensors.bad-<timestamp> and start afresh "
                         "(same as CHARLM_FRESH=1)")


def main() -> None:
    args, params = stage_args(__doc__, "corpus", "model", add=_options)
    if args.fresh:
        os.environ[FRESH_ENV] = "1"
    if params.train.nproc > 1 and not distributed.under_torchrun():
        # train.nproc: N -> this same command re-runs itself as N torchrun workers (DDP)
        argv = distributed.torchrun_argv(params.train.nproc, "stages.train", sys.argv[1:])
        print("launching " + " ".join(argv[1:]), flush=True)
        os.execv(argv[0], argv)
    info = distributed.init(pick_device(params.train.device).type)
    try:
        result = train_model(paths.prepared(args.corpus), paths.model_dir(args.corpus, args.model),
                             params.train, args.model,
                             live_dir=paths.METRICS / "train" / args.corpus / args.model,
                             corpus=args.corpus, progress=not args.no_progress,
                             log=lambda m: print(m, flush=True),
                             rank=info.rank, world_size=info.world_size)
    finally:
        distributed.shutdown()
    if not info.is_main:
        return
    s = result.summary
    print(f"{args.corpus}/{args.model}: {s['params']:,} params, {s['train_chars']:,} chars in "
          f"{s['train_seconds']:.1f} s ({s['chars_per_s']:,.0f} chars/s), best val bpc "
          f"{s['best_val_bpc']:.4f} -> {paths.model_dir(args.corpus, args.model)}")


if __name__ == "__main__":
    run_main(main)
