"""Mirror fall-through: a bad candidate (corrupt copy, truncated, missing, timing out) moves
on to the next one; when none is left, one error line says what each candidate gave.

Candidates are the mirrors of CHARLM_MIRROR in order (folders in tmp_path, base URLs on a
real HTTP server on 127.0.0.1), then the URL itself.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from charlm.data.download import FetchConfig, build_corpus, fetch
from charlm.core.errors import DownloadError
from charlm.params import CorpusSpec, from_dict

from helpers import sha256

FAST = FetchConfig(timeout=1.0, retries=1, backoff=0.01)
GOOD = "First Citizen:\nBefore we proceed any further, hear me speak.\n".encode()
CORRUPT = GOOD.replace(b"First", b"Frist")


def _folder_mirror(root: Path, url: str, body: bytes | None) -> str:
    """A mirror folder laid out <host>/<path>, holding `body` for `url` (None: not there)."""
    rel = url.split("://", 1)[1]
    root.mkdir(parents=True, exist_ok=True)
    if body is not None:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(body)
    return str(root)


def _mirror_route(url: str) -> str:
    return "/m/" + url.split("://", 1)[1]


def test_corrupt_first_mirror_falls_through_to_good_second(server, tmp_path):
    url = server.serve("/data/input.txt", GOOD)
    bad = _folder_mirror(tmp_path / "m1", url, CORRUPT)
    good = _folder_mirror(tmp_path / "m2", url, GOOD)
    logged: list[str] = []
    cfg = FetchConfig(timeout=1.0, retries=1, backoff=0.01, log=logged.append)
    dest = fetch(url, sha256(GOOD), tmp_path / "cache" / "x", mirrors=[bad, good], cfg=cfg)
    assert dest.read_bytes() == GOOD
    assert server.hits("/data/input.txt") == 0            # the URL was not needed
    assert any(f"sha256 got {sha256(CORRUPT)}" in m and "trying the next" in m for m in logged)
    assert sorted(p.name for p in dest.parent.iterdir()) == ["x"]


def test_corrupt_http_mirror_is_not_retried_and_the_url_is_used(server, tmp_path):
    url = server.serve("/data/input.txt", GOOD)
    server.serve(_mirror_route(url), CORRUPT)
    dest = fetch(url, sha256(GOOD), tmp_path / "x", mirrors=[server.base + "/m"], cfg=FAST)
    assert dest.read_bytes() == GOOD
    assert server.hits(_mirror_route(url)) == 1            # a bad copy: no retry
    assert server.hits("/data/input.txt") == 1


def test_truncated_first_candidate_falls_through(server, tmp_path):
    # an HTTP mirror sending fewer bytes than its Content-Length: retried, then the next one
    url = server.serve("/data/input.txt", GOOD)
    server.serve(_mirror_route(url), GOOD, kind="truncated")
    dest = fetch(url, sha256(GOOD), tmp_path / "x", mirrors=[server.base + "/m"], cfg=FAST)
    assert dest.read_bytes() == GOOD
    assert server.hits(_mirror_route(url)) == 2            # first try + one retry
    assert server.hits("/data/input.txt") == 1


def test_file_shorter_than_declared_size_falls_through(server, tmp_path):
    url = server.serve("/data/input.txt", GOOD)
    short = _folder_mirror(tmp_path / "m1", url, GOOD[:20])
    good = _folder_mirror(tmp_path / "m2", url, GOOD)
    dest = fetch(url, sha256(GOOD), tmp_path / "cache" / "x", mirrors=[short, good], cfg=FAST,
                 size=len(GOOD))
    assert dest.read_bytes() == GOOD
    n = len(GOOD) + 1000                                   # every candidate is short of it
    with pytest.raises(DownloadError, match=rf"m1/\S+: truncated \(20 of {n} bytes\); "
                                            rf"{url}: truncated \({len(GOOD)} of {n} bytes\)$"):
        fetch(url, sha256(GOOD), tmp_path / "cache" / "y", mirrors=[short], cfg=FAST, size=n)
    assert sorted(p.name for p in dest.parent.iterdir()) == ["x"]


def test_all_candidates_bad_one_line_error_and_nothing_left(server, tmp_path):
    url = server.serve("/data/input.txt", GOOD, kind="slow", delay=2.0)
    corrupt = _folder_mirror(tmp_path / "m1", url, CORRUPT)
    missing = _folder_mirror(tmp_path / "m2", url, None)
    server.serve(_mirror_route(url), GOOD, kind="truncated")
    cfg = FetchConfig(timeout=0.3, retries=1, backoff=0.01)
    cache = tmp_path / "cache"
    cache.mkdir()
    with pytest.raises(DownloadError) as e:
        fetch(url, sha256(GOOD), cache / "x", mirrors=[corrupt, missing, server.base + "/m"],
              cfg=cfg)
    msg = str(e.value)
    assert "\n" not in msg
    head, _, rest = msg.partition(": no candidate gave the expected file ")
    assert head == "download input.txt"
    assert rest.startswith(f"(sha256 {sha256(GOOD)}): ")
    outcomes = rest.split("): ", 1)[1].split("; ")
    host = url.split("://", 1)[1]
    assert outcomes == [
        f"mirror {corrupt}/{host}: sha256 got {sha256(CORRUPT)}",
        f"mirror {missing}/{host}: not found",
        f"mirror {server.base}/m/{host}: truncated body ({len(GOOD)} of {len(GOOD) + 1000} "
        "bytes) (2 tries)",
        f"{url}: timed out while reading (2 tries)",
    ]
    assert list(cache.iterdir()) == []                     # no partial or temp file


def test_build_corpus_error_names_the_corpus(server, tmp_path):
    url = server.serve("/c/a.txt", CORRUPT)
    spec = from_dict(CorpusSpec, {"sources": [{"url": url, "sha256": sha256(GOOD)}]}, "c")
    out = tmp_path / "raw" / "t.txt"
    with pytest.raises(DownloadError,
                       match=rf"^download tiny: no candidate gave the expected file \(sha256 "
                             rf"{sha256(GOOD)}\) \(no mirror set: .*\): {url}: sha256 got "
                             rf"{sha256(CORRUPT)}$"):
        build_corpus("tiny", spec, out, tmp_path / "cache", mirrors=[], cfg=FAST)
    assert not out.exists()
    assert list((tmp_path / "cache").iterdir()) == []
