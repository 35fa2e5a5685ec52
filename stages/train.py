"""Stage `train@<corpus>-<model>`: train one neural model (resuming from its checkpoint).

Writes data/models/<corpus>/<model>/ (model.safetensors + config.json with the
best-on-val weights, checkpoint/, summary.json, sample.txt) and the DVCLive log in
metrics/train/<corpus>/<model>/.
"""

import argparse

from charlm import paths
from charlm.cli_util import run_main
from charlm.params import load_params
from charlm.train import train_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("corpus")
    ap.add_argument("model")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    args = ap.parse_args()
    params = load_params(args.params)
    params.corpus(args.corpus)
    result = train_model(paths.prepared(args.corpus), paths.model_dir(args.corpus, args.model),
                         params.train, args.model,
                         live_dir=paths.METRICS / "train" / args.corpus / args.model,
                         corpus=args.corpus, progress=not args.no_progress,
                         log=lambda m: print(m, flush=True))
    s = result.summary
    print(f"{args.corpus}/{args.model}: {s['params']:,} params, {s['train_chars']:,} chars in "
          f"{s['train_seconds']:.1f} s ({s['chars_per_s']:,.0f} chars/s), best val bpc "
          f"{s['best_val_bpc']:.4f} -> {paths.model_dir(args.corpus, args.model)}")


if __name__ == "__main__":
    run_main(main)
