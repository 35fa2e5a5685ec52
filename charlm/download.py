"""Fetching corpora: mirrors first, checksums always, atomic writes, safe unpacking.

A corpus (see `CorpusSpec` in params) is a list of source files, each with a
URL and a sha256. For each source, `fetch()` looks in the mirrors named by
``CHARLM_MIRROR`` (folders or base URLs laid out ``<host>/<path>``, like
``wget --force-directories``), then at the URL itself. Every candidate is
streamed to a temporary file while hashing; only a file whose size matches the
server's Content-Length and whose sha256 matches the params is renamed into the
cache. Transient failures (timeouts, connection errors, 5xx, truncated bodies)
are retried with exponential backoff.

`build_corpus()` unpacks (plain, bz2, gz, or one zip member, with a cap on the
unpacked size and no path traversal), decodes strictly in the declared encoding
(the byte offset of the first bad byte is reported), concatenates the sources
and writes ``data/raw/<corpus>.txt`` atomically as UTF-8.

Why not pooch: it has hashes, retries and unpacking, but no list of mirror
folders/base URLs tried in order, no cap on unpacked size, and its errors do
not name the mirror, URL and byte offset the way this stage must; the parts we
need are ~200 lines of standard library.
"""

from __future__ import annotations

import bz2
import contextlib
import hashlib
import http.client
import io
import os
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from .errors import CorpusError, DownloadError
from .fsutil import atomic_open, remove_stale_temps, write_text
from .params import CorpusSpec

MIRROR_ENV = "CHARLM_MIRROR"
CHUNK = 1 << 20
DEFAULT_MAX_UNPACKED = 2 << 30   # 2 GiB: refuse archives that unpack beyond this


@dataclass
class FetchConfig:
    timeout: float = 30.0        # seconds without data before a request is abandoned
    retries: int = 3             # extra attempts for transient failures, per candidate
    backoff: float = 1.0         # seconds; doubled after each failed attempt
    log: Callable[[str], None] = lambda msg: None


class _Transient(Exception):
    """A failure worth retrying (timeout, reset connection, 5xx, short body)."""


class _NotThere(Exception):
    """The candidate does not have the file (404, missing mirror file)."""


# --------------------------------------------------------------------------- mirrors

def parse_mirrors(value: str | None) -> list[str]:
    """Split a ``:``-separated mirror list without breaking ``http://host:port/``."""
    if not value:
        return []
    parts = value.split(":")
    out: list[str] = []
    for part in parts:
        if out and (part.startswith("//") or re.match(r"\d+(/|$)", part)):
            out[-1] += ":" + part      # scheme separator or port number
        else:
            out.append(part)
    return [p for p in (s.strip() for s in out) if p]


def mirror_candidates(url: str, mirrors: Iterable[str]) -> list[str]:
    """Where each mirror would hold `url`: ``<mirror>/<host>/<path>``."""
    parsed = urllib.parse.urlsplit(url)
    rel = parsed.netloc + urllib.parse.unquote(parsed.path)
    out = []
    for m in mirrors:
        if "://" in m:
            out.append(m.rstrip("/") + "/" + urllib.parse.quote(rel, safe="/:@"))
        else:
            out.append(str(Path(m).expanduser() / rel))
    return out


# --------------------------------------------------------------------------- fetching

def _stream_to(src: io.BufferedIOBase, dst, expected_len: int | None, where: str) -> str:
    h = hashlib.sha256()
    n = 0
    while True:
        try:
            chunk = src.read(CHUNK)
        except http.client.IncompleteRead as e:
            raise _Transient(f"{where}: truncated body ({n + len(e.partial)} of "
                             f"{expected_len} bytes)") from None
        except (socket.timeout, TimeoutError):
            raise _Transient(f"{where}: timed out while reading") from None
        except (ConnectionError, OSError) as e:
            raise _Transient(f"{where}: connection failed while reading: {e}") from None
        if not chunk:
            break
        h.update(chunk)
        dst.write(chunk)
        n += len(chunk)
    if expected_len is not None and n != expected_len:
        raise _Transient(f"{where}: truncated body ({n} of {expected_len} bytes)")
    return h.hexdigest()


