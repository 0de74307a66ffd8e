"""The watchfiles change notifier (macOS, Windows), against the real filesystem and watchfiles.

The operating system delivers file events asynchronously, so these tests wait for them with a
bounded loop on ``drain()`` (generous timeouts, never a timing assertion). Everything else is
as in a session: real directories, real writes, a real watcher thread.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hotreload_ext._notify import ChangeNotifier
from hotreload_ext._notify import watchfiles_is_available as is_available

pytestmark = pytest.mark.skipif(not is_available(), reason="watchfiles is not installed")

TIMEOUT = 30.0  # seconds; only ever reached when something is broken


@pytest.fixture
def notifier() -> Iterator[ChangeNotifier]:
    # A short rust timeout makes the watcher report itself ready quickly.
    notifier = ChangeNotifier(timeout_ms=50)
    try:
        yield notifier
    finally:
        notifier.stop()


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.005)


def wait_ready(notifier: ChangeNotifier) -> None:
    """Drain until the notifier answers with a set: it is watching and in sync."""
    wait_until(lambda: notifier.drain() is not None, "the watcher to start")
    assert notifier.reason is None
    assert notifier.is_running


def collect_until(notifier: ChangeNotifier, *paths: Path) -> set[str]:
    """Drain until every one of ``paths`` was reported; return all paths reported meanwhile."""
    seen: set[str] = set()
    wanted = {str(path) for path in paths}

    def reported() -> bool:
        drained = notifier.drain()
        assert drained is not None, notifier.reason
        seen.update(drained)
        return wanted <= seen

    wait_until(reported, f"events for {sorted(wanted)}")
    return seen


def settle(notifier: ChangeNotifier) -> set[str]:
    """Drain until a drain finds nothing (late events of earlier writes); return what came."""
    seen: set[str] = set()

    def quiet() -> bool:
        drained = notifier.drain()
        assert drained is not None, notifier.reason
        seen.update(drained)
        return not drained

    wait_until(quiet, "the events to settle")
    return seen


def write(path: Path, text: str = "X = 1\n") -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_an_edited_module_is_reported_once_then_drains_empty(
    tmp_path: Path, notifier: ChangeNotifier
) -> None:
    module = write(tmp_path / "mod.py")
    assert notifier.start([str(tmp_path)])
    wait_ready(notifier)

    write(module, "X = 2\n")

    assert collect_until(notifier, module) | settle(notifier) == {str(module)}
    assert notifier.drain() == set()


def test_unknown_until_watching_has_started(tmp_path: Path, notifier: ChangeNotifier) -> None:
    # Changes made before the watcher is established are seen by no one: until then (and at
    # the first drain after), the answer is "poll everything".
    assert notifier.drain() is None
    assert notifier.reason == "not started"
    notifier.start([str(tmp_path)])
    assert notifier.drain() is None
    assert notifier.reason == "starting"
    wait_ready(notifier)


def test_files_that_are_not_python_sources_are_ignored(
    tmp_path: Path, notifier: ChangeNotifier
) -> None:
    notifier.start([str(tmp_path)])
    wait_ready(notifier)

    write(tmp_path / "notes.txt")
    write(tmp_path / ".mod.py.swp")
    (tmp_path / "__pycache__").mkdir()
    gui = write(tmp_path / "gui.pyw")
    module = write(tmp_path / "mod.py")

    seen = collect_until(notifier, module, gui) | settle(notifier)
    assert seen == {str(module), str(gui)}


def test_atomic_saves_and_deletions_are_reported(tmp_path: Path, notifier: ChangeNotifier) -> None:
    module = write(tmp_path / "mod.py")
    notifier.start([str(tmp_path)])
    wait_ready(notifier)

    # How many editors save: write a temporary file, then rename it over the module.
    temporary = write(tmp_path / "mod.py.tmp1234", "X = 3\n")
    os.replace(temporary, module)
    assert str(module) in collect_until(notifier, module)
    settle(notifier)

    module.unlink()
    assert str(module) in collect_until(notifier, module)


def test_several_directories_and_every_spelling_of_one(
    tmp_path: Path, notifier: ChangeNotifier
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    alias = tmp_path / "alias"
    try:
        alias.symlink_to(first, target_is_directory=True)
    except OSError:
        pytest.skip("symbolic links are not available here")
    notifier.start([str(first), str(second), str(alias)])
    assert notifier.directories == tuple(sorted([str(first), str(second), str(alias)]))
    wait_ready(notifier)

    write(first / "a.py")
    # The same directory reached through a link reports under the spelling given for it too,
    # so a module imported through the link is found.
    seen = collect_until(notifier, first / "a.py", alias / "a.py") | settle(notifier)
    assert seen == {str(first / "a.py"), str(alias / "a.py")}

    write(second / "b.py")
    assert collect_until(notifier, second / "b.py") | settle(notifier) == {str(second / "b.py")}


def test_a_directory_that_cannot_be_watched_falls_back_to_polling(
    tmp_path: Path, notifier: ChangeNotifier
) -> None:
    missing = tmp_path / "missing"
    notifier.start([str(tmp_path), str(missing)])

    wait_until(lambda: not notifier.is_running, "the watcher to give up")
    assert notifier.drain() is None
    assert notifier.reason is not None
    assert str(missing) in notifier.reason
    assert "not found" in notifier.reason


def test_a_deleted_watched_directory_asks_for_a_full_poll(
    tmp_path: Path, notifier: ChangeNotifier
) -> None:
    package = tmp_path / "package"
    package.mkdir()
    write(package / "mod.py")
    notifier.start([str(package)])
    wait_ready(notifier)

    shutil.rmtree(package)

    # The directory's own deletion event makes the next drain poll and restart the watcher,
    # which cannot watch a directory that is gone.
    wait_until(lambda: notifier.drain() is None, "the notifier to ask for a full poll")
    wait_until(lambda: not notifier.is_running, "the restart to fail")
    assert notifier.drain() is None
    assert notifier.reason == f"cannot watch {package}: not found"


@pytest.mark.skipif(sys.platform != "linux", reason="needs a filesystem taking any bytes as names")
def test_a_dying_watcher_thread_is_reported_not_raised(
    tmp_path: Path, notifier: ChangeNotifier
) -> None:
    notifier.start([str(tmp_path)])
    wait_ready(notifier)

    # watchfiles stops with an error on a file name that is not valid UTF-8: a real way for
    # the watcher thread to die. The caller must only see "poll everything" and a reason.
    with open(os.path.join(os.fsencode(tmp_path), b"\xff.py"), "wb"):
        pass

    wait_until(lambda: notifier.drain() is None, "the thread failure to show")
    assert not notifier.is_running
    assert notifier.reason is not None
    assert notifier.reason.startswith("the watcher thread stopped:")
    assert notifier.drain() is None


def test_update_restarts_only_when_the_directories_change(
    tmp_path: Path, notifier: ChangeNotifier
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    notifier.start([str(first)])
    wait_ready(notifier)

    # The same set (in any order, with repeats): nothing restarts, so nothing becomes unknown.
    assert notifier.update([str(first), str(first)])
    assert notifier.drain() == set()

    assert notifier.update([str(first), str(second)])
    assert notifier.drain() is None
    wait_ready(notifier)
    write(second / "new.py")
    assert collect_until(notifier, second / "new.py") == {str(second / "new.py")}
    write(first / "old.py")
    assert str(first / "old.py") in collect_until(notifier, first / "old.py")


def test_too_many_changes_at_once_ask_for_a_full_poll(tmp_path: Path) -> None:
    notifier = ChangeNotifier(timeout_ms=50, max_pending=3)
    try:
        notifier.start([str(tmp_path)])
        wait_ready(notifier)
        for index in range(10):
            write(tmp_path / f"m{index}.py")

        wait_until(lambda: notifier.drain() is None, "the overflow")
        assert notifier.reason == "more than 3 changed files at once"
        settle(notifier)
        assert notifier.reason is None
    finally:
        notifier.stop()


def test_stop_ends_the_thread_and_answers_unknown(tmp_path: Path, notifier: ChangeNotifier) -> None:
    notifier.start([str(tmp_path)])
    wait_ready(notifier)
    names = {t.name for t in threading.enumerate()}
    assert "hotreload-notify" in names

    notifier.stop()
    notifier.stop()

    assert not notifier.is_running
    assert notifier.drain() is None
    assert notifier.reason == "stopped"
    wait_until(
        lambda: all(t.name != "hotreload-notify" for t in threading.enumerate()),
        "the watcher thread to end",
    )


def test_no_directories_is_not_watching(notifier: ChangeNotifier) -> None:
    assert not notifier.start([])
    assert notifier.drain() is None
    assert notifier.reason == "no directories to watch"


def test_without_watchfiles_it_falls_back_to_polling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A None entry in sys.modules is how Python itself marks a module as not importable.
    monkeypatch.setitem(sys.modules, "watchfiles", None)
    assert not is_available()
    notifier = ChangeNotifier()

    assert not notifier.start([str(tmp_path)])

    assert not notifier.is_running
    assert notifier.drain() is None
    assert notifier.reason is not None
    assert notifier.reason.startswith("watchfiles is not installed")
