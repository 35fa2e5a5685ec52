"""Stage `ngram@<corpus>`: fit the character n-gram models, pick the order on val, report test.

Writes data/ngram/<corpus>/ (the chosen model: model.json + model.npz, samples/*.txt, and
fit.json, the whole fit and selection record: val/test bpc per smoothing x order, counts,
sizes) and metrics/ngram/<corpus>_orders.tsv (val bpc per order, a plot); the fit's
seconds go to timings/ngram/<corpus>.json (not tracked: they vary run to run).
"""

import shutil

from charlm.core import paths
from charlm.core.entry import run_main, stage_args
from charlm.core.fsutil import write_json, write_text
from charlm.core.splits import load_split
from charlm.core.vocab import Vocab
from charlm.ngram import fit_and_select, pop_timings, write_orders_tsv


def main() -> None:
    args, params = stage_args(__doc__, "corpus")
    cfg = params.ngram
    src = paths.prepared(args.corpus)
    vocab = Vocab.load(src / "vocab.json")
    train, val, test = (load_split(src, s) for s in ("train", "val", "test"))
    model, record, rows, samples = fit_and_select(
        train, val, test, vocab, cfg, log=lambda m: print(f"{args.corpus}: {m}", flush=True))
    out = paths.ngram_dir(args.corpus)
    shutil.rmtree(paths.ngram_samples(args.corpus), ignore_errors=True)
    model.save(out)
    record["model_file_bytes"] = sum(f.stat().st_size for f in out.glob("model.*"))
    for name, text in samples.items():
        write_text(paths.ngram_samples(args.corpus) / f"{name}.txt", text)
    write_json(paths.timings("ngram", args.corpus), pop_timings(record))
    write_json(paths.ngram_fit_file(args.corpus), record)
    write_orders_tsv(paths.ngram_orders_tsv(args.corpus), rows, cfg.smoothings)
    print(f"{args.corpus}: saved {record['smoothing']} order {record['order']} "
          f"(test {record['test_bpc']:.4f} bpc) to {out}")


if __name__ == "__main__":
    run_main(main)
