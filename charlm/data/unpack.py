"""From a downloaded file to its bytes: safe unpacking.

`unpack()` reads a source as it was downloaded: plain, bz2, gz, or an archive (zip,
tar, tar.gz, tar.bz2, tar.xz). From an archive, the members named by ``member`` (a
name, an fnmatch glob such as ``*.tex``, in which ``*`` also matches ``/``, or a list
of them) are read into memory, never onto disk, and concatenated in sorted name
order. The whole archive is refused if any member path is absolute, has a ``..`` or
a drive; a match must be a regular file (links are never followed), every pattern
must match something, and the total unpacked size is capped (``max_unpacked_bytes``).

Decoding (strict, in the declared encoding) is charlm.core.inputs.decode.
"""

from __future__ import annotations

import bz2
import fnmatch
import gzip
import io
import lzma
import re
import stat
import tarfile
import typing
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..core.errors import CorpusError

CHUNK = 1 << 20

# --------------------------------------------------------------------------- unpacking

def _copy_capped(f, buf: io.BytesIO, cap: int, what: str) -> None:
    """Append `f` to `buf`, refusing once `buf` (all members so far) exceeds `cap` bytes."""
    while True:
        chunk = f.read(CHUNK)
        if not chunk:
            return
        buf.write(chunk)
        if buf.tell() > cap:
            raise CorpusError(f"{what}: unpacks to more than {cap} bytes (max_unpacked_bytes)")


def _read_capped(f, cap: int, what: str) -> bytes:
    """All of `f`, refused past `cap` bytes."""
    buf = io.BytesIO()
    _copy_capped(f, buf, cap, what)
    return buf.getvalue()


def _safe_member(name: str) -> bool:
    p = Path(name.replace("\\", "/"))
    return not (p.is_absolute() or ".." in p.parts or re.match(r"^[A-Za-z]:", name))


TAR_MODES = {"tar": "r:", "tar.gz": "r:gz", "tar.bz2": "r:bz2", "tar.xz": "r:xz"}


@dataclass
class _Member:
    """One archive member: name, kind ("file" for a regular file, else what it is), declared
    size, and how to open it for reading (only ever called for a regular file)."""
    name: str
    kind: str
    size: int
    open: Callable[[], typing.IO[bytes]]


def _tar_kind(ti: tarfile.TarInfo) -> str:
    """What a tar member is: "file" (regular), "symlink", "hardlink", "directory", ..."""
    if ti.isreg():
        return "file"
    for test, kind in ((ti.issym, "symlink"), (ti.islnk, "hardlink"), (ti.isdir, "directory"),
                       (ti.isfifo, "fifo"), (ti.isdev, "device")):
        if test():
            return kind
    return "special file"


def _tar_members(t: tarfile.TarFile) -> list[_Member]:
    """The members of an open tar, in archive order (links are listed, never followed)."""
    return [_Member(ti.name, _tar_kind(ti), ti.size, lambda ti=ti: t.extractfile(ti))
            for ti in t.getmembers()]


def _zip_members(z: zipfile.ZipFile) -> list[_Member]:
    """The members of an open zip; a unix symlink entry (mode in external_attr) is a link."""
    def kind(zi: zipfile.ZipInfo) -> str:
        if zi.is_dir():
            return "directory"
        return "symlink" if stat.S_ISLNK(zi.external_attr >> 16) else "file"
    return [_Member(zi.filename, kind(zi), zi.file_size, lambda zi=zi: z.open(zi))
            for zi in z.infolist()]


def member_patterns(member: str | list[str] | None) -> list[str]:
    """`member` of a corpus as a list of names/globs."""
    return [member] if isinstance(member, str) else list(member or [])


def _matches(name: str, patterns: list[str]) -> bool:
    """`name` is one of `patterns` or matches one as an fnmatch glob (case-sensitive)."""
    return any(name == p or fnmatch.fnmatchcase(name, p) for p in patterns)


