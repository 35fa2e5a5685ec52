"""Stage `prepare@<corpus>`: contiguous splits, vocabulary (train only), encoded arrays."""

from charlm.core import paths
from charlm.core.entry import run_main, stage_args
from charlm.data.prepare import prepare_text, save_prepared
from charlm.core.inputs import decode


def main() -> None:
    args, params = stage_args(__doc__, "corpus")
    raw = paths.raw_text(args.corpus)
    text = decode(raw.read_bytes(), "utf-8", str(raw))
    vocab, arrays, stats = prepare_text(text, params.prepare.split, args.corpus)
    save_prepared(paths.prepared(args.corpus), vocab, arrays, stats)
    s = stats["splits"]
    print(f"{args.corpus}: vocab {vocab.size} ids; train {s['train']['chars']:,} / "
          f"val {s['val']['chars']:,} / test {s['test']['chars']:,} chars; unknown "
          f"val {s['val']['unknown_chars']} test {s['test']['unknown_chars']}")


if __name__ == "__main__":
    run_main(main)
