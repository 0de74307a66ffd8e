"""Stage 1 (detect): which modules of ``sys.modules`` to watch.

Only the user's own modules are watched (see :class:`ModuleFilter`): not the standard library,
not installed packages, not hotreload itself. :class:`Discoverer` finds the modules imported
since the last check, starts a :class:`~._tracking.TrackedModule` record for each from its file
as it is at that moment, and drops the records of modules removed from ``sys.modules``. An idle
cell, which imported nothing, costs it O(1) whatever is loaded.

A module imported from text that was edited before it started being watched is caught here
(:func:`changed_since_import`): its running source is unknown, and the next check re-runs it whole.

This module must never import IPython.
"""

from __future__ import annotations

import fnmatch
import importlib.machinery
import importlib.util
import itertools
import os
import sys
import sysconfig
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import cast

from ._digest import digest_bytes
from ._freshness import (
    FRESH,
    STALE,
    UNKNOWN,
    Freshness,
    compare_running,
    now_ns,
    process_start_ns,
    written_before,
)
from ._tracking import (
    UNKNOWN_STAMP,
    ReadFunction,
    Stamp,
    StatFunction,
    TrackedModule,
    UnstableFile,
    Watchlist,
    stamp_of,
    stamp_or_none,
)

__all__ = ["Discoverer", "ModuleFilter", "changed_since_import"]

# What compiled extension modules end with here (`.cpython-311-x86_64-linux-gnu.so`, `.pyd`).
_EXTENSION_SUFFIXES = tuple(importlib.machinery.EXTENSION_SUFFIXES)
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

    def extension_path(self, name: str, module: object) -> str | None:
        """The compiled extension (``.so``, ``.pyd``) a user module was loaded from, else None.

        A Cython, pybind11, mypyc or cffi build of the user's own project: outside
        site-packages, or in an editable install, as for source modules.
        """
        if not issubclass(type(module), types.ModuleType):
            return None
        path = vars(cast("types.ModuleType", module)).get("__file__")
        if not isinstance(path, str) or not path.endswith(_EXTENSION_SUFFIXES):
            return None
        return path if self._is_user_file(name, path) else None

    def excluded_by(self, name: str, path: str) -> str | None:
        """The first exclude pattern that matches the module, if one does."""
        for pattern in self.exclude:
            if self._matches((pattern,), name, path):
                return pattern
        return None

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


def changed_since_import(module: types.ModuleType, data: bytes, stamp: Stamp) -> bool | None:
    """Whether the source file changed after ``module`` was imported, as far as can be told.

    The import system writes a ``.pyc`` recording the source it compiled: its mtime and size
    (the default) or its hash (PEP 552). If the file no longer matches that record, the running
    code came from older text. Without a readable ``.pyc`` nothing can be told: None. Nor when
    bytecode writing is off (``PYTHONDONTWRITEBYTECODE``): a ``.pyc`` left by an earlier run
    would then describe older text than the import used, a false alarm. :mod:`._freshness`
    decides the modules this leaves undecided.
    """
    cached = vars(module).get("__cached__")
    if not isinstance(cached, str) or sys.dont_write_bytecode:
        return None
    try:
        with open(cached, "rb") as handle:
            header = handle.read(16)
    except OSError:
        return None
    if len(header) < 16 or header[:4] != importlib.util.MAGIC_NUMBER:
        return None
    flags = int.from_bytes(header[4:8], "little")
    if flags & 0b1:
        return bool(header[8:16] != importlib.util.source_hash(data))
    mtime = int.from_bytes(header[8:12], "little")
    size = int.from_bytes(header[12:16], "little")
    mtime_now = (stamp[0] // 1_000_000_000) & 0xFFFFFFFF
    return mtime != mtime_now or size != stamp[1] & 0xFFFFFFFF


class Discoverer(Watchlist):
    """The watchlist's discovery part: which modules of the registry it tracks.

    Args:
        modules: The module registry to watch (``sys.modules``).
        module_filter: Which modules are the user's.
        stat: Seam for tests (see :class:`~._tracking.Watchlist`).
        read: Seam for tests (see :class:`~._tracking.Watchlist`).
    """

    def __init__(
        self,
        modules: Mapping[str, object],
        module_filter: ModuleFilter,
        *,
        stat: StatFunction,
        read: ReadFunction,
    ) -> None:
        super().__init__(stat=stat, read=read)
        self.modules = modules
        self.filter = module_filter
        self._seen_count = -1
        self._seen_last: str | None = None
        self._seen_last_module: object = None
        # User modules with no source, already reported.
        self._unwatchable_seen: set[str] = set()
        # User modules that cannot be watched (no source), reported once by the engine.
        self.unwatchable: list[tuple[str, str]] = []
        # Found modules whose running code could not be compared with their file.
        self.unverified: list[str] = []
        # A moment before which no module found at the next discovery can have been imported:
        # the process start, then the start of the previous discovery that found modules.
        self._process_start_ns = process_start_ns()
        self._imported_after_ns: int | None = now_ns()
        # The modules already imported when watching started (until the first discovery): only
        # they can run code from before an edit saved before loading.
        self._present_at_start: frozenset[str] | None = frozenset(modules)

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
        started = now_ns()
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
                self._note_unwatchable(name, module)
        self._imported_after_ns = started
        self._present_at_start = None
        self.store.flush()
        return added

    def _note_unwatchable(self, name: str, module: object) -> None:
        """A user module with no source: said once; a compiled extension's file is watched."""
        extension = self.filter.extension_path(name, module)
        if extension is not None:
            self._unwatchable_seen.add(name)
            self.extensions[name] = (extension, stamp_or_none(extension, self._stat))
            return
        compiled = self.filter.sourceless_path(name, module)
        if compiled is not None:
            self._unwatchable_seen.add(name)
            self.unwatchable.append(
                (name, f"loaded from {compiled} with no source file; it cannot be reloaded")
            )

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
        except UnstableFile as unstable:
            data, stamp, stable = unstable.args[0], UNKNOWN_STAMP, False
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
        if not stable or self._freshness(name, module, data, stamp, path) == STALE:
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

    def _freshness(
        self, name: str, module: types.ModuleType, data: bytes, stamp: Stamp, path: str
    ) -> Freshness:
        """Whether ``module`` runs the text ``data``; undecidable ones are noted for the user."""
        told = changed_since_import(module, data, stamp)
        if told is not None:
            return STALE if told else FRESH
        early = self._present_at_start is not None and name in self._present_at_start
        if written_before(stamp[0], self._process_start_ns if early else self._imported_after_ns):
            return FRESH
        verdict = compare_running(module, data, path).verdict
        if verdict == UNKNOWN and early:
            # Said for modules found when watching starts (edits saved before loading). One
            # imported since is taken as fresh: its file would have had to change between that
            # import and this check, in a statement that cannot be compared, and a notice for
            # every new module of a bytecode-less session would be noise.
            self.unverified.append(name)
        return verdict

    def take_unverified(self) -> list[str]:
        """User modules found since the last call whose freshness could not be checked."""
        found, self.unverified = self.unverified, []
        return found

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
