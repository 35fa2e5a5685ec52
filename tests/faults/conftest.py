"""Fixtures of the fault-injection suite (`prepared`, the tiny corpus, is tests/conftest.py's)."""

import pytest

from faultkit import Project, make_project


@pytest.fixture
def project(tmp_path, prepared):
    """make(name="p", **params) -> a Project at tmp_path/name on the tiny prepared corpus."""
    def make(name: str = "p", **kw) -> Project:
        return Project(make_project(tmp_path / name, prepared, **kw))
    return make
