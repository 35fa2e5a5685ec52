"""Where each stage reads and writes: one place, so stages and tests agree."""

from __future__ import annotations

from pathlib import Path

DATA = Path("data")
METRICS = Path("metrics")
SAMPLES = Path("samples")
PLOTS = Path("plots")
TIMINGS = Path("timings")
MIX = "mix"      # the mixture of a corpus's models (stage mix@<corpus>)


def raw_text(corpus: str) -> Path:
    return DATA / "raw" / f"{corpus}.txt"


def download_cache() -> Path:
    return DATA / "cache"


def prepared(corpus: str) -> Path:
    return DATA / "prepared" / corpus


def ngram_dir(corpus: str) -> Path:
    return DATA / "ngram" / corpus


def ngram_fit_file(corpus: str) -> Path:
    """The n-gram stage's fit and selection record (inside its output folder)."""
    return ngram_dir(corpus) / "fit.json"


def ngram_orders_tsv(corpus: str) -> Path:
    """Val bpc per order and smoothing (a plot)."""
    return METRICS / "ngram" / f"{corpus}_orders.tsv"


def ngram_samples(corpus: str) -> Path:
    """The n-gram stage's samples (mle at the sample orders, and the chosen model)."""
    return ngram_dir(corpus) / "samples"


def model_dir(corpus: str, model: str) -> Path:
    """One trained model as a user fetches it: weights, config, training summary and model
    card (README.md), no training state."""
    return DATA / "models" / corpus / model


def checkpoint_dir(corpus: str, model: str) -> Path:
    """The pipeline's resumable training state of one run (outside its model folder)."""
    return DATA / "checkpoints" / corpus / model


def checkpoint_file(ckpt_dir: Path) -> Path:
    """The resumable training state in a checkpoint folder."""
    return Path(ckpt_dir) / "last.safetensors"


def model_card(corpus: str, model: str) -> Path:
    """The model card (README.md) beside the model's files; the n-gram's in its folder."""
    return (ngram_dir(corpus) if model == "ngram" else model_dir(corpus, model)) / "README.md"


def summary_in(model_dir: Path) -> Path:
    """What training measured (sizes, chars, seconds, val history) inside a model's folder."""
    return Path(model_dir) / "summary.json"


def timing_in(ckpt_dir: Path) -> Path:
    """Training seconds and chars/s, beside the checkpoint (untracked: git-ignored, not a
    DVC output)."""
    return Path(ckpt_dir) / "timing.json"


def train_summary(corpus: str, model: str) -> Path:
    return summary_in(model_dir(corpus, model))


def live_dir(corpus: str, model: str) -> Path:
    """DVCLive's log of one training run (train loss, lr, chars/s, val bpc)."""
    return METRICS / "train" / corpus / model


def val_curve(corpus: str, model: str) -> Path:
    """Val bpc per step, as DVCLive writes it under live_dir."""
    return live_dir(corpus, model) / "plots" / "metrics" / "val" / "bpc.tsv"


def metrics_file(corpus: str, model: str) -> Path:
    """What evaluate measured for one model (the report's input)."""
    return METRICS / "eval" / corpus / f"{model}.json"


def sample_file(corpus: str, model: str) -> Path:
    return SAMPLES / corpus / f"{model}.txt"


def eval_dir(corpus: str, model: str) -> Path:
    """Evaluation side outputs that the report reads (the mixture's outside data/eval:
    it reads all of data/eval/<corpus>)."""
    return DATA / "mix" / corpus if model == MIX else DATA / "eval" / corpus / model


def log2p_file(corpus: str, model: str) -> Path:
    """Per-char log2 P of val and test, and the surprise passage's next-char log2 table."""
    return eval_dir(corpus, model) / "log2p.npz"


def surprise_data(corpus: str, model: str) -> Path:
    """Per-char surprise and top predictions on a test passage (the HTML view's data)."""
    return eval_dir(corpus, model) / "surprise.json"


def evaluate_stage(corpus: str, model: str) -> str:
    """The stage that writes metrics_file(corpus, model), a neural model taken as a run of
    run.pairs (a run of run.finetune is scored by evaluate_finetuned@<corpus>-<model>)."""
    return {"ngram": f"evaluate_ngram@{corpus}", MIX: f"mix@{corpus}"}.get(
        model, f"evaluate@{corpus}-{model}")


def summary_file() -> Path:
    return METRICS / "summary.json"



def val_bpc_plot(corpus: str) -> Path:
    """`dvc plots` data: val bpc vs training chars, a series per model."""
    return PLOTS / "val_bpc" / f"{corpus}.tsv"


def ngram_orders_plot() -> Path:
    """`dvc plots` data: the n-gram's val bpc vs order, a series per corpus."""
    return PLOTS / "ngram_orders.tsv"


def timings(stage: str, corpus: str, model: str | None = None) -> Path:
    """Seconds and chars/s of the last run of a stage: neither tracked by git nor a DVC
    output, so a rerun with identical results changes no tracked file."""
    return TIMINGS / stage / (f"{corpus}/{model}.json" if model else f"{corpus}.json")
