"""Stage `ngram@<corpus>`: fit the character n-gram models, pick the order on val, report test.

Writes data/ngram/<corpus>/ (the chosen model: model.json + model.npz, samples/*.txt, and
fit.json, the whole fit and selection record: val/test bpc per smoothing x order, counts,
sizes) and metrics/ngram/<corpus>_orders.tsv (val bpc per order, a plot); the fit's
seconds go to timings/ngram/<corpus>.json (not tracked: they vary run to run).
"""

import shutil

from charlm.core import paths
from charlm.core.entry import run_main, stage_args
from charlm.core.errors import CharlmError
from charlm.core.fsutil import write_json, write_text
from charlm.core.splits import load_split
from charlm.core.vocab import Vocab
from charlm.ngram import pop_timings, write_orders_tsv
from charlm.ngram.select import count, select


def main() -> None:
    args, params = stage_args(__doc__, "corpus")
    cfg = params.ngram
    src = paths.prepared(args.corpus)
    vocab = Vocab.load(src / "vocab.json")
    log = lambda m: print(f"{args.corpus}: {m}", flush=True)   # noqa: E731
    train = load_split(src, "train")
    n_train = len(train)
    try:
        counts, t_count = count(train, vocab, cfg, log)
        del train                                   # the tables hold what the rest needs
        model, record, rows, samples = select(counts, t_count, load_split(src, "val"),
                                              load_split(src, "test"), vocab, cfg, log)
    except MemoryError:
        raise CharlmError(f"out of memory fitting orders 1..{cfg.max_order} on {n_train:,} "
                          f"train chars (docs/ngram.md says what a corpus needs): lower "
                          f"ngram.max_order, or ngram.memory_mb to spill more of the counting "
                          f"to disk") from None
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
