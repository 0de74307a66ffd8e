"""Stage 1: which of the user's module files changed.

Only the user's own modules are watched (see :class:`ModuleFilter`). Each watched module keeps a
small :class:`TrackedModule` record: the file's stamp (mtime, size, inode, ctime), a content hash
and the source it was loaded from (compressed). A check stats each watched file; only a file whose
stamp moved is read and hashed, and only a file whose hash differs from what is running counts as
changed, so a ``touch`` or an edit reverted before the next cell costs one read and reloads nothing.

Hostile files are expected: a file that changes while it is read is read again (never a torn
mix of two saves), a path that is no longer a regular file is never opened (a FIFO would block),
and a file truncated to zero bytes is taken for a save in progress, not for an empty module.

This module must never import IPython.
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import importlib.util
import itertools
import os
import stat as stat_module
import struct
import sys
import sysconfig
import time
import types
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import cast

from ._digest import digest_bytes
from ._store import NO_SOURCE, SourceStore

__all__ = [
    "Change",
    "ModuleFilter",
    "Stamp",
    "TrackedModule",
    "Watcher",
    "files_in_failure",
    "read_file",
    "stamp_of",
]

# What a stat says about a file: (st_mtime_ns, st_size, st_ino, st_ctime_ns). The inode tells a
# file replaced by rename-on-save or a symlink swap from the old one even when a copy tool kept
# its mtime and size; the ctime, which no tool can set back, catches an in-place rewrite that did.
Stamp = tuple[int, int, int, int]
_UNKNOWN_STAMP: Stamp = (-1, -1, -1, -1)

# How often a file that changed while it was being read is read again before giving up until the
# next check (an editor still writing it).
_READ_ATTEMPTS = 3

_EMPTY_DIGEST = digest_bytes(b"")

# A file whose mtime is this close to the moment we stamped it may still be written to within the
# same filesystem timestamp tick (1-2 s on some filesystems), so an unchanged stamp proves nothing:
# like git's "racily clean" index entries, such files are re-hashed until the stamp is old enough.
_RACY_NS = 2_000_000_000

_OWN_PACKAGES = ("hotreload_ext", "hotreload")


def _stdlib_dirs() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    dirs = {os.path.realpath(paths[key]) for key in ("stdlib", "platstdlib") if key in paths}
    return tuple(sorted(d + os.sep for d in dirs))


@dataclass(frozen=True)
class ModuleFilter:
    """Decides which modules are the user's.

    By default a module is watched when it has a ``.py`` source file outside the standard library
    and outside any ``site-packages``/``dist-packages`` directory, and is not ``__main__`` or
    hotreload itself. ``include`` patterns add modules back (an installed package you are
    editing); ``exclude`` patterns remove some; exclusion wins. A pattern containing a path
    separator is matched against the file path, any other against the dotted module name.
    """

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    stdlib_dirs: tuple[str, ...] = field(default_factory=_stdlib_dirs)

    def source_path(self, name: str, module: object) -> str | None:
        """The module's ``.py`` file if it should be watched, else None."""
        # Not isinstance(): for an object that is not a module it looks up `__class__` through
        # the object's own __getattribute__ (a proxy in sys.modules), which may have side effects.
        if not issubclass(type(module), types.ModuleType):
            return None
        module = cast("types.ModuleType", module)
        if name in ("__main__", "__mp_main__") or name.split(".")[0] in _OWN_PACKAGES:
            return None
        path = _module_source(module)
        if path is None:
            return None
        return path if self._is_user_file(name, path) else None

    def sourceless_path(self, name: str, module: object) -> str | None:
        """The ``.pyc`` a user module was loaded from when it has no source file, else None."""
        if not issubclass(type(module), types.ModuleType) or name in ("__main__", "__mp_main__"):
            return None
        path = vars(cast("types.ModuleType", module)).get("__file__")
        if not isinstance(path, str) or not path.endswith((".pyc", ".pyo")):
            return None
        return path if self._is_user_file(name, path) else None

    def _is_user_file(self, name: str, path: str) -> bool:
        if name.split(".")[0] in _OWN_PACKAGES or self._matches(self.exclude, name, path):
            return False
        if self._matches(self.include, name, path):
            return True
        real = os.path.realpath(path)
        if real.startswith(self.stdlib_dirs) and not real.startswith(_site_dirs_in(real)):
            return False
        parts = real.split(os.sep)
        return "site-packages" not in parts and "dist-packages" not in parts

    @staticmethod
    def _matches(patterns: Iterable[str], name: str, path: str) -> bool:
        for pattern in patterns:
            subject = path if ("/" in pattern or os.sep in pattern) else name
            if fnmatch.fnmatchcase(subject, pattern):
                return True
        return False


