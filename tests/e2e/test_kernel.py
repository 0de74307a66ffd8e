"""End to end in a real Jupyter kernel (ipykernel), driven through jupyter_client.

Each test starts its own kernel with a fresh IPYTHONDIR, in a work directory that is also on the
kernel's ``sys.path``. The test process plays the editor, rewriting a module between cells with
:func:`demo.driver.save` (which moves the mtime forward instead of waiting for the clock).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager

from demo.driver import save, session_env

pytestmark = pytest.mark.e2e

TIMEOUT = 120  # seconds; generous, for a busy shared machine

V1 = '''\
"""Version 1."""


def area(r):
    return 2 * r


class Circle:
    def __init__(self, r):
        self.r = r

    def describe(self):
        return f"Circle({self.r})"
'''

V2 = '''\
"""Version 2."""


def area(r):
    return 3 * r * r


class Circle:
    def __init__(self, r):
        self.r = r

    def describe(self):
        return f"Circle({self.r}, area={area(self.r)})"

    def double(self):
        return Circle(2 * self.r)
'''

# Parses, but raises at import: line 8 is new, so it runs on reload and fails.
RAISING = V2.replace(
    "\n\nclass Circle:",
    '\n\nraise RuntimeError("cannot load the table")\n\n\nclass Circle:',
    1,
)


@dataclass
class KernelCell:
    """What one executed cell sent back on iopub."""

    stdout: str = ""
    stderr: str = ""
    result: str | None = None
    # The cell's own errors: its code raised (the execute reply was not "ok").
    errors: list[str] = field(default_factory=list)
    # `display_data` bundles and `error` outputs, as the notebook would show them.
    displays: list[dict[str, str]] = field(default_factory=list)
    error_outputs: list[dict[str, Any]] = field(default_factory=list)


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def plain_traceback(error: dict[str, Any]) -> str:
    """An `error` output's traceback as text, without colours."""
    return ANSI.sub("", "\n".join(error["traceback"]))


class Kernel:
    """A started kernel and a blocking client on it."""

    def __init__(self, manager: KernelManager, client: BlockingKernelClient) -> None:
        self.manager = manager
        self.client = client

    def execute(self, code: str) -> KernelCell:
        """Run ``code`` as a cell; collect its stream output, result and errors."""
        cell = KernelCell()

        def collect(message: dict[str, Any]) -> None:
            kind, content = message["msg_type"], message["content"]
            if kind == "stream":
                if content["name"] == "stdout":
                    cell.stdout += content["text"]
                else:
                    cell.stderr += content["text"]
            elif kind == "execute_result":
                cell.result = content["data"]["text/plain"]
            elif kind == "display_data":
                cell.displays.append(content["data"])
            elif kind == "error":
                cell.error_outputs.append(content)

        reply = self.client.execute_interactive(
            code, timeout=TIMEOUT, output_hook=collect, allow_stdin=False
        )
        if reply["content"]["status"] != "ok":
            cell.errors.append(f"{reply['content'].get('ename')}: {reply['content'].get('evalue')}")
        return cell

    def run(self, code: str) -> KernelCell:
        """Run a cell that must neither raise nor print on stderr."""
        cell = self.execute(code)
        assert not cell.errors, "\n".join(cell.errors)
        assert not cell.error_outputs, [plain_traceback(e) for e in cell.error_outputs]
        assert cell.stderr == "", cell.stderr
        assert "internal error" not in cell.stdout, cell.stdout
        return cell


@pytest.fixture
def kernel(workdir: Path, ipython_dir: Path) -> Iterator[Kernel]:
    """A fresh python3 kernel in ``workdir``, shut down cleanly afterwards."""
    env = session_env(ipython_dir, pythonpath=[workdir])
    # debugpy prints a frozen-modules warning on the kernel's stderr under Python 3.11+.
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    manager = KernelManager(kernel_name="python3")
    manager.start_kernel(cwd=os.fspath(workdir), env=env)
    client = manager.client()
    try:
        client.start_channels()
        client.wait_for_ready(timeout=TIMEOUT)
        yield Kernel(manager, client)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=False)
        assert not manager.is_alive()


