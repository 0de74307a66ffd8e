"""Stage 1: which of the user's module files changed.

Only the user's own modules are watched (see :func:`classify`). Each watched module keeps a small
:class:`TrackedModule` record: the file's ``(st_mtime_ns, st_size)`` stamp, a content hash and the
source it was loaded from (compressed). A check stats each watched file; only a file whose stamp
moved is read and hashed, and only a file whose hash differs from what is running counts as
changed, so a ``touch`` or an edit reverted before the next cell costs one read and reloads nothing.

This module must never import IPython.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import os
import sys
import sysconfig
import time
import types
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import cast

from ._diff import digest_bytes

__all__ = ["Change", "ModuleFilter", "TrackedModule", "Watcher", "decode_source", "read_file"]

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
        if not isinstance(module, types.ModuleType):
            return None
        if name in ("__main__", "__mp_main__") or name.split(".")[0] in _OWN_PACKAGES:
            return None
        path = _module_source(module)
        if path is None:
            return None
        if self._matches(self.exclude, name, path):
            return None
        if self._matches(self.include, name, path):
            return path
        real = os.path.realpath(path)
        if real.startswith(self.stdlib_dirs) and not real.startswith(_site_dirs_in(real)):
            return None
        parts = real.split(os.sep)
        if "site-packages" in parts or "dist-packages" in parts:
            return None
        return path

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
    spec = getattr(module, "__spec__", None)
    origin = getattr(spec, "origin", None) if spec is not None else None
    path = origin if isinstance(origin, str) else getattr(module, "__file__", None)
    if not isinstance(path, str) or not path.endswith((".py", ".pyw")):
        return None
    return path


def changed_since_import(module: types.ModuleType, data: bytes, stamp: tuple[int, int]) -> bool:
    """Whether the source file changed after ``module`` was imported, as far as can be told.

    The import system writes a ``.pyc`` recording the source it compiled: its mtime and size
    (the default) or its hash (PEP 552). If the file no longer matches that record, the running
    code came from older text. Without a readable ``.pyc`` nothing can be told: False. Nor when
    bytecode writing is off (``PYTHONDONTWRITEBYTECODE``): a ``.pyc`` left by an earlier run
    would then describe older text than the import used, a false alarm.
    """
    cached = getattr(module, "__cached__", None)
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


def decode_source(data: bytes) -> str:
    """Decode source bytes the way the import system does (BOM and coding cookie honoured).

    Raises:
        SyntaxError: The bytes are not valid text in the declared encoding, or contain NUL.
    """
    if b"\0" in data:
        raise SyntaxError("source code cannot contain null bytes")
    try:
        return importlib.util.decode_source(data)
    except (UnicodeDecodeError, LookupError, SyntaxError) as exc:
        # tokenize reports undecodable bytes as "invalid or missing encoding declaration";
        # say plainly that the file is not text in its declared (or default UTF-8) encoding.
        reason = exc.msg if isinstance(exc, SyntaxError) else str(exc)
        raise SyntaxError(f"cannot decode the source as text: {reason}") from exc


@dataclass
class TrackedModule:
    """What hotreload remembers about one watched module."""

    name: str
    module: types.ModuleType
    path: str
    stamp: tuple[int, int]
    stamped_at: int
    digest: bytes
    _source: bytes
    failed_digest: bytes | None = None
    missing_reported: bool = False
    is_package: bool = False
    # Racily clean: a stamp taken within the filesystem's timestamp tick of the file's mtime
    # cannot prove the content is unchanged, so such a file is re-hashed until it ages.
    racy: bool = True
    # False when the file already differed from what the module was imported from at the time
    # we started watching it: the running code's source is unknown, the next check re-runs it.
    source_known: bool = True

    def restamp(self, stamp: tuple[int, int]) -> None:
        """Record that the file with ``stamp`` was verified to hold ``digest`` just now."""
        self.stamp = stamp
        self.stamped_at = time.time_ns()
        self.racy = stamp[0] >= self.stamped_at - _RACY_NS

    @property
    def source(self) -> bytes:
        """The source bytes the running code was loaded from."""
        return zlib.decompress(self._source)

    @property
    def memory(self) -> int:
        """Approximate bytes this record keeps alive."""
        return len(self._source) + len(self.digest) + len(self.name) + len(self.path) + 200

    def accept(self, data: bytes, digest: bytes, stamp: tuple[int, int]) -> None:
        """Make ``data`` the running source."""
        self._source = zlib.compress(data, 1)
        self.digest = digest
        self.failed_digest = None
        self.missing_reported = False
        self.source_known = True
        self.restamp(stamp)

    def reject(self, digest: bytes, stamp: tuple[int, int]) -> None:
        """Remember a version that failed, so it is reported once, not on every cell."""
        self.failed_digest = digest
        self.restamp(stamp)


@dataclass(frozen=True)
class Change:
    """A watched module whose file now holds different source than what is running."""

    tracked: TrackedModule
    data: bytes
    digest: bytes
    stamp: tuple[int, int]
    forced: bool = False


@dataclass(frozen=True)
class Problem:
    """A watched module whose file can no longer be read."""

    tracked: TrackedModule
    message: str


StatFunction = Callable[[str], os.stat_result]


class Watcher:
    """Tracks the user's modules and finds the ones whose source changed.

    Args:
        modules: The module registry to watch (``sys.modules``).
        module_filter: Which modules are the user's.
        stat: Seam for tests; ``os.stat`` by default.
    """

    def __init__(
        self,
        modules: Mapping[str, object] | None = None,
        module_filter: ModuleFilter | None = None,
        *,
        stat: StatFunction = os.stat,
    ) -> None:
        self.modules: Mapping[str, object] = sys.modules if modules is None else modules
        self.filter = module_filter or ModuleFilter()
        self.tracked: dict[str, TrackedModule] = {}
        self._stat = stat
        self._seen_count = -1
        self._seen_last: str | None = None
        self._considered: dict[str, int] = {}

    # --- discovering modules ---------------------------------------------------------------
    def discover(self) -> list[TrackedModule]:
        """Start tracking modules imported since the last call, from their current source."""
        # A watched module deleted from sys.modules (and maybe imported again) can leave the
        # registry's size and last key as they were: look for those with one lookup each.
        registered = self.modules.get
        for stale in [t for t in self.tracked.values() if registered(t.name) is not t.module]:
            del self.tracked[stale.name]
            self._considered.pop(stale.name, None)
            self._seen_count = -1
        count = len(self.modules)
        # Registries iterate in insertion order (sys.modules is a dict).
        last = next(reversed(cast("dict[str, object]", self.modules)), None) if count else None
        # sys.modules only grows at its end, so an unchanged size and last key mean nothing was
        # imported: the idle-cell case costs O(watched) lookups, not O(loaded modules).
        if count == self._seen_count and last == self._seen_last:
            return []
        self._seen_count, self._seen_last = count, last
        added: list[TrackedModule] = []
        for name, module in list(self.modules.items()):
            if self._considered.get(name) == id(module):
                continue
            self._considered[name] = id(module)
            record = self.track(name, module)
            if record is not None:
                added.append(record)
        return added

    def track(self, name: str, module: object) -> TrackedModule | None:
        """Track ``module`` from its current source, if it is a user module."""
        path = self.filter.source_path(name, module)
        if path is None:
            self.tracked.pop(name, None)
            return None
        current = self.tracked.get(name)
        if current is not None and current.module is module:
            return None
        assert isinstance(module, types.ModuleType)
        try:
            stamp = self._stamp(path)
            data = read_file(path)
        except OSError:
            return None
        record = TrackedModule(
            name=name,
            module=module,
            path=path,
            stamp=stamp,
            stamped_at=0,
            digest=digest_bytes(data),
            _source=zlib.compress(data, 1),
            is_package=hasattr(module, "__path__"),
        )
        record.restamp(stamp)
        if changed_since_import(module, data, stamp):
            # The module was imported from older text. We cannot diff against it, but the next
            # check must not treat the edited file as what is running: a stamp and digest that
            # match nothing make it a change, and unknown source makes it a whole-module run.
            record.source_known = False
            record.digest = b""
            record.stamp = (-1, -1)
        self.tracked[name] = record
        return record

    def refilter(self) -> None:
        """Re-apply the filter to every loaded module (after the patterns changed)."""
        self._considered.clear()
        self._seen_count = -1
        for name in list(self.tracked):
            if self.filter.source_path(name, self.tracked[name].module) is None:
                del self.tracked[name]
        self.discover()

    # --- detecting changes -------------------------------------------------------------------
    def poll(self, force: Iterable[str] = ()) -> tuple[list[Change], list[Problem]]:
        """Stat every watched file; return those whose content changed, and unreadable ones."""
        forced = set(force)
        stat = self._stat
        suspects: list[tuple[TrackedModule, os.stat_result | OSError]] = []
        # The idle-cell hot path: one stat and a few comparisons per watched module. Modules
        # removed from sys.modules were dropped by discover(), which check() runs first.
        for tracked in self.tracked.values():
            try:
                result = stat(tracked.path)
            except OSError as exc:
                suspects.append((tracked, exc))
                continue
            if (
                not tracked.racy
                and result.st_mtime_ns == tracked.stamp[0]
                and result.st_size == tracked.stamp[1]
                and not (forced and tracked.name in forced)
            ):
                continue
            suspects.append((tracked, result))
        changes: list[Change] = []
        problems: list[Problem] = []
        for tracked, outcome in suspects:
            if isinstance(outcome, OSError):
                self._report_unreadable(tracked, outcome, problems)
                continue
            change = self._examine(tracked, outcome, tracked.name in forced, problems)
            if change is not None:
                changes.append(change)
        return changes, problems

    def _examine(
        self,
        tracked: TrackedModule,
        result: os.stat_result,
        forced: bool,
        problems: list[Problem],
    ) -> Change | None:
        """Read and hash a file whose stamp moved (or cannot be trusted yet)."""
        stamp = (result.st_mtime_ns, result.st_size)
        try:
            data = read_file(tracked.path)
        except OSError as exc:
            self._report_unreadable(tracked, exc, problems)
            return None
        tracked.missing_reported = False
        digest = digest_bytes(data)
        if forced:
            return Change(tracked, data, digest, stamp, forced=True)
        if digest == tracked.digest:
            # Touched, or reverted to what is running: nothing to reload. Remember the stamp
            # (and that its content was verified now) so the next cell is cheap again.
            tracked.restamp(stamp)
            tracked.failed_digest = None
            return None
        if digest == tracked.failed_digest:
            # Still the version that failed: it was reported once already.
            tracked.restamp(stamp)
            return None
        return Change(tracked, data, digest, stamp)

    @staticmethod
    def _report_unreadable(tracked: TrackedModule, exc: OSError, problems: list[Problem]) -> None:
        if tracked.missing_reported:
            return
        tracked.missing_reported = True
        if isinstance(exc, FileNotFoundError):
            message = "its file was deleted; keeping the loaded code"
        else:
            message = f"cannot read its file ({exc.strerror or exc}); keeping the loaded code"
        problems.append(Problem(tracked, message))

    def _stamp(self, path: str) -> tuple[int, int]:
        result = self._stat(path)
        return (result.st_mtime_ns, result.st_size)

    def memory(self) -> int:
        """Approximate bytes kept for all watched modules."""
        return sum(t.memory for t in self.tracked.values())
