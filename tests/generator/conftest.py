"""Fixtures shared by the add/update tests: a generated project, copied fresh per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from .projects import copy_project, new_project


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One default classification project, generated once per test module."""
    return new_project(tmp_path_factory.mktemp("pristine"))


@pytest.fixture
def project(pristine: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh copy of it, as the current folder."""
    project = copy_project(pristine, tmp_path)
    monkeypatch.chdir(project)
    return project
