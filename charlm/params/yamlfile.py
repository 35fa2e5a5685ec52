"""Reading a params file the way DVC reads it: YAML 1.2 (`1e-3` is a number, `off` a
string), through ruamel.yaml, DVC's own parser; a duplicate key is an error naming its line
instead of the last one silently winning."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..core.errors import ParamsError


def parse_yaml(text: str, where: str) -> Any:
    """The plain data (dicts, lists, scalars) of one YAML 1.2 document."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError
    y = YAML(typ="safe", pure=True)
    y.version = (1, 2)
    y.allow_duplicate_keys = False
    try:
        return y.load(text)
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        at = f" at line {mark.line + 1}" if mark else ""
        what = " ".join(str(e.problem or e.context or "").split())
        if "duplicate key" in what:
            what = "a key given twice: " + what
        raise ParamsError(f"{where}: invalid YAML{at}: {what}") from None
    except YAMLError as e:
        raise ParamsError(f"{where}: invalid YAML: {' '.join(str(e).split())[:200]}") from None


def read_yaml(path: Path) -> Any:
    """A params file's data; every way of failing to read it is a one-line ParamsError."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ParamsError(f"{path}: file not found (run from the repository root)") from None
    except UnicodeDecodeError as e:
        raise ParamsError(f"{path}: not UTF-8 text (byte offset {e.start})") from None
    except OSError as e:
        raise ParamsError(f"{path}: cannot read ({e.strerror or e})") from None
    return parse_yaml(text, str(path))
