"""Stage `train@<corpus>-<model>` (and `finetune@<corpus>-<model>`): train one neural
model, resuming from its checkpoint; a run of run.finetune starts from the best weights
of the run named by its init_from.

Writes data/models/<corpus>/<model>/ (model.safetensors + config.json with the
best-on-val weights, summary.json), the checkpoint data/checkpoints/<corpus>/<model>/
last.safetensors and the DVCLive log in metrics/train/<corpus>/<model>/. With `train.common.nproc: N` (N > 1) the command
re-runs itself under torchrun with N workers (DDP; see charlm/train/distributed.py); it also
runs as `torchrun --nproc_per_node N -m stages.train <corpus> <model>`.

Environment (read here once; torchrun's workers inherit it): CHARLM_FRESH=1 is
--fresh; CHARLM_STOP_AFTER_STEPS=k (and CHARLM_STOP_RANK=r) stop as if SIGTERM arrived
after step k (on rank r only), for the fault tests.
"""

import argparse
import os
import sys

from charlm.core import paths
from charlm.core.device import pick_device
from charlm.core.entry import run_main, stage_args
from charlm.train import distributed
from charlm.train.run import resolve, train_model


def _options(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--progress", choices=("auto", "bar", "lines", "off"), default="auto",
                    help="a tqdm bar, a line every ~10%% of the run, or nothing "
                         "(auto: the bar on a terminal, lines otherwise)")
    ap.add_argument("--fresh", action="store_true",
                    help="move an existing (e.g. corrupt) checkpoint aside to "
                         "last.safetensors.bad-<timestamp> beside it and start afresh "
                         "(same as CHARLM_FRESH=1)")


def _stop_hook(rank: int):
    """CHARLM_STOP_AFTER_STEPS / CHARLM_STOP_RANK as a step hook (None when unset)."""
    after = int(os.environ.get("CHARLM_STOP_AFTER_STEPS", "0") or 0)
    only = os.environ.get("CHARLM_STOP_RANK", "")
    if not after or only not in ("", str(rank)):
        return None
    return lambda done: f"CHARLM_STOP_AFTER_STEPS={after}" if done == after else None


def _init_dir(params, corpus: str, model: str):
    """The trained model a run of run.finetune starts from (None for run.pairs)."""
    source = params.init_from(corpus, model)
    return paths.model_dir(*source) if source else None


def main() -> None:
    args, params = stage_args(__doc__, "corpus", "model", add=_options)
    pair = params.pair_overrides(args.corpus, args.model)
    _, run = resolve(params.train, args.model, pair)       # this run's effective settings
    if run.nproc > 1 and not distributed.under_torchrun():
        # nproc: N -> this same command re-runs itself as N torchrun workers (DDP)
        argv = distributed.torchrun_argv(run.nproc, "stages.train", sys.argv[1:])
        print("launching " + " ".join(argv[1:]), flush=True)
        os.execv(argv[0], argv)
    progress = args.progress
    if progress == "auto":
        progress = "bar" if sys.stderr.isatty() else "lines"
    info = distributed.init(pick_device(run.device, "train.device"))
    try:
        result = train_model(paths.prepared(args.corpus), paths.model_dir(args.corpus, args.model),
                             params.train, args.model,
                             live_dir=paths.live_dir(args.corpus, args.model),
                             corpus=args.corpus, progress=progress,
                             log=lambda m: print(m, flush=True), rank=info.rank,
                             world_size=info.world_size,
                             fresh=args.fresh or os.environ.get("CHARLM_FRESH", "") not in ("", "0"),
                             on_step=_stop_hook(info.rank), pair=pair,
                             init_from=_init_dir(params, args.corpus, args.model),
                             ckpt_dir=paths.checkpoint_dir(args.corpus, args.model))
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
