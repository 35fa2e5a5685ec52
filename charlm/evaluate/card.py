"""The model card (README.md) beside each scored model, written by its evaluate stage.

Everything on it comes from what the pipeline wrote and read: the metrics just computed, the
corpus's entry in corpora.yaml (source URLs and checksums), the prepared splits' stats, the
model's own files (config/summary.json, or the n-gram's model.json) and its effective training
params. No text is written by hand per model, so a card fetched on its own (`dvc artifacts
get`) says what the model is, how well it does, how it was made and how to use it.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from pathlib import Path

from ..compare.artifacts import artifact_name
from ..core import paths
from ..core.fsutil import read_json, write_text
from ..core.splits import load_stats
from ..params import Params

# the training settings shown, in this order (the rest of train.common is plumbing)
TRAIN_KEYS = ("seed", "steps", "batch_size", "seq_len", "lr", "warmup_steps", "min_lr",
              "weight_decay", "grad_clip", "dropout", "eval_every", "eval_streams", "device",
              "amp", "nproc", "grad_accum")


def write_card(params: Params, corpus: str, model: str, metrics: dict) -> Path:
    """Write the card of `model` on `corpus` (metrics: what evaluate() returned)."""
    card = ngram_card(params, corpus, metrics) if model == "ngram" \
        else neural_card(params, corpus, model, metrics)
    path = paths.model_card(corpus, model)
    write_text(path, card)
    return path


def neural_card(params: Params, corpus: str, model: str, m: dict) -> str:
    summary = read_json(paths.summary_in(paths.model_dir(corpus, model)))
    run = params.train.effective(model, params.pair_overrides(corpus, model))
    shape = (f"{summary['num_layers']} layer{'s' if summary['num_layers'] > 1 else ''} of "
             f"{summary['hidden_size']} units, {summary['params']:,} parameters")
    if summary["arch"] == "transformer":
        shape = (f"{summary['num_layers']} blocks of width {summary['hidden_size']}, "
                 f"{summary['heads']} heads, a context of {summary['context']} chars, "
                 f"{summary['params']:,} parameters")
    what = f"A character-level {summary['arch'].upper()} language model ({shape})"
    return "\n".join([
        _front(params, corpus, model, m, summary["arch"]),
        f"# {artifact_name(corpus, model)}", "",
        f"{what} trained by charlm on {_corpus_phrase(params, corpus)}.", "",
        *_results(m, f"Its weights are the best on val (step {summary['best_step']:,} of "
                     f"{summary['steps']:,})"),
        *_data(params, corpus),
        "## Model", "", *_table(["setting", "value"], _model_rows(summary)), "",
        "## Training", "", *_table(["setting", "value"], _train_rows(params, corpus, model,
                                                                      run, summary)), "",
        *_curve(summary.get("history") or []),
        *_sample(corpus, model, params),
        *_use(corpus, model, neural=True),
        *_files(["model.safetensors", "config.json", "summary.json"]),
    ])


def ngram_card(params: Params, corpus: str, m: dict) -> str:
    info = read_json(paths.ngram_dir(corpus) / "model.json")
    what = (f"A character-level n-gram language model of order {info['order']} ({info['order']} "
            f"chars of history, {_smoothing(info['smoothing'])}, {int(info['n_grams']):,} "
            "n-grams)")
    ng = params.ngram
    rows = [("order (history chars)", f"{info['order']}, chosen on val among 1..{ng.max_order}"),
            ("smoothing", f"{info['smoothing']} (of {', '.join(ng.smoothings)}; the saved one: "
                          "`ngram.chosen`)"),
            ("kneser_ney discounts", ng.discounts), ("n-grams", f"{int(info['n_grams']):,}"),
            ("train chars", f"{int(info['train_chars']):,}")]
    return "\n".join([
        _front(params, corpus, "ngram", m, "ngram"),
        f"# {artifact_name(corpus, 'ngram')}", "",
        f"{what} counted by charlm on {_corpus_phrase(params, corpus)}.", "",
        *_results(m, "Its order and smoothing were chosen on val"),
        *_data(params, corpus),
        "## Model", "", *_table(["setting", "value"], rows), "",
        *_sample(corpus, "ngram", params),
        *_use(corpus, "ngram", neural=False),
        *_files(["model.npz", "model.json", "fit.json", "samples/"]),
    ])


def _front(params: Params, corpus: str, model: str, m: dict, arch: str) -> str:
    """YAML front matter: the metadata a model hub or a script reads."""
    meta = {"library_name": "charlm", "tags": ["character-level", "language-model", arch],
            "datasets": [corpus], "model_name": artifact_name(corpus, model),
            "metrics": {k: round(m[k], 4) for k in ("val_bpc", "test_bpc", "dynamic_test_bpc")
                        if k in m}}
    lines = ["---"] + [f"{k}: {json.dumps(v, ensure_ascii=False)}" for k, v in meta.items()]
    return "\n".join(lines + ["---", ""])


def _corpus_phrase(params: Params, corpus: str) -> str:
    desc = params.corpus(corpus).description
    return f"`{corpus}`: {desc}" if desc else f"`{corpus}`"


def _smoothing(name: str) -> str:
    return {"kneser_ney": "interpolated Kneser-Ney", "witten_bell": "Witten-Bell",
            "add_k": "add-k", "mle": "unsmoothed"}.get(name, name)


def _results(m: dict, chosen: str) -> list[str]:
    rows = [("val", f"{m['val_bpc']:.4f}", f"{m['val_ppl']:.3f}"),
            ("test", f"{m['test_bpc']:.4f}", f"{m['test_ppl']:.3f}")]
    if "dynamic_test_bpc" in m:
        rows.append(("test, adapting to the text (dynamic evaluation)",
                     f"{m['dynamic_test_bpc']:.4f}", f"{m['dynamic_test_ppl']:.3f}"))
    return ["## Results", "", *_table(["split", "bits per char", "perplexity"], rows), "",
            f"Bits per char: the total -log2 P of the {m['test_chars']:,} test chars (each after "
            "all the chars before it, one stream) over their count; perplexity = 2^bpc. "
            f"{chosen}; test was read once, for these numbers.", ""]


def _data(params: Params, corpus: str) -> list[str]:
    spec, stats = params.corpus(corpus), load_stats(paths.prepared(corpus))
    sources = [(u, f"`{s.sha256}`") for u, s in zip(spec.urls(), spec.sources)]
    sp = stats["splits"]
    split = ", ".join(f"{k} {sp[k]['chars']:,}" for k in ("train", "val", "test"))
    return ["## Data", "", *_table(["source", "sha256"], sources), "",
            f"Unpacked as `{spec.unpack}`, {spec.encoding}: {stats['chars']:,} chars, split in "
            f"contiguous parts (chars: {split}); a vocabulary of {stats['vocab_size']} chars from "
            f"train (test chars outside it: {sp['test']['unknown_rate']:.2%}).", ""]


def _model_rows(s: dict) -> list[tuple]:
    if s["arch"] == "transformer":
        rows = [("architecture", "transformer (decoder-only GPT, pre-LayerNorm)"),
                ("blocks", s["num_layers"]), ("width", s["hidden_size"]), ("heads", s["heads"]),
                ("context (chars)", s["context"]),
                ("input", "token + learned position embeddings, tied to the output layer")]
    else:
        rows = [("architecture", s["arch"]), ("layers", s["num_layers"]),
                ("hidden units per layer", s["hidden_size"]),
                ("input", f"embedding of {s['embedding_dim']}" if s.get("embedding_dim")
                 else "one-hot")]
    return rows + [("vocabulary", s["vocab_size"]), ("parameters", f"{s['params']:,}"),
                   ("weights (fp32)", f"{s['weight_bytes'] / 1e6:.1f} MB")]


def _train_rows(params: Params, corpus: str, model: str, run, s: dict) -> list[tuple]:
    run_d = asdict(run) | {"dropout": s["dropout"], "device": s["device"], "amp": s["amp"]}
    rows = [(k, run_d[k]) for k in TRAIN_KEYS if k in run_d]
    init = params.init_from(corpus, model)
    rows += [("chars trained on", f"{s['train_chars']:,}"), ("numerics", s["numerics"]),
             ("resumed from a checkpoint", s["resumed"])]
    return rows + ([("started from", "/".join(init))] if init else [])


def _curve(history: list[dict]) -> list[str]:
    if not history:
        return []
    rows = [(f"{h['step']:,}", f"{h['chars']:,}", f"{h['val_bpc']:.4f}") for h in history]
    return ["## Validation curve", "", *_table(["step", "chars", "val bpc"], rows), ""]


def _sample(corpus: str, model: str, params: Params) -> list[str]:
    f = paths.sample_file(corpus, model)
    text = f.read_text(encoding="utf-8") if f.is_file() else ""
    if not text:
        return []
    fence = "`" * max(3, _longest_run(text, "`") + 1)
    how = f"drawn from this model by the n-gram stage (seed {params.ngram.seed})" \
        if model == "ngram" else (f"at temperature {params.evaluate.sample.temperature}, seed "
                                  f"{params.evaluate.sample.seed}")
    return ["## Sample", "", f"{len(text):,} chars {how}:", "", fence + "text", text.rstrip("\n"),
            fence, ""]


def _longest_run(text: str, ch: str) -> int:
    """The longest run of `ch` in `text` (0 if none)."""
    return max(map(len, re.findall(f"{re.escape(ch)}+", text)), default=0)


def _use(corpus: str, model: str, neural: bool) -> list[str]:
    name = artifact_name(corpus, model)
    here = "data/models/%s/%s" % (corpus, model) if neural else f"data/ngram/{corpus}"
    lines = ["## Use", "", "```bash",
             f"dvc artifacts get <repository> {name} -o {name}   # this folder, from any clone"]
    if neural:
        lines += [f"charlm sample --checkpoint {name} --prime \"The \" --length 500",
                  f"charlm score --checkpoint {name} text.txt      # bits per char of your text"]
    else:
        lines += [f"charlm score --checkpoint {name} text.txt      # bits per char of your text",
                  f"ls {name}/samples/                               # the lecture's samples"]
    stage = f"evaluate@{corpus}-{model}" if neural else f"evaluate_ngram@{corpus}"
    lines += ["```", "", f"In the charlm repository that made it, the folder is `{here}/`"
              f" (`--corpus {corpus} --model {model}`); `dvc repro {stage}` rebuilds it."]
    if neural:
        lines += ["", "```python", "from charlm.neural.models import load_trained",
                  f"net, vocab, config = load_trained(\"{name}\")   # network in eval mode",
                  "```"]
    return lines + [""]


def _files(names: list[str]) -> list[str]:
    rows = [(f"`{n}`", _file_role(n)) for n in names] + [("`README.md`", "this card")]
    return ["## Files", "", *_table(["file", "what"], rows)]


def _file_role(name: str) -> str:
    return {"model.safetensors": "the best-on-val weights (safetensors, fp32)",
            "config.json": "architecture, sizes and the vocabulary",
            "summary.json": "training summary and val curve",
            "model.npz": "the n-gram's counts and probabilities (numpy, no pickle)",
            "model.json": "order, smoothing, discounts and the vocabulary",
            "fit.json": "the fit of every order and smoothing, and the choice among them",
            "samples/": "the lecture's samples (unsmoothed, orders of `ngram.sample_orders`)"}[name]


def _table(header: list[str], rows: list[tuple]) -> list[str]:
    cell = lambda v: str(v).replace("|", "\\|")  # noqa: E731
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(cell(v) for v in r) + " |" for r in rows)]
