"""Every notebook in ``notebooks/`` runs top to bottom in a real kernel without an error.

The notebooks check themselves with ``assert``; this test runs them with nbclient in a fresh
``python3`` kernel (this virtualenv's Python, with hotreload in strict mode) and also checks what
hotreload printed where a notebook is known to trigger a report.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from demo.driver import session_env

pytestmark = pytest.mark.e2e

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))

# For some notebooks, cells whose output must begin with a given hotreload line:
# {notebook: {cell id: (output kind, first line)}}: "display" is a display output's text,
# "error" an error output's first traceback line. Every other cell must print nothing on stderr
# and show no error.
EXPECTED = {
    "hotreload_tour.ipynb": {
        "check": (
            "display",
            "hotreload: reloaded tour_shapes: updated area, Circle.describe; added Circle.scale",
        ),
        "after-broken": ("error", "hotreload: could not reload tour_shapes ("),
        "after-fix": ("display", "hotreload: reloaded tour_shapes: updated Circle.describe"),
    },
    "redefining_cells.ipynb": {
        "redefine": ("display", "hotreload: updated cell class Account: fee, __init__, deposit"),
        "handler-again": ("display", "hotreload: updated cell function greet"),
        "slots-again": ("stderr", "hotreload: cell class Point could not be updated in place"),
    },
}


def test_there_are_notebooks() -> None:
    assert NOTEBOOKS, "no notebooks found"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_committed_without_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: cell {cell.get('id')} has outputs"
            assert cell.execution_count is None, f"{path.name}: cell {cell.get('id')} was run"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_without_errors(path: Path, tmp_path: Path, ipython_dir: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    # One more cell, only in this run: which Python the kernel is.
    notebook.cells.append(nbformat.v4.new_code_cell("import sys; print(sys.prefix)"))
    notebook.cells[-1]["id"] = "which-python"
    env = session_env(ipython_dir)
    # debugpy prints a frozen-modules warning on the kernel's stderr under Python 3.11+.
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    client = NotebookClient(
        notebook,
        timeout=120,
        startup_timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
        extra_arguments=["--HotReload.strict=True"],
    )
    client.execute(env=env)  # raises CellExecutionError on the first failing cell

    outputs = {cell["id"]: _streams(cell) for cell in notebook.cells if cell.cell_type == "code"}
    assert outputs["which-python"]["stdout"] == sys.prefix + "\n"
    expected = EXPECTED.get(path.name, {})
    for cell_id, streams in outputs.items():
        text = streams["stdout"] + streams["stderr"]
        assert "internal error" not in text, f"{cell_id}: {text}"
        if cell_id in expected:
            stream, first_line = expected[cell_id]
            assert streams[stream].startswith(first_line), f"{cell_id}: {streams}"
        else:
            # A failure is reported once, in the cell after the broken save, and nowhere else.
            assert streams["stderr"] == "", f"{cell_id}: {streams['stderr']}"
            assert streams["error"] == "", f"{cell_id}: {streams['error']}"
        # Reports are never written on a stream (a notebook shows stderr as an error).
        for line in text.splitlines():
            # (`%hotreload` status lists recent reports, indented.)
            assert not line.startswith(("hotreload: reloaded", "hotreload: could not")), line


def _streams(cell: nbformat.NotebookNode) -> dict[str, str]:
    streams = {"stdout": "", "stderr": "", "display": "", "error": ""}
    for output in cell.outputs:
        if output.output_type == "stream":
            streams[output.name] += output.text
        elif output.output_type == "display_data" and "text/html" in output.data:
            streams["display"] += output.data["text/plain"]
        elif output.output_type == "error":
            streams["error"] += output.traceback[0]
    return streams
