"""Stage `mix@<corpus>`: the mixture of the corpus's n-gram and neural models.

Fits the mixture weights on val (EM), scores test once with them, and writes
metrics/eval/<corpus>/mix.json (the weights included) and the surprise-view data
data/mix/<corpus>/surprise.json; see charlm/compare/mix.py.
"""

from charlm.compare.mix import mix_corpus
from charlm.core import paths
from charlm.core.entry import run_main, stage_args
from charlm.core.fsutil import write_json
from charlm.core.splits import load_split
from charlm.core.surprise import surprise_data
from charlm.core.vocab import Vocab


def main() -> None:
    args, params = stage_args(__doc__, "corpus")
    models = ["ngram", *params.models_of(args.corpus)]
    metrics, table, bits = mix_corpus(args.corpus, models)
    write_json(paths.metrics_file(args.corpus, paths.MIX), metrics)
    prepared = paths.prepared(args.corpus)
    passage = load_split(prepared, "test")[:len(table)]
    view = surprise_data(table, Vocab.load(prepared / "vocab.json"), passage)
    view["bits"] = (-bits).round(3).tolist()        # exact, dynamic components included
    write_json(paths.surprise_data(args.corpus, paths.MIX), view)
    weights = ", ".join(f"{m} {w:.3f}" for m, w in metrics["weights"].items())
    print(f"{args.corpus}/mix: val {metrics['val_bpc']:.4f}, test {metrics['test_bpc']:.4f} bpc "
          f"(weights on val: {weights}; {metrics['em_iterations']} EM steps)")


if __name__ == "__main__":
    run_main(main)
