"""Shared fixtures: environment, a real HTTP server on 127.0.0.1, the corpus mirror."""

from __future__ import annotations

import os

import pytest

from helpers import LocalServer, SHARED_MIRROR

os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("DVC_NO_UPDATE_CHECK", "1")


def pytest_collection_modifyitems(items):
    for item in items:
        if "/tests/faults/" in str(item.fspath):
            item.add_marker(pytest.mark.faults)


@pytest.fixture(scope="session")
def mirror():
    """The read-only corpus mirror (../shared/corpora); tests skip where it is absent."""
    from pathlib import Path
    path = Path(os.environ.get("CHARLM_TEST_MIRROR", SHARED_MIRROR))
    if not (path / "MANIFEST.tsv").is_file():
        pytest.skip(f"corpus mirror not found at {path}")
    return path


@pytest.fixture
def server():
    s = LocalServer()
    yield s
    s.close()
