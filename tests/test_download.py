"""Download stage: mirrors, checksums, retries, timeouts, unpacking, decoding.

Network behaviour is tested against a real HTTP server on 127.0.0.1 (conftest.LocalServer).
"""

from __future__ import annotations

import bz2
import io
import re
import sys
import zipfile

import pytest

from charlm.data import download
from charlm.data.download import (FetchConfig, build_corpus, decode, fetch, mirror_candidates,
                             parse_mirrors, unpack)
from charlm.core.errors import CorpusError, DownloadError
from charlm.params import from_dict, CorpusSpec

from helpers import sha256

FAST = FetchConfig(timeout=1.0, retries=1, backoff=0.01)
TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n".encode()


def test_fetch_success_and_reuse(server, tmp_path):
    url = server.serve("/a/input.txt", TEXT)
    dest = fetch(url, sha256(TEXT), tmp_path / "x", mirrors=[], cfg=FAST)
    assert dest.read_bytes() == TEXT
    fetch(url, sha256(TEXT), tmp_path / "x", mirrors=[], cfg=FAST)   # cached: no new request
    assert server.hits("/a/input.txt") == 1


def test_mirror_folder_hit_without_network(tmp_path):
    url = "http://unreachable.invalid/data/input.txt"
    mirror = tmp_path / "mirror"
    (mirror / "unreachable.invalid" / "data").mkdir(parents=True)
    (mirror / "unreachable.invalid" / "data" / "input.txt").write_bytes(TEXT)
    dest = fetch(url, sha256(TEXT), tmp_path / "out", mirrors=[str(mirror)], cfg=FAST)
    assert dest.read_bytes() == TEXT


def test_mirror_base_url_then_fallback_to_url(server, tmp_path):
    # the HTTP mirror lacks the file (404) -> the URL itself is used
    url = server.serve("/direct/input.txt", TEXT)
    dest = fetch(url, sha256(TEXT), tmp_path / "out", mirrors=[server.base + "/mirror"], cfg=FAST)
    assert dest.read_bytes() == TEXT
    # now the mirror has it: it is preferred over the URL
    host = url.split("/")[2]
    server.serve(f"/mirror/{host}/direct/input.txt", TEXT)
    fetch(url, sha256(TEXT), tmp_path / "out2", mirrors=[server.base + "/mirror"], cfg=FAST)
    assert server.hits(f"/mirror/{host}/direct/input.txt") == 2   # the 404, then the hit
    assert server.hits("/direct/input.txt") == 1


def test_parse_mirrors_keeps_urls_and_ports():
    assert parse_mirrors("../shared/corpora:http://127.0.0.1:8000/m:/abs") == [
        "../shared/corpora", "http://127.0.0.1:8000/m", "/abs"]
    assert parse_mirrors("") == []
    assert mirror_candidates("https://h.org/a/b.txt", ["/m", "http://x/y/"]) == [
        "/m/h.org/a/b.txt", "http://x/y/h.org/a/b.txt"]


def test_404_is_a_clear_error_and_leaves_nothing(server, tmp_path):
    url = server.base + "/missing.txt"
    with pytest.raises(DownloadError, match=r"^download missing.txt: no candidate gave the "
                       r"expected file .*/missing.txt: not found \(HTTP 404\)$"):
        fetch(url, sha256(TEXT), tmp_path / "out", mirrors=[], cfg=FAST)
    assert list(tmp_path.iterdir()) == []


def test_checksum_mismatch_names_url_expected_actual(server, tmp_path):
    url = server.serve("/input.txt", TEXT)
    wrong = "0" * 64
    with pytest.raises(DownloadError) as e:
        fetch(url, wrong, tmp_path / "out", mirrors=[], cfg=FAST)
    msg = str(e.value)
    assert url in msg and wrong in msg and sha256(TEXT) in msg
    assert list(tmp_path.iterdir()) == []


def test_truncated_body_is_retried_then_refused(server, tmp_path):
    url = server.serve("/trunc.txt", TEXT, kind="truncated")
    with pytest.raises(DownloadError, match="truncated"):
        fetch(url, sha256(TEXT), tmp_path / "out", mirrors=[], cfg=FAST)
    assert server.hits("/trunc.txt") == 2          # first try + one retry
    assert list(tmp_path.iterdir()) == []


def test_slow_server_times_out(server, tmp_path):
    url = server.serve("/slow.txt", TEXT, kind="slow", delay=2.0)
    cfg = FetchConfig(timeout=0.3, retries=0, backoff=0.01)
    with pytest.raises(DownloadError, match="timed out"):
        fetch(url, sha256(TEXT), tmp_path / "out", mirrors=[], cfg=cfg)
    assert list(tmp_path.iterdir()) == []


