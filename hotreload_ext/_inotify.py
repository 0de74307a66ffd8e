"""Stage 1 (detect), notify mode on Linux: the kernel's inotify queue, read at drain, no thread.

The kernel queues an inotify event while the write (or rename, or ``utime``) that causes it
runs, so once a save has completed its event is already waiting. :class:`InotifyNotifier` keeps
one non-blocking inotify descriptor over the watched directories and reads it when the cell
starts: whatever was saved before that moment is in the answer, with no batching delay and no
background thread waking up 50 times a second. An idle drain is one ``read`` that finds nothing.

It answers like :class:`~._notify.ChangeNotifier` (same methods, same "None means poll
everything" rule), which stays the notifier on macOS and Windows through ``watchfiles``.

This module must never import IPython, and never be reloaded by hotreload itself.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import select
import struct
import sys
import weakref
from collections.abc import Iterable

__all__ = ["InotifyNotifier", "is_available"]

SOURCE_SUFFIXES = (".py", ".pyw")

# <sys/inotify.h>
_IN_MODIFY = 0x002
_IN_ATTRIB = 0x004  # os.utime and touch: polling compares mtimes too
_IN_CLOSE_WRITE = 0x008
_IN_MOVED_FROM = 0x040
_IN_MOVED_TO = 0x080  # an editor's atomic save renames a temporary file over the module
_IN_CREATE = 0x100
_IN_DELETE = 0x200
_IN_DELETE_SELF = 0x400
_IN_MOVE_SELF = 0x800
_IN_Q_OVERFLOW = 0x4000
_IN_IGNORED = 0x8000
_IN_ONLYDIR = 0x01000000
_IN_NONBLOCK = os.O_NONBLOCK
_IN_CLOEXEC = 0o2000000
_WATCH_MASK = (
    _IN_MODIFY
    | _IN_ATTRIB
    | _IN_CLOSE_WRITE
    | _IN_MOVED_FROM
    | _IN_MOVED_TO
    | _IN_CREATE
    | _IN_DELETE
    | _IN_DELETE_SELF
    | _IN_MOVE_SELF
    | _IN_ONLYDIR
)
# The directory itself is gone (or its watch is): what is in it can no longer be vouched for.
_STRUCTURAL = _IN_DELETE_SELF | _IN_MOVE_SELF | _IN_IGNORED
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len (then len bytes of name)
_READ_SIZE = 1 << 16


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        libc.inotify_init1.argtypes = [ctypes.c_int]
        libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _libc()


def is_available() -> bool:
    """Whether this system has inotify (Linux, with a C library exposing it)."""
    return _LIBC is not None


class InotifyNotifier:
    """Collects changed source files from the kernel's inotify queue when asked.

    Use: :meth:`start`, :meth:`update`, :meth:`drain` before each cell, :meth:`stop`; no method
    raises. :meth:`drain` answers None ("poll everything") on the first drain after a (re)start
    (changes before the watches existed were seen by no one), when the kernel's queue
    overflowed, and when a watched directory was moved or deleted (the watches then restart).

    Drained paths are spelled ``os.path.join(directory, name)`` with ``directory`` exactly as it
    was given, under every spelling given for the same real directory.
    """

    backend = "inotify"

    def __init__(self, *, suffixes: tuple[str, ...] | None = SOURCE_SUFFIXES) -> None:
        # The file endings reported (sources by default); None reports every file.
        self.suffixes = suffixes
        self._fd = -1
        self._poller = select.poll()
        self._dirs: tuple[str, ...] = ()
        self._by_watch: dict[int, tuple[str, ...]] = {}
        self._synced = False
        self._reason: str | None = "not started"
        _forget_after_fork(self)

    @property
    def is_running(self) -> bool:
        """Whether the watches are in place."""
        return self._fd >= 0

    @property
    def reason(self) -> str | None:
        """Why :meth:`drain` answers None now (or did last), or None while it is answering."""
        return self._reason

    @property
    def directories(self) -> tuple[str, ...]:
        """The directories being watched, as given."""
        return self._dirs

    def start(self, dirs: Iterable[str]) -> bool:
        """Watch ``dirs`` from now on; False (and :attr:`reason` set) when that is impossible."""
        try:
            return self._start(tuple(sorted(set(dirs))))
        except Exception as exc:  # the caller polls instead; never raise into a cell
            self._fail(f"cannot start watching: {type(exc).__name__}: {exc}")
            return False

    def update(self, dirs: Iterable[str]) -> bool:
        """Watch ``dirs``; the watches are made again only if the set changed."""
        wanted = tuple(sorted(set(dirs)))
        if wanted == self._dirs and self.is_running:
            return True
        return self.start(wanted)

    def drain(self) -> set[str] | None:
        """The source files changed since the last drain, or None: "unknown, poll everything"."""
        if self._fd < 0:
            return None
        if self._synced and not self._poller.poll(0):
            # Nothing queued: one poll() is cheaper than a read() that raises (idle cells).
            self._reason = None
            return set()
        try:
            changed, trouble = self._read()
        except Exception as exc:
            self._fail(f"internal error: {type(exc).__name__}: {exc}")
            return None
        if trouble is not None:
            self._reason = trouble
            if trouble != "the kernel's event queue overflowed":
                self.start(self._dirs)  # a directory is gone: its watch is too
            return None
        self._reason = None
        if not self._synced:
            self._synced = True
            return None
        return changed

    def stop(self) -> None:
        """Remove the watches; :meth:`drain` answers None from now on."""
        self._fail("stopped")

    # --- internals ---------------------------------------------------------------------------
    def _start(self, dirs: tuple[str, ...]) -> bool:
        self._close()
        self._dirs = dirs
        if not dirs:
            self._reason = "no directories to watch"
            return False
        assert _LIBC is not None, "start() needs is_available()"
        fd = _LIBC.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
        if fd < 0:
            self._fail(f"cannot start watching: {os.strerror(ctypes.get_errno())}")
            return False
        self._fd = fd
        self._poller = select.poll()
        self._poller.register(fd, select.POLLIN)
        aliases: dict[str, list[str]] = {}
        for directory in dirs:
            aliases.setdefault(os.path.realpath(directory), []).append(directory)
        for real, given in aliases.items():
            watch = _LIBC.inotify_add_watch(fd, os.fsencode(real), _WATCH_MASK)
            if watch < 0:
                self._fail(_describe(ctypes.get_errno(), given[0]))
                return False
            self._by_watch[watch] = tuple(given)
        self._synced = False
        self._reason = "starting"
        return True

    def _read(self) -> tuple[set[str], str | None]:
        changed: set[str] = set()
        trouble: str | None = None
        while True:
            try:
                data = os.read(self._fd, _READ_SIZE)
            except BlockingIOError:
                return changed, trouble
            offset = 0
            while offset < len(data):
                watch, mask, _cookie, size = _EVENT.unpack_from(data, offset)
                start = offset + _EVENT.size
                name = os.fsdecode(data[start : start + size].rstrip(b"\0"))
                offset = start + size
                if mask & _IN_Q_OVERFLOW:
                    trouble = trouble or "the kernel's event queue overflowed"
                elif mask & _STRUCTURAL:
                    trouble = "a watched directory was moved or deleted"
                elif self.suffixes is None or name.endswith(self.suffixes):
                    changed.update(os.path.join(d, name) for d in self._by_watch.get(watch, ()))

    def _fail(self, reason: str) -> None:
        self._close()
        self._reason = reason

    def _close(self) -> None:
        fd, self._fd = self._fd, -1
        self._by_watch = {}
        if fd >= 0:
            os.close(fd)


def _describe(errno: int, directory: str) -> str:
    if errno == 2:  # ENOENT
        return f"cannot watch {directory}: not found"
    if errno == 28:  # ENOSPC: fs.inotify.max_user_watches reached
        return "cannot watch more directories: the system's inotify watch limit is reached"
    return f"cannot watch {directory}: {os.strerror(errno)}"


# A forked child shares the parent's inotify queue: reading it would steal the parent's events.
# The child lets go of its copy of the descriptor and polls.
_notifiers: weakref.WeakSet[InotifyNotifier] = weakref.WeakSet()


def _forget_after_fork(notifier: InotifyNotifier) -> None:
    _notifiers.add(notifier)


def _after_fork_in_child() -> None:
    for notifier in list(_notifiers):
        notifier._fail("the process forked; the watches belong to the parent")


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
