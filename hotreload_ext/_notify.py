"""Stage 1 (detect), notify mode: a background thread that only *collects* changed paths.

Polling (stage 1, :mod:`._polling`) stats every watched file before every cell. With many
modules, asking the operating system to tell us what changed is cheaper: :class:`ChangeNotifier`
runs `watchfiles <https://watchfiles.helpmanual.io>`_ (inotify, FSEvents, ReadDirectoryChangesW)
in a daemon thread over the directories holding the watched modules, and adds the paths of
changed ``.py`` files to a set. Before a cell the main thread calls :meth:`ChangeNotifier.drain`
and then reads, hashes and reloads only those files, as polling would: the thread never touches
a module. An idle drain reads one attribute.

Whenever the notifier cannot vouch for having seen every change since the last drain (it is
starting, it restarted for new directories, a watched directory was moved or deleted, too many
changes piled up, the thread died, ``watchfiles`` is not installed), :meth:`~ChangeNotifier.drain`
returns None: "unknown, poll everything". :attr:`~ChangeNotifier.reason` says why. Polling stays
the default and the fallback.

Limits, inherent to notification:

* An event reaches the thread a few milliseconds after the write, and ``watchfiles`` hands over
  a batch once it has been quiet for one ``step`` (20 ms by default). A file saved within about
  40 ms of a cell starting may be seen at the next cell instead.
* Linux drops events when its inotify queue overflows, and ``watchfiles`` does not report that.
  The queue holds 16,384 events by default and the thread reads it continuously, so it takes a
  burst of that size within one read to lose one.

This module must never import IPython, and never be reloaded by hotreload itself.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from . import _inotify

__all__ = ["ChangeNotifier", "Notifier", "is_available", "make_notifier"]

SOURCE_SUFFIXES = (".py", ".pyw")

# Watch-loop timing (milliseconds). `step`: watchfiles yields a batch once no new event arrived
# for one step, so it bounds the delay between a save and the thread seeing it (about 2 steps).
# Each step wakes the Rust loop, which takes the GIL briefly to check the stop event: 20 ms is
# 50 short wake-ups a second, a few ms of CPU a second (benchmarks/suite.py measures it).
# `debounce`: the longest a stream of events (a git checkout) is grouped before it is handed
# over. `timeout`: with yield_on_timeout, the loop hands over an empty batch at least this
# often, which is how the thread learns that watching has started.
_STEP_MS = 20
_DEBOUNCE_MS = 50
_TIMEOUT_MS = 200
# More distinct changed paths than this between two drains: stop collecting, poll everything.
_MAX_PENDING = 10_000
_JOIN_SECONDS = 2.0

WatchFunction = Callable[..., Iterator[set[tuple[Any, str]]]]


class Notifier(Protocol):
    """What the engine asks of a change notifier.

    :class:`ChangeNotifier` (watchfiles), or on Linux :class:`~._inotify.InotifyNotifier`.
    """

    backend: str

    @property
    def is_running(self) -> bool: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def directories(self) -> tuple[str, ...]: ...
    def start(self, dirs: Iterable[str]) -> bool: ...
    def update(self, dirs: Iterable[str]) -> bool: ...
    def drain(self) -> set[str] | None: ...
    def stop(self) -> None: ...


def make_notifier() -> Notifier:
    """The exact notifier where the system has one (inotify, read at drain), else watchfiles'.

    Only inotify can promise that a save completed before the cell started is in the answer:
    its queue is filled by the kernel during the write itself. watchfiles hands its thread a
    batch after a quiet ``step``, so a save within about 40 ms of a cell may wait for the next.
    The engine's notifier reports every file, not only sources: data files read at import live
    in the watched directories too, and the engine looks up only the paths it follows.
    """
    if _inotify.is_available():
        return _inotify.InotifyNotifier(suffixes=None)
    return ChangeNotifier(suffixes=None)


def is_available() -> bool:
    """Whether change notification can run here: inotify, or ``watchfiles`` importable."""
    return _inotify.is_available() or watchfiles_is_available()


def watchfiles_is_available() -> bool:
    """Whether ``watchfiles`` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec("watchfiles") is not None
    except (ImportError, ValueError):
        return False