def _site_dirs_in(path: str) -> str:
    # A virtual environment can live under the stdlib prefix; its site-packages is not stdlib,
    # but is excluded anyway by the site-packages rule. This keeps the prefix test exact.
    index = path.find(os.sep + "site-packages" + os.sep)
    return path[: index + 1] if index >= 0 else "\0"


def _module_source(module: types.ModuleType) -> str | None:
    # Read the module's dict, never getattr(): a missing attribute would call the module's own
    # `__getattr__` (PEP 562), user code that may compute, import or log.
    namespace = vars(module)
    spec = namespace.get("__spec__")
    origin = getattr(spec, "origin", None) if spec is not None else None
    path = origin if isinstance(origin, str) else namespace.get("__file__")
    if not isinstance(path, str) or not path.endswith((".py", ".pyw")):
        return None
    return path


def changed_since_import(module: types.ModuleType, data: bytes, stamp: Stamp) -> bool:
    """Whether the source file changed after ``module`` was imported, as far as can be told.

    The import system writes a ``.pyc`` recording the source it compiled: its mtime and size
    (the default) or its hash (PEP 552). If the file no longer matches that record, the running
    code came from older text. Without a readable ``.pyc`` nothing can be told: False. Nor when
    bytecode writing is off (``PYTHONDONTWRITEBYTECODE``): a ``.pyc`` left by an earlier run
    would then describe older text than the import used, a false alarm.
    """
    cached = vars(module).get("__cached__")
    if not isinstance(cached, str) or sys.dont_write_bytecode:
        return False
    try:
        with open(cached, "rb") as handle:
            header = handle.read(16)
    except OSError:
        return False
    if len(header) < 16 or header[:4] != importlib.util.MAGIC_NUMBER:
        return False
    flags = int.from_bytes(header[4:8], "little")
    if flags & 0b1:
        return bool(header[8:16] != importlib.util.source_hash(data))
    mtime = int.from_bytes(header[8:12], "little")
    size = int.from_bytes(header[12:16], "little")
    mtime_now = (stamp[0] // 1_000_000_000) & 0xFFFFFFFF
    return mtime != mtime_now or size != stamp[1] & 0xFFFFFFFF


def read_file(path: str) -> bytes:
    """Read a source file. Raises OSError (including IsADirectoryError) as ``open`` does."""
    with open(path, "rb") as handle:
        return handle.read()


def stamp_of(result: os.stat_result) -> Stamp:
    """The stamp of a file from its stat result."""
    return (result.st_mtime_ns, result.st_size, result.st_ino, result.st_ctime_ns)


_pack_exact = struct.Struct("<qqQq").pack


def pack_stamp(stamp: Stamp) -> bytes:
    """A stamp as 32 bytes: a third of the memory of a tuple of four ints, compared as fast."""
    try:
        return _pack_exact(*stamp)
    except struct.error:
        # Out of range (a timestamp past 2262, a negative size): clamped, still comparable.
        low, high = -(2**63), 2**63 - 1
        mtime, size, inode, ctime = (min(max(v, low), high) for v in stamp)
        return _pack_exact(mtime, size, inode & (2**64 - 1), ctime)


def _stamp_or_none(path: str, stat: Callable[[str], os.stat_result] = os.stat) -> Stamp | None:
    try:
        return stamp_of(stat(path))
    except OSError:
        return None


_MAX_FAILURE_FILES = 16


def files_in_failure(exc: BaseException, own: str) -> list[str]:
    """The source files other than ``own`` that a failed reload's error went through.

    ``import helper`` failing inside ``helper.py`` (or a circular import failing in a module
    the reloaded one imports): the fix is saved to that other file, and the failed module must
    then be tried again although its own file did not change. Chained exceptions count too.
    """
    found: dict[str, None] = {}
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending and len(found) < _MAX_FAILURE_FILES:
        error = pending.pop()
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, SyntaxError) and isinstance(error.filename, str):
            found[error.filename] = None
        traceback = error.__traceback__
        while traceback is not None:
            found[traceback.tb_frame.f_code.co_filename] = None
            traceback = traceback.tb_next
        pending += [error.__cause__, error.__context__]
    own_real = os.path.realpath(own)
    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    return [
        path
        for path in list(found)[:_MAX_FAILURE_FILES]
        if os.path.isfile(path)
        and os.path.realpath(path) != own_real
        and not os.path.abspath(path).startswith(package)
    ]


