"""Stage `evaluate@<corpus>-<model>` (and `evaluate_ngram@<corpus>`): score a trained model.

Writes metrics/eval/<corpus>/<model>.json, samples/<corpus>/<model>.txt (a neural
model samples with the `evaluate.sample` params; the n-gram's sample comes from its
fit) and the surprise-view data data/eval/<corpus>/<model>/surprise.json.
"""

from charlm.cli_util import run_main, stage_args
from charlm.evaluate import evaluate


def main() -> None:
    args, params = stage_args(__doc__, "corpus", "model")
    m = evaluate(args.corpus, args.model, params.evaluate.sample, device="cpu")
    print(f"{args.corpus}/{args.model}: val {m['val_bpc']:.4f} bpc, test {m['test_bpc']:.4f} bpc "
          f"(perplexity {m['test_ppl']:.3f}), {m['eval_chars_per_s']:,.0f} chars/s")


if __name__ == "__main__":
    run_main(main)
