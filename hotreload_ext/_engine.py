"""The engine: one check runs the pipeline detect -> plan -> diff -> reload -> report.

:class:`Reloader` knows nothing about IPython; the extension calls :meth:`Reloader.check` before
every cell, and tests or other hosts can call it directly.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
import traceback
from collections import deque
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from ._detect import (
    Change,
    ModuleFilter,
    TrackedModule,
    Watcher,
    files_in_failure,
)
from ._report import CycleReport, ModuleFailure, ModuleNotice, ModuleReport, user_traceback
from ._source import decode_source

# The stages after detection (parse, plan, diff, execute, patch, rebind) and the change notifier
# are imported when first needed, not with the extension: most cells change nothing, and a
# session that never edits a module (or never turns notification on) does not pay their memory.
if TYPE_CHECKING:
    from ._notify import ChangeNotifier
    from ._rebind import ImportTables, Namespace
    from ._source import ParsedSource

__all__ = ["Reloader"]

_HISTORY = 20


class Reloader:
    """Reloads the user's edited modules in place.

    Args:
        include: Glob patterns of modules (or file paths) to watch even though they would be
            skipped by default, e.g. an installed package you are editing.
        exclude: Glob patterns of modules (or file paths) never to watch.
        selective: Re-run only the statements an edit affects (True), or the whole module body.
        strict: Re-raise hotreload's own internal errors instead of reporting them (tests).
        modules: The module registry, ``sys.modules`` by default.
    """

    def __init__(
        self,
        *,
        include: Iterable[str] = (),
        exclude: Iterable[str] = (),
        selective: bool = True,
        strict: bool = False,
        modules: Mapping[str, object] | None = None,
    ) -> None:
        self.watcher = Watcher(modules, ModuleFilter(tuple(include), tuple(exclude)))
        self.selective = selective
        self.strict = strict
        self.history: deque[ModuleReport | ModuleFailure] = deque(maxlen=_HISTORY)
        self.reloads = 0
        self.failures = 0
        # Namespaces outside the watched modules whose `from m import NAME` bindings should
        # follow reloads (the extension adds IPython's user namespace).
        self.namespaces: list[Namespace] = []
        self._last_parsed: tuple[str, bytes, ParsedSource] | None = None
        self._region_sources: dict[str, ParsedSource] = {}
        # Other modules' `from m import x` tables, parsed once per version of their source.
        self._import_tables: ImportTables = {}
        # Optional change notification (watchfiles); None means polling.
        self.notifier: ChangeNotifier | None = None
        self._notified_dirs: frozenset[str] = frozenset()
        self._notified_generation = -1
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
        """Start watching modules imported since the last call, from their current source."""
        return self.watcher.discover()

    def check(self, force: Iterable[str] = ()) -> CycleReport:
        """Reload every watched module whose source changed; ``force`` names reload regardless.

        Raises:
            KeyError: A name in ``force`` is not a watched module.
        """
        started = time.perf_counter()
        report = CycleReport()
        timings = report.timings
        self.discover()
        forced = list(force)
        unknown = [name for name in forced if name not in self.watcher.tracked]
        if unknown:
            raise KeyError(", ".join(unknown))
        changes, problems = self.watcher.poll(forced, self._notified_paths())
        clock = _lap(timings, "detect (stat, read, hash)", started)
        report.checked = len(self.watcher.tracked)
        report.notices += [ModuleNotice(p.tracked.name, p.message) for p in problems]
        report.notices += [ModuleNotice(n, m) for n, m in self.watcher.take_unwatchable()]

        if not changes:
            self._finish(report, started)
            return report
        from ._graph import order_modules
        from ._source import imported_modules, parse_source

        parsed: dict[str, tuple[Change, ParsedSource]] = {}
        self._region_sources.clear()
        for change in changes:
            try:
                text = decode_source(change.data)
                # With one module changed its imports can't change the order: the fast path
                # may skip the unchanged part of the file.
                region = self._parse_region(change, text) if len(changes) == 1 else None
                if region is not None:
                    self._region_sources[change.tracked.name] = region[0]
                    parsed[change.tracked.name] = (change, region[1])
                else:
                    parsed[change.tracked.name] = (change, parse_source(text, change.tracked.path))
            except SyntaxError as exc:
                self._fail(report, change, exc)
        clock = _lap(timings, "parse", clock)
        if not parsed:
            self._finish(report, started)
            return report
        imports = {
            name: imported_modules(source, name, is_package=change.tracked.is_package)
            for name, (change, source) in parsed.items()
        }
        # Changed modules in import order first; dependency order then decides.
        in_import_order = [name for name in self.watcher.tracked if name in parsed]
        order = order_modules(in_import_order, imports)
        clock = _lap(timings, "plan", clock)
        for name in order:
            change, source = parsed[name]
            self._reload(report, change, source)
        # A reload may import modules that did not exist before (a new sibling module).
        self.discover()
        self._finish(report, started)
        return report

    def close(self) -> None:
        """Stop the change notifier and release the watcher's open directory handles.

        The reloader keeps working after this (by polling, reopening handles as needed); it
        is what unloading the extension calls.
        """
        self.use_notifications(False)
        self.watcher.close()

    def use_notifications(self, enabled: bool) -> str:
        """Switch between polling and change notification; returns the mode now in effect."""
        if not enabled:
            if self.notifier is not None:
                self.notifier.stop()
            self.notifier = None
            return self.detection
        if self.notifier is None:
            from ._notify import ChangeNotifier

            self.notifier = ChangeNotifier()
            self._notified_dirs = frozenset()
            self._notified_generation = -1
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
            return "change notification (watchfiles) before each cell"
        reason = notifier.reason or "starting"
        return f"polling before each cell{loop} (change notification unavailable: {reason})"

    def _notified_paths(self) -> set[str] | None:
        """The files the notifier saw change, or None to poll every file."""
        notifier = self.notifier
        if notifier is None:
            return None
        if self.watcher.generation != self._notified_generation:
            self._notified_generation = self.watcher.generation
            dirs = frozenset(os.path.dirname(t.path) for t in self.watcher.tracked.values())
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

    def _parse_region(self, change: Change, text: str) -> tuple[ParsedSource, ParsedSource] | None:
        """The old and new versions of just the edited region of a big file, if that is safe."""
        from ._region import MIN_LINES, anchors_of, find_region, region_is_isolated
        from ._source import parse_region

        tracked = change.tracked
        if not tracked.source_known or text.count("\n") < MIN_LINES:
            return None
        old_text = _running_text(tracked)
        if old_text is None:
            return None
        anchors = anchors_of(tracked.module.__dict__, tracked.path, old_text.splitlines(True))
        region = find_region(old_text, text, anchors)
        if region is None:
            return None
        old = parse_region(old_text, tracked.path, region.start, region.old_end)
        new = parse_region(text, tracked.path, region.start, region.new_end)
        if old is None or new is None or not region_is_isolated(old, new, region):
            return None
        return old, new

    def _reload(self, report: CycleReport, change: Change, new: ParsedSource) -> None:
        from ._diff import diff_sources
        from ._rebind import rebind_imports
        from ._reload import UserCodeError, full_rerun_reason, reload_module
        from ._source import parse_source

        tracked = change.tracked
        old = self._region_sources.pop(tracked.name, None) or self._running_source(tracked)
        clock = time.perf_counter()
        diff = diff_sources(old, new)
        if new.region is not None and full_rerun_reason(
            diff, tracked.module, selective=self.selective, forced=change.forced
        ):
            # The whole body must run: that needs the whole file.
            new = parse_source(new.text, tracked.path)
            diff = diff_sources(self._running_source(tracked), new)
        timings = report.timings
        clock = _lap(timings, "diff", clock)
        try:
            result = reload_module(
                tracked.module, diff, selective=self.selective, forced=change.forced
            )
            _add(timings, "execute (module statements)", result.run_seconds)
            _add(timings, "patch and commit", result.seconds - result.run_seconds)
            clock = time.perf_counter()
        except UserCodeError as exc:
            self._fail(report, change, exc.error)
        except SyntaxError as exc:
            self._fail(report, change, exc)
        except Exception as exc:
            if self.strict:
                raise
            self._fail(report, change, exc, internal=True)
        else:
            tracked.accept(change.data, change.digest, change.stamp)
            self.watcher.waiting.discard(tracked.name)
            # The module is usually edited again next: keep its parse for the next diff.
            self._last_parsed = (tracked.name, change.digest, new) if new.region is None else None
            rebound: list[str] = []
            if result.identity_changes:
                namespaces = self._namespaces_importing(tracked)
                rebound = rebind_imports(
                    tracked.name, result.identity_changes, namespaces, self._import_tables
                )
            _lap(timings, "rebind imported names", clock)
            # The report is kept in the history: it must not keep the old objects alive.
            result = dataclasses.replace(result, rebound=tuple(rebound), identity_changes={})
            self.reloads += 1
            self.history.append(result)
            report.reloaded.append(result)

    def _fail(
        self, report: CycleReport, change: Change, exc: BaseException, *, internal: bool = False
    ) -> None:
        tracked = change.tracked
        self.watcher.waiting.add(tracked.name)
        # A fix saved to another file the error went through (a module this one imports)
        # retries this version.
        causes = () if internal else files_in_failure(exc, tracked.path)
        tracked.reject(change.digest, change.stamp, causes)
        if internal:
            text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            error = (
                f"internal error in hotreload: {type(exc).__name__}: {exc} "
                "(please report it with this traceback)"
            )
            failure = ModuleFailure(tracked.name, tracked.path, None, error, text)
        else:
            text, lineno = user_traceback(exc)
            path = tracked.path
            if isinstance(exc, SyntaxError) and exc.filename:
                path = exc.filename
            summary = f"{type(exc).__name__}: {exc.msg if isinstance(exc, SyntaxError) else exc}"
            failure = ModuleFailure(tracked.name, path, lineno, summary, text)
        self.failures += 1
        self.history.append(failure)
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
