"""Snapshots of the fixture's trees: what a case changed, and putting it back."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
from pathlib import Path


def snapshot(roots: list[Path]) -> dict[str, tuple]:
    """path -> (type, mode, sha256 or link target) of every entry under `roots` (.git left out)."""
    snap: dict[str, tuple] = {}
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            if Path(dirpath) == root and ".git" in dirnames:
                dirnames.remove(".git")
            for d in list(dirnames):
                p = os.path.join(dirpath, d)
                st = os.lstat(p)
                if stat.S_ISLNK(st.st_mode):
                    dirnames.remove(d)
                    snap[p] = ("l", os.readlink(p))
                else:
                    snap[p] = ("d", stat.S_IMODE(st.st_mode))
            for f in filenames:
                p = os.path.join(dirpath, f)
                st = os.lstat(p)
                if stat.S_ISLNK(st.st_mode):
                    snap[p] = ("l", os.readlink(p))
                elif stat.S_ISREG(st.st_mode):
                    h = hashlib.sha256()
                    with open(p, "rb") as fh:
                        for chunk in iter(lambda: fh.read(1 << 20), b""):
                            h.update(chunk)
                    snap[p] = ("f", stat.S_IMODE(st.st_mode), h.hexdigest())
                else:
                    snap[p] = ("o", stat.S_IFMT(st.st_mode))
    return snap


def diff(before: dict, after: dict) -> list[str]:
    return sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))


def _how(before, after) -> str:
    if before is None:
        return "appeared"
    if after is None:
        return "disappeared"
    if before[0] != after[0]:
        return f"changed type ({before[0]} -> {after[0]})"
    return "changed mode" if before[:2] != after[:2] and before[2:] == after[2:] else "changed"


def _force_rmtree(d: Path) -> None:
    if d.is_symlink() or d.is_file():
        d.unlink()
        return
    def onerror(func, path, _):
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(path), 0o755)
            os.chmod(path, 0o755)
        func(path)
    shutil.rmtree(d, onerror=onerror)