def load_hotreload(kernel: Kernel) -> None:
    assert kernel.run("%load_ext hotreload").stdout == ""
    kernel.run("%config HotReload.strict = True")
    assert kernel.run("%config HotReload.strict").result == "True"


def test_kernel_runs_this_environments_python(kernel: Kernel) -> None:
    # The kernelspec says "python"; it must be this virtualenv's, where hotreload is installed.
    assert kernel.run("import sys; sys.prefix").result == repr(sys.prefix)
    import hotreload_ext

    package_dir = kernel.run("import os, hotreload_ext; os.path.dirname(hotreload_ext.__file__)")
    assert package_dir.result == repr(os.path.dirname(hotreload_ext.__file__))


def hotreload_display(cell: KernelCell) -> dict[str, str]:
    """The cell's one hotreload report: a display output with text and HTML, not a stream."""
    assert cell.stdout == "", cell.stdout
    assert len(cell.displays) == 1, cell.displays
    (bundle,) = cell.displays
    assert set(bundle) == {"text/plain", "text/html"}, bundle
    return bundle


def test_edit_reaches_the_running_kernel(kernel: Kernel, workdir: Path) -> None:
    module = workdir / "shapes.py"
    save(module, V1)
    load_hotreload(kernel)
    kernel.run("import shapes; from shapes import area; c = shapes.Circle(2); bound = c.describe")
    assert kernel.run("area(2), c.describe()").result == "(4, 'Circle(2)')"

    save(module, V2)
    cell = kernel.run("area(2), c.describe(), bound(), c.double().describe()")
    # The report arrives in this cell's own output, before its result, as one display output:
    # a line of text for a terminal front end, compact HTML for the notebook.
    report = hotreload_display(cell)
    assert report["text/plain"] == (
        "hotreload: reloaded shapes: updated area, Circle.describe; added Circle.double"
    )
    html = report["text/html"]
    assert "reloaded <code>shapes</code>: 2 updated, 1 added" in html
    assert "<details>" in html
    assert "<code>Circle.double</code>" in html
    assert cell.result == "(12, 'Circle(2, area=12)', 'Circle(2, area=12)', 'Circle(4, area=48)')"
    assert kernel.run("type(c) is shapes.Circle, shapes.__doc__").result == "(True, 'Version 2.')"


def test_failing_edit_is_one_error_output_and_keeps_the_old_code(
    kernel: Kernel, workdir: Path
) -> None:
    module = workdir / "shapes.py"
    save(module, V1)
    load_hotreload(kernel)
    kernel.run("import shapes; from shapes import area; c = shapes.Circle(2)")

    save(module, RAISING)
    cell = kernel.execute("area(2), c.describe()")
    # The cell itself ran, with the old code.
    assert not cell.errors, cell.errors
    assert cell.result == "(4, 'Circle(2)')"
    # One error output, as IPython shows errors; nothing on stdout or stderr.
    assert cell.stdout == ""
    assert cell.stderr == ""
    assert cell.displays == []
    assert len(cell.error_outputs) == 1, cell.error_outputs
    (error,) = cell.error_outputs
    assert (error["ename"], error["evalue"]) == ("RuntimeError", "cannot load the table")
    text = plain_traceback(error)
    # The kernel runs in the work directory: the path is short.
    assert text.splitlines()[0] == (
        "hotreload: could not reload shapes (shapes.py, line 8); it keeps its previous code: "
        "save a fix and run a cell to retry."
    )
    assert text.count("could not reload") == 1
    # The user's frame, with a short path; the error line once; no hotreload frames.
    assert "File shapes.py:8" in text
    assert text.count("cannot load the table") == 2, text  # the source line and the error line
    assert text.rstrip().splitlines()[-1] == "RuntimeError: cannot load the table"
    assert "hotreload_ext" not in text
    assert str(workdir) not in text
    # All or nothing: nothing of the failed version leaked into the module.
    leaked = kernel.run("hasattr(shapes.Circle, 'double'), shapes.__doc__")
    assert leaked.result == "(False, 'Version 1.')"

    # Reported once: the next cell is quiet, and still runs the old code.
    cell = kernel.run("area(2), c.describe()")
    assert cell.stdout == ""
    assert cell.displays == []
    assert cell.result == "(4, 'Circle(2)')"

    # Restoring the last good text: one line says the module is healthy again.
    save(module, V1)
    cell = kernel.run("area(2)")
    assert hotreload_display(cell)["text/plain"] == (
        "hotreload: shapes: healthy again: its file is back to the code that is running"
    )

    # The fix is picked up.
    save(module, V2)
    cell = kernel.run("area(2), c.describe()")
    assert hotreload_display(cell)["text/plain"].startswith("hotreload: reloaded shapes: ")
    assert cell.result == "(12, 'Circle(2, area=12)')"


