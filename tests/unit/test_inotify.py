"""The Linux notifier: the kernel's inotify queue read at drain, on the real filesystem.

The kernel queues an event during the write that causes it, so these tests never wait: a drain
right after a write must already report it. That is the promise notify mode makes.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from hotreload_ext._inotify import InotifyNotifier, is_available
from hotreload_ext._notify import make_notifier

pytestmark = pytest.mark.skipif(not is_available(), reason="inotify is Linux only")


@pytest.fixture
def notifier() -> Iterator[InotifyNotifier]:
    notifier = InotifyNotifier()
    try:
        yield notifier
    finally:
        notifier.stop()


def started(notifier: InotifyNotifier, *dirs: Path) -> InotifyNotifier:
    """Start watching and take the first answer (None: changes before it were seen by no one)."""
    assert notifier.start([str(d) for d in dirs])
    assert notifier.drain() is None
    assert notifier.reason is None
    assert notifier.is_running
    return notifier


def write(path: Path, text: str = "X = 1\n") -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_the_linux_notifier_is_the_one_the_engine_gets() -> None:
    made = make_notifier()
    assert made.backend == "inotify"
    made.stop()


def test_every_save_is_in_the_very_next_drain(tmp_path: Path, notifier: InotifyNotifier) -> None:
    module = write(tmp_path / "mod.py")
    started(notifier, tmp_path)
    for version in range(200):
        write(module, f"X = {version}\n")
        assert notifier.drain() == {str(module)}
        assert notifier.drain() == set()


def test_atomic_saves_deletions_and_utime_are_reported(
    tmp_path: Path, notifier: InotifyNotifier
) -> None:
    module = write(tmp_path / "mod.py")
    gone = write(tmp_path / "gone.py")
    touched = write(tmp_path / "touched.py")
    started(notifier, tmp_path)

    os.replace(write(tmp_path / ".mod.py.swp-tmp", "X = 2\n"), module)
    gone.unlink()
    os.utime(touched, ns=(0, 10**18))

    assert notifier.drain() == {str(module), str(gone), str(touched)}


def test_files_that_are_not_python_sources_are_ignored(
    tmp_path: Path, notifier: InotifyNotifier
) -> None:
    started(notifier, tmp_path)
    write(tmp_path / "notes.txt")
    write(tmp_path / "mod.pyc")
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub" / "inner.py")  # not a watched directory

    assert notifier.drain() == set()


def test_every_spelling_of_a_directory_gets_the_path(
    tmp_path: Path, notifier: InotifyNotifier
) -> None:
    real = tmp_path / "real"
    real.mkdir()
    alias = tmp_path / "alias"
    alias.symlink_to(real)
    started(notifier, real, alias)

    write(real / "a.py")

    assert notifier.drain() == {str(real / "a.py"), str(alias / "a.py")}


def test_a_missing_directory_makes_it_poll_and_says_why(
    tmp_path: Path, notifier: InotifyNotifier
) -> None:
    missing = tmp_path / "missing"

    assert not notifier.start([str(tmp_path), str(missing)])

    assert not notifier.is_running
    assert notifier.drain() is None
    assert notifier.reason == f"cannot watch {missing}: not found"


def test_a_deleted_directory_asks_for_a_full_poll_and_watches_again(
    tmp_path: Path, notifier: InotifyNotifier
) -> None:
    package, other = tmp_path / "package", tmp_path / "other"
    package.mkdir()
    other.mkdir()
    started(notifier, package, other)

    shutil.rmtree(package)

    assert notifier.drain() is None
    assert notifier.reason == f"cannot watch {package}: not found"
    package.mkdir()
    assert notifier.update([str(package), str(other)])
    assert notifier.drain() is None
    write(package / "mod.py")
    assert notifier.drain() == {str(package / "mod.py")}


def test_update_starts_over_only_when_the_directories_change(
    tmp_path: Path, notifier: InotifyNotifier
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    started(notifier, first)

    assert notifier.update([str(first), str(first)])
    assert notifier.drain() == set()

    assert notifier.update([str(second), str(first)])
    assert notifier.drain() is None
    write(second / "new.py")
    write(first / "old.py")
    assert notifier.drain() == {str(second / "new.py"), str(first / "old.py")}


def test_stop_and_no_directories_answer_unknown(tmp_path: Path, notifier: InotifyNotifier) -> None:
    started(notifier, tmp_path)
    notifier.stop()
    notifier.stop()
    assert not notifier.is_running
    assert notifier.drain() is None
    assert notifier.reason == "stopped"

    assert not notifier.start([])
    assert notifier.drain() is None
    assert notifier.reason == "no directories to watch"


def test_a_forked_child_polls_and_leaves_the_parent_its_events(
    tmp_path: Path, notifier: InotifyNotifier
) -> None:
    module = write(tmp_path / "mod.py")
    started(notifier, tmp_path)
    write(module, "X = 2\n")

    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child must not read (steal) the parent's event
        code = 0 if notifier.drain() is None and not notifier.is_running else 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)

    assert os.waitstatus_to_exitcode(status) == 0
    assert notifier.drain() == {str(module)}


def test_every_file_is_reported_when_asked(tmp_path: Path) -> None:
    notifier = InotifyNotifier(suffixes=None)
    try:
        started(notifier, tmp_path)
        write(tmp_path / "config.json", "{}")
        assert notifier.drain() == {str(tmp_path / "config.json")}
    finally:
        notifier.stop()
