"""Hostile inputs inside a real in-process IPython shell with ``%load_ext hotreload``.

The rows of ``tests/unit/test_hostile.py``, seen from the user's side: the cell always runs and
succeeds; the old code keeps answering; exactly one message names the file (and line); the
following cells are silent while the file stays bad; the next good save is picked up.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell

from hotreload_ext._extension import get_extension
from tests.conftest import ModuleFiles, bump
from tests.unit.test_hostile import (
    BAD_BODIES,
    BAD_FILES,
    FIXED,
    TRAPS,
    V1,
    BadBody,
    BadFile,
    _good_save,
    run_unprivileged,
)

Capture = Callable[[], str]


@pytest.fixture(scope="session")
def ipython(tmp_path_factory: pytest.TempPathFactory) -> InteractiveShell:
    os.environ.setdefault("IPYTHONDIR", str(tmp_path_factory.mktemp("ipythondir")))
    shell = InteractiveShell.instance()
    assert shell.history_manager is not None
    shell.history_manager.enabled = False
    return shell


@pytest.fixture
def shell(ipython: InteractiveShell, files: ModuleFiles) -> Iterator[InteractiveShell]:
    """The shell with hotreload loaded in strict mode (internal errors would show)."""
    before = set(ipython.user_ns)
    ipython.run_line_magic("load_ext", "hotreload")
    ipython.run_line_magic("config", "HotReload.strict = True")
    yield ipython
    extension = get_extension(ipython)
    errors = list(extension.internal_errors) if extension else []
    ipython.run_line_magic("unload_ext", "hotreload")
    assert ipython.extension_manager is not None
    ipython.extension_manager.loaded.discard("hotreload_ext")
    ipython.config.pop("HotReload", None)
    for key in set(ipython.user_ns) - before:
        ipython.user_ns.pop(key, None)
    assert errors == [], "internal errors must not hide"


@pytest.fixture
def capture(capsys: pytest.CaptureFixture[str]) -> Capture:
    """Everything printed (stdout and stderr) since the last call, without colours."""

    def read() -> str:
        out, err = capsys.readouterr()
        # A failure is shown with IPython's coloured traceback.
        return re.sub(r"\x1b\[[0-9;]*m", "", out + err)

    return read


def run(shell: InteractiveShell, cell: str) -> object:
    """Run a cell; it must succeed."""
    result = shell.run_cell(cell, store_history=False)
    for error in (result.error_before_exec, result.error_in_exec):
        if error is not None:
            raise error
    assert result.success
    return result.result


def reports(text: str, name: str) -> int:
    """How many failure or notice reports about module ``name`` were printed."""
    return text.count(f"hotreload: could not reload {name} ") + text.count(f"hotreload: {name}: ")


# --- the contract, for a bad file and for a bad body -----------------------------------------
def bad_file_in_shell(
    shell: InteractiveShell, files: ModuleFiles, capture: Capture, case: BadFile
) -> None:
    name = files.name("bad")
    path = files.write(name, V1, dedent=False)
    run(shell, f"import {name} as mod\nfrom {name} import f\ninst = mod.C()")
    capture()

    case.apply(path)
    assert run(shell, "f(), inst.m(), mod.f(), mod.A") == ("f1", "m1", "f1", 1)
    shown = capture()
    assert reports(shown, name) == 1, shown
    assert str(path) in shown
    if case.lineno is not None:
        assert f"line {case.lineno}" in shown
    assert case.contains in shown
    assert "Traceback" not in shown.split(str(path))[0], "nothing raised before the report"

    assert run(shell, "f()") == "f1"
    if path.is_file() or (path.is_dir() and not path.is_symlink()):
        bump(path)
    assert run(shell, "f(), mod.f()") == ("f1", "f1")
    assert "hotreload" not in capture(), "reported again while the file stayed bad"

    _good_save(path)
    assert run(shell, "f(), inst.m(), mod.f()") == ("fixed", "m-fixed", "fixed")
    shown = capture()
    assert f"hotreload: reloaded {name}" in shown
    assert reports(shown, name) == 0


@pytest.mark.parametrize("case", BAD_FILES, ids=[c.id for c in BAD_FILES])
def test_bad_file(
    shell: InteractiveShell, files: ModuleFiles, capture: Capture, case: BadFile
) -> None:
    bad_file_in_shell(shell, files, capture, case)


def shell_unreadable_scenario(root: str) -> None:
    """The unreadable-file row in a fresh shell, in a process that cannot override modes."""
    probe = Path(root, "probe")
    probe.write_text("x")
    probe.chmod(0)
    with contextlib.suppress(PermissionError):
        probe.read_text()
        raise AssertionError("this process can read a mode-000 file: the scenario would be moot")
    files = ModuleFiles(Path(root))
    sys.path.insert(0, root)
    shell = InteractiveShell.instance()
    assert shell.history_manager is not None
    shell.history_manager.enabled = False
    buffer = io.StringIO()

    def read() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
        shell.run_line_magic("load_ext", "hotreload")
        shell.run_line_magic("config", "HotReload.strict = True")
        case = BadFile("unreadable", lambda p: p.chmod(0), "Permission denied")
        bad_file_in_shell(shell, files, read, case)
        extension = get_extension(shell)
        assert extension is not None
        assert extension.internal_errors == []


def test_unreadable_file(tmp_path: Path, clean_imports: None) -> None:
    run_unprivileged(tmp_path, shell_unreadable_scenario)


@pytest.mark.parametrize("case", BAD_BODIES, ids=[c.id for c in BAD_BODIES])
def test_bad_body(
    shell: InteractiveShell, files: ModuleFiles, capture: Capture, case: BadBody
) -> None:
    name = files.name("body")
    path = files.write(name, V1, dedent=False)
    run(shell, f"import {name} as mod\nfrom {name} import f\ninst = mod.C()")
    names = sorted(vars(sys.modules[name]))
    capture()
    files.write(name, FIXED.replace("return", "return 'x' +") + case.tail, dedent=False)
    assert run(shell, "f(), inst.m(), mod.f(), sorted(vars(mod))") == ("f1", "m1", "f1", names)
    shown = capture()
    assert reports(shown, name) == 1, shown
    assert str(path) in shown
    assert case.contains in shown
    assert case.line_offset is not None
    assert f"line {FIXED.count(chr(10)) + 1 + case.line_offset}" in shown
    assert run(shell, "f()") == "f1"
    assert "hotreload" not in capture()
    files.write(name, FIXED, dedent=False)
    assert run(shell, "f(), inst.m()") == ("fixed", "m-fixed")


def test_import_of_a_failing_module(
    shell: InteractiveShell, files: ModuleFiles, capture: Capture
) -> None:
    bad, name = files.name("dep"), files.name("importer")
    files.write(bad, "X = 1\nraise RuntimeError('dependency is broken')\n")
    path = files.write(name, V1, dedent=False)
    run(shell, f"from {name} import f")
    capture()
    files.write(name, FIXED + f"import {bad}\n", dedent=False)
    assert run(shell, "f()") == "f1"
    shown = capture()
    assert reports(shown, name) == 1
    assert f"{path}, line {FIXED.count(chr(10)) + 1}" in shown
    assert str(files.path(bad)) in shown
    assert bad not in sys.modules
    assert run(shell, "f()") == "f1"
    assert "hotreload" not in capture()
    files.write(name, FIXED, dedent=False)
    assert run(shell, "f()") == "fixed"


def test_circular_import_that_fails(
    shell: InteractiveShell, files: ModuleFiles, capture: Capture
) -> None:
    name, other = files.name("cyc_a"), files.name("cyc_b")
    files.write(other, f"from {name} import NEW\n\ndef helper():\n    return NEW\n")
    path = files.write(name, V1, dedent=False)
    run(shell, f"from {name} import f")
    capture()
    files.write(name, FIXED + f"from {other} import helper\nNEW = 2\n", dedent=False)
    assert run(shell, "f()") == "f1"
    shown = capture()
    assert reports(shown, name) == 1
    assert f"{path}, line {FIXED.count(chr(10)) + 1}" in shown
    assert "cannot import name 'NEW'" in shown
    assert run(shell, "f()") == "f1"
    assert "hotreload" not in capture()
    files.write(name, FIXED + f"NEW = 2\nfrom {other} import helper\n", dedent=False)
    assert run(shell, f"f(), __import__({name!r}).helper()") == ("fixed", 2)


def test_user_dunders_are_never_called(
    shell: InteractiveShell, files: ModuleFiles, capture: Capture
) -> None:
    log, name = files.name("traplog"), files.name("traps")
    files.write(log, "CALLS = []\n")
    source = TRAPS.format(log=log)
    files.write(name, source, dedent=False)
    run(shell, f"from {log} import CALLS\nfrom {name} import OBJ, Trap, Holder, f\nCALLS.clear()")
    calls = shell.user_ns["CALLS"]
    for text in (
        source.replace('"f1"', '"f2"'),
        "\n\n" + source,
        source.replace("OBJ = Trap()", "OBJ = Trap()  # again"),
        source.replace("class Meta(type):", "class Meta(type):\n    VERSION = 2\n"),
        source + "\nraise ValueError('rolled back')\n",
    ):
        files.write(name, text, dedent=False)
        run(shell, "1")
        assert calls == [], calls
    shown = capture()
    assert shown.count("hotreload: reloaded") == 4
    assert reports(shown, name) == 1
    # `from traps import OBJ` in the cell follows the re-made object.
    assert run(shell, f"OBJ is __import__({name!r}).OBJ")
    calls.clear()


# --- timing ----------------------------------------------------------------------------------
def test_edit_while_the_cell_after_a_reload_is_still_printing(
    shell: InteractiveShell, files: ModuleFiles, capture: Capture
) -> None:
    name = files.name("printing")
    path = files.write(name, V1, dedent=False)
    run(shell, f"import {name} as mod")
    files.write(name, V1.replace('"f1"', '"f2"'), dedent=False)

    def save_again() -> None:
        # A second save within the same filesystem tick: same size, same mtime as the last.
        stat = path.stat()
        path.write_text(V1.replace('"f1"', '"f3"'))
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    shell.user_ns["save_again"] = save_again
    capture()
    cell = (
        "for i in range(4):\n    print('line', i, mod.f())\n    if i == 1:\n        save_again()\n"
    )
    run(shell, cell)
    shown = capture()
    assert shown.count(f"hotreload: reloaded {name}") == 1
    # The save made while the cell ran does not change the code under the running cell.
    assert [line for line in shown.splitlines() if line.startswith("line")] == [
        f"line {i} f2" for i in range(4)
    ]
    assert run(shell, "mod.f()") == "f3"
    assert capture().count(f"hotreload: reloaded {name}") == 1
    assert run(shell, "mod.f()") == "f3"
    assert "hotreload" not in capture()


def test_two_edits_between_cells(
    shell: InteractiveShell, files: ModuleFiles, capture: Capture
) -> None:
    name = files.name("twice")
    files.write(name, V1, dedent=False)
    run(shell, f"from {name} import f")
    capture()
    files.write(name, V1 + "def broken(:\n", dedent=False)
    files.write(name, FIXED, dedent=False)
    assert run(shell, "f()") == "fixed"
    shown = capture()
    assert shown.count(f"hotreload: reloaded {name}") == 1
    assert reports(shown, name) == 0, "a broken save overwritten before the cell is no news"


def test_module_that_rewrites_its_own_file_while_reloading(
    shell: InteractiveShell, files: ModuleFiles, capture: Capture
) -> None:
    name = files.name("selfedit")
    path = files.write(name, V1, dedent=False)
    run(shell, f"from {name} import f")
    v3 = FIXED.replace('"fixed"', '"v3"')
    files.write(
        name,
        FIXED
        + textwrap.dedent(
            f"""
            import os
            _stat = os.stat({str(path)!r})
            with open({str(path)!r}, "w", encoding="utf-8") as _handle:
                _handle.write({v3!r})
            os.utime({str(path)!r}, ns=(_stat.st_atime_ns, _stat.st_mtime_ns + 10**9))
            """
        ),
        dedent=False,
    )
    capture()
    assert run(shell, "f()") == "fixed"
    assert run(shell, "f()") == "v3"
    assert run(shell, "f()") == "v3"
    assert capture().count(f"hotreload: reloaded {name}") == 2


def test_user_thread_running_old_function(
    shell: InteractiveShell, files: ModuleFiles, capture: Capture
) -> None:
    name = files.name("threaded")
    files.write(name, "def work(n):\n    return ('old', n)\n")
    run(
        shell,
        textwrap.dedent(
            f"""\
            import threading
            from {name} import work
            results, errors = [], []
            stop, new_seen = threading.Event(), threading.Event()

            def loop():
                try:
                    n = 0
                    while not stop.is_set():
                        n += 1
                        value = work(n)
                        results.append(value[0])
                        if value[0] == "new":
                            new_seen.set()
                except BaseException as exc:
                    errors.append(exc)

            worker = threading.Thread(target=loop)
            worker.start()
            """
        ),
    )
    try:
        files.write(
            name, "def work(n):\n    total = sum(range(n % 7))\n    return ('new', total)\n"
        )
        assert run(shell, "new_seen.wait(30)") is True
        assert run(shell, "worker.is_alive(), errors") == (True, [])
    finally:
        run(shell, "stop.set(); worker.join(30)")
    assert run(shell, "errors, worker.is_alive()") == ([], False)
    results = shell.user_ns["results"]
    switched = results.index("new")
    assert set(results[:switched]) == {"old"}
    assert set(results[switched:]) == {"new"}
    assert capture().count(f"hotreload: reloaded {name}") == 1
