"""Stage `download@<corpus>`: fetch, verify and decode a corpus into data/raw/<corpus>.txt.

Mirrors come from $CHARLM_MIRROR (folders or base URLs laid out <host>/<path>);
the URL itself is the last resort.
"""

from charlm.core import paths
from charlm.core.entry import run_main, stage_args
from charlm.core.fsutil import remove_stale_temps
from charlm.data.download import FetchConfig, build_corpus


def main() -> None:
    args, params = stage_args(__doc__, "corpus")
    spec = params.corpus(args.corpus)
    out = paths.raw_text(args.corpus)
    remove_stale_temps(out)
    info = build_corpus(args.corpus, spec, out, paths.download_cache(),
                        cfg=FetchConfig(log=lambda m: print(m, flush=True)))
    print(f"{args.corpus}: {info['chars']:,} chars from {info['sources']} file(s) -> {out}")


if __name__ == "__main__":
    run_main(main)
