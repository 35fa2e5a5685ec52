"""Reading an input file one way everywhere: "-" is stdin, a directory or a missing file
is a one-line error, a size cap for what is read whole, strict UTF-8 whose errors say what
the bytes look like (a gzip file, UTF-16, ...)."""

from __future__ import annotations

import sys
from pathlib import Path

from .errors import CharlmError, CorpusError

MIB = 1 << 20


def read_input(path: str, flag: str, cap: int, stdin_ok: bool = True) -> bytes:
    """The bytes of an input file ("-": stdin), read whole, at most `cap` bytes."""
    what = f"{flag} {path}" if flag.startswith("-") else path
    if path == "-":
        if not stdin_ok:
            raise CharlmError(f"{flag}: '-' (stdin) is not supported here; give a file")
        data = sys.stdin.buffer.read(cap + 1)
    else:
        p = Path(path)
        if p.is_dir():
            raise CharlmError(f"{what}: is a directory, not a file")
        try:
            with open(p, "rb") as f:
                data = f.read(cap + 1)
        except FileNotFoundError:
            raise CharlmError(f"{what}: no such file") from None
        except OSError as e:
            raise CharlmError(f"{what}: cannot read ({e.strerror or e})") from None
    if len(data) > cap:
        raise CharlmError(f"{what}: larger than {cap / MIB:g} MiB, the most read whole here")
    return data


def encoding_problem(name: str) -> str | None:
    """Why `name` cannot decode bytes to text (None when it can): unknown, or a codec of
    bytes to bytes or str to str (hex, base64, zlib, rot13, uu...)."""
    import codecs
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError, TypeError):   # ValueError: e.g. a NUL in the name
        return f"unknown encoding {name!r}"
    if not getattr(info, "_is_text_encoding", True):
        return f"{name!r} is not a text encoding (it does not decode bytes to text)"
    return None


_BOMS = {b"\xff\xfe": "UTF-16 (little-endian BOM)", b"\xfe\xff": "UTF-16 (big-endian BOM)"}


def decode(data: bytes, encoding: str, what: str) -> str:
    """Strictly decode `data` (a UTF-8 byte-order mark dropped); errors name the byte
    offset and, when the bytes are not text at all, what they look like; a NUL is refused
    the same way everywhere (corpora, texts to score, primes)."""
    enc = encoding.lower().replace("_", "-")
    if enc in ("utf-8", "utf8"):
        for bom, bom_name in _BOMS.items():
            if data.startswith(bom):
                raise CorpusError(f"{what}: file is {bom_name}, not {encoding}; convert it "
                                  "(a corpus may also declare `encoding: utf-16`)")
    try:
        text = data.decode(encoding, errors="strict")
    except UnicodeDecodeError as e:
        looks = looks_like(data)
        hint = f"; the file looks like {looks}" if looks else ""
        raise CorpusError(f"{what}: invalid {encoding} at byte offset {e.start} "
                          f"(byte 0x{data[e.start]:02x}: {e.reason}){hint}") from None
    if enc in ("utf-8", "utf8") and text.startswith("\ufeff"):
        text = text[1:]                     # the byte-order mark (offsets above count it)
    nul = text.find("\x00")
    if nul >= 0:
        raise CorpusError(f"{what}: NUL character at char offset {nul}: not a text file?")
    return text


# What a file's first bytes say it is (compressed archives and other encodings).
MAGIC = [(b"\x1f\x8b", "gzip data (.gz, .tar.gz)"), (b"BZh", "bzip2 data (.bz2, .tar.bz2)"),
         (b"\xfd7zXZ\x00", "xz data (.tar.xz)"), (b"PK\x03\x04", "a zip archive"),
         (b"\xff\xfe", "UTF-16 text (little-endian)"), (b"\xfe\xff", "UTF-16 text (big-endian)")]


def looks_like(data: bytes) -> str | None:
    head = data[:8]
    for magic, what in MAGIC:
        if head.startswith(magic):
            return what
    if len(data) > 262 and data[257:262] == b"ustar":
        return "a tar archive"
    return None
