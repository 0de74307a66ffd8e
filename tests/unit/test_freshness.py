"""Edits saved before watching started, with no bytecode cache to tell (issue 14, item 5).

``PYTHONDONTWRITEBYTECODE=1`` (common in containers) leaves no ``.pyc`` recording what the
import compiled. The running code itself is then compared with the file.
"""

from __future__ import annotations

import os
import sys

import pytest

from hotreload_ext import Reloader
from hotreload_ext._freshness import compare_running, process_start_ns
from tests.conftest import ModuleFiles, _OnlyPrefix


def watching_now(files: ModuleFiles) -> Reloader:
    """A reloader made now, after the test imported its modules (``%load_ext`` after imports)."""
    return Reloader(include=(), exclude=(), strict=True, modules=_OnlyPrefix(files.prefix))


@pytest.fixture(autouse=True)
def no_bytecode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)


def test_a_function_edited_before_watching_is_reloaded_and_reported_as_updated(
    files: ModuleFiles,
) -> None:
    name = files.name("early")
    m = files.load(name, "X = 1\n\ndef f():\n    return X\n\ndef g():\n    return 0\n")
    files.write(name, "X = 1\n\ndef f():\n    return X * 10\n\ndef g():\n    return 0\n")
    reloader = watching_now(files)

    report = reloader.check()

    assert not report.failed
    assert not report.notices
    [reloaded] = report.reloaded
    assert reloaded.mode.startswith("whole module: the source it was imported from is unknown")
    assert (reloaded.updated, reloaded.added) == (("f",), ())
    assert m.f() == 10


def test_a_method_edited_before_watching_reloads_the_module_with_its_constants(
    files: ModuleFiles, reloader: Reloader
) -> None:
    name = files.name("early")
    m = files.load(name, "LIMIT = 3\n\nclass C:\n    def size(self):\n        return 1\n")
    files.write(
        name,
        "LIMIT = 4\n\nclass C:\n    def size(self):\n        return 2\n\ndef new():\n    pass\n",
    )
    old = m.C()

    [reloaded] = reloader.check().reloaded

    # LIMIT's new value runs, but a running value that differs from the file's literal says
    # nothing by itself (a module may change its own globals): it is not named as updated.
    assert (reloaded.updated, reloaded.added) == (("C",), ("new",))
    assert (m.LIMIT, old.size()) == (4, 2)


def test_a_file_matching_the_running_code_is_not_reloaded(
    files: ModuleFiles, reloader: Reloader
) -> None:
    name = files.name("same")
    files.load(name, 'import os\n"""Doc."""\nX = (1, "a")\n\ndef f():\n    return os.sep\n')
    files.write(name, 'import os\n"""Doc."""\nX = (1, "a")\n\ndef f():\n    return os.sep\n')

    assert not reloader.check()


def test_what_cannot_be_compared_is_said_once_with_how_to_force_it(files: ModuleFiles) -> None:
    name = files.name("computed")
    m = files.load(name, "SIZE = len('abc')\n")
    files.write(name, "SIZE = len('abcd')\n")  # edited after the import, unseen by Python
    reloader = watching_now(files)

    report = reloader.check()

    assert not report.reloaded
    [notice] = report.notices
    assert notice.module == name
    assert "could not tell whether it runs the code in its file" in notice.message
    assert "'%hotreload now MODULE' reloads it" in notice.message
    assert not reloader.check()
    [forced] = reloader.check(force=[name]).reloaded
    assert forced.module == name
    assert m.SIZE == 4


def test_a_file_older_than_the_process_is_trusted_without_compiling_it(
    files: ModuleFiles, reloader: Reloader
) -> None:
    started = process_start_ns()
    if started is None:
        pytest.skip("the process start time is known on Linux only")
    name = files.name("old")
    files.load(name, "SIZE = len('abc')\n")
    # Older than this process: it cannot have changed after the import, whatever it computes.
    an_hour_before = started - 3600 * 10**9
    os.utime(files.path(name), ns=(an_hour_before, an_hour_before))

    assert not reloader.check()


def test_the_comparison_ignores_line_numbers_and_reads_through_wrappers(
    files: ModuleFiles,
) -> None:
    name = files.name("wrapped")
    source = (
        "import functools\n\n"
        "@functools.lru_cache\ndef cached(x):\n    return x\n\n"
        "class C:\n    @staticmethod\n    def s():\n        return 1\n"
        "    def __private(self):\n        return 0\n"
        "    @property\n    def p(self):\n        return 2\n"
    )
    m = files.load(name, source)

    moved = compare_running(m, "\n\n" + source, str(files.path(name)))
    edited = compare_running(m, source.replace("return 2", "return 3"), str(files.path(name)))

    assert moved.verdict == "fresh"
    assert moved.same == {"cached", "C"}
    assert edited.verdict == "stale"
    assert edited.different == {"C"}


def test_a_method_removed_before_watching_makes_the_class_differ(files: ModuleFiles) -> None:
    name = files.name("removed")
    source = "class C:\n    def a(self):\n        return 1\n\n    def b(self):\n        return 2\n"
    m = files.load(name, source)

    compared = compare_running(m, source.split("\n\n    def b")[0] + "\n", str(files.path(name)))

    assert compared.different == {"C"}


def test_a_wrapper_that_hides_the_function_is_undecided_not_stale(files: ModuleFiles) -> None:
    name = files.name("hidden")
    source = (
        "def deco(fn):\n    def wrapper(x):\n        return fn(x)\n\n    return wrapper\n\n"
        "@deco\ndef f(x):\n    return x\n"
    )
    m = files.load(name, source)

    compared = compare_running(m, source, str(files.path(name)))

    assert compared.verdict == "unknown"
    assert compared.same == {"deco"}
    assert not compared.different


def test_a_file_broken_before_watching_is_not_taken_for_the_running_code(
    files: ModuleFiles, reloader: Reloader
) -> None:
    name = files.name("broken")
    m = files.load(name, "def f():\n    return 1\n")
    files.write(name, "def f(:\n    return 2\n")

    report = reloader.check()

    [failed] = report.failed
    assert failed.module == name
    assert m.f() == 1
    files.write(name, "def f():\n    return 1\n")  # restored: what is running
    assert not reloader.check().failed


def test_a_module_that_changed_its_own_global_is_not_taken_for_stale(
    files: ModuleFiles, reloader: Reloader
) -> None:
    name = files.name("counter")
    source = "TICKS = 0\n\ndef tick():\n    global TICKS\n    TICKS += 1\n\ntick()\n"
    m = files.load(name, source)
    files.write(name, source)  # written after the process started: compared, not trusted

    report = reloader.check()

    assert not report.reloaded
    assert m.TICKS == 1, "the body did not run again"


def test_a_module_imported_after_watching_started_is_never_a_notice(
    files: ModuleFiles, reloader: Reloader
) -> None:
    name = files.name("later")
    files.load(name, "SIZE = len('abc')\n")  # imported in a cell, after the extension loaded

    assert not reloader.check()
