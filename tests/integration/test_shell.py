"""The extension inside a real in-process IPython ``InteractiveShell``."""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from hotreload_ext._extension import Extension, get_extension
from hotreload_ext._inotify import is_available as inotify_is_available
from hotreload_ext._notify import is_available as notify_is_available
from tests.conftest import ModuleFiles

SHAPES = """
def area(r):
    return 3 * r * r

class Circle:
    def __init__(self, r):
        self.r = r

    def describe(self):
        return f"circle {self.r}"
"""


@pytest.fixture(scope="session")
def ipython(tmp_path_factory: pytest.TempPathFactory) -> InteractiveShell:
    os.environ["IPYTHONDIR"] = str(tmp_path_factory.mktemp("ipythondir"))
    shell = InteractiveShell.instance()
    assert shell.history_manager is not None
    shell.history_manager.enabled = False
    return shell


@pytest.fixture
def shell(ipython: InteractiveShell, files: ModuleFiles) -> Iterator[InteractiveShell]:
    """The shell with hotreload loaded in strict mode; unloaded afterwards."""
    ipython.run_line_magic("load_ext", "hotreload")
    ipython.run_line_magic("config", "HotReload.strict = True")
    yield ipython
    extension = get_extension(ipython)
    errors = list(extension.internal_errors) if extension else []
    ipython.run_line_magic("unload_ext", "hotreload")
    assert ipython.extension_manager is not None
    ipython.extension_manager.loaded.discard("hotreload_ext")
    for key in ("c", "area", "old_area", "shapes", "m"):
        ipython.user_ns.pop(key, None)
    ipython.config.pop("HotReload", None)
    assert errors == [], "internal errors must not hide"


def ext(shell: InteractiveShell) -> Extension:
    extension = get_extension(shell)
    assert extension is not None
    return extension


def run(shell: InteractiveShell, cell: str) -> object:
    result = shell.run_cell(cell, store_history=False)
    if result.error_in_exec is not None:
        raise result.error_in_exec
    if result.error_before_exec is not None:
        raise result.error_before_exec
    return result.result


def test_edit_between_cells(
    shell: InteractiveShell, files: ModuleFiles, capsys: pytest.CaptureFixture[str]
) -> None:
    name = files.name("shapes")
    files.write(name, SHAPES)
    run(shell, f"import {name} as shapes\nfrom {name} import area\nc = shapes.Circle(2)")
    capsys.readouterr()
    files.write(
        name,
        SHAPES.replace("3 * r", "3.14 * r").replace("circle {", "Circle r={")
        + "\ndef perimeter(r):\n    return 2 * r\n",
    )
    assert run(shell, "area(1), c.describe(), shapes.perimeter(2)") == (3.14, "Circle r=2", 4)
    out = capsys.readouterr().out
    assert f"hotreload: reloaded {name}: updated area, Circle.describe; added perimeter" in out
    assert out.count("hotreload: reloaded") == 1
    # Nothing changed since: the next cell is silent.
    run(shell, "1")
    assert "hotreload" not in capsys.readouterr().out


def test_failure_reported_once_then_fixed(
    shell: InteractiveShell, files: ModuleFiles, capsys: pytest.CaptureFixture[str]
) -> None:
    name = files.name("broken")
    path = files.write(name, SHAPES)
    run(shell, f"import {name} as shapes")
    files.write(name, SHAPES + "\ndef oops(:\n")
    assert run(shell, "shapes.area(1)") == 3
    err = capsys.readouterr().err
    assert f"hotreload: could not reload {name} ({path}, line 12)" in err
    assert "SyntaxError" in err
    run(shell, "1")
    assert "could not reload" not in capsys.readouterr().err
    files.write(name, SHAPES.replace("3 * r", "4 * r"))
    assert run(shell, "shapes.area(1)") == 4


