"""Shared fixtures: environment, a real HTTP server on 127.0.0.1, the corpus mirror, a tiny
prepared corpus, a tiny trained repository."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import charlm  # noqa: F401  (first: sets the numerics profile before torch or numpy computes)
from helpers import LocalServer, find_mirror, tiny_text

os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("DVC_NO_UPDATE_CHECK", "1")


def pytest_collection_modifyitems(items):
    for item in items:
        if "/tests/faults/" in str(item.fspath):
            item.add_marker(pytest.mark.faults)


@pytest.fixture(scope="session")
def mirror():
    """The read-only corpus mirror: CHARLM_TEST_MIRROR, else ../shared/corpora, else the first
    folder of CHARLM_MIRROR holding MANIFEST.tsv. Where there is none the tests that need it
    skip, except under CI (the CI variable set), where they fail: a skip there goes unseen."""
    path, looked = find_mirror()
    if path is None:
        msg = (f"corpus mirror not found (a folder with MANIFEST.tsv; looked in: "
               f"{', '.join(looked)}); set CHARLM_MIRROR or CHARLM_TEST_MIRROR to one")
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
            pytest.fail(f"{msg}. CI is set, so this test fails instead of skipping", pytrace=False)
        pytest.skip(msg)
    return path


@pytest.fixture
def server():
    s = LocalServer()
    yield s
    s.close()


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    """The prepared corpus "tiny" (tiny_text(): 6000 words of 13, split 0.8/0.1/0.1), one per
    test module: the trainer tests and the fault suite train on it."""
    from charlm.data.prepare import prepare_text, save_prepared
    from charlm.params import SplitParams
    d = tmp_path_factory.mktemp("prepared") / "tiny"
    vocab, arrays, stats = prepare_text(tiny_text(), SplitParams(0.8, 0.1, 0.1), "tiny")
    save_prepared(d, vocab, arrays, stats)
    return d


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A tiny trained repository (tests/tiny_repo.py), one per test module (a module may
    override this fixture to add to it)."""
    from tiny_repo import build_repo
    return build_repo(tmp_path_factory.mktemp("built") / "repo")


@pytest.fixture
def repo(built, monkeypatch) -> Path:
    """`built`, as the current folder (the `charlm` command runs from the repository root)."""
    monkeypatch.chdir(built)
    return built