class ChangeNotifier:
    """Collects the paths of changed source files in a background thread.

    Use: :meth:`start` with the directories holding the watched modules, :meth:`update` when that
    set changes, :meth:`drain` before each cell, :meth:`stop` at the end. No method raises: a
    failure makes :meth:`drain` return None and sets :attr:`reason`.

    Drained paths are spelled ``os.path.join(directory, file_name)`` with ``directory`` exactly
    as it was given, so the caller can match them against ``os.path.dirname(module_path)``-based
    keys; a directory reached through a symbolic link reports under every spelling given for it.

    Args:
        step_ms: watchfiles' ``step``: how long the event stream must be quiet before a batch
            is handed over.
        debounce_ms: watchfiles' ``debounce``: the longest a batch is held while events keep
            arriving.
        timeout_ms: watchfiles' ``rust_timeout``: how often an idle watch loop hands over an
            empty batch (and how soon after starting the notifier is ready).
        max_pending: How many distinct changed paths may wait for a drain before the notifier
            gives up on them and asks for a full poll instead.
        suffixes: The file endings reported (sources by default); None reports every file.
    """

    backend = "watchfiles"

    def __init__(
        self,
        *,
        step_ms: int = _STEP_MS,
        debounce_ms: int = _DEBOUNCE_MS,
        timeout_ms: int = _TIMEOUT_MS,
        max_pending: int = _MAX_PENDING,
        suffixes: tuple[str, ...] | None = SOURCE_SUFFIXES,
    ) -> None:
        self.suffixes = suffixes
        self.step_ms = step_ms
        self.debounce_ms = debounce_ms
        self.timeout_ms = timeout_ms
        self.max_pending = max_pending
        self._lock = threading.Lock()
        # The idle fast path of drain() reads only this flag. It is True whenever drain() has
        # something to do: paths are pending, or the answer must be None (not started, not yet
        # watching, restarting, overflowed, failed, stopped). Every writer holds the lock.
        self._dirty = True
        self._pending: set[str] = set()
        self._reason: str | None = "not started"
        # Each (re)start is a new generation; a superseded thread's events and failures are
        # ignored, so update() never waits for the old thread to notice its stop event.
        self._generation = 0
        self._ready = False
        self._synced = False
        self._failed = False
        self._restart = False
        self._dirs: tuple[str, ...] = ()
        # Real directory watched -> the spellings of it the caller gave.
        self._aliases: dict[str, tuple[str, ...]] = {}
        self._thread: threading.Thread | None = None
        self._stop_event: threading.Event | None = None
        _forget_after_fork(self)

    # --- public face -------------------------------------------------------------------------
    @property
    def is_running(self) -> bool:
        """Whether the watcher thread is alive and has not failed."""
        thread = self._thread
        return thread is not None and thread.is_alive() and not self._failed

    @property
    def reason(self) -> str | None:
        """Why :meth:`drain` answers None now (or did last), or None while it is answering."""
        return self._reason

    @property
    def directories(self) -> tuple[str, ...]:
        """The directories being watched, as given."""
        return self._dirs

    def start(self, dirs: Iterable[str]) -> bool:
        """Start watching ``dirs``; False (and :attr:`reason` set) when that is impossible.

        Watching begins a moment later, in the thread: until then :meth:`drain` returns None.
        """
        try:
            return self._start(tuple(sorted(set(dirs))))
        except Exception as exc:  # the caller polls instead; never raise into a cell
            self._fail_now(f"cannot start watching: {type(exc).__name__}: {exc}")
            return False

    def update(self, dirs: Iterable[str]) -> bool:
        """Watch ``dirs`` from now on; restarts the watcher only if the set changed.

        After a restart :meth:`drain` returns None until the new watcher is established, and
        once more after that, since changes in between were seen by no one.
        """
        try:
            wanted = tuple(sorted(set(dirs)))
            if wanted == self._dirs and self.is_running and not self._restart:
                return True
            return self._start(wanted)
        except Exception as exc:
            self._fail_now(f"cannot update the watched directories: {type(exc).__name__}: {exc}")
            return False

    def drain(self) -> set[str] | None:
        """The source files changed since the last drain, or None: "unknown, poll everything"."""
        if not self._dirty:
            return set()
        try:
            return self._drain_slow()
        except Exception as exc:
            self._fail_now(f"internal error: {type(exc).__name__}: {exc}")
            return None

    def stop(self) -> None:
        """Stop the watcher thread (waiting briefly for it to end); :meth:`drain` returns None."""
        with self._lock:
            self._generation += 1
            self._failed = self._dirty = True
            self._reason = "stopped"
            self._pending.clear()
            stop_event, thread = self._stop_event, self._thread
            self._stop_event = self._thread = None
        if stop_event is not None:
            stop_event.set()
        if thread is not None and thread is not threading.current_thread():
            # The loop checks the stop event every step; a thread stuck longer is a daemon
            # and dies with the process.
            thread.join(_JOIN_SECONDS)

    # --- main-thread internals ---------------------------------------------------------------
    def _start(self, dirs: tuple[str, ...]) -> bool:
        try:
            # Imported only here: watchfiles (and anyio, which it imports) cost nothing to
            # sessions that poll.
            watch: WatchFunction = importlib.import_module("watchfiles").watch
        except ImportError as exc:
            self._fail_now(f"watchfiles is not installed ({exc})")
            return False
        aliases: dict[str, list[str]] = {}
        for directory in dirs:
            aliases.setdefault(os.path.realpath(directory), []).append(directory)
        with self._lock:
            self._generation += 1
            generation = self._generation
            previous = self._stop_event
            stop_event = threading.Event()
            self._stop_event = stop_event
            self._dirs = dirs
            self._aliases = {real: tuple(given) for real, given in aliases.items()}
            self._pending.clear()
            self._ready = self._synced = self._failed = self._restart = False
            self._dirty = True
            self._reason = "starting"
        if previous is not None:
            previous.set()  # the old thread ends within a step; its late events are ignored
        if not dirs:
            with self._lock:
                self._reason = "no directories to watch"
                self._failed = True
            return False
        thread = threading.Thread(
            target=self._run,
            args=(watch, generation, self._aliases, stop_event),
            name="hotreload-notify",
            daemon=True,
        )
        with self._lock:
            self._thread = thread
        thread.start()
        return True

    def _drain_slow(self) -> set[str] | None:
        with self._lock:
            if self._restart and not self._failed:
                restart = self._dirs
            else:
                restart = None
            if restart is None:
                if self._failed or not self._ready:
                    return None
                if not self._synced:
                    # Changes made before the watcher was established were seen by no one:
                    # the caller polls everything once, which covers what is pending too.
                    # The flag stays set: the next drain clears the reason on its way out.
                    self._synced = True
                    self._pending.clear()
                    return None
                changed, self._pending = self._pending, set()
                self._dirty = False
                self._reason = None
                return changed
        # A watched directory was moved or deleted: its watch is gone. Start over (outside the
        # lock: _start takes it); this drain, and the ones until the new watcher is ready, poll.
        self._start(restart)
        return None

    def _fail_now(self, reason: str) -> None:
        with self._lock:
            self._failed = True
            self._dirty = True
            self._reason = reason
            self._pending.clear()

    # --- the background thread ---------------------------------------------------------------
    def _run(
        self,
        watch: WatchFunction,
        generation: int,
        aliases: dict[str, tuple[str, ...]],
        stop_event: threading.Event,
    ) -> None:
        try:
            batches = watch(
                *aliases,
                watch_filter=None,
                debounce=self.debounce_ms,
                step=self.step_ms,
                stop_event=stop_event,
                rust_timeout=self.timeout_ms,
                yield_on_timeout=True,
                debug=False,
                raise_interrupt=False,
                force_polling=False,
                recursive=False,
                ignore_permission_denied=False,
            )
            for batch in batches:
                if stop_event.is_set():
                    return
                self._collect(generation, aliases, batch)
        except BaseException as exc:  # a thread's exception would only print; record it
            self._fail_from_thread(generation, _describe_failure(exc, tuple(aliases)))
            return
        if not stop_event.is_set():
            self._fail_from_thread(generation, "the watcher stopped unexpectedly")

    def _collect(
        self, generation: int, aliases: dict[str, tuple[str, ...]], batch: set[tuple[Any, str]]
    ) -> None:
        paths: list[str] = []
        structural = False
        for _change, path in batch:
            if path in aliases:
                # The watched directory itself was deleted or moved: its watch is gone.
                structural = True
                continue
            directory, name = os.path.split(path)
            if self.suffixes is None or name.endswith(self.suffixes):
                paths += [os.path.join(given, name) for given in aliases.get(directory, ())]
        with self._lock:
            if generation != self._generation:
                return
            if not self._ready:
                # The first batch (empty, from the timeout, or real changes) proves watchfiles
                # has set up its watches: from here on no change goes unseen.
                self._ready = True
                self._dirty = True
            if structural:
                self._restart = True
                self._dirty = True
                self._reason = "a watched directory was moved or deleted"
            if paths and self._synced:
                self._pending.update(paths)
                self._dirty = True
                if len(self._pending) > self.max_pending:
                    self._pending.clear()
                    self._synced = False
                    self._reason = f"more than {self.max_pending} changed files at once"

    def _fail_from_thread(self, generation: int, reason: str) -> None:
        with self._lock:
            if generation != self._generation:
                return
            self._failed = True
            self._dirty = True
            self._reason = reason
            self._pending.clear()


def _describe_failure(exc: BaseException, dirs: tuple[str, ...]) -> str:
    if isinstance(exc, FileNotFoundError):
        missing = [d for d in dirs if not os.path.isdir(d)]
        return f"cannot watch {', '.join(missing) or ', '.join(dirs)}: not found"
    if isinstance(exc, PermissionError):
        return f"cannot watch a directory: permission denied ({exc})"
    return f"the watcher thread stopped: {type(exc).__name__}: {exc}"


# A forked child has no watcher thread, but would inherit a clean flag and keep answering "no
# changes" forever. os.register_at_fork marks every live notifier failed in the child instead.
_notifiers: weakref.WeakSet[ChangeNotifier] = weakref.WeakSet()


def _forget_after_fork(notifier: ChangeNotifier) -> None:
    _notifiers.add(notifier)


def _after_fork_in_child() -> None:
    for notifier in list(_notifiers):
        notifier._lock = threading.Lock()  # it may have been held by a thread that is gone
        notifier._thread = None
        notifier._fail_now("the process forked; the watcher thread is in the parent")


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
