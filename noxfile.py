"""The version matrix: the test suite on every supported Python and IPython.

    nox                          every cell; an interpreter that is not installed is skipped
    nox -t ci                    the subset CI runs (3.10, 3.12, 3.13; IPython 8 and 9)
    nox -s "tests(python='3.13', ipython='8')"
    nox -- -m "not e2e"          arguments after ``--`` go to pytest

Cells: Python 3.10-3.13 x the newest IPython 8.x and the newest 9.x; IPython 9 requires Python
3.11, so there is no (3.10, 9) cell. Each cell runs the whole pytest suite: unit, integration and
end-to-end (a terminal IPython subprocess, Jupyter kernels, the notebooks). Each cell has its own
venv under ``.nox/``, reused from run to run and reinstalled only when the build inputs changed
(``pyproject.toml``, ``setup.py``, the C speedups). One cell runs with the Python stat loop.
The lint, type and docs checks do not depend on the interpreter: ``./scripts/test`` runs them once,
and measures coverage there too (the cells run pytest without it, to stay fast).
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_venv = "yes"
# Skip, do not fail, a cell whose interpreter is not installed (nox errors by default on CI).
nox.options.error_on_missing_interpreters = False
nox.options.sessions = ["tests"]

PYTHONS = ("3.10", "3.11", "3.12", "3.13")
IPYTHONS = {"8": "ipython>=8.12,<9", "9": "ipython>=9,<10"}
# The cells CI runs when the whole matrix does not fit its time budget.
# ./scripts/test already runs the suite on the default Python (3.11) with IPython 9, so the cells
# are the other Pythons: the oldest and newest with IPython 8, 3.12 and the newest with 9.
CI_CELLS = {("3.10", "8"), ("3.13", "8"), ("3.12", "9"), ("3.13", "9")}
# The cells that run the suite with the idle check's Python loop (HOTRELOAD_SPEEDUPS=0) instead
# of the C one, so that CI runs every test through both.
PYTHON_LOOP_CELLS = {("3.10", "8")}
ROOT = Path(__file__).resolve().parent


def _use_pyenv_interpreters() -> None:
    """Let nox find every pyenv-installed Python as ``python3.X``.

    pyenv's shims answer only for the versions ``pyenv global`` selects; for any other version
    ``python3.X`` exists on PATH but fails, and nox would report the cell as failed instead of
    skipped. So each installed version's own ``bin`` directory goes first on PATH, and the shims
    are taken off it (the sessions run everything from their venv).
    """
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    found: list[str] = []
    for version in PYTHONS:
        pattern = re.compile(rf"^{re.escape(version)}\.\d+$")
        installed = sorted(
            (p for p in (pyenv / "versions").glob(f"{version}.*") if pattern.match(p.name)),
            key=lambda p: tuple(int(part) for part in p.name.split(".")),
        )
        if installed and (installed[-1] / "bin" / f"python{version}").exists():
            found.append(str(installed[-1] / "bin"))
    shims = str(pyenv / "shims")
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != shims]
    os.environ["PATH"] = os.pathsep.join([*found, *path])


_use_pyenv_interpreters()


def _install(session: nox.Session, ipython: str) -> None:
    """Install the project, its test tools and the cell's IPython, unless already done."""
    assert isinstance(session.virtualenv, nox.virtualenv.VirtualEnv)
    stamp = Path(session.virtualenv.location) / ".hotreload-installed"
    wanted = f"{ipython}\n"
    # The build inputs: an editable install builds the C speedups in place, so a change to them
    # needs a reinstall too.
    inputs = [ROOT / "pyproject.toml", ROOT / "setup.py", ROOT / "hotreload_ext" / "_speedups.c"]
    if (
        stamp.exists()
        and stamp.read_text() == wanted
        and all(stamp.stat().st_mtime >= path.stat().st_mtime for path in inputs)
    ):
        return
    session.install("--upgrade", "pip")
    session.install("-e", ".[test]", ipython)
    stamp.write_text(wanted)


CELLS = [
    nox.param(python, ipython, tags=["ci"] if (python, ipython) in CI_CELLS else [])
    for python in PYTHONS
    for ipython in IPYTHONS
    if not (ipython == "9" and python == "3.10")
]


@nox.session
@nox.parametrize(("python", "ipython"), CELLS)
def tests(session: nox.Session, ipython: str) -> None:
    """The whole test suite on one Python with one IPython major version."""
    _install(session, IPYTHONS[ipython])
    python_loop = (session.python, ipython) in PYTHON_LOOP_CELLS
    session.run(
        "python",
        "-c",
        "import IPython, sys; "
        f"assert IPython.version_info[0] == {ipython}, IPython.__version__; "
        "print('Python', sys.version.split()[0], 'IPython', IPython.__version__)",
        silent=False,
    )
    if python_loop:
        session.log("this cell polls with the Python stat loop (HOTRELOAD_SPEEDUPS=0)")
    # The user's IPython profile must never leak into the tests (as in ./scripts/test).
    with tempfile.TemporaryDirectory(prefix="ipythondir-") as ipythondir:
        session.run(
            "python",
            "-m",
            "pytest",
            "-q",
            *session.posargs,
            env={"IPYTHONDIR": ipythondir, "HOTRELOAD_SPEEDUPS": "0" if python_loop else "1"},
        )
