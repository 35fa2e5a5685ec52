"""Stage `evaluate@<corpus>-<model>` (and `evaluate_ngram@<corpus>`): score a trained model.

Writes metrics/<corpus>/<model>.json, samples/<corpus>/<model>.txt and the
surprise-view data under data/eval/<corpus>/<model>/.
"""

from charlm.cli_util import run_main, stage_args
from charlm.evaluate import evaluate


def main() -> None:
    args, _ = stage_args(__doc__, "corpus", "model")
    m = evaluate(args.corpus, args.model, device="cpu")
    print(f"{args.corpus}/{args.model}: val {m['val_bpc']:.4f} bpc, test {m['test_bpc']:.4f} bpc "
          f"(perplexity {m['test_ppl']:.3f}), {m['eval_chars_per_s']:,.0f} chars/s")


if __name__ == "__main__":
    run_main(main)
