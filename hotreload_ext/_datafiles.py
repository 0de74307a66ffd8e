"""Stage 1 (detect): the data files a module's body reads, and which of them changed.

A module whose body reads a file (``CONFIG = json.load(open("config.json"))``, a CSV, a YAML or
TOML config, ``importlib.resources``) holds values made from that file's contents. When the file
changes, a fresh import would read it again: the statements that read it must run again (and
their dependents, as for a code change; the execute stage sees to that).

Which statement read which file is learnt from the ``open`` audit event (PEP 578), which every
way of opening a file raises (``open``, ``io.open``, ``os.open``, ``pathlib``, ``io.open_code``).
The hook (in C where ``_speedups`` was built: one in Python would cost a call into Python for
every audited event of the process) walks from the caller to the innermost module body being
executed (the frame of a ``<module>`` code object) and keeps the read only when that body is a
real module's (its ``__spec__.origin`` is the code's file): the first import of a module, run by
the import system, and hotreload's own runs of its statements (compiled with the module's file as
their filename).
A cell, a function called later, or a script is none of these. The body's current line names
the top-level statement that read the file, also when the read happened deeper, in a function
it called.

Audit hooks cannot be removed, so the one hook installed (once per process, on first use)
returns at once for every other event, and for everything while no watcher listens; it never
raises, since an exception would fail the user's ``open``.

This module must never import IPython.
"""

from __future__ import annotations

import contextlib
import os
import stat as stat_module
import sys
import sysconfig
import types
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ._tracking import Stamp, StatFunction, TrackedModule, stamp_of, stamp_or_none

__all__ = ["DataFiles", "DataRead"]

# (module name, the file its code came from, the line of its body, the data file, its stamp)
DataRead = tuple[str, str, int, str, Stamp]

# Sources, bytecode, compiled extensions and stubs are the import system's business, never data.
_CODE_SUFFIXES = (".py", ".pyw", ".pyc", ".pyo", ".pyi", ".so", ".pyd")
_WRITING_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
# Data files followed at most: each costs a stat per cell, and a module body that loads a
# directory of thousands of files is loading a data set, not reading its configuration.
MAX_DATA_FILES = 1000

# What the hook appends each read to: one list per listening DataFiles (usually one).
_listeners: list[list[DataRead]] = []
_installed = False
# The C hook's switch (hotreload_ext/_speedups.c), when that hook is the one installed.
_listen: Callable[[bool], None] | None = None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    """The audit hook in Python: a string comparison and a truth test for every other event."""
    if event != "open" or not _listeners:
        return
    # Never raise: an audit hook's exception would fail the user's open().
    with contextlib.suppress(Exception):
        _record(args)


def _record_open(args: tuple[Any, ...]) -> None:
    """What the C hook calls for an "open" event while someone listens (the same depth)."""
    # try/except rather than contextlib.suppress: this runs for every open() of the process.
    try:  # noqa: SIM105
        _record(args)
    except Exception:
        pass  # never raise (the C hook would clear the error anyway)


def _record(args: tuple[Any, ...]) -> None:
    path, mode, flags = args
    if isinstance(mode, str) and ("w" in mode or "a" in mode or "x" in mode or "+" in mode):
        return
    if isinstance(flags, int) and flags & _WRITING_FLAGS:
        return
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not isinstance(path, str) or path.endswith(_CODE_SUFFIXES):
        return
    frame: types.FrameType | None = sys._getframe(2)
    while frame is not None and frame.f_code.co_name != "<module>":
        frame = frame.f_back
    if frame is None:
        return
    code, namespace = frame.f_code, frame.f_globals
    spec = namespace.get("__spec__")
    # A module body run by the import system, or one of its statements run by hotreload: both
    # have the module's file as filename. A cell or a script has no spec naming its file.
    if spec is None or getattr(spec, "origin", None) != code.co_filename:
        return
    name = namespace.get("__name__")
    if not isinstance(name, str):
        return
    full = os.path.abspath(path)
    # Stamped before the file is read (the hook runs before the open): a save after this moves
    # the stamp, so it is never missed.
    result = os.stat(full)
    if not stat_module.S_ISREG(result.st_mode):
        return
    read = (name, code.co_filename, frame.f_lineno, full, stamp_of(result))
    for listener in _listeners:
        listener.append(read)