def test_hotreload_ext_name_and_double_load(
    shell: InteractiveShell, files: ModuleFiles, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.run_line_magic("load_ext", "hotreload_ext")
    shell.run_line_magic("load_ext", "hotreload")
    name = files.name("twice")
    files.write(name, "X = 1\n")
    run(shell, f"import {name} as m")
    files.write(name, "X = 2\n")
    capsys.readouterr()
    assert run(shell, "m.X") == 2
    assert capsys.readouterr().out.count("hotreload: reloaded") == 1


def test_status_on_off_now(
    shell: InteractiveShell, files: ModuleFiles, capsys: pytest.CaptureFixture[str]
) -> None:
    name = files.name("steer")
    files.write(name, "X = 1\n")
    run(shell, f"import {name} as m")
    capsys.readouterr()
    shell.run_line_magic("hotreload", "")
    status = capsys.readouterr().out
    assert status.startswith("hotreload: on; polling before each cell")
    assert "watching" in status

    shell.run_line_magic("hotreload", "off")
    files.write(name, "X = 2\n")
    assert run(shell, "m.X") == 1
    shell.run_line_magic("hotreload", "now")
    assert run(shell, "m.X") == 2
    capsys.readouterr()
    shell.run_line_magic("hotreload", "status")
    assert capsys.readouterr().out.startswith("hotreload: off; polling before each cell")
    shell.run_line_magic("hotreload", "on")
    files.write(name, "X = 3\n")
    assert run(shell, "m.X") == 3

    # `now NAME` re-runs a module even though it did not change.
    run(shell, "m.X = 99")
    shell.run_line_magic("hotreload", f"now {name}")
    assert run(shell, "m.X") == 3


def test_watch_and_exclude_patterns(
    shell: InteractiveShell, files: ModuleFiles, capsys: pytest.CaptureFixture[str]
) -> None:
    name = files.name("pat")
    files.write(name, "X = 1\n")
    run(shell, f"import {name} as m")
    shell.run_line_magic("hotreload", f"exclude {files.prefix}*")
    assert name not in ext(shell).reloader.watched
    files.write(name, "X = 2\n")
    assert run(shell, "m.X") == 1
    # `now` on an excluded module says so, and how to undo it.
    with pytest.raises(
        UsageError, match=rf"{name} is excluded \(exclude pattern '{files.prefix}\*'\)"
    ):
        shell.run_line_magic("hotreload", f"now {name}")
    with pytest.raises(UsageError, match="not an exclude pattern: nope"):
        shell.run_line_magic("hotreload", "unexclude nope")
    with pytest.raises(UsageError, match="not a watch pattern: nope"):
        shell.run_line_magic("hotreload", "unwatch nope")
    shell.run_line_magic("hotreload", f"unexclude {files.prefix}*")
    assert name in ext(shell).reloader.watched
    # Re-watched from its current source: the edit made while excluded is now the baseline.
    files.write(name, "X = 3\n")
    assert run(shell, "m.X") == 3
    shell.run_line_magic("hotreload", "watch json")
    assert "json" in ext(shell).reloader.watched
    shell.run_line_magic("hotreload", "unwatch json")
    assert "json" not in ext(shell).reloader.watched
    capsys.readouterr()
    shell.run_line_magic("hotreload", "watch")
    assert "hotreload watch patterns: (none)" in capsys.readouterr().out


@pytest.mark.parametrize(
    "line",
    [
        "bogus",
        "on now",
        "verbosity loud",
        "verbosity",
        "unwatch",
        "unwatch nope",
        "now nomodule",
        "'",
    ],
)
def test_bad_arguments_give_usage_errors(shell: InteractiveShell, line: str) -> None:
    with pytest.raises(UsageError):
        shell.run_line_magic("hotreload", line)


def test_help_documents_every_command(shell: InteractiveShell) -> None:
    doc = shell.find_line_magic("hotreload").__doc__
    for command in (
        "status",
        "on | off",
        "now [MODULE",
        "watch",
        "unwatch",
        "exclude",
        "unexclude",
        "verbosity",
        "timings",
    ):
        assert command in doc
    # `%hotreload?` shows the docstring as it is: no reStructuredText markup.
    for markup in ("::", "``"):
        assert markup not in doc


def test_config_magic_and_verbosity(
    shell: InteractiveShell, files: ModuleFiles, capsys: pytest.CaptureFixture[str]
) -> None:
    name = files.name("verb")
    files.write(name, "A = 1\nB = A + 1\n")
    run(shell, f"import {name} as m")
    shell.run_line_magic("config", "HotReload.verbosity = 'verbose'")
    files.write(name, "A = 10\nB = A + 1\n")
    capsys.readouterr()
    assert run(shell, "m.B") == 11
    out = capsys.readouterr().out
    assert "re-ran L1: A = 10" in out
    assert "re-ran L2: B = A + 1" in out
    assert "mode: statements" in out

    shell.run_line_magic("hotreload", "verbosity quiet")
    assert capsys.readouterr().out == "hotreload: verbosity quiet\n"
    files.write(name, "A = 20\nB = A + 1\n")
    assert run(shell, "m.B") == 21
    assert "hotreload" not in capsys.readouterr().out

    shell.run_line_magic("config", "HotReload.selective = False")
    assert ext(shell).reloader.selective is False


def test_settings_from_config_file_values(
    ipython: InteractiveShell, files: ModuleFiles, capsys: pytest.CaptureFixture[str]
) -> None:
    ipython.config.HotReload.verbosity = "quiet"
    ipython.config.HotReload.exclude = ["nothing.*"]
    try:
        ipython.run_line_magic("load_ext", "hotreload")
        settings = ext(ipython).settings
        assert settings.verbosity == "quiet"
        assert settings.exclude == ["nothing.*"]
    finally:
        ipython.run_line_magic("unload_ext", "hotreload")
        ipython.config.pop("HotReload", None)


def test_reports_go_through_logging(
    shell: InteractiveShell, files: ModuleFiles, caplog: pytest.LogCaptureFixture
) -> None:
    name = files.name("logged")
    files.write(name, "X = 1\n")
    run(shell, f"import {name} as m")
    files.write(name, "X = 2\n")
    with caplog.at_level(logging.INFO, logger="hotreload"):
        run(shell, "m.X")
    assert [r.getMessage() for r in caplog.records] == [f"hotreload: reloaded {name}: updated X"]


def test_unload_removes_every_hook(
    ipython: InteractiveShell, files: ModuleFiles, capsys: pytest.CaptureFixture[str]
) -> None:
    # IPython 9 registers its own magics lazily: looking %load_ext and %unload_ext up first
    # keeps their ExtensionMagics (added on first use) out of what hotreload must remove.
    ipython.find_line_magic("load_ext")
    ipython.find_line_magic("unload_ext")
    before = {event: list(cbs) for event, cbs in ipython.events.callbacks.items()}
    configurables = list(ipython.configurables)
    ipython.run_line_magic("load_ext", "hotreload")
    name = files.name("unload")
    files.write(name, "X = 1\n")
    run(ipython, f"import {name} as m")
    ipython.run_line_magic("unload_ext", "hotreload")
    assert {event: list(cbs) for event, cbs in ipython.events.callbacks.items()} == before
    assert ipython.configurables == configurables
    assert ipython.find_line_magic("hotreload") is None
    files.write(name, "X = 2\n")
    assert run(ipython, "m.X") == 1
    ipython.user_ns.pop("m", None)


def test_internal_error_never_breaks_the_cell(
    shell: InteractiveShell, files: ModuleFiles, capsys: pytest.CaptureFixture[str]
) -> None:
    name = files.name("internal")
    files.write(name, "X = 1\n")
    run(shell, f"import {name} as m")
    shell.run_line_magic("config", "HotReload.strict = False")
    extension = ext(shell)

    def broken_stat(path: str) -> os.stat_result:
        raise RuntimeError("simulated bug in hotreload")

    # The watcher's stat seam stands in for a bug inside the engine.
    extension.reloader.watcher._stat = broken_stat
    capsys.readouterr()
    assert run(shell, "m.X + 1") == 2
    err = capsys.readouterr().err
    assert "hotreload: internal error (RuntimeError: simulated bug in hotreload)" in err
    assert "your code and data are untouched" in err
    extension.internal_errors.clear()

    # In strict mode the same bug is raised (and recorded) instead of reported.
    shell.run_line_magic("config", "HotReload.strict = True")
    with pytest.raises(RuntimeError, match="simulated bug"):
        extension.run_check()
    extension.internal_errors.clear()
    extension.reloader.watcher._stat = os.stat


def test_module_imported_in_a_cell_then_edited(
    shell: InteractiveShell, files: ModuleFiles, tmp_path: Path
) -> None:
    name = files.name("cellimp")
    files.write(name, "def f():\n    return 1\n")
    run(shell, f"from {name} import f")
    files.write(name, "def f():\n    return 2\n")
    assert run(shell, "f()") == 2


def test_from_import_in_cell_follows_constant_change(
    shell: InteractiveShell, files: ModuleFiles, capsys: pytest.CaptureFixture[str]
) -> None:
    name = files.name("consts")
    files.write(name, "THRESHOLD = 0.5\nLIMIT = 3\n")
    run(shell, f"from {name} import THRESHOLD, LIMIT as lim")
    run(shell, "unrelated = 3")  # the same small-int object as LIMIT, but not imported
    shell.run_line_magic("hotreload", "verbosity verbose")
    files.write(name, "THRESHOLD = 0.75\nLIMIT = 4\n")
    capsys.readouterr()
    assert run(shell, "THRESHOLD, lim, unrelated") == (0.75, 4, 3)
    out = capsys.readouterr().out
    assert "rebound imported names: " in out
    assert "THRESHOLD in the user namespace" in out
    run(shell, "THRESHOLD = 'mine'")
    files.write(name, "THRESHOLD = 0.9\nLIMIT = 4\n")
    assert run(shell, "THRESHOLD") == "mine"
    for key in ("THRESHOLD", "lim", "unrelated"):
        shell.user_ns.pop(key, None)


def test_timings_show_the_idle_cost_and_each_stage_of_the_last_reload(
    shell: InteractiveShell, files: ModuleFiles, capsys: pytest.CaptureFixture[str]
) -> None:
    name = files.name("timed")
    files.write(name, SHAPES)
    run(shell, f"import {name} as shapes")
    files.write(name, SHAPES.replace("3 * r", "4 * r"))
    run(shell, "1")
    run(shell, "2")
    capsys.readouterr()
    run(shell, "%hotreload --timings")
    out = capsys.readouterr().out
    assert "an idle cell costs" in out
    assert "last reload:" in out
    for stage in ("detect (stat, read, hash)", "parse", "plan", "diff", "patch and commit"):
        assert f"    {stage} " in out
    # The stage rows add up to the total; the rest is a named row of its own.
    total = float(re.search(r"last reload: ([0-9.]+) ms", out)[1])  # type: ignore[index]
    rows = [float(m) for m in re.findall(r"^    .*? +([0-9.]+) ms +[0-9]+%$", out, re.M)]
    assert "    other (discovery, report) " in out
    assert len(rows) >= 6
    assert abs(sum(rows) - total) <= 0.001 * len(rows) + 0.01


@pytest.mark.skipif(not notify_is_available(), reason="no change notification here")
def test_change_notification_mode_reloads_and_says_which_mode_is_on(
    shell: InteractiveShell, files: ModuleFiles, capsys: pytest.CaptureFixture[str]
) -> None:
    name = files.name("notified")
    files.write(name, SHAPES)
    run(shell, f"import {name} as shapes")
    run(shell, "%config HotReload.detection = 'notify'")
    try:
        extension = get_extension(shell)
        assert extension is not None
        reloader = extension.reloader
        # The notifier starts in the background: until it runs, each cell polls.
        for _ in range(500):
            run(shell, "pass")
            if reloader.notifier is not None and reloader.notifier.is_running:
                break
            threading.Event().wait(0.01)
        capsys.readouterr()
        run(shell, "%hotreload status")
        assert reloader.notifier is not None
        assert f"change notification ({reloader.notifier.backend})" in capsys.readouterr().out
        files.write(name, SHAPES.replace("3 * r", "5 * r"))
        # The event reaches the thread asynchronously: a few cells at most.
        for _ in range(500):
            if run(shell, "shapes.area(1)") == 5:
                break
            threading.Event().wait(0.01)
        assert run(shell, "shapes.area(1)") == 5
    finally:
        run(shell, "%config HotReload.detection = 'poll'")
    capsys.readouterr()
    run(shell, "%hotreload status")
    assert "polling before each cell" in capsys.readouterr().out


@pytest.mark.skipif(not inotify_is_available(), reason="exact notification needs inotify (Linux)")
def test_notify_mode_never_misses_a_save_made_before_the_cell(
    shell: InteractiveShell, files: ModuleFiles
) -> None:
    name = files.name("saved")
    path = files.write(name, "def version():\n    return 0\n")
    run(shell, f"from {name} import version")
    run(shell, "%config HotReload.detection = 'notify'")
    try:
        run(shell, "pass")  # the notifier's first answer is "poll everything"
        # Save, then run a cell at once, many times over: never a cell that misses the save.
        for number in range(1, 101):
            path.write_text(f"def version():\n    return {number}\n", encoding="utf-8")
            assert run(shell, "version()") == number
    finally:
        run(shell, "%config HotReload.detection = 'poll'")


def test_an_edit_saved_before_loading_without_bytecode_is_picked_up(
    ipython: InteractiveShell,
    files: ModuleFiles,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # PYTHONDONTWRITEBYTECODE=1, as in many containers: no .pyc says what the import compiled.
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    name = files.name("container")
    files.write(name, "def greet():\n    return 'hi'\n\ndef other():\n    return 0\n")
    run(ipython, f"import {name} as m; greet = m.greet")
    files.write(name, "def greet():\n    return 'hello'\n\ndef other():\n    return 0\n")
    ipython.run_line_magic("load_ext", "hotreload")
    try:
        ipython.run_line_magic("config", "HotReload.strict = True")
        capsys.readouterr()
        assert run(ipython, "greet()") == "hello"
        out = capsys.readouterr().out
        assert f"reloaded {name}: updated greet" in out
        assert "added" not in out
    finally:
        ipython.run_line_magic("unload_ext", "hotreload")
        assert ipython.extension_manager is not None
        ipython.extension_manager.loaded.discard("hotreload_ext")
        ipython.config.pop("HotReload", None)
        for key in ("m", "greet"):
            ipython.user_ns.pop(key, None)


def test_a_class_renamed_with_its_old_name_kept_takes_the_sessions_instances(
    shell: InteractiveShell, files: ModuleFiles, capsys: pytest.CaptureFixture[str]
) -> None:
    name = files.name("renamed")
    files.write(name, "class OldName:\n    def hello(self):\n        return 'old'\n")
    run(shell, f"from {name} import OldName; obj = OldName()")
    files.write(
        name, "class NewName:\n    def hello(self):\n        return 'new'\n\nOldName = NewName\n"
    )
    capsys.readouterr()
    assert run(shell, f"import {name} as m; obj.hello(), isinstance(obj, m.NewName)") == (
        "new",
        True,
    )
    assert run(shell, "OldName is m.NewName") is True
    assert "renamed to NewName" in capsys.readouterr().out
    for key in ("OldName", "obj"):
        shell.user_ns.pop(key, None)


def test_autoreload_loaded_as_well_is_reported_once_and_in_status(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    # IPython's own autoreload extension, loaded after hotreload: the two would fight.
    shell.run_line_magic("load_ext", "autoreload")
    try:
        shell.run_line_magic("autoreload", "2")
        capsys.readouterr()
        run(shell, "1 + 1")
        run(shell, "2 + 2")
        err = capsys.readouterr().err
        assert err.count("%autoreload is on as well") == 1
        shell.run_line_magic("hotreload", "status")
        assert "%autoreload is on as well" in capsys.readouterr().out
        shell.run_line_magic("autoreload", "0")
        shell.run_line_magic("hotreload", "status")
        assert "%autoreload" not in capsys.readouterr().out
    finally:
        shell.run_line_magic("autoreload", "0")


def test_a_reload_waiting_on_a_missing_module_runs_when_the_module_is_created(
    shell: InteractiveShell, files: ModuleFiles, capsys: pytest.CaptureFixture[str]
) -> None:
    name, helper = files.name("waits"), files.name("created_later")
    files.write(name, "X = 1\n")
    run(shell, f"import {name} as m")
    files.write(name, f"from {helper} import VALUE\nX = VALUE\n")
    capsys.readouterr()
    run(shell, "m.X")
    assert "ModuleNotFoundError" in capsys.readouterr().err
    run(shell, "m.X")
    assert "ModuleNotFoundError" not in capsys.readouterr().err, "said once"
    files.write(helper, "VALUE = 3\n")
    assert run(shell, "m.X") == 3


EXTENSION_C = """
#include <Python.h>
static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "%(name)s", NULL, -1, NULL};
PyMODINIT_FUNC PyInit_%(name)s(void) {
    PyObject *m = PyModule_Create(&def);
    if (m) PyModule_AddIntConstant(m, "VERSION", %(version)d);
    return m;
}
"""


def _build_extension(directory: Path, name: str, version: int) -> Path:
    """Compile a tiny C extension module ``name`` into ``directory``; skip without a compiler."""
    import shutil
    import subprocess
    import sysconfig

    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler to build an extension module")
    source = directory / f"{name}.c"
    source.write_text(EXTENSION_C % {"name": name, "version": version})
    target = directory / (name + str(sysconfig.get_config_var("EXT_SUFFIX")))
    include = sysconfig.get_paths()["include"]
    building = target.with_suffix(".tmp")
    subprocess.run(
        [compiler, "-shared", "-fPIC", f"-I{include}", str(source), "-o", str(building)],
        check=True,
        capture_output=True,
    )
    # As build tools do: write beside it, then move into place (a new inode).
    os.replace(building, target)
    return target


def test_a_rebuilt_compiled_extension_is_reported_once_and_its_importer_still_reloads(
    shell: InteractiveShell, files: ModuleFiles, capsys: pytest.CaptureFixture[str]
) -> None:
    ext_name, user = files.name("fast"), files.name("uses_fast")
    _build_extension(files.root, ext_name, 1)
    files.write(user, f"import {ext_name}\n\ndef version():\n    return {ext_name}.VERSION\n")
    run(shell, f"import {user} as m")
    assert run(shell, "m.version()") == 1
    capsys.readouterr()

    _build_extension(files.root, ext_name, 2)
    (files.root / f"{ext_name}.pyi").write_text("VERSION: int\n")  # a stub never triggers
    files.write(user, f"import {ext_name}\n\ndef version():\n    return {ext_name}.VERSION * 10\n")
    assert run(shell, "m.version()") == 10, "the .py module is reloaded; the old build runs"
    captured = capsys.readouterr()
    assert captured.err.count("was rebuilt") == 1
    assert ext_name in captured.err
    assert "restart the kernel" in captured.err
    run(shell, "1")
    assert "was rebuilt" not in capsys.readouterr().err, "said once per rebuild"


CONFIG_READER = """
import json
from pathlib import Path

CONFIG = json.loads((Path(__file__).parent / "{data}").read_text())
LIMIT = CONFIG["limit"] * 2


def limit():
    return LIMIT
"""


def _write_data(path: Path, text: str) -> None:
    previous = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text, encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, max(stat.st_mtime_ns, previous) + 1_000_000_000))


def test_a_data_file_read_at_import_is_followed_in_cells_and_can_be_turned_off(
    shell: InteractiveShell, files: ModuleFiles, capsys: pytest.CaptureFixture[str]
) -> None:
    name = files.name("reads_config")
    data = files.root / "app-config.json"
    _write_data(data, '{"limit": 1}')
    files.write(name, CONFIG_READER.format(data=data.name))
    run(shell, f"import {name} as m\nfrom {name} import LIMIT")
    capsys.readouterr()
    _write_data(data, '{"limit": 5}')
    assert run(shell, "m.LIMIT, LIMIT, m.limit()") == (10, 10, 10)
    out = capsys.readouterr().out
    assert f"hotreload: reloaded {name} (data file app-config.json changed): updated CONFIG" in out
    run(shell, "%hotreload status")
    assert "following 1 data file read at import" in capsys.readouterr().out
    run(shell, "1")
    assert "hotreload" not in capsys.readouterr().out, "nothing changed: silent"

    run(shell, "%config HotReload.data_files = False")
    _write_data(data, '{"limit": 7}')
    assert run(shell, "m.LIMIT") == 10
    run(shell, "%hotreload status")
    assert "data files read at import are not followed" in capsys.readouterr().out
    shell.user_ns.pop("LIMIT", None)


@pytest.mark.skipif(not notify_is_available(), reason="watchfiles is not installed")
def test_a_data_file_in_another_directory_is_followed_in_notify_mode(
    shell: InteractiveShell, files: ModuleFiles, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "data"
    elsewhere.mkdir()
    data = elsewhere / "notified.json"
    _write_data(data, '{"limit": 1}')
    name = files.name("notified_data")
    files.write(
        name,
        f"import json, pathlib\nCONFIG = json.loads(pathlib.Path({str(data)!r}).read_text())\n",
    )
    run(shell, f"import {name} as m")
    run(shell, "%config HotReload.detection = 'notify'")
    try:
        reloader = ext(shell).reloader
        for _ in range(500):
            run(shell, "pass")
            if reloader.notifier is not None and reloader.notifier.is_running:
                break
            threading.Event().wait(0.01)
        assert reloader.notifier is not None
        assert str(elsewhere) in reloader.notifier.directories
        _write_data(data, '{"limit": 2}')
        for _ in range(500):
            if run(shell, "m.CONFIG") == {"limit": 2}:
                break
            threading.Event().wait(0.01)
        assert run(shell, "m.CONFIG") == {"limit": 2}
    finally:
        run(shell, "%config HotReload.detection = 'poll'")
