"""Where each stage reads and writes: one place, so stages and tests agree."""

from __future__ import annotations

from pathlib import Path

DATA = Path("data")
METRICS = Path("metrics")
SAMPLES = Path("samples")


def raw_text(corpus: str) -> Path:
    return DATA / "raw" / f"{corpus}.txt"


def download_cache() -> Path:
    return DATA / "cache"


def prepared(corpus: str) -> Path:
    return DATA / "prepared" / corpus


def ngram_dir(corpus: str) -> Path:
    return DATA / "ngram" / corpus


def model_dir(corpus: str, model: str) -> Path:
    """Checkpoints, DVCLive logs and the final weights of one trained model."""
    return DATA / "models" / corpus / model


def metrics_file(corpus: str, model: str) -> Path:
    return METRICS / corpus / f"{model}.json"


def sample_file(corpus: str, model: str) -> Path:
    return SAMPLES / corpus / f"{model}.txt"


def eval_dir(corpus: str, model: str) -> Path:
    """Evaluation side outputs (the surprise view's data) that the report reads."""
    return DATA / "eval" / corpus / model


def summary_file() -> Path:
    return METRICS / "summary.json"
