"""Stage `evaluate@<corpus>-<model>` (and `evaluate_ngram@<corpus>`): score a trained model.

A neural model is scored on the device it trained on (`train.device`; auto: CUDA if
present), exactly: one stateful stream in blocks of 4,096 chars. Models named in
`evaluate.dynamic.pairs`, and the n-gram unless `evaluate.dynamic.ngram.spans` is empty,
are also scored while adapting to the text (dynamic evaluation). Writes metrics/eval/<corpus>/<model>.json, samples/<corpus>/<model>.txt (a neural
model samples with the `evaluate.sample` params; the n-gram's sample comes from its
fit), the surprise-view data data/eval/<corpus>/<model>/surprise.json and the model card
README.md in the model's folder (data/models/<corpus>/<model>/, data/ngram/<corpus>/).
"""

from charlm.core.device import pick_device
from charlm.core.entry import run_main, stage_args
from charlm.evaluate.card import write_card
from charlm.evaluate.run import evaluate


def main() -> None:
    args, params = stage_args(__doc__, "corpus", "model")
    device = "cpu"
    if args.model != "ngram":        # a neural model is scored where it trained (train.device)
        run = params.train.effective(args.model, params.pair_overrides(args.corpus, args.model))
        device = pick_device(run.device, "train.device")
    dynamic = params.evaluate.dynamic           # the n-gram adapts on every corpus (cheap)
    adapt = bool(dynamic.ngram.spans) if args.model == "ngram" \
        else f"{args.corpus}-{args.model}" in dynamic.pairs
    m = evaluate(args.corpus, args.model, params.evaluate.sample, device=device,
                 dynamic=dynamic if adapt else None)
    write_card(params, args.corpus, args.model, m)
    print(f"{args.corpus}/{args.model}: val {m['val_bpc']:.4f} bpc, test {m['test_bpc']:.4f} bpc "
          f"(perplexity {m['test_ppl']:.3f}), {m['eval_chars_per_s']:,.0f} chars/s"
          + (f"; dynamic: val {m['dynamic_val_bpc']:.4f}, test {m['dynamic_test_bpc']:.4f} bpc"
             if "dynamic_test_bpc" in m else ""))


if __name__ == "__main__":
    run_main(main)
