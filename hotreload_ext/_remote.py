"""Other processes follow the kernel's reloads: the transport-neutral entry point.

A process that runs the user's modules for the kernel (a Dask worker; a Ray actor later) is sent
the source bytes those modules now run in the kernel, by module name, and calls
:func:`apply_sources` with them. The process's own :class:`SourceFollower` then:

- reloads each named module it has imported, through the same engine and the same all-or-nothing
  transaction per module as the kernel (:meth:`~._engine.Reloader.apply_sources`), so live
  functions, classes and instances are patched in place;
- makes a later ``import`` of a named module load the given source, not the process's own copy
  of the file (:class:`_GivenSourceFinder`): the process need not share the kernel's filesystem,
  and a file that is older there is never what runs.

The answer, :class:`RemoteResult`, holds only strings, so any transport can carry it back. This
module knows nothing about Dask: an adapter ships the sources and calls :func:`apply_sources` in
each process (``_dask.py``; ``docs/dask.md`` says how a Ray adapter would do the same).

This module must never import IPython.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import linecache
import os
import sys
import threading
import types
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ._digest import digest_bytes
from ._engine import Reloader
from ._source import decode_source
from ._tracking import read_file

__all__ = ["RemoteResult", "SourceFollower", "apply_sources", "follower", "running_digests"]


@dataclass(frozen=True)
class RemoteResult:
    """What applying the kernel's sources did in one process; plain strings only.

    Attributes:
        reloaded: Modules that were reloaded here and now run the given source.
        pending: Modules not imported here yet: importing them will load the given source.
        failed: One line per module that could not be made to run it (``module: error``); each
            keeps its previous code here.
        notices: Other lines worth telling (a stale object the reload could not make right).
    """

    reloaded: tuple[str, ...] = ()
    pending: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    notices: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether every given module runs (or will import) the given source here."""
        return not self.failed


class _GivenSourceLoader(importlib.machinery.SourceFileLoader):
    """Loads a module from the given source instead of its file, and never from bytecode."""

    def __init__(self, fullname: str, path: str, data: bytes) -> None:
        super().__init__(fullname, path)
        self.data = data

    def get_data(self, path: str) -> bytes:
        """The given source for the module's own file; other files as usual."""
        if path == self.path:
            return self.data
        return super().get_data(path)

    def path_stats(self, path: str) -> Mapping[str, float]:
        """No stats: the file's ``.pyc`` describes the file, not the given source."""
        raise OSError("the module runs given source, not its file")

    def exec_module(self, module: types.ModuleType) -> None:
        """Run the given source; tracebacks show its lines, not the file's older ones."""
        lines = decode_source(self.data).splitlines(keepends=True)
        # No mtime: linecache.checkcache() keeps an entry without one (it did not come from
        # reading the file), as it does for sources that came from a loader.
        linecache.cache[self.path] = (len(self.data), None, lines, self.path)
        super().exec_module(module)


class _GivenSourceFinder(importlib.abc.MetaPathFinder):
    """Makes ``import name`` load the given source for the modules the follower was given."""

    def __init__(self, follower: SourceFollower) -> None:
        self.follower = follower

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        """The file's own spec with a loader that runs the given source (None: not ours)."""
        data = self.follower.sources.get(fullname)
        if data is None:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if (
            spec is None
            or spec.origin is None
            or not isinstance(spec.loader, importlib.machinery.SourceFileLoader)
        ):
            return None
        spec.loader = _GivenSourceLoader(fullname, spec.origin, data)
        # No `__cached__`: discovery would compare the file's .pyc with the given source.
        spec.cached = None
        self.follower.remember_path(spec.origin, data)
        return spec


