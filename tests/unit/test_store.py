"""The source store and the idle check's directory handles: kept out of memory, never stale.

The store keeps every watched module's running source in an unlinked temporary file; these
tests check that what comes back is what went in (buffered or written, before and after a
compaction, in a forked child), that it falls back to memory with a reason when no file can be
made, and that an unreadable store makes the next reload a whole-module run, not a wrong diff.
The directory handles let the idle check stat files relative to their directory: a directory
replaced behind the handle's back must be noticed.
"""

from __future__ import annotations

import os
import shutil
import sys
import tracemalloc

import pytest

from hotreload_ext import Reloader
from hotreload_ext._digest import digest_bytes
from hotreload_ext._store import NO_SOURCE, SourceStore
from hotreload_ext._watcher import Watcher
from tests.conftest import ModuleFiles, _OnlyPrefix, bump, check


def _version(i: int) -> bytes:
    return f"VALUE = {i}\n".encode() * (i % 7 + 1)


def test_versions_come_back_buffered_written_and_compacted() -> None:
    store = SourceStore()
    keys = {i: store.put(_version(i), digest_bytes(_version(i))) for i in range(50)}
    # Still buffered: read from memory.
    assert all(store.source(k) == _version(i) for i, k in keys.items())
    store.flush()
    assert store.memory() == 0
    assert all(store.source(k) == _version(i) for i, k in keys.items())
    assert all(store.digest(k) == digest_bytes(_version(i)) for i, k in keys.items())
    # Replace most versions with big ones until the garbage is worth collecting.
    big = os.urandom(300_000)
    for i in range(40):
        store.release(keys[i])
        keys[i] = store.put(big + _version(i), digest_bytes(big))
        store.release(keys[i])
        keys[i] = store.put(_version(i), digest_bytes(_version(i)))
    store.flush()
    assert store.wants_compaction
    moved = store.compact(keys.values())
    keys = {i: moved[k] for i, k in keys.items()}
    assert not store.wants_compaction
    assert all(store.source(k) == _version(i) for i, k in keys.items())
    assert store.source(NO_SOURCE) is None
    assert store.digest(NO_SOURCE) == b""
    assert store.fallback is None
    store.close()


def test_no_temporary_directory_falls_back_to_memory_with_a_reason(tmp_path: object) -> None:
    store = SourceStore(directory=os.path.join(str(tmp_path), "missing"))
    key = store.put(b"X = 1\n", digest_bytes(b"X = 1\n"))
    store.flush()
    assert store.fallback is not None
    assert "temporary file" in store.fallback
    assert store.source(key) == b"X = 1\n"
    assert store.memory() > 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_forked_child_writes_to_its_own_copy() -> None:
    store = SourceStore()
    first = store.put(b"A = 1\n", digest_bytes(b"A = 1\n"))
    store.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status
        ok = store.source(first) == b"A = 1\n"
        child = store.put(b"CHILD = 2\n" * 10_000, b"c" * 16)
        store.flush()
        ok = ok and store.source(child) == b"CHILD = 2\n" * 10_000
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    # The child's appends went to its copy: the parent's next version is intact.
    second = store.put(b"B = 2\n", digest_bytes(b"B = 2\n"))
    store.flush()
    assert store.source(first) == b"A = 1\n"
    assert store.source(second) == b"B = 2\n"


def test_unreadable_store_makes_a_whole_module_run(files: ModuleFiles, reloader: Reloader) -> None:
    name = files.name("lost")
    m = files.load(name, "def f():\n    return 1\n\nclass C:\n    pass\n")
    reloader.discover()
    f, cls = m.f, m.C
    tracked = reloader.watched[name]
    # The stored version cannot be read any more (the file was lost behind the store's back).
    reloader.watcher.store.release(tracked.key)
    tracked.key = (1 << 60) | 10
    files.write(name, "def f():\n    return 2\n\nclass C:\n    pass\n")
    report = reloader.check()
    assert not report.failed
    assert f() == 2
    assert m.C is cls
    assert report.reloaded[0].mode.startswith("whole module: the source it was imported from")
    assert "stored copy of it could not be read" in report.reloaded[0].mode


def test_memory_kept_per_watched_module_is_small(files: ModuleFiles) -> None:
    # A module's source is not kept in memory: a few hundred bytes of bookkeeping are.
    names = [files.name(f"many{i}") for i in range(300)]
    body = "".join(f"def f{j}(x):\n    return x + {j}\n\n" for j in range(40))
    for name in names:
        files.load(name, body)
    watcher = Watcher(_OnlyPrefix(files.prefix))
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        watcher.discover()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(watcher.tracked) == 300
    assert kept / 300 < 700, f"{kept / 300:.0f} bytes per module"
    assert watcher.memory() / 300 < 700


def _package_of(files: ModuleFiles, count: int) -> tuple[str, list[str]]:
    package = files.name("busy")
    files.package(package)
    names = [f"{package}.m{i}" for i in range(count)]
    for i, name in enumerate(names):
        files.load(name, f"VALUE = {i}\n")
    return package, names


def test_directory_replaced_behind_its_handle_is_noticed(
    files: ModuleFiles, reloader: Reloader
) -> None:
    package, names = _package_of(files, 12)
    reloader.discover()
    check(reloader)
    handles = [t.dir_handle for n, t in reloader.watched.items() if n in names]
    assert all(h is not None for h in handles), "a busy directory is stat'ed through a handle"
    # A new copy of the directory, with one module edited, moved into place.
    directory = files.root / package
    staging = files.root / "staging"
    shutil.copytree(directory, staging)
    (staging / "m3.py").write_text("VALUE = 'new'\n")
    bump(staging / "m3.py", after=(directory / "m3.py").stat().st_mtime_ns)
    shutil.rmtree(directory)
    os.rename(staging, directory)
    check(reloader)
    assert sys.modules[names[3]].VALUE == "new"
    assert sys.modules[names[4]].VALUE == 4


def test_symlinked_directory_swapped_is_noticed(files: ModuleFiles, reloader: Reloader) -> None:
    package = files.name("linked")
    real_a, real_b = files.root / "real_a", files.root / "real_b"
    real_a.mkdir()
    for i in range(10):
        (real_a / f"m{i}.py").write_text(f"VALUE = {i}\n")
    (real_a / "__init__.py").write_text("")
    shutil.copytree(real_a, real_b)
    (real_b / "m0.py").write_text("VALUE = 'b'\n")
    bump(real_b / "m0.py", after=(real_a / "m0.py").stat().st_mtime_ns)
    os.symlink(real_a, files.root / package)
    modules = [files.load(f"{package}.m{i}") for i in range(10)]
    reloader.discover()
    check(reloader)
    link = files.root / package
    os.symlink(real_b, files.root / "next")
    os.replace(files.root / "next", link)
    check(reloader)
    assert modules[0].VALUE == "b"
    assert modules[1].VALUE == 1


def test_close_releases_every_handle(files: ModuleFiles, reloader: Reloader) -> None:
    _, names = _package_of(files, 10)
    reloader.discover()
    check(reloader)
    handle = reloader.watched[names[0]].dir_handle
    assert handle is not None
    reloader.close()
    with pytest.raises(OSError, match="Bad file descriptor"):
        os.fstat(handle)
    # Still works afterwards, by path.
    files.write(names[0], "VALUE = 'after'\n")
    check(reloader)
    assert sys.modules[names[0]].VALUE == "after"
