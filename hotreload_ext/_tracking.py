"""Stage 1 (detect): what hotreload remembers about each watched module, and how it reads a file.

Each watched module keeps a small :class:`TrackedModule` record: the file's stamp (mtime, size,
inode, ctime), a content hash and the source it was loaded from (compressed, in the watcher's
:class:`SourceStore`). It keeps its own books: :meth:`~TrackedModule.accept` makes a new source
the running one, :meth:`~TrackedModule.reject` remembers a version that failed, so that it is
reported once. :class:`Change` and :class:`Problem` are what a check hands on to the next stages.

This is the base of the detect stage: discovery (:mod:`._discovery`, which modules to watch) and
polling (:mod:`._polling`, which files moved) both build on it, and it imports neither. A file is
always read the same way, by :meth:`Watchlist._read_stable`: a file that changes while it is read
is read again (never a torn mix of two saves), and a path that is no longer a regular file is
never opened (a FIFO would block).

This module must never import IPython.
"""

from __future__ import annotations

import errno
import os
import stat as stat_module
import struct
import sys
import time
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ._store import NO_SOURCE, SourceStore

__all__ = [
    "UNKNOWN_STAMP",
    "Change",
    "Problem",
    "ReadFunction",
    "Stamp",
    "StatFunction",
    "TrackedModule",
    "UnstableFile",
    "Watchlist",
    "files_in_failure",
    "pack_exact",
    "pack_stamp",
    "read_file",
    "stamp_of",
    "stamp_or_none",
]

# What a stat says about a file: (st_mtime_ns, st_size, st_ino, st_ctime_ns). The inode tells a
# file replaced by rename-on-save or a symlink swap from the old one even when a copy tool kept
# its mtime and size; the ctime, which no tool can set back, catches an in-place rewrite that did.
Stamp = tuple[int, int, int, int]
UNKNOWN_STAMP: Stamp = (-1, -1, -1, -1)

# How often a file that changed while it was being read is read again before giving up until the
# next check (an editor still writing it).
_READ_ATTEMPTS = 3

# A file whose mtime is this close to the moment we stamped it may still be written to within the
# same filesystem timestamp tick (1-2 s on some filesystems), so an unchanged stamp proves nothing:
# like git's "racily clean" index entries, such files are re-hashed until the stamp is old enough.
_RACY_NS = 2_000_000_000


def read_file(path: str) -> bytes:
    """Read a source file. Raises OSError (including IsADirectoryError) as ``open`` does."""
    with open(path, "rb") as handle:
        return handle.read()


def stamp_of(result: os.stat_result) -> Stamp:
    """The stamp of a file from its stat result."""
    return (result.st_mtime_ns, result.st_size, result.st_ino, result.st_ctime_ns)


# The packed stamp: the first 32 bytes of TrackedModule._record, and what _speedups.c packs from
# its own stat (see TrackedModule). Raises struct.error out of range, where pack_stamp clamps.
pack_exact = struct.Struct("<qqQq").pack


def pack_stamp(stamp: Stamp) -> bytes:
    """A stamp as 32 bytes: a third of the memory of a tuple of four ints, compared as fast."""
    try:
        return pack_exact(*stamp)
    except struct.error:
        # Out of range (a timestamp past 2262, a negative size): clamped, still comparable.
        low, high = -(2**63), 2**63 - 1
        mtime, size, inode, ctime = (min(max(v, low), high) for v in stamp)
        return pack_exact(mtime, size, inode & (2**64 - 1), ctime)


def stamp_or_none(path: str, stat: Callable[[str], os.stat_result] = os.stat) -> Stamp | None:
    """The stamp of the file at ``path``; None when it cannot be stat'ed."""
    try:
        return stamp_of(stat(path))
    except OSError:
        return None


_MAX_FAILURE_FILES = 16
# Where a missing module could appear: two paths per searched directory, the first ones only.
_MAX_MISSING_PATHS = 24


def files_in_failure(exc: BaseException, own: str) -> list[str]:
    """The source files other than ``own`` that a failed reload's error went through.

    ``import helper`` failing inside ``helper.py`` (or a circular import failing in a module
    the reloaded one imports): the fix is saved to that other file, and the failed module must
    then be tried again although its own file did not change. Chained exceptions count too.
    """
    found: dict[str, None] = {}
    missing: dict[str, None] = {}
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending and len(found) < _MAX_FAILURE_FILES:
        error = pending.pop()
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, SyntaxError) and isinstance(error.filename, str):
            found[error.filename] = None
        if type(error) is ModuleNotFoundError and isinstance(error.name, str):
            missing.update(dict.fromkeys(_where_it_would_be(error.name)))
        traceback = error.__traceback__
        while traceback is not None:
            found[traceback.tb_frame.f_code.co_filename] = None
            traceback = traceback.tb_next
        pending += [error.__cause__, error.__context__]
    own_real = os.path.realpath(own)
    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    files = [
        path
        for path in list(found)[:_MAX_FAILURE_FILES]
        if os.path.isfile(path)
        and os.path.realpath(path) != own_real
        and not os.path.abspath(path).startswith(package)
    ]
    return files + list(missing)[:_MAX_MISSING_PATHS]


