"""Stage `ngram@<corpus>`: fit the character n-gram models, pick the order on val, report test.

Writes data/ngram/<corpus>/ (the chosen model: model.json + model.npz, and samples/*.txt),
metrics/ngram/<corpus>.json and metrics/ngram/<corpus>_orders.tsv (val bpc per order).
"""

import shutil

from charlm import paths
from charlm.cli_util import run_main, stage_args
from charlm.fsutil import write_json, write_text
from charlm.ngram import fit_and_select, write_orders_tsv
from charlm.prepare import load_split
from charlm.vocab import Vocab


def main() -> None:
    args, params = stage_args(__doc__, "corpus")
    cfg = params.ngram
    src = paths.prepared(args.corpus)
    vocab = Vocab.load(src / "vocab.json")
    train, val, test = (load_split(src, s) for s in ("train", "val", "test"))
    model, metrics, rows, samples = fit_and_select(
        train, val, test, vocab, cfg, log=lambda m: print(f"{args.corpus}: {m}", flush=True))
    out = paths.ngram_dir(args.corpus)
    shutil.rmtree(out / "samples", ignore_errors=True)
    model.save(out)
    metrics["model_file_bytes"] = sum(f.stat().st_size for f in out.glob("model.*"))
    for name, text in samples.items():
        write_text(out / "samples" / f"{name}.txt", text)
    write_json(paths.METRICS / "ngram" / f"{args.corpus}.json", metrics)
    write_orders_tsv(paths.METRICS / "ngram" / f"{args.corpus}_orders.tsv", rows, cfg.smoothings)
    print(f"{args.corpus}: saved {metrics['smoothing']} order {metrics['order']} "
          f"(test {metrics['test_bpc']:.4f} bpc) to {out}")


if __name__ == "__main__":
    run_main(main)