def test_retry_after_one_failure(server, tmp_path):
    url = server.serve("/flaky.txt", TEXT, kind="fail_once")
    dest = fetch(url, sha256(TEXT), tmp_path / "out", mirrors=[], cfg=FAST)
    assert dest.read_bytes() == TEXT
    assert server.hits("/flaky.txt") == 2


def test_client_error_is_not_retried(server, tmp_path):
    url = server.serve("/forbidden.txt", kind="status", status=403)
    with pytest.raises(DownloadError, match="HTTP error 403"):
        fetch(url, sha256(TEXT), tmp_path / "out", mirrors=[], cfg=FAST)
    assert server.hits("/forbidden.txt") == 1


def test_no_network_no_mirror(tmp_path):
    # a closed local port: connection refused, retried, then a clear error with a hint
    with pytest.raises(DownloadError, match="no mirror set"):
        fetch("http://127.0.0.1:9/x.txt", sha256(TEXT), tmp_path / "out", mirrors=[], cfg=FAST)


# --------------------------------------------------------------------------- progress

BIG = bytes(range(256)) * (10_500_000 // 256)       # 10.5 MB: over the 10 MB threshold
LINE = re.compile(r"^download (\S+): (\d+\.\d)/(\d+\.\d) MB \((\d+)%\), \d+\.\d MB/s, "
                  r"ETA \d+:\d\d$")


def test_big_download_prints_progress_lines_without_a_tty(server, tmp_path, capsys):
    assert len(BIG) > download.PROGRESS_MIN_BYTES == 10_000_000
    url = server.serve("/big.bin", BIG)
    dest = fetch(url, sha256(BIG), tmp_path / "big", mirrors=[], cfg=FAST)
    assert dest.read_bytes() == BIG
    lines = capsys.readouterr().err.splitlines()
    assert 5 <= len(lines) <= 11, lines                   # about one per 10 %, never more
    parsed = [LINE.match(line) for line in lines]
    assert all(parsed), lines
    assert {m.group(1) for m in parsed} == {url}
    assert {m.group(3) for m in parsed} == {f"{len(BIG) / 1e6:.1f}"}
    percents = [int(m.group(4)) for m in parsed]
    assert percents == sorted(set(percents)) and percents[-1] == 100
    assert all(b - a >= 9 for a, b in zip(percents, percents[1:])), percents


def test_small_download_prints_no_progress(server, tmp_path, capsys):
    url = server.serve("/small.bin", BIG[:1_000_000])
    fetch(url, sha256(BIG[:1_000_000]), tmp_path / "small", mirrors=[], cfg=FAST)
    assert capsys.readouterr().err == ""


def test_progress_bar_on_a_tty_and_lines_when_the_size_is_unknown(tmp_path, monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True
    monkeypatch.setattr(download, "PROGRESS_MIN_BYTES", 100_000)
    mirror = tmp_path / "m"
    (mirror / "h.org").mkdir(parents=True)
    (mirror / "h.org" / "f.bin").write_bytes(BIG[:300_000])
    tty = Tty()
    monkeypatch.setattr(sys, "stderr", tty)
    fetch("http://h.org/f.bin", sha256(BIG[:300_000]), tmp_path / "out", mirrors=[str(mirror)],
          cfg=FAST)
    assert "f.bin: 100%|" in tty.getvalue() and "download " not in tty.getvalue()
    out = io.StringIO()                                   # no tty, no known size: every 100 kB
    monkeypatch.setattr(sys, "stderr", out)
    p = download._Progress("http://h.org/g.bin", None)
    for _ in range(10):
        p.update(30_000)
    assert [line.split(",")[0] for line in out.getvalue().splitlines()] == [
        f"download http://h.org/g.bin: 0.{i} MB" for i in (1, 2, 3)]


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_zip_with_parent_member_is_refused(tmp_path):
    p = tmp_path / "evil.zip"
    p.write_bytes(_zip_bytes({"ok.txt": b"hi", "../evil.txt": b"x"}))
    with pytest.raises(CorpusError, match="unsafe member path '../evil.txt'"):
        unpack(p, "zip", "ok.txt", 1 << 20, "evil.zip")


def test_zip_member_missing_and_unpacked_cap(tmp_path):
    p = tmp_path / "a.zip"
    p.write_bytes(_zip_bytes({"enwik8": b"a" * 5000}))
    with pytest.raises(CorpusError, match="no member 'other'"):
        unpack(p, "zip", "other", 1 << 20, "a.zip")
    with pytest.raises(CorpusError, match="more than 1000 bytes"):
        unpack(p, "zip", "enwik8", 1000, "a.zip")
    assert unpack(p, "zip", "enwik8", 1 << 20, "a.zip") == b"a" * 5000


def test_corrupt_archives(tmp_path):
    p = tmp_path / "bad.bz2"
    p.write_bytes(b"BZh9 this is not bzip2 data")
    with pytest.raises(CorpusError, match="corrupt bz2 archive"):
        unpack(p, "bz2", None, 1 << 20, "bad.bz2")
    z = tmp_path / "bad.zip"
    z.write_bytes(b"PK\x03\x04 broken")
    with pytest.raises(CorpusError, match="corrupt zip archive"):
        unpack(z, "zip", "x", 1 << 20, "bad.zip")


def test_decode_valid_invalid_utf16_empty():
    assert decode("héllo\n".encode(), "utf-8", "f") == "héllo\n"
    assert decode(b"\xef\xbb\xbfabc", "utf-8", "f") == "abc"       # UTF-8 BOM dropped
    with pytest.raises(CorpusError, match=r"invalid utf-8 at byte offset 3 \(byte 0xff"):
        decode(b"abc\xffdef", "utf-8", "f")
    with pytest.raises(CorpusError, match="UTF-16.*not utf-8; convert it"):
        decode("hello".encode("utf-16"), "utf-8", "f")
    assert decode("hello".encode("utf-16"), "utf-16", "f") == "hello"
    with pytest.raises(CorpusError, match="NUL character at char offset 2"):
        decode(b"ab\x00cd", "utf-8", "f")
    assert decode(b"\xe9t\xe9", "latin-1", "f") == "été"


def _spec(**kw) -> CorpusSpec:
    return from_dict(CorpusSpec, kw, "corpora.test")


def test_build_corpus_concatenates_bz2_sources(server, tmp_path):
    a, b = "part one\n".encode(), "part two ünïcode\n".encode()
    ca, cb = bz2.compress(a), bz2.compress(b)
    server.serve("/c/a.bz2", ca)
    server.serve("/c/b.bz2", cb)
    spec = _spec(base_url=server.base + "/c", unpack="bz2",
                 sources=[{"url": "a.bz2", "sha256": sha256(ca)},
                          {"url": "b.bz2", "sha256": sha256(cb)}])
    out = tmp_path / "raw" / "t.txt"
    info = build_corpus("t", spec, out, tmp_path / "cache", mirrors=[], cfg=FAST)
    assert out.read_text(encoding="utf-8") == (a + b).decode()
    assert info["chars"] == len((a + b).decode())


def test_build_corpus_errors_leave_no_output(server, tmp_path):
    bad = b"abc\xfe"
    server.serve("/bad.txt", bad)
    server.serve("/empty.txt", b"")
    out = tmp_path / "raw" / "t.txt"
    with pytest.raises(CorpusError, match="byte offset 3"):
        build_corpus("t", _spec(sources=[{"url": server.base + "/bad.txt", "sha256": sha256(bad)}]),
                     out, tmp_path / "cache", mirrors=[], cfg=FAST)
    with pytest.raises(CorpusError, match="'t' is empty"):
        build_corpus("t", _spec(sources=[{"url": server.base + "/empty.txt", "sha256": sha256(b"")}]),
                     out, tmp_path / "cache", mirrors=[], cfg=FAST)
    assert not out.exists()
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


def test_real_tinyshakespeare_from_mirror(mirror, tmp_path):
    from charlm.params import load_params
    from helpers import ROOT
    spec = load_params(ROOT / "params.yaml").corpus("tinyshakespeare")
    out = tmp_path / "ts.txt"
    info = build_corpus("tinyshakespeare", spec, out, tmp_path / "cache", mirrors=[str(mirror)])
    assert info["chars"] == 1_115_394
    assert out.read_text(encoding="utf-8").startswith("First Citizen:")


def test_fetch_unverified_retries_and_stores_the_file_by_its_hash(server, tmp_path):
    """`charlm corpus add`'s fetch: a transient failure is retried as in `fetch`; the file
    lands in the cache under its sha256; a missing file lists each candidate."""
    from charlm.data.download import fetch_unverified
    url = server.serve("/new.txt", TEXT, kind="fail_once")
    digest, size = fetch_unverified(url, tmp_path, mirrors=[], cfg=FAST)
    assert (digest, size) == (sha256(TEXT), len(TEXT))
    assert (tmp_path / digest).read_bytes() == TEXT and server.hits("/new.txt") == 2
    missing = url.replace("new.txt", "missing.txt")
    with pytest.raises(DownloadError, match=r"no candidate gave a file: .*missing\.txt: not found"):
        fetch_unverified(missing, tmp_path, mirrors=[], cfg=FAST)
    assert sorted(p.name for p in tmp_path.iterdir()) == [digest]
