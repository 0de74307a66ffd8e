"""Change detection: cheap stat first, content hash second, user modules only."""

from __future__ import annotations

import json
import os
import sys
import types
from pathlib import Path

import pytest

from hotreload_ext import Reloader
from hotreload_ext._discovery import ModuleFilter
from hotreload_ext._watcher import Watcher
from tests.conftest import ModuleFiles, bump, check


def test_touch_reloads_nothing(files: ModuleFiles, reloader: Reloader) -> None:
    name = files.name("touch")
    files.load(name, "X = 1\n")
    reloader.discover()
    bump(files.path(name))
    assert not reloader.check()


def test_edit_reverted_before_next_cell_reloads_nothing(
    files: ModuleFiles, reloader: Reloader
) -> None:
    name = files.name("revert")
    files.load(name, "X = 1\n")
    reloader.discover()
    files.write(name, "X = 2\n")
    files.write(name, "X = 1\n")
    assert not reloader.check()


def test_same_size_edit_with_same_mtime_is_not_missed(
    files: ModuleFiles, reloader: Reloader
) -> None:
    # Two saves within one filesystem timestamp tick: same size, same mtime. The stamp cannot
    # tell them apart; the racily-clean re-hash must.
    name = files.name("racy")
    path = files.path(name)
    m = files.load(name, "X = 1\n")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    reloader.discover()
    path.write_text("X = 2\n")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size
    check(reloader)
    assert m.X == 2


def test_stale_pyc_is_never_used(files: ModuleFiles, reloader: Reloader) -> None:
    import importlib.util
    import py_compile

    name = files.name("pyc")
    path = files.path(name)
    m = files.load(name, "def v():\n    return 1\n")
    py_compile.compile(str(path), cfile=importlib.util.cache_from_source(str(path)))
    reloader.discover()
    stat = path.stat()
    path.write_text("def v():\n    return 2\n")
    # Same size and mtime as the .pyc records: importlib would happily reuse the old bytecode.
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    check(reloader)
    assert m.v() == 2


def test_deleted_file_is_reported_once_and_code_kept(
    files: ModuleFiles, reloader: Reloader
) -> None:
    name = files.name("gone")
    m = files.load(name, "def f():\n    return 1\n")
    reloader.discover()
    path = files.path(name)
    source = path.read_text()
    path.unlink()
    report = reloader.check()
    assert [str(n) for n in report.notices] == [
        f"hotreload: {name}: its file {path} was deleted; keeping the loaded code"
    ]
    assert not reloader.check()
    assert m.f() == 1
    path.write_text(source.replace("1", "2"))
    bump(path)
    check(reloader)
    assert m.f() == 2


def test_modules_imported_later_are_tracked_from_their_import_state(
    files: ModuleFiles, reloader: Reloader
) -> None:
    reloader.discover()
    name = files.name("late")
    m = files.load(name, "X = 1\n")
    reloader.discover()  # what the extension does after the cell that imported it
    files.write(name, "X = 2\n")
    check(reloader)
    assert m.X == 2


def test_lazy_import_inside_function_is_tracked(files: ModuleFiles, reloader: Reloader) -> None:
    lazy = files.name("lazy")
    user = files.name("user")
    files.write(lazy, "def value():\n    return 1\n")
    m = files.load(user, f"def get():\n    import {lazy}\n    return {lazy}.value()\n")
    reloader.discover()
    assert lazy not in reloader.watched
    assert m.get() == 1
    reloader.discover()
    assert lazy in reloader.watched
    files.write(lazy, "def value():\n    return 2\n")
    check(reloader)
    assert m.get() == 2


def test_coding_cookie_and_bom(files: ModuleFiles, reloader: Reloader) -> None:
    name = files.name("latin")
    m = files.load(name, "# -*- coding: latin-1 -*-\nS = 'a'\n")
    reloader.discover()
    files.write_bytes(name, "# -*- coding: latin-1 -*-\nS = 'é'\n".encode("latin-1"))
    check(reloader)
    assert m.S == "é"
    files.write_bytes(name, b"\xef\xbb\xbfS = 'bom'\n")
    check(reloader)
    assert m.S == "bom"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"X = 1\x00\n", "null bytes"),
        (b"X = '\xff\xfe'\n", "cannot decode"),
        (bytes(range(256)) * 4, ""),
        (b"", "is empty (a save in progress, or truncated?)"),
    ],
    ids=["nul", "bad-utf8", "binary", "empty"],
)
def test_garbage_is_reported_and_old_code_kept(
    files: ModuleFiles, reloader: Reloader, data: bytes, message: str
) -> None:
    name = files.name("garbage")
    m = files.load(name, "def f():\n    return 1\n")
    reloader.discover()
    files.write_bytes(name, data)
    report = reloader.check()
    # An empty file is a notice (most likely a save caught half-way), the others failures.
    shown = [str(item) for item in [*report.failed, *report.notices]]
    assert len(shown) == 1
    assert message in shown[0]
    assert m.f() == 1


