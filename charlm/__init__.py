"""charlm: a reproducible pipeline for character-level language models."""

from .core import numerics as _numerics

_numerics.apply()        # before torch and numpy compute anything: see charlm/core/numerics.py

__version__ = "0.1.0"