# A stamp part that no stat packs to (a size of -1): stored while the file is racily clean, so
# that the idle check's one comparison fails and the file is read again.
_NEVER = b"\xff" * 32
_KEY_FORMAT = struct.Struct("<q")

_MISSING_REPORTED, _IS_PACKAGE, _SOURCE_KNOWN = 1, 2, 4


class TrackedModule:
    """What hotreload remembers about one watched module.

    There is one per watched module, thousands in a big session, so it is kept to about 200
    bytes: the running source and its hash live in the watcher's :class:`SourceStore`; the
    file's stamp and the store's key share one bytes object; the flags share one int.
    """

    __slots__ = (
        "_failure",
        "_flags",
        "_record",
        "dir_handle",
        "module",
        "name",
        "name_start",
        "path",
        "store",
    )

    def __init__(
        self,
        name: str,
        module: types.ModuleType,
        path: str,
        store: SourceStore,
        *,
        is_package: bool = False,
    ) -> None:
        self.name = name
        self.module = module
        self.path = path
        self.store = store
        # The packed stamp (32 bytes; _NEVER while racily clean), then the store's key (8).
        self._record = _NEVER + _KEY_FORMAT.pack(NO_SOURCE)
        # (hash of the version that failed, the other files its failure went through) or None.
        self._failure: tuple[bytes | None, tuple[tuple[str, Stamp | None], ...]] | None = None
        self._flags = _SOURCE_KNOWN | (_IS_PACKAGE if is_package else 0)
        # What the idle check stats: ``path[name_start:]`` relative to an open handle on the
        # file's directory (``dir_handle``), or the whole path (0 and None). An offset, not a
        # second string: a small int costs nothing, a name would cost 60 bytes a module.
        self.name_start = 0
        self.dir_handle: int | None = None

    def __repr__(self) -> str:
        return f"<TrackedModule {self.name} {self.path}>"

    # --- the record -------------------------------------------------------------------------
    @property
    def key(self) -> int:
        """Where the running source and its hash are in the store (NO_SOURCE: unknown)."""
        key: int = _KEY_FORMAT.unpack_from(self._record, 32)[0]
        return key

    @key.setter
    def key(self, key: int) -> None:
        self._record = self._record[:32] + _KEY_FORMAT.pack(key)

    def verified_by(self, result: os.stat_result) -> bool:
        """Whether ``result`` proves the file still holds the content verified last.

        Never while the file is racily clean (see ``_RACY_NS``): a stamp taken within the
        filesystem's timestamp tick of the file's mtime cannot prove it, so such a file is
        re-hashed until it ages. Its record then holds ``_NEVER``, which no stat packs to.
        """
        return self._record.startswith(pack_stamp(stamp_of(result)))

    def restamp(self, stamp: Stamp) -> None:
        """Record that the file with ``stamp`` was verified to hold the running source now."""
        racy = stamp[0] >= time.time_ns() - _RACY_NS
        self._record = (_NEVER if racy else pack_stamp(stamp)) + self._record[32:]

    # --- flags and failure ------------------------------------------------------------------
    @property
    def is_package(self) -> bool:
        """Whether the module is a package."""
        return bool(self._flags & _IS_PACKAGE)

    @property
    def source_known(self) -> bool:
        """Whether the source the running code came from is known.

        False when the file already differed from what the module was imported from when it
        started being watched; the next check then re-runs the whole module.
        """
        return bool(self._flags & _SOURCE_KNOWN)

    @property
    def missing_reported(self) -> bool:
        """Whether the file's disappearance (or unreadability) was reported already."""
        return bool(self._flags & _MISSING_REPORTED)

    @missing_reported.setter
    def missing_reported(self, value: bool) -> None:
        self._flags = self._flags | _MISSING_REPORTED if value else self._flags & ~_MISSING_REPORTED

    @property
    def failed_digest(self) -> bytes | None:
        """The hash of the last version that failed to reload, if it is still the file's."""
        return None if self._failure is None else self._failure[0]

    @property
    def failed_because(self) -> tuple[tuple[str, Stamp | None], ...]:
        """The other files the failure went through, with their stamps then.

        A module it imports, say: when one of them changes, the failed version is tried again.
        """
        return () if self._failure is None else self._failure[1]

    def clear_failure(self) -> None:
        """Forget the failed version (it was fixed, or gets a retry)."""
        self._failure = None

    # --- the running source -----------------------------------------------------------------
    @property
    def version(self) -> tuple[int, int] | None:
        """What tells this running source from any other one, without reading it.

        ``(store generation, key)``: a key is never reused within a generation of the store.
        None when the source is unknown.
        """
        return (self.store.generation, self.key) if self.source_known else None

    @property
    def digest(self) -> bytes:
        """The hash of the running source (empty when it is unknown)."""
        return self.store.digest(self.key) if self.source_known else b""

    @property
    def source(self) -> bytes | None:
        """The source bytes the running code was loaded from; None when unknown or unreadable."""
        return self.store.source(self.key) if self.source_known else None

    @property
    def memory(self) -> int:
        """Approximate bytes this record keeps in memory (the store's file not counted)."""
        return 16 + 16 + 8 * len(self.__slots__) + 33 + len(self._record)

    def accept(self, data: bytes, digest: bytes, stamp: Stamp) -> None:
        """Make ``data`` the running source."""
        self.store.release(self.key)
        self.key = self.store.put(data, digest)
        self._failure = None
        self._flags = (self._flags | _SOURCE_KNOWN) & ~_MISSING_REPORTED
        self.restamp(stamp)

    def forget_source(self) -> None:
        """The running code's source is unknown: the next check must treat the file as new."""
        self.store.release(self.key)
        self.key = NO_SOURCE
        self._flags &= ~_SOURCE_KNOWN
        self._record = _NEVER + self._record[32:]

    def reject(self, digest: bytes, stamp: Stamp, depends_on: Iterable[str] = ()) -> None:
        """Remember a version that failed, so it is reported once, not on every cell.

        Args:
            digest: The failed version's hash.
            stamp: Its file's stamp.
            depends_on: Other files the failure went through (see :func:`files_in_failure`):
                a fix saved to one of them retries this version without touching this file.
        """
        self._failure = (digest, tuple((path, _stamp_or_none(path)) for path in depends_on))
        self.restamp(stamp)