class SourceFollower:
    """One process's side: runs the source the kernel's modules run, whatever its files hold.

    Args:
        modules: The module registry (``sys.modules``; tests pass a view of their own modules).
    """

    def __init__(self, modules: Mapping[str, object] | None = None) -> None:
        # The latest source given for each module, by name and by (real) file path.
        self.sources: dict[str, bytes] = {}
        self._by_path: dict[str, bytes] = {}
        # The engine reads a module's file through `read`: a module loaded from given source
        # is then known to run that source, not its file's.
        self.reloader = Reloader(read=self.read, modules=modules)
        self.finder = _GivenSourceFinder(self)
        # Transports may call in from more than one thread (Dask: its event loop, a plugin).
        self.lock = threading.Lock()

    def install(self) -> None:
        """Put the import hook first on the meta path (idempotent)."""
        if self.finder not in sys.meta_path:
            sys.meta_path.insert(0, self.finder)

    def uninstall(self) -> None:
        """Remove the import hook; modules already loaded keep running what they run."""
        if self.finder in sys.meta_path:
            sys.meta_path.remove(self.finder)

    def read(self, path: str) -> bytes:
        """A module file's content as this process should see it: the given source, if any."""
        data = self._by_path.get(os.path.realpath(path))
        return read_file(path) if data is None else data

    def remember_path(self, path: str, data: bytes) -> None:
        """The file at ``path`` stands for the given source ``data`` from now on."""
        self._by_path[os.path.realpath(path)] = data

    def apply(self, sources: Mapping[str, bytes | str]) -> RemoteResult:
        """Make the named modules run the given sources here; see :func:`apply_sources`."""
        given = {name: _as_bytes(data) for name, data in sources.items()}
        with self.lock:
            self.install()
            self._watch(given)
            self.sources.update(given)
            reloader = self.reloader
            # What is imported already is tracked from what it runs before the overlay moves.
            reloader.discover()
            for name, tracked in reloader.watched.items():
                if name in given:
                    self.remember_path(tracked.path, given[name])
            report = reloader.apply_sources(given)
        failed = [f"{f.module}: {f.error}" for f in report.failed]
        failed += [f"internal error: {str(e).splitlines()[0]}" for e in report.internal]
        notices = [line for r in report.reloaded for line in r.stale]
        pending = [name for name in given if name not in sys.modules]
        imported = [n for n in given if n in sys.modules and n not in reloader.watched]
        notices += [f"{n}: imported here from a file hotreload cannot follow" for n in imported]
        return RemoteResult(
            reloaded=tuple(r.module for r in report.reloaded),
            pending=tuple(pending),
            failed=tuple(failed),
            notices=tuple(notices),
        )

    def _watch(self, given: Mapping[str, bytes]) -> None:
        """Watch the given modules here even where this process would not by default.

        The kernel already chose them (its own watch patterns included); exact names, because
        a module name holds no glob character.
        """
        known = set(self.sources)
        if not known.issuperset(given):
            self.reloader.set_patterns(sorted(known | set(given)), ())

    def digests(self, names: Iterable[str]) -> dict[str, str | None]:
        """The hex digest of the source each named module runs here (None: not imported).

        A module not imported yet counts as the source an import would load.
        """
        with self.lock:
            self.reloader.discover()
            found: dict[str, str | None] = {}
            for name in names:
                found[name] = self._digest_of(name)
            return found

    def _digest_of(self, name: str) -> str | None:
        tracked = self.reloader.watched.get(name)
        if tracked is not None and tracked.source_known:
            return tracked.digest.hex()
        module = sys.modules.get(name)
        if module is None:
            data = self.sources.get(name)
            return None if data is None else digest_bytes(data).hex()
        path = vars(module).get("__file__")
        if not isinstance(path, str) or not path.endswith(".py"):
            return None
        try:
            return digest_bytes(self.read(path)).hex()
        except OSError:
            return None


def _as_bytes(data: bytes | str) -> bytes:
    if isinstance(data, str):
        return data.encode("utf-8")
    if not isinstance(data, bytes):
        raise TypeError(f"a module's source must be bytes or str, not {type(data).__name__}")
    return data


_follower: SourceFollower | None = None
_follower_lock = threading.Lock()


def follower() -> SourceFollower:
    """The follower of this process, made (and its import hook installed) on first use."""
    global _follower
    with _follower_lock:
        if _follower is None:
            _follower = SourceFollower()
            _follower.install()
        return _follower


def apply_sources(sources: Mapping[str, bytes | str]) -> RemoteResult:
    """Make this process's modules run the given sources; the entry point for any transport.

    Args:
        sources: The exact source bytes (or text, taken as UTF-8) each named module now runs in
            the kernel. Modules imported here are reloaded in place, each all or nothing; the
            others will load the given source when imported.

    Never raises: hotreload's own error comes back as a ``failed`` line (the process keeps
    its previous code).
    """
    try:
        return follower().apply(sources)
    except Exception as exc:
        return RemoteResult(failed=(f"internal error in hotreload: {type(exc).__name__}: {exc}",))


def running_digests(names: Iterable[str]) -> dict[str, str | None]:
    """The hex digest of the source each named module runs in this process (None: not imported)."""
    return follower().digests(list(names))
