"""The package as it would be published: the sdist carries what its own tests need.

The sdist is built the way a release builds it (``python -m build --sdist``, in an isolated
build environment), unpacked, and its tests are collected there, from the unpacked sources.
"""

from __future__ import annotations

import email
import importlib
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def _build(kind: str, outdir: Path) -> Path:
    result = subprocess.run(
        [sys.executable, "-m", "build", f"--{kind}", "--outdir", os.fspath(outdir), ROOT],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (built,) = outdir.iterdir()
    return built


@pytest.fixture(scope="module")
def sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The unpacked source distribution."""
    archive = _build("sdist", tmp_path_factory.mktemp("dist"))
    unpacked = tmp_path_factory.mktemp("unpacked")
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):  # Python 3.10.12+, 3.11.4+
            tar.extractall(unpacked, filter="data")
        else:  # pragma: no cover - older patch releases
            tar.extractall(unpacked)  # our own archive
    (root,) = unpacked.iterdir()
    return root


def test_sdist_carries_what_its_tests_import(sdist: Path) -> None:
    for needed in (
        "demo/driver.py",
        "benchmarks/suite.py",
        "scripts/test",
        "notebooks/hotreload_tour.ipynb",
        "hotreload_ext/_speedups.c",
        "hotreload_ext/py.typed",
        "docs/conf.py",
        "tests/conftest.py",
    ):
        assert (sdist / needed).is_file(), needed
    assert not list(sdist.rglob("__pycache__"))


def test_sdist_metadata_names_the_project_urls(sdist: Path) -> None:
    metadata = email.message_from_string((sdist / "PKG-INFO").read_text(encoding="utf-8"))
    urls = dict(value.split(", ", 1) for value in metadata.get_all("Project-URL", []))
    assert {"Homepage", "Documentation", "Source", "Issues", "Changelog"} <= set(urls)
    assert all(url.startswith("https://") for url in urls.values())


def test_tests_collect_and_run_from_the_unpacked_sdist(sdist: Path) -> None:
    # The unpacked sources come first on sys.path ([tool.pytest.ini_options] pythonpath), so
    # this collects the sdist's own package and tests, not the checkout's.
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE")}
    # The unpacked tree is shared by this module's tests: leave no __pycache__ in it.
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["HOTRELOAD_NO_SPEEDUPS"] = "1"
    base = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly"]
    collected = subprocess.run(
        [*base, "--collect-only", "-q"],
        cwd=sdist,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert collected.returncode == 0, collected.stdout[-3000:] + collected.stderr[-3000:]
    assert "tests collected" in collected.stdout, collected.stdout[-3000:]
    ran = subprocess.run(
        [*base, "-q", "tests/unit/test_architecture.py", "tests/unit/stages/test_diff.py"],
        cwd=sdist,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert (
        str(sdist)
        in subprocess.run(
            [sys.executable, "-c", "import hotreload_ext; print(hotreload_ext.__file__)"],
            cwd=sdist,
            env=dict(env, PYTHONPATH=os.fspath(sdist)),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )


def test_a_pure_python_wheel_can_be_built(sdist: Path, tmp_path: Path) -> None:
    # HOTRELOAD_NO_SPEEDUPS=1 skips the optional C stat loop: the wheel is py3-none-any. Built
    # from the unpacked sdist, as a release would be: a build in the checkout would leave its
    # build/ and staging directories there.
    env = dict(os.environ, HOTRELOAD_NO_SPEEDUPS="1", PYTHONDONTWRITEBYTECODE="1")
    result = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", os.fspath(tmp_path), sdist],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = tmp_path.glob("*.whl")
    assert wheel.name.endswith("-py3-none-any.whl"), wheel.name
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    assert "hotreload_ext/_report.py" in names
    assert not [n for n in names if n.endswith((".so", ".pyd", ".c"))]


def test_platform_wheels_are_configured_for_every_supported_python() -> None:
    if sys.version_info < (3, 11):
        pytest.skip("tomllib is new in Python 3.11")
    tomllib: Any = importlib.import_module("tomllib")  # (mypy checks for Python 3.10)
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    wheels = config["tool"]["cibuildwheel"]
    classifiers = config["project"]["classifiers"]
    versions = [c.rsplit(" ", 1)[1] for c in classifiers if c.startswith("Programming Language")]
    for version in versions:
        if version.count(".") == 1:
            assert f"cp{version.replace('.', '')}-*" in wheels["build"], version
    # Linux and macOS get the C loop; Windows the pure wheel (the C loop is POSIX-only).
    assert {"linux", "macos", "windows"} <= set(wheels)
    assert "*-win*" in wheels["skip"]
    assert "_unverified is not None" in wheels["test-command"]