def _install() -> None:
    """Add the audit hook, once per process: in C where it was built, else in Python."""
    global _installed, _listen
    if _installed:
        return
    _installed = True
    try:
        # HOTRELOAD_SPEEDUPS=0 rules the C module out, as for the stat loop.
        if os.environ.get("HOTRELOAD_SPEEDUPS") == "0":
            raise ImportError("speedups turned off")
        from ._speedups import install_open_hook, listen_open
    except ImportError:
        sys.addaudithook(_audit)
        return
    install_open_hook(_record_open)
    _listen = listen_open


def _listening_changed() -> None:
    if _listen is not None:
        _listen(bool(_listeners))


def _stop_listening(pending: list[DataRead]) -> None:
    _listeners[:] = [listener for listener in _listeners if listener is not pending]
    _listening_changed()


def _library_dirs() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    keys = ("stdlib", "platstdlib", "purelib", "platlib")
    return tuple(sorted({os.path.realpath(paths[k]) + os.sep for k in keys if k in paths}))


class DataFiles:
    """The data files watched modules read at import, and the statements that read them.

    Args:
        stat: Seam for tests; ``os.stat`` in the watcher.

    Attributes:
        reads: ``module -> data file -> lines`` of the module's running source whose
            top-level statement read the file.
        stamps: ``data file -> stamp`` when last read (None once it was found deleted).
        unapplied: ``module -> data files`` that changed and whose statements have not run
            again since (their reload failed, or is about to happen).
        generation: Counts changes to the set of data files (a change notifier watches their
            directories).
    """

    def __init__(self, stat: StatFunction = os.stat) -> None:
        self._stat = stat
        self.pending: list[DataRead] = []
        self.reads: dict[str, dict[str, set[int]]] = {}
        self.stamps: dict[str, Stamp | None] = {}
        self.unapplied: dict[str, set[str]] = {}
        self.generation = 0
        # Modules that read more data files than are followed (said once each).
        self.overflow: dict[str, bool] = {}
        self._owners: dict[str, TrackedModule] = {}
        self._library_dirs = _library_dirs()

    @property
    def enabled(self) -> bool:
        """Whether reads are recorded (``HotReload.data_files``)."""
        return any(listener is self.pending for listener in _listeners)

    def enable(self, on: bool) -> None:
        """Start or stop recording reads; stopping forgets every data file."""
        if on and not self.enabled:
            _install()
            _listeners.append(self.pending)
            _listening_changed()
            # A watcher dropped without close() stops listening when it is collected.
            weakref.finalize(self, _stop_listening, self.pending)
        elif not on:
            _stop_listening(self.pending)
            self.pending.clear()
            self.reads.clear()
            self.stamps.clear()
            self.unapplied.clear()
            self.overflow.clear()
            self._owners.clear()
            self.generation += 1

    def close(self) -> None:
        """Stop listening (the extension is unloaded)."""
        self.enable(False)

    def directories(self) -> set[str]:
        """The directories holding data files (for a change notifier)."""
        return {os.path.dirname(path) for path in self.stamps}

    def absorb(self, tracked: Mapping[str, TrackedModule]) -> None:
        """File the reads recorded since the last call under the watched modules that made them.

        Reads of modules that are not watched (a library, a module imported from older text)
        are dropped; so are files in the standard library or an installed package.
        """
        # Only what is there now: another thread's read appended meanwhile waits for next time.
        count = len(self.pending)
        pending = self.pending[:count]
        del self.pending[:count]
        for name in [n for n, owner in self._owners.items() if tracked.get(n) is not owner]:
            self.forget(name)  # no longer watched, or imported afresh
        for name, filename, line, path, stamp in pending:
            record = tracked.get(name)
            if record is None or record.path != filename or not self._is_data(path, filename):
                continue
            self._owners[name] = record
            self._add(name, path, line, stamp)

    def _add(self, name: str, path: str, line: int, stamp: Stamp) -> None:
        if path not in self.stamps and len(self.stamps) >= MAX_DATA_FILES:
            self.overflow.setdefault(name, False)
            return
        self.reads.setdefault(name, {}).setdefault(path, set()).add(line)
        if path not in self.stamps:
            # The first stamp stays: had the file changed between two modules' reads, the
            # older stamp makes the next check run both again.
            self.stamps[path] = stamp
            self.generation += 1

    def _is_data(self, path: str, module_file: str) -> bool:
        """Not the standard library's or an installed package's, unless beside the module."""
        if path.startswith(os.path.dirname(module_file) + os.sep):
            return True  # a watched package's own data, wherever it is installed
        real = os.path.realpath(path)
        parts = real.split(os.sep)
        return not (
            real.startswith(self._library_dirs)
            or "site-packages" in parts
            or "dist-packages" in parts
        )

    def forget(self, name: str) -> None:
        """Forget what ``name`` read (it is no longer watched)."""
        self._owners.pop(name, None)
        self.unapplied.pop(name, None)
        self.overflow.pop(name, None)
        gone = self.reads.pop(name, None)
        if gone:
            still = {path for files in self.reads.values() for path in files}
            for path in set(gone) - still:
                self.stamps.pop(path, None)
            self.generation += 1

    def poll(self, only: set[str] | None = None) -> tuple[set[str], list[tuple[str, str]]]:
        """Stat every data file; the modules whose data changed, and notices to give.

        ``only``: the paths a change notifier reported (the others did not change). A file
        found deleted is said once per module that read it; the values read from it stay.

        Returns:
            The modules with a data file changed since it was last read (their files are in
            :attr:`unapplied`), and ``(module, message)`` notices.
        """
        changed: set[str] = set()
        notices: list[tuple[str, str]] = []
        if self.overflow and not all(self.overflow.values()):
            message = (
                f"read more than {MAX_DATA_FILES} data files at import; the others are not "
                "followed (HotReload.data_files)"
            )
            notices += [(name, message) for name, said in self.overflow.items() if not said]
            self.overflow = dict.fromkeys(self.overflow, True)
        for path, stamp in list(self.stamps.items()):
            if only is not None and path not in only:
                continue
            now = stamp_or_none(path, self._stat)
            if now == stamp:
                continue
            self.stamps[path] = now
            readers = [name for name, files in self.reads.items() if path in files]
            if now is None:
                message = f"its data file {path} was deleted; keeping the values read from it"
                notices += [(name, message) for name in readers]
                continue
            for name in readers:
                self.unapplied.setdefault(name, set()).add(path)
                changed.add(name)
        return changed, notices

    def lines(self, name: str, paths: Iterable[str]) -> set[int]:
        """The lines of ``name``'s running source whose statements read one of ``paths``."""
        files = self.reads.get(name, {})
        return {line for path in paths for line in files.get(path, ())}

    def take(self, name: str) -> list[tuple[str, int, Stamp]]:
        """Remove and return the reads ``name``'s statements made since the last call.

        What its reload recorded: ``(data file, line of the new source, stamp)``.
        """
        count = len(self.pending)
        mine = [read for read in self.pending[:count] if read[0] == name]
        if mine:
            self.pending[:count] = [read for read in self.pending[:count] if read[0] != name]
        return [
            (path, line, stamp)
            for _, filename, line, path, stamp in mine
            if self._is_data(path, filename)
        ]

    def committed(
        self,
        tracked: TrackedModule,
        fresh: list[tuple[str, int, Stamp]],
        moved: Callable[[Iterable[int]], Mapping[int, int | None]] | None,
    ) -> None:
        """A reload of a module took effect: its reads are now those of its new source.

        Args:
            tracked: The module.
            fresh: The reads its statements made during the reload (:meth:`take`).
            moved: Gives each previously recorded line's line in the new source (None where
                its statement is gone); None when the whole module ran (every read is fresh).
        """
        name = tracked.name
        self.unapplied.pop(name, None)
        before = self.reads.pop(name, {})
        if moved is not None and before:
            lines = moved({line for found in before.values() for line in found})
            for path, found in before.items():
                kept = {new for line in found if (new := lines.get(line)) is not None}
                if kept:
                    self.reads.setdefault(name, {})[path] = kept
        for path, line, stamp in fresh:
            self._add(name, path, line, stamp)
        if name in self.reads:
            self._owners[name] = tracked
        gone = set(before) - set(self.reads.get(name, {}))
        if gone:
            still = {path for files in self.reads.values() for path in files}
            for path in gone - still:
                self.stamps.pop(path, None)
            self.generation += 1