def _fetch_once(candidate: str, dst, cfg: FetchConfig) -> str:
    """Copy one candidate into open file `dst`; return its sha256."""
    if "://" not in candidate:
        path = Path(candidate)
        if not path.is_file():
            raise _NotThere(candidate)
        with open(path, "rb") as f:
            return _stream_to(f, dst, path.stat().st_size, candidate)
    req = urllib.request.Request(candidate, headers={"User-Agent": "charlm"})
    try:
        resp = urllib.request.urlopen(req, timeout=cfg.timeout)
    except urllib.error.HTTPError as e:
        if e.code in (404, 410):
            raise _NotThere(f"{candidate}: HTTP {e.code}") from None
        if e.code >= 500 or e.code == 429:
            raise _Transient(f"{candidate}: HTTP {e.code} {e.reason}") from None
        raise DownloadError(f"{candidate}: HTTP error {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        if isinstance(e.reason, (socket.timeout, TimeoutError)):
            raise _Transient(f"{candidate}: timed out after {cfg.timeout:g} s") from None
        raise _Transient(f"{candidate}: cannot connect ({e.reason})") from None
    except (socket.timeout, TimeoutError):
        raise _Transient(f"{candidate}: timed out after {cfg.timeout:g} s") from None
    except (ConnectionError, http.client.HTTPException) as e:
        raise _Transient(f"{candidate}: connection failed ({e})") from None
    with contextlib.closing(resp):
        length = resp.headers.get("Content-Length")
        return _stream_to(resp, dst, int(length) if length and length.isdigit() else None,
                          candidate)


def fetch(url: str, sha256: str, dest: Path, mirrors: list[str] | None = None,
          cfg: FetchConfig | None = None) -> Path:
    """Fetch `url` (mirrors first) to `dest`, verified against `sha256`, atomically.

    If `dest` already exists with the right hash it is reused.
    """
    cfg = cfg or FetchConfig()
    if mirrors is None:
        mirrors = parse_mirrors(os.environ.get(MIRROR_ENV))
    dest = Path(dest)
    remove_stale_temps(dest)          # leftovers of a killed earlier run
    if dest.is_file() and sha256_file(dest) == sha256:
        return dest
    candidates = mirror_candidates(url, mirrors) + [url]
    failures: list[str] = []
    for candidate in candidates:
        delay = cfg.backoff
        for attempt in range(cfg.retries + 1):
            try:
                with atomic_open(dest, "wb") as f:
                    actual = _fetch_once(candidate, f, cfg)
                    if actual != sha256:
                        raise DownloadError(
                            f"checksum mismatch for {url} (from {candidate}): "
                            f"expected sha256 {sha256}, got {actual}")
                cfg.log(f"fetched {url} from {candidate}")
                return dest
            except _NotThere as e:
                failures.append(f"not found: {e}")
                break
            except _Transient as e:
                failures.append(str(e))
                if attempt < cfg.retries:
                    cfg.log(f"{e}; retrying in {delay:g} s")
                    time.sleep(delay)
                    delay *= 2
    if not failures:
        failures.append("no candidates")
    tried = "; ".join(failures[-3:])
    hint = "" if mirrors else f" (no mirror set: export {MIRROR_ENV}=<folder or base URL>)"
    raise DownloadError(f"could not fetch {url}{hint}: {tried}")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------- unpacking

def _read_capped(f, cap: int, what: str) -> bytes:
    buf = io.BytesIO()
    while True:
        chunk = f.read(CHUNK)
        if not chunk:
            return buf.getvalue()
        buf.write(chunk)
        if buf.tell() > cap:
            raise CorpusError(f"{what}: unpacks to more than {cap} bytes (max_unpacked_bytes)")


def _safe_member(name: str) -> bool:
    p = Path(name.replace("\\", "/"))
    return not (p.is_absolute() or ".." in p.parts or re.match(r"^[A-Za-z]:", name))


def unpack(path: Path, how: str, member: str | None, cap: int, what: str) -> bytes:
    """Return the unpacked bytes of a downloaded file (never writes members to disk)."""
    try:
        if how == "plain":
            with open(path, "rb") as f:
                return _read_capped(f, cap, what)
        if how == "bz2":
            with bz2.open(path, "rb") as f:
                return _read_capped(f, cap, what)
        if how == "gz":
            import gzip
            with gzip.open(path, "rb") as f:
                return _read_capped(f, cap, what)
        if how == "zip":
            with zipfile.ZipFile(path) as z:
                bad = [n for n in z.namelist() if not _safe_member(n)]
                if bad:
                    raise CorpusError(f"{what}: refusing archive with unsafe member path {bad[0]!r}")
                if member not in z.namelist():
                    raise CorpusError(f"{what}: zip has no member {member!r} "
                                      f"(members: {', '.join(z.namelist()[:5])})")
                with z.open(member) as f:
                    return _read_capped(f, cap, what)
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile, ValueError) as e:
        raise CorpusError(f"{what}: corrupt {how} archive ({e})") from None
    raise CorpusError(f"{what}: unknown unpack method {how!r}")


# --------------------------------------------------------------------------- decoding

_BOMS = {b"\xff\xfe": "UTF-16 (little-endian BOM)", b"\xfe\xff": "UTF-16 (big-endian BOM)"}


def decode(data: bytes, encoding: str, what: str) -> str:
    """Strictly decode `data`; errors name the byte offset and what was found."""
    enc = encoding.lower().replace("_", "-")
    if enc in ("utf-8", "utf8"):
        for bom, name in _BOMS.items():
            if data.startswith(bom):
                raise CorpusError(f"{what}: file is {name} but declared as {encoding}; "
                                  "set `encoding: utf-16` for this corpus or convert it")
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
    try:
        text = data.decode(encoding, errors="strict")
    except UnicodeDecodeError as e:
        raise CorpusError(f"{what}: invalid {encoding} at byte offset {e.start} "
                          f"(byte 0x{data[e.start]:02x}: {e.reason})") from None
    nul = text.find("\x00")
    if nul >= 0:
        raise CorpusError(f"{what}: NUL character at char offset {nul}: not a text file?")
    return text


# --------------------------------------------------------------------------- corpus

def build_corpus(name: str, spec: CorpusSpec, out: Path, cache_dir: Path,
                 mirrors: list[str] | None = None, cfg: FetchConfig | None = None,
                 max_unpacked_bytes: int = DEFAULT_MAX_UNPACKED) -> dict:
    """Fetch, verify, unpack and decode every source; write `out` atomically (UTF-8)."""
    cfg = cfg or FetchConfig()
    texts = []
    for url, src in zip(spec.urls(), spec.sources):
        cached = fetch(url, src.sha256, cache_dir / src.sha256, mirrors, cfg)
        data = unpack(cached, spec.unpack, spec.member, max_unpacked_bytes, url)
        texts.append(decode(data, spec.encoding, url))
    text = "".join(texts)
    if spec.max_chars is not None:
        text = text[: spec.max_chars]
    if not text:
        raise CorpusError(f"corpus {name!r} is empty")
    write_text(out, text)
    return {"corpus": name, "sources": len(spec.sources), "chars": len(text),
            "bytes_utf8": len(text.encode("utf-8"))}


__all__ = ["FetchConfig", "build_corpus", "fetch", "parse_mirrors", "mirror_candidates",
           "unpack", "decode", "sha256_file"]
