"""The engine: one check runs the pipeline, stage by stage, and never breaks its host.

:class:`Reloader` knows nothing about IPython; the extension calls :meth:`Reloader.check` before
every cell, and tests or other hosts can call it directly.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import os
import time
from collections import deque
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ._datafiles import DataFiles
from ._digest import digest_bytes
from ._discovery import ModuleFilter
from ._report import (
    CycleReport,
    ModuleFailure,
    ModuleNotice,
    ModuleReport,
    internal_error,
    internal_failure,
    module_failure,
    module_report,
)
from ._source import decode_source
from ._tracking import UNKNOWN_STAMP, Change, ReadFunction, TrackedModule, read_file, stamp_or_none
from ._watcher import Watcher

# The stages after detection (parse, plan, diff, execute, patch, rebind) and the change notifier
# are imported when first needed, not with the extension: most cells change nothing, and a
# session that never edits a module (or never turns notification on) does not pay their memory.
if TYPE_CHECKING:
    from ._diff import ModuleDiff
    from ._notify import Notifier
    from ._rebind import ImportTables, Namespace
    from ._source import ImportedNames, ParsedSource
    from ._transaction import ModuleReload

__all__ = ["HostNamespace", "Reloader", "UnknownModuleError"]

_UNVERIFIED = (
    "could not tell whether it runs the code in its file (the file changed after this session "
    "started, and there is no bytecode cache to compare with); if you edited it before "
    "loading hotreload, '%hotreload now MODULE' reloads it"
)

_HISTORY = 20


class UnknownModuleError(KeyError):
    """A module named to :meth:`Reloader.check` is not watched (a usage error, raised)."""


@dataclasses.dataclass(frozen=True)
class _Parsed:
    """A changed module after stage 2: its transaction, its new source, and maybe a region.

    ``old_region`` is the running source's version of the region when only the edited region
    of a big file was parsed (``new`` then holds the same region of the new text).
    """

    reload: ModuleReload
    new: ParsedSource
    old_region: ParsedSource | None = None


class HostNamespace:
    """A host's namespace whose ``from m import NAME`` bindings follow reloads.

    The engine cannot read a host's source (cells are not files), so the host reports the
    code it runs; only names an import statement confirms are ever rebound.
    """

    def __init__(self, label: str, mapping: dict[str, Any]) -> None:
        from ._rebind import Namespace

        self.imports: ImportedNames = {}
        self.namespace = Namespace(label=label, mapping=mapping, imports=self.imports)

    def remember_imports(self, code: str) -> None:
        """Record the ``from m import NAME`` statements of ``code`` (ignored if it won't parse)."""
        import ast

        from ._source import from_imports

        try:
            tree = ast.parse(code)
        except SyntaxError:
            return
        self.imports.update(from_imports(tree))


class Reloader:
    """Reloads the user's edited modules in place.

    Args:
        include: Glob patterns of modules (or file paths) to watch even though they would be
            skipped by default, e.g. an installed package you are editing.
        exclude: Glob patterns of modules (or file paths) never to watch.
        selective: Re-run only the statements an edit affects (True), or the whole module body.
        data_files: Re-run the statements that read a data file at import when that file
            changes (see :mod:`._datafiles`).
        strict: Re-raise hotreload's own internal errors instead of reporting them (tests).
        modules: The module registry, ``sys.modules`` by default.
        read: How a module's file is read (:func:`~._tracking.read_file`); a host that runs
            sources it was given instead of its own files passes a reader that returns them.
    """

    def __init__(
        self,
        *,
        include: Iterable[str] = (),
        exclude: Iterable[str] = (),
        selective: bool = True,
        data_files: bool = True,
        strict: bool = False,
        modules: Mapping[str, object] | None = None,
        read: ReadFunction = read_file,
    ) -> None:
        self.watcher = Watcher(modules, ModuleFilter(tuple(include), tuple(exclude)), read=read)
        # The data files watched modules read at import (an empty dict costs an idle cell one
        # truth test), and the watcher generation their reads were last filed against.
        self.data = DataFiles()
        self.data.enable(data_files)
        self._data_generation = -1
        self.selective = selective
        self.strict = strict
        self.history: deque[ModuleReport | ModuleFailure] = deque(maxlen=_HISTORY)
        self.reloads = 0
        self.failures = 0
        # Namespaces outside the watched modules whose `from m import NAME` bindings should
        # follow reloads (the extension adds IPython's user namespace).
        self.namespaces: list[Namespace] = []
        self._last_parsed: tuple[str, bytes, ParsedSource] | None = None
        # Other modules' `from m import x` tables, parsed once per version of their source.
        self._import_tables: ImportTables = {}
        # Optional change notification (inotify or watchfiles); None means polling.
        self.notifier: Notifier | None = None
        self._notified_dirs: frozenset[str] = frozenset()
        self._notified_generation = (-1, -1)
        # Where the time of the last check that reloaded something went, by stage, and how
        # long the recent idle checks took (for `%hotreload timings`).
        self.last_timings: dict[str, float] = {}
        self.idle_seconds: deque[float] = deque(maxlen=200)

    @property
    def watched(self) -> dict[str, TrackedModule]:
        """The modules being watched, by name."""
        return self.watcher.tracked

    def set_patterns(self, include: Iterable[str], exclude: Iterable[str]) -> None:
        """Change which modules are watched; takes effect at once."""
        self.watcher.filter = ModuleFilter(tuple(include), tuple(exclude))
        self.watcher.refilter()

    def discover(self) -> list[TrackedModule]:
        """Start watching modules imported since the last call, from their current source.

        The data files their bodies read are filed under them too.
        """
        added = self.watcher.discover()
        data = self.data
        if data.pending or (data.reads and self.watcher.generation != self._data_generation):
            self._data_generation = self.watcher.generation
            data.absorb(self.watcher.tracked)
        return added

    def use_data_files(self, enabled: bool) -> None:
        """Turn the tracking of data files read at import on or off; takes effect at once."""
        self.data.enable(enabled)

    def follow_namespace(self, label: str, mapping: dict[str, Any]) -> HostNamespace:
        """Let ``from m import NAME`` bindings in a host's namespace follow reloads.

        The host (IPython's user namespace, say) then tells the returned object about the
        import statements it runs (:meth:`HostNamespace.remember_imports`).
        """
        host = HostNamespace(label, mapping)
        self.namespaces.append(host.namespace)
        return host

    def check(self, force: Iterable[str] = ()) -> CycleReport:
        """Reload every watched module whose source changed; ``force`` names reload regardless.

        This is the boundary that keeps the host alive: hotreload's own errors are caught and
        reported (``report.internal``), never raised, unless the reloader is strict. Errors
        in the user's code are reported as failed reloads (``report.failed``).

        Raises:
            KeyError: A name in ``force`` is not a watched module.
        """
        started = time.perf_counter()
        report = CycleReport()
        try:
            self._check(report, list(force), started)
        except UnknownModuleError:
            raise
        except Exception as exc:
            if self.strict:
                raise
            report.internal.append(internal_error(exc))
        self._finish(report, started)
        return report

    def _check(self, report: CycleReport, forced: list[str], started: float) -> None:
        """Detect, parse, plan, then reload each changed module in order (one transaction each)."""
        self.discover()
        unknown = [name for name in forced if name not in self.watcher.tracked]
        if unknown:
            raise UnknownModuleError(", ".join(unknown))
        only = self._notified_paths()
        changes, problems = self.watcher.poll(forced, only)
        if self.data.stamps:
            changes = self._data_changes(report, changes, only)
        _lap(report.timings, "detect (stat, read, hash)", started)
        report.checked = len(self.watcher.tracked)
        report.notices += [ModuleNotice(p.tracked.name, p.message, p.good) for p in problems]
        report.notices += [ModuleNotice(n, m) for n, m in self.watcher.take_unwatchable()]
        report.notices += [ModuleNotice(n, _UNVERIFIED) for n in self.watcher.take_unverified()]
        if self.watcher.extensions:
            report.notices += [ModuleNotice(n, m) for n, m in self.watcher.take_rebuilt()]
        if changes:
            self._reload_changes(report, changes)

    def _reload_changes(self, report: CycleReport, changes: list[Change]) -> None:
        """Stages 2 to 9 for the changes detection (or a caller) found, each all or nothing."""
        from ._rebind import DROPPED_THIS_CHECK
        from ._transaction import ModuleReload

        DROPPED_THIS_CHECK.clear()
        clock = time.perf_counter()
        reloads = [ModuleReload(change, self.watcher.waiting) for change in changes]
        parsed = self._parse(report, reloads)
        clock = _lap(report.timings, "parse", clock)
        if not parsed:
            return
        order = self._plan(parsed)
        _lap(report.timings, "plan", clock)
        # The edit may import a module created since the import system last listed its
        # directory (within the same second, its cache would still say it is not there).
        importlib.invalidate_caches()
        for name in order:
            self._reload(report, parsed[name])
        # A reload may import modules that did not exist before (a new sibling module).
        self.discover()
        DROPPED_THIS_CHECK.clear()

    def apply_sources(self, sources: Mapping[str, bytes]) -> CycleReport:
        """Make the watched modules named in ``sources`` run the given source bytes.

        The same pipeline and the same all-or-nothing reload per module as :meth:`check`, but
        the new versions come from the caller, not from the files: another process (a Dask
        worker, say) ships the source its modules now run. A module already running exactly
        that source is left alone; names not watched here are ignored (the caller decides what
        a module that is not imported yet should load). Never raises unless strict.
        """
        started = time.perf_counter()
        report = CycleReport()
        try:
            self.discover()
            changes = self._given_changes(sources)
            report.checked = len(changes)
            if changes:
                self._reload_changes(report, changes)
        except Exception as exc:
            if self.strict:
                raise
            report.internal.append(internal_error(exc))
        self._finish(report, started)
        return report

    def _given_changes(self, sources: Mapping[str, bytes]) -> list[Change]:
        """The watched modules whose running source differs from the one given, in order."""
        changes = []
        for name, tracked in self.watcher.tracked.items():
            data = sources.get(name)
            if data is None:
                continue
            digest = digest_bytes(data)
            if tracked.source_known and digest == tracked.digest:
                continue
            stamp = stamp_or_none(tracked.path) or UNKNOWN_STAMP
            changes.append(Change(tracked, data, digest, stamp))
        return changes

    def _data_changes(
        self, report: CycleReport, changes: list[Change], only: set[str] | None
    ) -> list[Change]:
        """``changes``, with the modules whose data files changed (and those files) added.

        A module whose data changed but whose source did not reloads from its running
        source; only the statements that read the files (and their dependents) run.
        """
        stale, notices = self.data.poll(only)
        report.notices += [ModuleNotice(name, message) for name, message in notices]
        unapplied = self.data.unapplied
        if not unapplied:
            return changes
        result: list[Change] = []
        for change in changes:
            # A code change also applies data changes whose reload failed before.
            files = unapplied.get(change.tracked.name)
            result.append(
                dataclasses.replace(change, data_files=tuple(sorted(files))) if files else change
            )
        seen = {change.tracked.name for change in changes}
        for name in stale - seen:
            tracked = self.watcher.tracked.get(name)
            data = tracked.source if tracked is not None else None
            if tracked is None or data is None:
                continue  # a module whose source is unknown runs whole at its next change
            # An unknown stamp: the next check reads the module's file once more, so that an
            # edit racing with this reload is never taken for the running source.
            paths = tuple(sorted(unapplied[name]))
            result.append(Change(tracked, data, tracked.digest, UNKNOWN_STAMP, data_files=paths))
        return result

    def _parse(self, report: CycleReport, reloads: list[ModuleReload]) -> dict[str, _Parsed]:
        """Stage 2: decode and parse each changed module; a module that does not parse fails."""
        from ._source import parse_source

        parsed: dict[str, _Parsed] = {}
        for reload in reloads:
            tracked = reload.change.tracked
            try:
                text = decode_source(reload.change.data)
                # With one module changed its imports can't change the order: the fast path
                # may skip the unchanged part of the file.
                # Nor for a module that read data files: their lines must be found in the
                # whole running source.
                fast = len(reloads) == 1 and tracked.name not in self.data.reads
                region = self._parse_region(tracked, text) if fast else None
                if region is not None:
                    parsed[tracked.name] = _Parsed(reload, region[1], region[0])
                else:
                    parsed[tracked.name] = _Parsed(reload, parse_source(text, tracked.path))
            except SyntaxError as exc:
                reload.reject(exc)
                self._record_failure(report, module_failure(tracked.name, tracked.path, exc))
        return parsed

    def _plan(self, parsed: dict[str, _Parsed]) -> list[str]:
        """Stage 3: the changed modules in dependency order (import order breaks ties)."""
        from ._graph import order_modules
        from ._source import imported_modules

        imports = {
            name: imported_modules(p.new, name, is_package=p.reload.change.tracked.is_package)
            for name, p in parsed.items()
        }
        in_import_order = [name for name in self.watcher.tracked if name in parsed]
        return order_modules(in_import_order, imports)

    def close(self) -> None:
        """Stop the change notifier and release the watcher's open directory handles.

        The reloader keeps working after this (by polling, reopening handles as needed); it
        is what unloading the extension calls.
        """
        self.use_notifications(False)
        self.watcher.close()
        self.data.close()

    def use_notifications(self, enabled: bool) -> str:
        """Switch between polling and change notification; returns the mode now in effect."""
        if not enabled:
            if self.notifier is not None:
                self.notifier.stop()
            self.notifier = None
            return self.detection
        if self.notifier is None:
            from ._notify import make_notifier

            self.notifier = make_notifier()
            self._notified_dirs = frozenset()
            self._notified_generation = (-1, -1)
        return self.detection

    @property
    def detection(self) -> str:
        """How changes are found: polling, or change notification (and why it fell back)."""
        notifier = self.notifier
        # Which stat loop polls: the C one costs about half as much per file as Python's.
        loop = "" if self.watcher.speedups else " with the Python stat loop"
        if notifier is None:
            return f"polling before each cell{loop}"
        if notifier.is_running:
            return f"change notification ({notifier.backend}) before each cell"
        reason = notifier.reason or "starting"
        return f"polling before each cell{loop} (change notification unavailable: {reason})"

    def _notified_paths(self) -> set[str] | None:
        """The files the notifier saw change, or None to poll every file."""
        notifier = self.notifier
        if notifier is None:
            return None
        generation = (self.watcher.generation, self.data.generation)
        if generation != self._notified_generation:
            self._notified_generation = generation
            dirs = frozenset(os.path.dirname(t.path) for t in self.watcher.tracked.values())
            dirs |= self.data.directories()
            if dirs != self._notified_dirs:
                # New directories: the notifier restarts, and polls everything until it runs.
                self._notified_dirs = dirs
                notifier.update(dirs)
        return notifier.drain()

    def _finish(self, report: CycleReport, started: float) -> None:
        if report.reloaded:
            self.watcher.settle()
        report.seconds = time.perf_counter() - started
        if report.reloaded or report.failed:
            self.last_timings = dict(report.timings, total=report.seconds)
        else:
            self.idle_seconds.append(report.seconds)

    def _parse_region(
        self, tracked: TrackedModule, text: str
    ) -> tuple[ParsedSource, ParsedSource] | None:
        """The old and new versions of just the edited region of a big file, if that is safe."""
        from ._region import MIN_LINES, anchors_of, find_region, region_is_isolated
        from ._source import parse_region

        if not tracked.source_known or text.count("\n") < MIN_LINES:
            return None
        old_text = _running_text(tracked)
        if old_text is None:
            return None
        anchors = anchors_of(tracked.module.__dict__, tracked.path, old_text)
        region = find_region(old_text, text, anchors)
        if region is None:
            return None
        old = parse_region(old_text, tracked.path, region.start, region.old_end)
        new = parse_region(text, tracked.path, region.start, region.new_end)
        if old is None or new is None or not region_is_isolated(old, new, region):
            return None
        return old, new

    def _diff(self, parsed: _Parsed) -> ModuleDiff:
        """Stage 4: the module's diff, and whether its whole body must run."""
        from ._diff import diff_sources, whole_module_reason
        from ._source import parse_source

        change = parsed.reload.change
        tracked = change.tracked
        new = parsed.new
        diff = diff_sources(parsed.old_region or self._running_source(tracked), new)
        if change.data_files:
            lines = self.data.lines(tracked.name, change.data_files)
            diff = dataclasses.replace(diff, must_run=diff.statements_at(lines))
        reason = whole_module_reason(
            diff, tracked.module, selective=self.selective, forced=change.forced
        )
        if reason is not None and new.region is not None:
            # The whole body must run: that needs the whole file.
            new = parse_source(new.text, tracked.path)
            diff = diff_sources(self._running_source(tracked), new)
        running = None
        if diff.old is None:
            # No text to diff against: what really changed is what differs from running code.
            from ._freshness import compare_running

            running = compare_running(tracked.module, new.text, tracked.path)
        return dataclasses.replace(diff, whole_module=reason, running=running)

    def _reload(self, report: CycleReport, parsed: _Parsed) -> None:
        """Stages 4 to 9 for one module: diff, then its transaction, then its report."""
        from ._transaction import RolledBack

        reload = parsed.reload
        tracked = reload.change.tracked
        clock = time.perf_counter()
        diff = self._diff(parsed)
        _lap(report.timings, "diff", clock)
        try:
            outcome = reload.run(
                diff, functools.partial(self._namespaces_importing, tracked), self._import_tables
            )
        except Exception as exc:
            self.data.take(tracked.name)
            if self.strict:
                raise
            self._record_failure(report, internal_failure(tracked.name, tracked.path, exc))
            return
        # What its statements read while they ran: the module's reads from now on, if it
        # committed (the statements that did not run keep theirs, moved with them).
        fresh = self.data.take(tracked.name)
        if not isinstance(outcome, RolledBack):
            whole = diff.whole_module is not None or diff.old is None
            self.data.committed(tracked, fresh, None if whole else diff.new_lines)
        if isinstance(outcome, RolledBack):
            failure = module_failure(tracked.name, tracked.path, outcome.error)
            self._record_failure(report, failure)
            return
        timings = report.timings
        _add(timings, "execute (module statements)", outcome.run_seconds)
        patching = outcome.seconds - outcome.run_seconds - outcome.rebind_seconds
        _add(timings, "patch and commit", patching)
        _add(timings, "rebind imported names", outcome.rebind_seconds)
        # The module is usually edited again next: keep its parse for the next diff.
        new = diff.new
        self._last_parsed = (tracked.name, tracked.digest, new) if new.region is None else None
        result = module_report(outcome)
        if reload.change.data_files:
            result = dataclasses.replace(result, data_files=reload.change.data_files)
        self.reloads += 1
        self.history.append(result)
        report.reloaded.append(result)

    def _record_failure(self, report: CycleReport, failure: ModuleFailure) -> None:
        self.failures += 1
        # The history outlives the cycle: it must not keep the failed code's frames alive.
        self.history.append(dataclasses.replace(failure, exception=None))
        report.failed.append(failure)

    def _running_source(self, tracked: TrackedModule) -> ParsedSource | None:
        """The parsed source the module's running code came from, if it can be parsed."""
        from ._source import parse_source

        if not tracked.source_known:
            return None
        cached = self._last_parsed
        if cached is not None and cached[0] == tracked.name and cached[1] == tracked.digest:
            return cached[2]
        text = _running_text(tracked)
        if text is None:
            return None
        try:
            return parse_source(text, tracked.path)
        except SyntaxError:
            return None

    def _namespaces_importing(self, reloaded: TrackedModule) -> list[Namespace]:
        """Every namespace that may hold names imported from ``reloaded``.

        That is each other watched module and the host's namespaces. Only built when some name
        changed identity; the rebinding stage scans them by identity and reads a module's
        source only when one of its bindings matches.
        """
        from ._rebind import Namespace

        namespaces = [
            Namespace(
                label=t.name,
                mapping=t.module.__dict__,
                source=functools.partial(_running_text, t),
                source_version=functools.partial(_running_version, t),
                module_name=t.name,
                is_package=t.is_package,
            )
            for t in self.watcher.tracked.values()
            if t is not reloaded
        ]
        return namespaces + self.namespaces


def _lap(timings: dict[str, float], stage: str, since: float) -> float:
    """Add the time since ``since`` to ``stage``; return the new starting point."""
    now = time.perf_counter()
    _add(timings, stage, now - since)
    return now


def _add(timings: dict[str, float], stage: str, seconds: float) -> None:
    timings[stage] = timings.get(stage, 0.0) + seconds


def _running_version(tracked: TrackedModule) -> tuple[int, int] | None:
    return tracked.version


def _running_text(tracked: TrackedModule) -> str | None:
    data = tracked.source
    if data is None:
        return None
    try:
        return decode_source(data)
    except SyntaxError:
        return None
