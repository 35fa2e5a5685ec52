"""charlm: a reproducible pipeline for character-level language models."""

__version__ = "0.1.0"
