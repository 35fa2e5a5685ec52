"""Param sections of the later stages (ngram, train, evaluate, report).

Each is a dataclass registered with `register_section`, validated by
`charlm.params.load_params` before any work starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional

from .params import positive, register_section