def _select(members: list[_Member], patterns: list[str], how: str, what: str) -> list[_Member]:
    """The members matching any of `patterns` (exact name or fnmatch glob; `*` also
    matches `/`), in archive order, one per name (the last). Refuses the whole archive if
    any member path is unsafe, a pattern matches nothing, or a match is not a regular file."""
    bad = [m.name for m in members if not _safe_member(m.name)]
    if bad:
        raise CorpusError(f"{what}: refusing archive with unsafe member path {bad[0]!r}")
    last = {m.name: m for m in members}
    for p in patterns:
        if not any(_matches(n, [p]) for n in last):
            names = sorted(last)
            listed = ", ".join(names[:5]) + (f", ... ({len(names)} in all)"
                                             if len(names) > 5 else "")
            raise CorpusError(f"{what}: {how} has no member {p!r} "
                              f"(members: {listed or 'none, the archive is empty'})")
    chosen = [m for m in members if last[m.name] is m and _matches(m.name, patterns)]
    odd = [m for m in chosen if m.kind != "file"]
    if odd:
        raise CorpusError(f"{what}: member {odd[0].name!r} is a {odd[0].kind}, not a regular "
                          "file (links are never followed)")
    return chosen


def _read_members(members: list[_Member], cap: int, what: str) -> bytes:
    """The members' bytes (read in archive order), concatenated in sorted name order, with
    `cap` on the total."""
    if sum(m.size for m in members) > cap:     # declared sizes: refuse before reading
        raise CorpusError(f"{what}: unpacks to more than {cap} bytes (max_unpacked_bytes)")
    buf, spans = io.BytesIO(), {}
    for m in members:
        start = buf.tell()
        with m.open() as f:
            _copy_capped(f, buf, cap, what)
        spans[m.name] = (start, buf.tell())
    view = buf.getbuffer()
    try:
        return b"".join(view[a:b] for a, b in (spans[n] for n in sorted(spans)))
    finally:
        view.release()


def _unpack_archive(path: Path, how: str, member: str | list[str] | None, cap: int,
                    what: str) -> bytes:
    """Read the matching members of a zip or tar archive into memory (never onto disk)."""
    patterns = member_patterns(member)
    if not patterns:
        raise CorpusError(f"{what}: unpack {how!r} needs `member` (a name, glob or list)")
    if how == "zip":
        with zipfile.ZipFile(path) as z:                # zipfile checks each member's CRC
            return _read_members(_select(_zip_members(z), patterns, how, what), cap, what)
    with tarfile.open(path, TAR_MODES[how]) as t:
        data = _read_members(_select(_tar_members(t), patterns, how, what), cap, what)
        while how != "tar" and t.fileobj.read(CHUNK):  # to the end of the compressed stream:
            pass                                        # a truncated one raises, a bad CRC too
        return data


def unpack(path: Path, how: str, member: str | list[str] | None, cap: int, what: str) -> bytes:
    """Return the unpacked bytes of a downloaded file (never writes members to disk).

    `how`: plain, bz2, gz, or an archive (zip, tar, tar.gz, tar.bz2, tar.xz) whose members
    matching `member` (a name, a glob, or a list of them) are concatenated in sorted name
    order. At most `cap` bytes in all; errors are one-line CorpusErrors naming `what`.
    """
    try:
        if how == "plain":
            with open(path, "rb") as f:
                return _read_capped(f, cap, what)
        if how == "bz2":
            with bz2.open(path, "rb") as f:
                return _read_capped(f, cap, what)
        if how == "gz":
            with gzip.open(path, "rb") as f:
                return _read_capped(f, cap, what)
        if how == "zip" or how in TAR_MODES:
            return _unpack_archive(path, how, member, cap, what)
    except (OSError, EOFError, zlib.error, lzma.LZMAError, zipfile.BadZipFile, tarfile.TarError,
            ValueError) as e:
        why = f"{e}: {e.__cause__}" if e.__cause__ else str(e)   # tarfile's "not a gzip file"
        raise CorpusError(f"{what}: corrupt {how} archive ({' '.join(why.split())})") from None
    raise CorpusError(f"{what}: unknown unpack method {how!r}")