def _where_it_would_be(name: str) -> list[str]:
    """The files a missing module would be found in, were it created: ``x.py``, ``x/__init__.py``.

    In each directory the import system would search: ``sys.path`` for a top-level module,
    the parent package's ``__path__`` for a submodule. A failure waits on these paths like on
    any other file, so creating the module retries it without the failing file being touched.
    """
    parent, _, leaf = name.rpartition(".")
    if parent:
        package = sys.modules.get(parent)
        directories = list(getattr(package, "__path__", []) or [])
    else:
        directories = [entry or os.getcwd() for entry in sys.path if isinstance(entry, str)]
    return [
        os.path.join(directory, *candidate)
        for directory in directories
        if os.path.isdir(directory)
        for candidate in ((leaf + ".py",), (leaf, "__init__.py"))
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

    Contract with the C stat loop (written down here and nowhere else):
        The optional idle loop in C (``hotreload_ext/_speedups.c``, ``unverified()``) reads
        four attributes of every record by name, with ``PyObject_GetAttr``; the Python loop it
        stands in for (``_polling.Poller._stat_all``) reads the same ones, and ``_failure``,
        directly, bypassing the properties below. Renaming one, or changing what it holds or
        the layout of ``_record``, means changing the C file in the same commit;
        ``tests/unit/test_speedups.py`` pins the names and the layout.

        - ``path`` (str): the file's full path.
        - ``dir_handle`` (int or None): an open handle on the file's directory, or None to
          stat ``path`` whole.
        - ``name_start`` (int): read only when ``dir_handle`` is not None: ``path[name_start:]``
          is the name stat'ed relative to ``dir_handle`` (out of range, C stats the whole path).
        - ``_record`` (bytes, 40 of them). Bytes 0-31: the file's packed stamp, what
          :func:`pack_stamp` makes, struct ``"<qqQq"`` (little-endian) of ``(st_mtime_ns,
          st_size, st_ino, st_ctime_ns)``; or ``_NEVER`` (32 bytes of 0xff, which no stat
          packs to) while the file is racily clean or its source unknown. Bytes 32-39: the
          store's key (``"<q"``), which C ignores. C compares bytes 0-31 (``STAMP_SIZE``) with
          the stat it packs itself; a failed stat, or a value out of ``"<qqQq"``'s range
          (which Python would clamp), makes the module a suspect, and Python decides.
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
        # The packed stamp (32 bytes; _NEVER while racily clean), then the store's key (8): the
        # layout _speedups.c reads (see the contract above).
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
        self._failure = (digest, tuple((path, stamp_or_none(path)) for path in depends_on))
        self.restamp(stamp)


@dataclass(frozen=True)
class Change:
    """A watched module whose file now holds different source than what is running.

    Or the same source, with ``data_files``: data files its body read changed, and the
    statements that read them must run again.
    """

    tracked: TrackedModule
    data: bytes
    digest: bytes
    stamp: Stamp
    forced: bool = False
    data_files: tuple[str, ...] = ()


@dataclass(frozen=True)
class Problem:
    """A watched module whose file can no longer be read (or, ``good``, is healthy again)."""

    tracked: TrackedModule
    message: str
    good: bool = False


StatFunction = Callable[[str], os.stat_result]
ReadFunction = Callable[[str], bytes]


class UnstableFile(Exception):
    """The file kept changing while it was being read."""


class Watchlist:
    """The watched modules' records, and how their files are read.

    The watcher is one of these: discovery adds and drops records, polling checks their files.
    Both read a file the same way, through the ``stat`` and ``read`` seams (tests replace them
    on the instance).

    Args:
        stat: Seam for tests; ``os.stat`` in the watcher.
        read: Seam for tests (a read racing with a save); :func:`read_file` in the watcher.
    """

    def __init__(self, *, stat: StatFunction, read: ReadFunction) -> None:
        self.tracked: dict[str, TrackedModule] = {}
        self._stat = stat
        self._read = read
        self.store = SourceStore()
        # User modules that are compiled extensions: their file, and its stamp when last seen.
        # They cannot be reloaded; a rebuild is said once (polling's take_rebuilt).
        self.extensions: dict[str, tuple[str, Stamp | None]] = {}
        # Counts changes to the set of tracked modules, so derived data (the directories a
        # change notifier watches, the path index) is rebuilt only when it moved.
        self.generation = 0

    def _read_stable(self, path: str, result: os.stat_result) -> tuple[bytes, Stamp]:
        """Read ``path``, whose stat was ``result``; return its bytes and their stamp.

        The stamp is taken before the read, so a save that lands after it always moves the stamp
        and is seen by the next check. A save that lands *during* the read (the stat after the
        read differs) can leave a torn mix of two versions in the buffer: the file is read again.

        Raises:
            OSError: The file cannot be read, or is not a regular file (``ENODEV``): opening a
                FIFO would block the kernel and a device (a symlink to ``/dev/zero``) never ends.
            UnstableFile: It kept changing for every attempt; ``args[0]`` is the last read.
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
        raise UnstableFile(data)

    def memory(self) -> int:
        """Approximate bytes kept in memory for all watched modules (the store's file aside)."""
        entries = 50 * len(self.tracked)  # an entry of the `tracked` dict
        return sum(t.memory for t in self.tracked.values()) + entries + self.store.memory()