def test_filter_skips_stdlib_site_packages_main_builtins_and_itself() -> None:
    flt = ModuleFilter()
    assert flt.source_path("json", json) is None
    assert flt.source_path("sys", sys) is None
    assert flt.source_path("__main__", sys.modules["__main__"]) is None
    assert flt.source_path("pytest", pytest) is None
    import hotreload_ext

    assert flt.source_path("hotreload_ext", hotreload_ext) is None
    fake_ext = types.ModuleType("fast")
    fake_ext.__file__ = "/src/fast.cpython-311-x86_64-linux-gnu.so"
    assert flt.source_path("fast", fake_ext) is None
    no_file = types.ModuleType("nofile")
    assert flt.source_path("nofile", no_file) is None


def test_filter_patterns(tmp_path: Path) -> None:
    user = types.ModuleType("proj.core")
    user.__file__ = str(tmp_path / "proj" / "core.py")
    installed = types.ModuleType("mylib.api")
    installed.__file__ = "/venv/lib/python3.11/site-packages/mylib/api.py"
    assert ModuleFilter().source_path("proj.core", user) == user.__file__
    assert ModuleFilter().source_path("mylib.api", installed) is None
    assert ModuleFilter(include=("mylib.*",)).source_path("mylib.api", installed)
    assert ModuleFilter(include=("*/mylib/*",)).source_path("mylib.api", installed)
    assert ModuleFilter(exclude=("proj.*",)).source_path("proj.core", user) is None
    both = ModuleFilter(include=("mylib.*",), exclude=("mylib.api",))
    assert both.source_path("mylib.api", installed) is None


def test_idle_poll_stats_but_never_reads(files: ModuleFiles) -> None:
    name = files.name("idle")
    path = files.write(name, "X = 1\n")
    stat = path.stat()
    # Age the file past the racily-clean window, as a real session's files are; then import
    # it, so that a .pyc (where bytecode is written) records the file as it is.
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns - 10_000_000_000))
    files.load(name)
    calls: list[str] = []

    def counting_stat(p: str) -> os.stat_result:
        calls.append(p)
        return os.stat(p)

    watcher = Watcher({name: sys.modules[name]}, stat=counting_stat)
    watcher.discover()
    calls.clear()
    original_read = Path.read_bytes
    changes, problems = watcher.poll()
    assert (changes, problems) == ([], [])
    assert calls == [str(path)]
    assert Path.read_bytes is original_read


def test_module_deleted_and_reimported_is_watched_again(
    files: ModuleFiles, reloader: Reloader
) -> None:
    # `del sys.modules[m]; import m` leaves len(sys.modules) and its last key unchanged.
    name = files.name("reimport")
    files.load(name, "def f():\n    return 1\n")
    reloader.discover()
    del sys.modules[name]
    m = files.load(name)
    reloader.discover()  # as after the cell that imported it again
    files.write(name, "def f():\n    return 2\n")
    check(reloader)
    assert m.f() == 2


def test_edit_between_import_and_watch_reruns_the_module(
    files: ModuleFiles, reloader: Reloader, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The import writes a .pyc recording the source it compiled; the file then changes before
    # hotreload starts watching (an edit saved before `%load_ext hotreload`).
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    name = files.name("early")
    m = files.load(name, "X = 1\n\ndef f():\n    return X\n")
    files.write(name, "X = 2\n\ndef f():\n    return X * 10\n")
    reloader.discover()
    report = reloader.check()
    assert not report.failed
    assert report.reloaded[0].mode.startswith("whole module: the source it was imported from")
    assert (m.X, m.f()) == (2, 20)
    # From then on, reloads are statement-level again.
    files.write(name, "X = 2\n\ndef f():\n    return X * 100\n")
    report = reloader.check()
    assert report.reloaded[0].mode == "statements"
    assert m.f() == 200


def test_unchanged_file_with_pyc_is_not_rerun(
    files: ModuleFiles, reloader: Reloader, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    name = files.name("pycok")
    files.load(name, "X = 1\n")
    reloader.discover()
    assert not reloader.check()


def test_imports_after_a_removal_in_the_middle_are_watched(
    files: ModuleFiles, reloader: Reloader
) -> None:
    # Only what follows the previous last entry is new, unless something before it went away.
    a, b, c, d = (files.name(s) for s in ("mid_a", "mid_b", "mid_c", "mid_d"))
    for name in (a, b, c):
        files.load(name, "X = 1\n")
    reloader.discover()
    assert {a, b, c} <= set(reloader.watched)
    del sys.modules[a]
    files.load(d, "X = 4\n")
    reloader.discover()
    assert set(reloader.watched) == {b, c, d}
    # Re-imported: a new module object, watched again.
    files.load(a)
    reloader.discover()
    assert reloader.watched[a].module is sys.modules[a]
    # Replaced in place (same key, same position, another object) is seen at the next import.
    sys.modules[b] = types.ModuleType(b)
    files.load(files.name("mid_e"), "X = 5\n")
    reloader.discover()
    assert b not in reloader.watched
