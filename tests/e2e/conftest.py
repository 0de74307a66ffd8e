"""End-to-end fixtures: a work directory on the child's sys.path and a fresh IPYTHONDIR."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """The directory the child runs in and imports the test's modules from."""
    path = tmp_path / "work"
    path.mkdir()
    return path


@pytest.fixture
def ipython_dir(tmp_path: Path) -> Path:
    """A fresh IPYTHONDIR, so the user's own profile never leaks into a test."""
    path = tmp_path / "ipython"
    path.mkdir()
    return path
