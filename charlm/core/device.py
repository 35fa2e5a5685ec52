"""The device a command runs on: auto, cpu or cuda, checked against what is present."""

from __future__ import annotations

from .errors import CharlmError, ParamsError

DEVICES = ("auto", "cpu", "cuda")


def pick_device(name: str, what: str = "--device") -> str:
    """auto: "cuda" if present, else "cpu"; "cuda" without a GPU is an error naming `what`."""
    if name not in DEVICES:
        raise ParamsError(f"{what}: expected one of {', '.join(DEVICES)}, got {name!r}")
    import torch
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise CharlmError(f"{what} is cuda but no CUDA device is available (use cpu or auto)")
    return name
