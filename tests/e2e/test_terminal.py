"""End to end in a real terminal IPython (``python -m IPython --simple-prompt``).

Each test starts its own IPython through :class:`demo.driver.TerminalSession`, with a fresh
IPYTHONDIR and its modules in a temporary directory on the child's ``sys.path``. The test plays
the editor: it rewrites a module between cells with :func:`demo.driver.save`, which moves the
file's mtime forward instead of waiting for the clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from demo.driver import CellOutput, TerminalSession, save, session_env

pytestmark = pytest.mark.e2e

STRICT = "--HotReload.strict=True"

V1 = '''\
"""Version 1."""


def f():
    return "f1"


class C:
    def m(self):
        return "m1"
'''

V2 = '''\
"""Version 2."""


def f():
    return "f2"


class C:
    def m(self):
        return "m2"


def g():
    return "g2"
'''

# Line 5 does not parse.
BROKEN = '''\
"""Version 2, half typed."""


def f():
    return "f3" +


class C:
    def m(self):
        return "m2"
'''

StartIPython = Callable[..., TerminalSession]


@pytest.fixture
def start_ipython(workdir: Path, ipython_dir: Path) -> Iterator[StartIPython]:
    """Start a terminal IPython in ``workdir``; every session started is closed afterwards."""
    sessions: list[TerminalSession] = []

    def start(*args: str) -> TerminalSession:
        session = TerminalSession(
            cwd=workdir,
            env=session_env(ipython_dir, pythonpath=[workdir]),
            args=args,
            timeout=120,
            startup_timeout=120,
        )
        sessions.append(session)
        # Nothing before the first prompt: no banner, and no failure loading an extension or
        # a profile's configuration (IPython reports those as warnings, and carries on).
        assert session.start() == ""
        return session

    yield start
    for session in sessions:
        session.close()


def assert_clean(text: str) -> None:
    """Nothing went wrong inside IPython or hotreload (a strict-mode error shows up here)."""
    markers = ("Traceback", "Error in callback", "internal error", "UsageError", "could not reload")
    for marker in markers:
        assert marker not in text, text


def run(session: TerminalSession, cell: str) -> CellOutput:
    """Run a cell that must neither raise, nor print on stderr, nor make hotreload fail."""
    result = session.run(cell)
    assert result.stderr == "", result.text
    assert_clean(result.stdout)
    return result


def hotreload_lines(result: CellOutput) -> list[str]:
    return [line for line in result.text.splitlines() if line.startswith("hotreload:")]


def test_load_ext_reloads_module_instances_and_imported_names(
    start_ipython: StartIPython, workdir: Path
) -> None:
    module = workdir / "mod.py"
    save(module, V1)
    ipython = start_ipython(STRICT)
    assert run(ipython, "%load_ext hotreload").text == ""
    assert run(ipython, "%config HotReload.strict").value == "True"  # from the command line
    run(ipython, "import mod; from mod import f; obj = mod.C(); bound = obj.m; C = mod.C")
    assert run(ipython, "f(), obj.m(), bound(), mod.f()").value == "('f1', 'm1', 'm1', 'f1')"

    save(module, V2)
    result = run(ipython, "f(), obj.m(), bound(), mod.f(), mod.g(), C is mod.C")
    assert result.stdout.splitlines()[0] == "hotreload: reloaded mod: updated f, C.m; added g"
    assert result.stderr == ""
    assert result.value == "('f2', 'm2', 'm2', 'f2', 'g2', True)"
    assert run(ipython, "mod.__doc__").value == "'Version 2.'"

    # And back: the names g no longer binds are removed, the old references follow again.
    save(module, V1)
    result = run(ipython, "f(), obj.m(), bound(), hasattr(mod, 'g')")
    assert hotreload_lines(result) == ["hotreload: reloaded mod: updated f, C.m; removed g"]
    assert result.value == "('f1', 'm1', 'm1', False)"


def test_load_ext_hotreload_ext_also_works(start_ipython: StartIPython, workdir: Path) -> None:
    module = workdir / "mod.py"
    save(module, V1)
    ipython = start_ipython(STRICT)
    run(ipython, "%load_ext hotreload_ext")
    run(ipython, "import mod; obj = mod.C()")
    assert run(ipython, "%hotreload").stdout.startswith("hotreload: on;")

    save(module, V2)
    result = run(ipython, "obj.m(), mod.f()")
    assert hotreload_lines(result) == ["hotreload: reloaded mod: updated f, C.m; added g"]
    assert result.value == "('m2', 'f2')"


def test_profile_config_loads_the_extension_at_startup_verbose(
    start_ipython: StartIPython, workdir: Path, ipython_dir: Path
) -> None:
    profile = ipython_dir / "profile_default"
    profile.mkdir()
    (profile / "ipython_config.py").write_text(
        'c.InteractiveShellApp.extensions = ["hotreload"]\nc.HotReload.verbosity = "verbose"\n',
        encoding="utf-8",
    )
    module = workdir / "mod.py"
    save(module, V1)
    ipython = start_ipython(STRICT)
    # Active without %load_ext: the magic exists and reports the configured verbosity.
    status = run(ipython, "%hotreload").stdout
    assert status.splitlines()[0].endswith("verbosity verbose"), status
    assert run(ipython, "'hotreload' in get_ipython().extension_manager.loaded").value == "True"
    run(ipython, "import mod; obj = mod.C()")

    save(module, V2)
    result = run(ipython, "obj.m()")
    assert result.value == "'m2'"
    lines = result.stdout.splitlines()
    assert lines[0] == "hotreload: reloaded mod: updated f, C.m; added g"
    # Verbose: the reload mode, the statements that ran again, and the check's timing.
    assert lines[1].startswith("  mode: statements; ")
    assert "  re-ran L4: def f():" in lines
    assert "  re-ran L13: def g():" in lines
    assert any(line.startswith("hotreload: checked ") for line in lines), lines


def test_quiet_on_command_line_silences_successes_but_not_failures(
    start_ipython: StartIPython, workdir: Path
) -> None:
    module = workdir / "mod.py"
    save(module, V1)
    ipython = start_ipython(STRICT, "--HotReload.verbosity=quiet")
    run(ipython, "%load_ext hotreload")
    run(ipython, "import mod; from mod import f")

    save(module, V2)
    result = run(ipython, "f()")
    assert result.value == "'f2'"
    assert "hotreload" not in result.text

    save(module, BROKEN)
    result = ipython.run("f()")
    assert result.value == "'f2'"
    # Paths read relative to IPython's working directory (the work directory here).
    assert result.stderr.startswith("hotreload: could not reload mod (mod.py, line 5); ")


def test_syntax_error_is_reported_once_and_the_old_code_keeps_running(
    start_ipython: StartIPython, workdir: Path
) -> None:
    module = workdir / "mod.py"
    save(module, V1)
    ipython = start_ipython(STRICT)
    run(ipython, "%load_ext hotreload")
    run(ipython, "import mod; from mod import f; obj = mod.C()")

    save(module, BROKEN)
    result = ipython.run("f(), obj.m()")
    assert result.value == "('f1', 'm1')"
    # One failure, on stderr, naming the module, the file (relative to the working directory)
    # and the line, as IPython shows errors; the user's traceback shows the offending line, not
    # hotreload's frames, and the error line appears once.
    failure = result.stderr
    assert failure.count("hotreload: could not reload") == 1, failure
    assert failure.splitlines()[0] == (
        "hotreload: could not reload mod (mod.py, line 5); it keeps its previous code: "
        "save a fix and run a cell to retry."
    )
    assert "File mod.py:5" in failure
    assert 'return "f3" +' in failure
    assert "hotreload_ext" not in failure
    assert str(module) not in failure
    assert failure.count("SyntaxError") == 1, failure
    assert failure.rstrip().splitlines()[-1].startswith("SyntaxError: ")
    assert "hotreload" not in result.stdout

    # Not repeated while the file stays broken; the old code still runs.
    result = run(ipython, "f(), obj.m()")
    assert result.value == "('f1', 'm1')"
    assert "hotreload" not in result.text

    # The next good save is picked up.
    save(module, V2)
    result = run(ipython, "f(), obj.m(), mod.g()")
    assert hotreload_lines(result) == ["hotreload: reloaded mod: updated f, C.m; added g"]
    assert result.value == "('f2', 'm2', 'g2')"
    status = ipython.run("%hotreload").stdout
    assert "1 reload, 1 failure so far" in status, status


def test_off_stops_reloads_and_now_reloads_on_demand(
    start_ipython: StartIPython, workdir: Path
) -> None:
    module = workdir / "mod.py"
    save(module, V1)
    ipython = start_ipython(STRICT)
    run(ipython, "%load_ext hotreload")
    run(ipython, "import mod; from mod import f")
    assert run(ipython, "%hotreload off").stdout == (
        "hotreload: off; `%hotreload now` still reloads on demand."
    )
    assert run(ipython, "%hotreload").stdout.startswith("hotreload: off;")

    save(module, V2)
    result = run(ipython, "f()")
    assert result.value == "'f1'"
    assert "hotreload" not in result.text

    result = run(ipython, "%hotreload now")
    assert hotreload_lines(result) == ["hotreload: reloaded mod: updated f, C.m; added g"]
    assert run(ipython, "f(), mod.g()").value == "('f2', 'g2')"
    assert run(ipython, "%hotreload now").stdout == "hotreload: no changes in 1 watched module."

    # Still off: the next edit waits for the next `now`, or for `on`.
    save(module, V1)
    assert run(ipython, "f()").value == "'f2'"
    run(ipython, "%hotreload on")
    result = run(ipython, "f()")
    assert hotreload_lines(result) == ["hotreload: reloaded mod: updated f, C.m; removed g"]
    assert result.value == "'f1'"


def test_unload_ext_removes_the_hooks_and_the_magic(
    start_ipython: StartIPython, workdir: Path
) -> None:
    module = workdir / "mod.py"
    save(module, V1)
    ipython = start_ipython(STRICT)
    run(ipython, "%load_ext hotreload")
    run(ipython, "import mod; from mod import f; obj = mod.C()")
    run(ipython, "%unload_ext hotreload")

    save(module, V2)
    result = run(ipython, "f(), obj.m(), hasattr(mod, 'g')")
    assert result.value == "('f1', 'm1', False)"
    assert "hotreload" not in result.text
    result = ipython.run("%hotreload")
    assert "UsageError: Line magic function `%hotreload` not found" in result.text
    callbacks = "[cb.__qualname__ for cb in get_ipython().events.callbacks['pre_run_cell']]"
    assert "Extension" not in (run(ipython, callbacks).value or "")