@dataclass(frozen=True)
class Change:
    """A watched module whose file now holds different source than what is running."""

    tracked: TrackedModule
    data: bytes
    digest: bytes
    stamp: Stamp
    forced: bool = False


@dataclass(frozen=True)
class Problem:
    """A watched module whose file can no longer be read."""

    tracked: TrackedModule
    message: str


# A directory holding at least this many watched files gets an open handle, and its files are
# stat'ed relative to it: the kernel then resolves one path component instead of the whole path
# (about a fifth of a stat's cost here). Fewer files would not pay for checking the handle.
_FILES_PER_HANDLE = 8
# Handles kept at most: a few, so that no host program runs short of file descriptors (or
# sees its own ones numbered above select()'s 1024 limit sooner).
_MAX_HANDLES = 32
_CAN_STAT_AT = os.stat in os.supports_dir_fd and hasattr(os, "O_DIRECTORY")

# The idle loop in C (hotreload_ext/_speedups.c), when it was built at install: the same stats
# and comparisons as Watcher._stat_all's Python loop, without building a stat_result per file.
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


StatFunction = Callable[[str], os.stat_result]
ReadFunction = Callable[[str], bytes]


class _Unstable(Exception):
    """The file kept changing while it was being read."""


class Watcher:
    """Tracks the user's modules and finds the ones whose source changed.

    Args:
        modules: The module registry to watch (``sys.modules``).
        module_filter: Which modules are the user's.
        stat: Seam for tests; ``os.stat`` by default.
        read: Seam for tests (a read racing with a save); :func:`read_file` by default.
    """

    def __init__(
        self,
        modules: Mapping[str, object] | None = None,
        module_filter: ModuleFilter | None = None,
        *,
        stat: StatFunction = os.stat,
        read: ReadFunction = read_file,
    ) -> None:
        self.modules: Mapping[str, object] = sys.modules if modules is None else modules
        self.filter = module_filter or ModuleFilter()
        self.tracked: dict[str, TrackedModule] = {}
        self._stat = stat
        self._read = read
        self._seen_count = -1
        self._seen_last: str | None = None
        self._seen_last_module: object = None
        # User modules with no source, already reported.
        self._unwatchable_seen: set[str] = set()
        self.store = SourceStore()
        # Counts changes to the set of tracked modules, so derived data (the directories a
        # change notifier watches, the path index) is rebuilt only when it moved.
        self.generation = 0
        self._by_path: dict[str, list[TrackedModule]] = {}
        self._by_path_generation = -1
        self._directories = _Directories()
        self._plan_generation = -1
        # Modules whose last version failed: the engine keeps this up to date.
        self.waiting: set[str] = set()
        # Whether the idle check uses the C loop. HOTRELOAD_SPEEDUPS=0 turns it off, to rule it
        # out when something looks wrong (and for the test cell that runs the Python loop).
        self.speedups = _unverified is not None and os.environ.get("HOTRELOAD_SPEEDUPS") != "0"
        # User modules that cannot be watched (no source), reported once by the engine.
        self.unwatchable: list[tuple[str, str]] = []

    # --- discovering modules ---------------------------------------------------------------
    def discover(self) -> list[TrackedModule]:
        """Start tracking modules imported since the last call, from their current source."""
        count = len(self.modules)
        # Registries iterate in insertion order (sys.modules is a dict).
        last = next(reversed(cast("dict[str, object]", self.modules)), None) if count else None
        last_module = self.modules.get(last) if last is not None else None
        # sys.modules only grows at its end, so an unchanged size, last key and last module mean
        # nothing was imported or removed: the idle cell costs O(1), whatever is loaded.
        # (Deleting k modules, then registering k others with the previous last name and object
        # last, would go unseen; no import pattern does that.)
        if (
            count == self._seen_count
            and last == self._seen_last
            and last_module is self._seen_last_module
        ):
            return []
        # A watched module deleted from sys.modules (and maybe imported again): one lookup each.
        registered = self.modules.get
        replaced: list[str] = []
        for stale in [t for t in self.tracked.values() if registered(t.name) is not t.module]:
            self._forget(stale.name)
            replaced.append(stale.name)
        fresh = self._names_since(count, last, last_module) + replaced
        added: list[TrackedModule] = []
        for name in fresh:
            module = registered(name)
            if module is None:
                continue
            current = self.tracked.get(name)
            if current is not None and current.module is module:
                continue
            record = self.track(name, module)
            if record is not None:
                added.append(record)
            elif name not in self.tracked and name not in self._unwatchable_seen:
                compiled = self.filter.sourceless_path(name, module)
                if compiled is not None:
                    self._unwatchable_seen.add(name)
                    self.unwatchable.append(
                        (name, f"loaded from {compiled} with no source file; it cannot be reloaded")
                    )
        self.store.flush()
        return added

    def _names_since(self, count: int, last: str | None, last_module: object) -> list[str]:
        """The registry's names added since the last call: all of them after a removal.

        sys.modules only grows at its end, so when the entry that was last then is still at
        the same position, only what follows it is new: thousands of modules already looked
        at cost nothing to remember. Anything else (a module deleted or re-registered, or the
        first call) means one pass over every entry. Names, not ``(name, module)`` pairs: a
        pair per loaded module would be thousands of short-lived tuples, whose memory pages
        the records made meanwhile would pin in the process's resident size.
        """
        seen, seen_last, seen_module = self._seen_count, self._seen_last, self._seen_last_module
        self._seen_count, self._seen_last, self._seen_last_module = count, last, last_module
        if 0 < seen <= count and seen_last is not None:
            at = next(itertools.islice(self.modules, seen - 1, None), None)
            if at == seen_last and self.modules.get(seen_last) is seen_module:
                return list(itertools.islice(self.modules, seen, None))
        return list(self.modules)

    def take_unwatchable(self) -> list[tuple[str, str]]:
        """``(module, why)`` for user modules found since the last call that can't be watched."""
        found, self.unwatchable = self.unwatchable, []
        return found

    def track(self, name: str, module: object) -> TrackedModule | None:
        """Track ``module`` from its current source, if it is a user module."""
        path = self.filter.source_path(name, module)
        if path is None:
            self._forget(name)
            return None
        current = self.tracked.get(name)
        if current is not None and current.module is module:
            return None
        assert isinstance(module, types.ModuleType)
        try:
            result = self._stat(path)
            data, stamp = self._read_stable(path, result)
            # Changed while we read it: being edited now, so not what the module was imported
            # from; whatever it holds, the next check must treat it as unknown source.
            stable = stamp == stamp_of(result)
        except _Unstable as unstable:
            data, stamp, stable = unstable.args[0], _UNKNOWN_STAMP, False
        except OSError:
            return None
        record = TrackedModule(
            name,
            module,
            path,
            self.store,
            # The dict, not hasattr(): see _module_source.
            is_package="__path__" in vars(module),
        )
        if not stable or changed_since_import(module, data, stamp):
            # The module was imported from older text. We cannot diff against it, but the next
            # check must not treat the edited file as what is running: a stamp and digest that
            # match nothing make it a change, and unknown source makes it a whole-module run.
            record.forget_source()
        else:
            record.accept(data, digest_bytes(data), stamp)
        self._forget(name)
        self.tracked[name] = record
        self.generation += 1
        return record

    def _forget(self, name: str) -> None:
        """Stop tracking ``name`` (if it was), releasing its stored source."""
        record = self.tracked.pop(name, None)
        if record is not None:
            self.store.release(record.key)
            self.generation += 1

    def refilter(self) -> None:
        """Re-apply the filter to every loaded module (after the patterns changed)."""
        self._seen_count = -1
        for name in list(self.tracked):
            if self.filter.source_path(name, self.tracked[name].module) is None:
                self._forget(name)
        self.discover()

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

    # --- detecting changes -------------------------------------------------------------------
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
        """
        if self._stat is not os.stat:
            return self._stat_each(self.tracked.values(), forced)
        self._refresh_stat_names()
        if self.speedups and _unverified is not None:
            return self._stat_unverified(_unverified, forced)
        stat, pack = os.stat, _pack_exact
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
        except _Unstable:
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
            tracked.clear_failure()
            return None
        if digest == tracked.failed_digest:
            # Still the version that failed: it was reported once already.
            tracked.restamp(stamp)
            return None
        return Change(tracked, data, digest, stamp)

    def _failure_cause_changed(self, tracked: TrackedModule) -> bool:
        return any(
            _stamp_or_none(path, self._stat) != stamp for path, stamp in tracked.failed_because
        )

    def _read_stable(self, path: str, result: os.stat_result) -> tuple[bytes, Stamp]:
        """Read ``path``, whose stat was ``result``; return its bytes and their stamp.

        The stamp is taken before the read, so a save that lands after it always moves the stamp
        and is seen by the next check. A save that lands *during* the read (the stat after the
        read differs) can leave a torn mix of two versions in the buffer: the file is read again.

        Raises:
            OSError: The file cannot be read, or is not a regular file (``ENODEV``): opening a
                FIFO would block the kernel and a device (a symlink to ``/dev/zero``) never ends.
            _Unstable: It kept changing for every attempt; ``args[0]`` is the last read.
        """
        stamp = stamp_of(result)
        data = b""
        for _ in range(_READ_ATTEMPTS):
            if stat_module.S_ISDIR(result.st_mode):
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
            if not stat_module.S_ISREG(result.st_mode):
                raise OSError(errno.ENODEV, "not a regular file", path)
            data = self._read(path)
            result = self._stat(path)
            after = stamp_of(result)
            if after == stamp:
                return data, stamp
            stamp = after
        raise _Unstable(data)

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

    def memory(self) -> int:
        """Approximate bytes kept in memory for all watched modules (the store's file aside)."""
        entries = 50 * len(self.tracked)  # an entry of the `tracked` dict
        return sum(t.memory for t in self.tracked.values()) + entries + self.store.memory()
