"""Reading a prepared corpus (written by charlm.data.prepare): its splits and stats.

    train = load_split("data/prepared/tinyshakespeare", "train")   # ids, np.uint8/16/32
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import CorpusError
from .fsutil import read_json


def load_split(prepared_dir: str | Path, split: str) -> np.ndarray:
    path = Path(prepared_dir) / f"{split}.npy"
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise CorpusError(f"{path}: not found (run the prepare stage)") from None
    except (ValueError, OSError, EOFError) as e:   # e.g. a pickled object array: never unpickled
        raise CorpusError(f"{path}: unreadable ({str(e).splitlines()[0] if str(e) else type(e).__name__}); "
                          "rerun the prepare stage") from None


def load_stats(prepared_dir: str | Path) -> dict:
    return read_json(Path(prepared_dir) / "stats.json")
