"""Thin DVC stage entry points: `python -m stages.<name> ...` (see dvc.yaml)."""