def test_reports_appear_once_with_logging_configured(kernel: Kernel, workdir: Path) -> None:
    module = workdir / "shapes.py"
    save(module, V1)
    load_hotreload(kernel)
    # The root logger prints every record it receives on stderr.
    kernel.run("import logging; logging.basicConfig(level=logging.INFO)")
    kernel.run("import shapes")

    save(module, V2)
    cell = kernel.run("shapes.area(2)")  # run() also asserts nothing came on stderr
    assert hotreload_display(cell)["text/plain"].startswith("hotreload: reloaded shapes: ")

    save(module, RAISING)
    cell = kernel.execute("shapes.area(2)")
    assert cell.stderr == ""
    assert len(cell.error_outputs) == 1
    assert cell.result == "12"

    # Sent to logging instead: the root logger's handler shows it, once, and nothing else does.
    kernel.run('%config HotReload.report_to = "logging"')
    save(module, V2)  # what is running: the failure is over
    cell = kernel.execute("shapes.area(2)")
    assert cell.displays == []
    assert cell.error_outputs == []
    assert cell.stdout == ""
    assert cell.stderr.count("hotreload: shapes: healthy again") == 1, cell.stderr
    assert cell.stderr.startswith("INFO:hotreload:"), cell.stderr
    save(module, V1)
    cell = kernel.execute("shapes.area(2)")
    assert (cell.displays, cell.error_outputs, cell.stdout) == ([], [], "")
    assert cell.stderr.count("hotreload: reloaded shapes") == 1, cell.stderr


ACCOUNT_CELL = """\
class Account:
    def __init__(self, balance):
        self.balance = balance

    def deposit(self, amount):
        self.balance += amount
        return self.balance
"""


def test_a_cell_defining_a_class_again_updates_it_in_the_kernel(kernel: Kernel) -> None:
    load_hotreload(kernel)
    kernel.run(ACCOUNT_CELL)
    kernel.run("a = Account(10)\nold = Account\nbound = a.deposit")
    cell = kernel.run(ACCOUNT_CELL.replace("+= amount", "+= 2 * amount"))
    assert hotreload_display(cell)["text/plain"] == "hotreload: updated cell class Account: deposit"
    result = kernel.run("a.deposit(1), bound(1), isinstance(a, Account), Account is old")
    assert result.result == "(12, 14, True, True)"
    assert kernel.run("import pickle; pickle.loads(pickle.dumps(a)).balance").result == "14"

    # An error in the new body is the cell's own error, shown without hotreload's frames,
    # and the class keeps its previous body.
    broken = kernel.execute("class Account:\n    rate = 1 / 0\n")
    assert any("ZeroDivisionError" in error for error in broken.errors)
    assert all("hotreload_ext" not in error for error in broken.errors)
    assert kernel.run("a.deposit(1), hasattr(Account, 'rate')").result == "(16, False)"

    # Made while cells were off: recognised by its code's cell file (ipykernel names cells by
    # a temporary path).
    kernel.run("%hotreload cells off")
    kernel.run("def tax(x):\n    return x")
    kernel.run("%hotreload cells on")
    kernel.run("old_tax = tax")
    retaxed = kernel.run("def tax(x):\n    return 2 * x")
    assert hotreload_display(retaxed)["text/plain"] == "hotreload: updated cell function tax"
    assert kernel.run("old_tax(1), tax is old_tax").result == "(2, True)"
