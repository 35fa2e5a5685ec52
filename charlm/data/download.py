"""Fetching corpora: mirrors first, checksums always, atomic writes, safe unpacking.

A corpus (see `CorpusSpec` in params) is a list of source files, each with a
URL and a sha256. For each source, `fetch()` looks in the mirrors named by
``CHARLM_MIRROR`` (folders or base URLs laid out ``<host>/<path>``, like
``wget --force-directories``), then at the URL itself. Every candidate is
streamed to a temporary file while hashing; only a file whose size matches the
server's Content-Length (and the declared size, if any) and whose sha256 matches
the params is renamed into the cache. Transient failures (timeouts, connection
errors, 5xx, truncated bodies) are retried with exponential backoff; a candidate
that still fails, lacks the file or holds a bad copy is left for the next one,
and when none is left one error line says what each candidate gave. Downloads
over 10 MB show progress on stderr: a tqdm bar on a terminal, else a line about
every 10 % (bytes, MB/s, ETA).

`build_corpus()` unpacks each source (plain, bz2, gz, or members of a zip or tar
archive, by name or glob: charlm.data.unpack), decodes strictly in the declared encoding,
concatenates the sources and writes ``data/raw/<corpus>.txt`` atomically as UTF-8.

Why not pooch: it has hashes, retries and unpacking, but no list of mirror
folders/base URLs tried in order, no cap on unpacked size, and its errors do
not name the mirror, URL and byte offset the way this stage must; the parts we
need are ~200 lines of standard library.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import io
import os
import re
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from ..core.errors import CorpusError, DownloadError
from ..core.fsutil import atomic_open, remove_stale_temps, sha256_file, write_text
from ..params import CorpusSpec
from ..core.inputs import decode
from .unpack import unpack

MIRROR_ENV = "CHARLM_MIRROR"
CHUNK = 1 << 20
DEFAULT_MAX_UNPACKED = 2 << 30   # 2 GiB: refuse archives that unpack beyond this
PROGRESS_MIN_BYTES = 10_000_000  # downloads bigger than this (10 MB) show progress on stderr


@dataclass
class FetchConfig:
    timeout: float = 30.0        # seconds without data before a request is abandoned
    retries: int = 3             # extra attempts for transient failures, per candidate
    backoff: float = 1.0         # seconds; doubled after each failed attempt
    log: Callable[[str], None] = lambda msg: None


class _Transient(Exception):
    """A failure worth retrying (timeout, reset connection, 5xx, short body)."""


class _Failed(Exception):
    """This candidate failed for good (bad copy, refused): no retry, try the next one."""


class _NotThere(_Failed):
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


# --------------------------------------------------------------------------- progress

def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class _Progress:
    """Progress of one download on stderr, only past PROGRESS_MIN_BYTES: a tqdm bar on a
    terminal, else a line each time another ~10 % arrives (every PROGRESS_MIN_BYTES bytes
    when the size is unknown), e.g. for `dvc repro`, which pipes the output."""

    def __init__(self, label: str, total: int | None):
        self.label, self.total, self.done = label, total, 0
        self.stream = sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.step = max(1, total // 10) if total else PROGRESS_MIN_BYTES
        self.shown = 0                     # bytes done at the last line
        self.bar = None
        self.t0 = time.perf_counter()

    def update(self, n: int) -> None:
        self.done += n
        if (self.total if self.total is not None else self.done) <= PROGRESS_MIN_BYTES:
            return
        if self.tty:
            if self.bar is None:
                from tqdm import tqdm
                name = urllib.parse.urlsplit(self.label).path.rsplit("/", 1)[-1] or self.label
                self.bar = tqdm(total=self.total, initial=self.done - n, desc=name, unit="B",
                                unit_scale=True, mininterval=0.5, dynamic_ncols=True,
                                file=self.stream)
            self.bar.update(n)
        elif self._line_due():
            self.stream.write(self.line() + "\n")
            self.stream.flush()
            self.shown = self.done

    def _line_due(self) -> bool:
        """About every 10 %: a line at the end, none within half a step before it."""
        if self.done == self.total:
            return True
        if self.total is not None and self.total - self.done < self.step / 2:
            return False
        return self.done - self.shown >= 0.9 * self.step

    def line(self) -> str:
        elapsed = max(time.perf_counter() - self.t0, 1e-9)
        rate = self.done / elapsed
        if self.total is None:
            return f"download {self.label}: {self.done / 1e6:.1f} MB, {rate / 1e6:.1f} MB/s"
        eta = max(self.total - self.done, 0) / max(rate, 1e-9)
        return (f"download {self.label}: {self.done / 1e6:.1f}/{self.total / 1e6:.1f} MB "
                f"({100 * self.done // max(self.total, 1)}%), {rate / 1e6:.1f} MB/s, "
                f"ETA {_clock(eta)}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# --------------------------------------------------------------------------- fetching

def _stream_to(src: io.BufferedIOBase, dst, expected_len: int | None,
               progress: _Progress) -> tuple[str, int]:
    """Copy `src` to `dst` while hashing; return (sha256, bytes)."""
    h = hashlib.sha256()
    n = 0
    while True:
        try:
            chunk = src.read(CHUNK)
        except http.client.IncompleteRead as e:
            raise _Transient(f"truncated body ({n + len(e.partial)} of "
                             f"{expected_len} bytes)") from None
        except (socket.timeout, TimeoutError):
            raise _Transient("timed out while reading") from None
        except (ConnectionError, OSError) as e:
            raise _Transient(f"connection failed while reading: {e}") from None
        if not chunk:
            break
        h.update(chunk)
        dst.write(chunk)
        n += len(chunk)
        progress.update(len(chunk))
    if expected_len is not None and n != expected_len:
        raise _Transient(f"truncated body ({n} of {expected_len} bytes)")
    return h.hexdigest(), n


def _open_url(candidate: str, cfg: FetchConfig):
    """The response for `candidate`; failures raised as _NotThere/_Transient/_Failed."""
    req = urllib.request.Request(candidate, headers={"User-Agent": "charlm"})
    try:
        return urllib.request.urlopen(req, timeout=cfg.timeout)
    except urllib.error.HTTPError as e:
        if e.code in (404, 410):
            raise _NotThere(f"not found (HTTP {e.code})") from None
        if e.code >= 500 or e.code == 429:
            raise _Transient(f"HTTP {e.code} {e.reason}") from None
        raise _Failed(f"HTTP error {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        if isinstance(e.reason, (socket.timeout, TimeoutError)):
            raise _Transient(f"timed out after {cfg.timeout:g} s") from None
        raise _Transient(f"cannot connect ({e.reason})") from None
    except (socket.timeout, TimeoutError):
        raise _Transient(f"timed out after {cfg.timeout:g} s") from None
    except (ConnectionError, http.client.HTTPException) as e:
        raise _Transient(f"connection failed ({e})") from None
    except ValueError as e:
        raise _Failed(f"bad URL ({e})") from None


def _fetch_once(candidate: str, dst, cfg: FetchConfig, size: int | None) -> tuple[str, int]:
    """Copy one candidate into open file `dst`; return (sha256, bytes)."""
    if "://" not in candidate:
        path = Path(candidate)
        if not path.is_file():
            raise _NotThere("not found")
        try:
            src = open(path, "rb")
        except OSError as e:
            raise _Failed(f"cannot read ({e.strerror or e})") from None
        length = path.stat().st_size
    else:
        src = _open_url(candidate, cfg)
        header = src.headers.get("Content-Length")
        length = int(header) if header and header.isdigit() else None
    progress = _Progress(candidate, size if size is not None else length)
    try:
        with contextlib.closing(src):
            return _stream_to(src, dst, length, progress)
    finally:
        progress.close()


def _try_candidate(candidate: str, dest: Path, sha256: str | None, size: int | None,
                   cfg: FetchConfig) -> str | None:
    """Fetch one candidate into `dest` (atomically, with retries); None, or what went wrong."""
    delay = cfg.backoff
    for attempt in range(1, cfg.retries + 2):
        try:
            with atomic_open(dest, "wb") as f:       # any failure removes the temp file
                actual, n = _fetch_once(candidate, f, cfg, size)
                if size is not None and n != size:
                    raise _Failed(f"truncated ({n} of {size} bytes)" if n < size
                                  else f"{n} bytes, expected {size}")
                if sha256 is not None and actual != sha256:
                    raise _Failed(f"sha256 got {actual}")
            return None
        except _Failed as e:                          # _NotThere included: not retried
            return str(e)
        except _Transient as e:
            if attempt > cfg.retries:
                return f"{e}" + (f" ({attempt} tries)" if attempt > 1 else "")
            cfg.log(f"{candidate}: {e}; retrying in {delay:g} s")
            time.sleep(delay)
            delay *= 2
    return "no attempt made"                          # only with a negative cfg.retries


def _first_good(url: str, mirrors: list[str], dest: Path, sha256: str | None,
                size: int | None, cfg: FetchConfig) -> list[str] | None:
    """Try every mirror, then the URL, into `dest` until one gives a good file (None);
    else what each candidate gave, one line each."""
    candidates = [(f"mirror {c}", c) for c in mirror_candidates(url, mirrors)] + [(url, url)]
    outcomes: list[str] = []
    for i, (label, candidate) in enumerate(candidates):
        outcome = _try_candidate(candidate, dest, sha256, size, cfg)
        if outcome is None:
            cfg.log(f"fetched {url} from {candidate}")
            return None
        outcome = " ".join(outcome.split())           # the error stays one line
        outcomes.append(f"{label}: {outcome}")
        if i + 1 < len(candidates):
            cfg.log(f"{label}: {outcome}; trying the next candidate")
    return outcomes


def fetch(url: str, sha256: str, dest: Path, mirrors: list[str] | None = None,
          cfg: FetchConfig | None = None, size: int | None = None,
          what: str | None = None) -> Path:
    """Fetch `url` (mirrors first) to `dest`, verified against `sha256`, atomically.

    Each candidate (every mirror, then the URL) is tried in turn until one gives a file
    with the right sha256 (and `size` bytes, if given); a bad copy, a missing file or a
    failure left after the retries moves on to the next. If `dest` already exists with
    the right hash it is reused. `what` names the download in the error (a corpus).
    """
    cfg = cfg or FetchConfig()
    if mirrors is None:
        mirrors = parse_mirrors(os.environ.get(MIRROR_ENV))
    dest = Path(dest)
    remove_stale_temps(dest)          # leftovers of a killed earlier run
    if dest.is_file() and sha256_file(dest) == sha256:
        return dest
    outcomes = _first_good(url, mirrors, dest, sha256, size, cfg)
    if outcomes is None:
        return dest
    name = what or urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1] or url
    hint = "" if mirrors else f" (no mirror set: export {MIRROR_ENV}=<folder or base URL>)"
    raise DownloadError(f"download {name}: no candidate gave the expected file "
                        f"(sha256 {sha256}){hint}: " + "; ".join(outcomes))


def fetch_unverified(url: str, cache_dir: Path, mirrors: list[str] | None = None,
                     cfg: FetchConfig | None = None) -> tuple[str, int]:
    """Fetch a file whose sha256 is not known yet (`charlm corpus add`): the first
    candidate (mirrors, then the URL) that gives a whole file is stored in `cache_dir`
    under its sha256; returns (sha256, bytes). A local path is read as it is. Transient
    failures are retried as in `fetch`."""
    cfg = cfg or FetchConfig()
    if "://" not in url:
        mirrors = []
    elif mirrors is None:
        mirrors = parse_mirrors(os.environ.get(MIRROR_ENV))
    incoming = Path(cache_dir) / f"incoming-{os.getpid()}"
    outcomes = _first_good(url, mirrors, incoming, None, None, cfg)
    if outcomes is not None:
        raise DownloadError(f"download {url}: no candidate gave a file: " + "; ".join(outcomes))
    sha, n = sha256_file(incoming), incoming.stat().st_size
    os.replace(incoming, Path(cache_dir) / sha)
    return sha, n


# --------------------------------------------------------------------------- corpus

def build_corpus(name: str, spec: CorpusSpec, out: Path, cache_dir: Path,
                 mirrors: list[str] | None = None, cfg: FetchConfig | None = None,
                 max_unpacked_bytes: int = DEFAULT_MAX_UNPACKED) -> dict:
    """Fetch, verify, unpack and decode every source; write `out` atomically (UTF-8)."""
    cfg = cfg or FetchConfig()
    texts = []
    for url, src in zip(spec.urls(), spec.sources):
        size = getattr(src, "bytes", None)    # a declared size, where the entry has one
        cached = fetch(url, src.sha256, cache_dir / src.sha256, mirrors, cfg, size, name)
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


__all__ = ["FetchConfig", "build_corpus", "fetch", "fetch_unverified", "parse_mirrors", "mirror_candidates",
           "unpack", "decode", "sha256_file"]
