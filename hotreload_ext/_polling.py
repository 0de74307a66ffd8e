"""Stage 1 (detect): which watched files changed since the last check.

A check stats each watched file (:meth:`Poller.poll`); only a file whose stamp moved is read and
hashed, and only a file whose hash differs from what is running counts as changed, so a ``touch``
or an edit reverted before the next cell costs one read and reloads nothing. The idle check's
stat loop is the hot path: it runs in C (``hotreload_ext/_speedups.c``) where that was built,
with :meth:`Poller._stat_all`'s Python loop as its reference and fallback, and stats the files
of busy directories relative to open directory handles (:class:`_Directories`).

Hostile files are expected: a path that is no longer a regular file is never opened, one that
cannot be read is reported once, and a file truncated to zero bytes is taken for a save in
progress, not for an empty module.

This module must never import IPython.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import struct
import weakref
from collections.abc import Callable, Iterable

from ._digest import digest_bytes
from ._store import NO_SOURCE
from ._tracking import (
    Change,
    Problem,
    ReadFunction,
    StatFunction,
    TrackedModule,
    UnstableFile,
    Watchlist,
    pack_exact,
    stamp_or_none,
)

__all__ = ["Poller"]

_REBUILT = (
    "the compiled extension {path} was rebuilt; a compiled module cannot be loaded again into "
    "a running process: restart the kernel (and the session's Dask workers, if any) to use it"
)

_EMPTY_DIGEST = digest_bytes(b"")

# A directory holding at least this many watched files gets an open handle, and its files are
# stat'ed relative to it: the kernel then resolves one path component instead of the whole path
# (about a fifth of a stat's cost here). Fewer files would not pay for checking the handle.
_FILES_PER_HANDLE = 8
# Handles kept at most: a few, so that no host program runs short of file descriptors (or
# sees its own ones numbered above select()'s 1024 limit sooner).
_MAX_HANDLES = 32
_CAN_STAT_AT = os.stat in os.supports_dir_fd and hasattr(os, "O_DIRECTORY")

# The idle loop in C (hotreload_ext/_speedups.c), when it was built at install: the same stats
# and comparisons as Poller._stat_all's Python loop, without building a stat_result per file.
_unverified: Callable[[list[TrackedModule]], list[int]] | None
try:
    from ._speedups import unverified as _unverified
except ImportError:  # not built (no C compiler at install, or another Python implementation)
    _unverified = None


class _Directories:
    """Open handles on the directories that hold many watched files.

    A handle follows the directory it was opened on, even after that directory is moved or
    replaced, so each handle is verified before it is used: the directory's path must still
    lead to the same directory (device and inode).
    """

    def __init__(self) -> None:
        # directory path -> (handle, st_dev, st_ino)
        self._open: dict[str, tuple[int, int, int]] = {}
        self._finalizer = weakref.finalize(self, _close_handles, self._open)

    def verify(self) -> bool:
        """Check every handle; drop stale ones. False when one was dropped."""
        intact = True
        for directory, (handle, device, inode) in list(self._open.items()):
            try:
                result = os.stat(directory)
                same = result.st_dev == device and result.st_ino == inode
            except OSError:
                same = False
            if not same:
                del self._open[directory]
                os.close(handle)
                intact = False
        return intact

    def retain(self, modules: Iterable[TrackedModule]) -> None:
        """Keep handles on the busiest directories of ``modules``; close the others."""
        if not _CAN_STAT_AT:
            return
        counts: dict[str, int] = {}
        for tracked in modules:
            directory = os.path.dirname(tracked.path)
            counts[directory] = counts.get(directory, 0) + 1
        busiest = sorted(
            (d for d, n in counts.items() if n >= _FILES_PER_HANDLE and os.path.isabs(d)),
            key=counts.__getitem__,
            reverse=True,
        )[:_MAX_HANDLES]
        wanted = set(busiest)
        for directory in [d for d in self._open if d not in wanted]:
            os.close(self._open.pop(directory)[0])
        for directory in busiest:
            if directory not in self._open:
                self._open_handle(directory)

    def _open_handle(self, directory: str) -> None:
        try:
            handle = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            return  # its files are stat'ed by full path
        try:
            result = os.fstat(handle)
            # Opened through a path that may have changed since: the path must lead here now.
            now = os.stat(directory)
        except OSError:
            os.close(handle)
            return
        if (now.st_dev, now.st_ino) != (result.st_dev, result.st_ino):
            os.close(handle)
            return
        self._open[directory] = (handle, result.st_dev, result.st_ino)

    def relative(self, path: str) -> tuple[int, int | None]:
        """Where ``path``'s name starts and its directory's handle; (0, None) without one."""
        directory = os.path.dirname(path)
        held = self._open.get(directory)
        if held is None:
            return 0, None
        return len(path) - len(os.path.basename(path)), held[0]

    def close(self) -> None:
        """Close every handle."""
        _close_handles(self._open)


def _close_handles(handles: dict[str, tuple[int, int, int]]) -> None:
    for handle, _, _ in handles.values():
        with contextlib.suppress(OSError):
            os.close(handle)
    handles.clear()


class Poller(Watchlist):
    """The watchlist's polling part: which tracked files changed.

    Args:
        stat: Seam for tests (see :class:`~._tracking.Watchlist`).
        read: Seam for tests (see :class:`~._tracking.Watchlist`).
    """

    def __init__(self, *, stat: StatFunction, read: ReadFunction) -> None:
        super().__init__(stat=stat, read=read)
        self._by_path: dict[str, list[TrackedModule]] = {}
        self._by_path_generation = -1
        self._directories = _Directories()
        self._plan_generation = -1
        # Modules whose last version failed: the engine keeps this up to date.
        self.waiting: set[str] = set()
        # Whether the idle check uses the C loop. HOTRELOAD_SPEEDUPS=0 turns it off, to rule it
        # out when something looks wrong (and for the test cell that runs the Python loop).
        self.speedups = _unverified is not None and os.environ.get("HOTRELOAD_SPEEDUPS") != "0"

    def _notified(self, only: set[str], forced: set[str]) -> list[TrackedModule]:
        """The tracked modules at the notified paths, forced ones and ones awaiting a retry."""
        if self._by_path_generation != self.generation:
            self._by_path = {}
            for tracked in self.tracked.values():
                self._by_path.setdefault(tracked.path, []).append(tracked)
            self._by_path_generation = self.generation
        picked = {id(t): t for path in only for t in self._by_path.get(path, ())}
        for name in forced:
            if name in self.tracked:
                picked[id(self.tracked[name])] = self.tracked[name]
        for name in self.waiting:
            # Failed versions waiting on another file (which may not be a watched module).
            waiting = self.tracked.get(name)
            if waiting is not None and waiting.failed_because:
                picked[id(waiting)] = waiting
        return list(picked.values())

    def poll(
        self, force: Iterable[str] = (), only: set[str] | None = None
    ) -> tuple[list[Change], list[Problem]]:
        """Stat every watched file; return those whose content changed, and unreadable ones.

        ``only``: the paths a change notifier reported; the other files are known unchanged
        (forced modules and failed ones waiting on another file are still looked at).
        """
        forced = set(force)
        if only is not None:
            suspects = self._stat_each(self._notified(only, forced), forced)
        else:
            suspects = self._stat_all(forced)
        changes: list[Change] = []
        problems: list[Problem] = []
        for tracked, outcome in suspects:
            if isinstance(outcome, OSError):
                self._report_unreadable(tracked, outcome, problems)
                continue
            if tracked.failed_because:
                if self._failure_cause_changed(tracked):
                    # A file the failure went through was saved: the failed version gets a
                    # retry.
                    tracked.clear_failure()
                elif not self._moved(tracked, outcome, forced):
                    continue
            change = self._examine(tracked, outcome, tracked.name in forced, problems)
            if change is not None:
                changes.append(change)
        return changes, problems

    def take_rebuilt(self) -> list[tuple[str, str]]:
        """``(module, what to do)`` for compiled extension modules rebuilt since the last call.

        A rebuilt ``.so`` cannot be loaded into a running process (CPython loads an extension
        module once), so it is said once per rebuild; a ``.py`` module that imports it and
        changed is still reloaded.
        """
        found: list[tuple[str, str]] = []
        for name, (path, stamp) in list(self.extensions.items()):
            now = stamp_or_none(path, self._stat)
            if now is None or now == stamp:
                continue
            self.extensions[name] = (path, now)
            found.append((name, _REBUILT.format(path=path)))
        return found

    @staticmethod
    def _moved(tracked: TrackedModule, result: os.stat_result, forced: set[str]) -> bool:
        """Whether the file must be read: its stamp moved, is too recent to trust, or forced."""
        return not tracked.verified_by(result) or bool(forced and tracked.name in forced)

    def _stat_each(
        self, candidates: Iterable[TrackedModule], forced: set[str]
    ) -> list[tuple[TrackedModule, os.stat_result | OSError]]:
        """Stat ``candidates`` by path; the suspects: unreadable, moved, or waiting on a cause."""
        suspects: list[tuple[TrackedModule, os.stat_result | OSError]] = []
        for tracked in candidates:
            try:
                result = self._stat(tracked.path)
            except OSError as exc:
                suspects.append((tracked, exc))
                continue
            if tracked.failed_because or self._moved(tracked, result, forced):
                suspects.append((tracked, result))
        return suspects

    def _stat_all(self, forced: set[str]) -> list[tuple[TrackedModule, os.stat_result | OSError]]:
        """:meth:`_stat_each` over every watched module: the idle cell's hot path.

        One stat and one comparison of packed stamps per module, nothing else: which file to
        stat, relative to which open directory, is worked out when the set of modules changes.
        Modules removed from sys.modules were dropped by discover(), which check() runs first.
        The record attributes this loop and the C one read are TrackedModule's documented
        contract with ``_speedups.c``.
        """
        if self._stat is not os.stat:
            return self._stat_each(self.tracked.values(), forced)
        self._refresh_stat_names()
        if self.speedups and _unverified is not None:
            return self._stat_unverified(_unverified, forced)
        stat, pack = os.stat, pack_exact
        suspects: list[tuple[TrackedModule, os.stat_result | OSError]] = []
        for tracked in self.tracked.values():
            try:
                # A slice from 0 is the path itself, not a copy.
                result = stat(tracked.path[tracked.name_start :], dir_fd=tracked.dir_handle)
                # TrackedModule.verified_by, inlined: the one comparison of the idle check.
                moved = not tracked._record.startswith(
                    pack(result.st_mtime_ns, result.st_size, result.st_ino, result.st_ctime_ns)
                )
            except OSError as exc:
                suspects.append((tracked, exc))
                continue
            except struct.error:
                moved = True  # a stamp out of pack()'s range: compared the slow way
            failure = tracked._failure
            if moved or (failure is not None and failure[1]) or (forced and tracked.name in forced):
                suspects.append((tracked, result))
        return suspects

    def _stat_unverified(
        self, unverified: Callable[[list[TrackedModule]], list[int]], forced: set[str]
    ) -> list[tuple[TrackedModule, os.stat_result | OSError]]:
        """:meth:`_stat_all` with the C loop: only the files it could not verify cost Python.

        Those, and the modules forced or waiting on another file, are stat'ed again here, so
        that what follows sees the same results as from the Python loop.
        """
        modules = list(self.tracked.values())
        picked = {id(modules[index]): modules[index] for index in unverified(modules)}
        for name in itertools.chain(self.waiting, forced):
            tracked = self.tracked.get(name)
            if tracked is not None:
                picked[id(tracked)] = tracked
        return self._stat_each(picked.values(), forced)

    def _refresh_stat_names(self) -> None:
        """Point each module's ``name_start``/``dir_handle`` at a verified directory handle."""
        # A directory replaced since its handle was opened (a symlink swapped, a checkout moved
        # into place) makes its handle stale: verify() drops it, and the names are redone.
        if self._directories.verify() and self._plan_generation == self.generation:
            return
        self._plan_generation = self.generation
        self._directories.retain(self.tracked.values())
        for tracked in self.tracked.values():
            tracked.name_start, tracked.dir_handle = self._directories.relative(tracked.path)

    def settle(self) -> None:
        """Write out the sources accepted by reloads; drop replaced ones once they pile up."""
        store = self.store
        store.flush()
        if store.wants_compaction:
            moved = store.compact([t.key for t in self.tracked.values()])
            for tracked in self.tracked.values():
                tracked.key = moved.get(tracked.key, tracked.key)
                if tracked.key == NO_SOURCE:
                    tracked.forget_source()

    def close(self) -> None:
        """Release the directory handles (the extension is unloaded).

        The watcher keeps working afterwards, statting by path. The source store's temporary
        file is closed when the watcher is garbage collected.
        """
        self._directories.close()
        self._plan_generation = -1
        for tracked in self.tracked.values():
            tracked.name_start, tracked.dir_handle = 0, None

    def _examine(
        self,
        tracked: TrackedModule,
        result: os.stat_result,
        forced: bool,
        problems: list[Problem],
    ) -> Change | None:
        """Read and hash a file whose stamp moved (or cannot be trusted yet)."""
        try:
            data, stamp = self._read_stable(tracked.path, result)
        except UnstableFile:
            # Still being written: the stamp is left as it was, so the next check reads it.
            return None
        except OSError as exc:
            self._report_unreadable(tracked, exc, problems)
            return None
        tracked.missing_reported = False
        digest = digest_bytes(data)
        if forced:
            return Change(tracked, data, digest, stamp, forced=True)
        if digest == _EMPTY_DIGEST and tracked.digest != _EMPTY_DIGEST:
            # Truncated to nothing: most often a save caught between truncating the file and
            # writing it, or an editor or disk failure. Deleting every name of the module (what
            # running an empty file does) would lose the user's objects; wait for content. A
            # forced reload (above) still applies an empty module on purpose.
            if tracked.failed_digest != digest:
                message = (
                    f"its file {tracked.path} is empty (a save in progress, or truncated?); "
                    "keeping the loaded code until it has content"
                )
                problems.append(Problem(tracked, message))
            tracked.reject(digest, stamp)
            return None
        if digest == tracked.digest:
            # Touched, or reverted to what is running: nothing to reload. Remember the stamp
            # (and that its content was verified now) so the next cell is cheap again.
            tracked.restamp(stamp)
            failed = tracked.failed_digest
            if failed == digest:
                # The running code itself failed to re-run (a data file it reads changed):
                # that failure is the data's, and stays until the data or the code changes.
                return None
            if failed is not None:
                # The failed version was replaced by the running one: say the failure is over.
                message = "healthy again: its file is back to the code that is running"
                problems.append(Problem(tracked, message, good=True))
            tracked.clear_failure()
            return None
        if digest == tracked.failed_digest:
            # Still the version that failed: it was reported once already.
            tracked.restamp(stamp)
            return None
        return Change(tracked, data, digest, stamp)

    def _failure_cause_changed(self, tracked: TrackedModule) -> bool:
        return any(
            stamp_or_none(path, self._stat) != stamp for path, stamp in tracked.failed_because
        )

    @staticmethod
    def _report_unreadable(tracked: TrackedModule, exc: OSError, problems: list[Problem]) -> None:
        if tracked.missing_reported:
            return
        tracked.missing_reported = True
        path = tracked.path
        if isinstance(exc, FileNotFoundError) and os.path.islink(path):
            message = f"its file {path} is a symlink to a missing file; keeping the loaded code"
        elif isinstance(exc, FileNotFoundError):
            message = f"its file {path} was deleted; keeping the loaded code"
        elif isinstance(exc, IsADirectoryError):
            message = f"its file {path} is now a directory; keeping the loaded code"
        else:
            reason = exc.strerror or str(exc)
            message = f"cannot read its file {path} ({reason}); keeping the loaded code"
        problems.append(Problem(tracked, message))
