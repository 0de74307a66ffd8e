"""The IPython face: hooks, the never-crash boundary, and where report lines go.

This module must never be reloaded by hotreload itself (the filter skips it).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import weakref
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from traitlets import Bunch

from ._config import HotReload
from ._engine import Reloader
from ._magics import HotReloadMagics, autoreload_is_on
from ._report import CycleReport, internal_error, plural

__all__ = ["Extension", "load", "unload"]

logger = logging.getLogger("hotreload")
# Reports are printed by the extension; without a handler of its own, logging's last-resort
# handler would print every error a second time on stderr.
logger.addHandler(logging.NullHandler())

_T = TypeVar("_T")
_loaded: weakref.WeakKeyDictionary[Any, Extension] = weakref.WeakKeyDictionary()


class Extension:
    """One loaded instance of hotreload, bound to one IPython shell."""

    def __init__(self, shell: Any) -> None:
        self.shell = shell
        self.settings = HotReload(parent=shell)
        self.reloader = Reloader(
            include=self.settings.watch,
            exclude=self.settings.exclude,
            selective=self.settings.selective,
            data_files=self.settings.data_files,
            strict=self.settings.strict,
        )
        self.internal_errors: list[BaseException] = []
        self.magics: object = None
        # Whether the user was told that %autoreload is on as well (once per session).
        self.autoreload_reported = False
        registry = getattr(getattr(shell, "magics_manager", None), "registry", None)
        self._magics_registry: dict[str, object] = registry if isinstance(registry, dict) else {}
        # `from m import NAME` statements the user runs in cells, so NAME can follow reloads.
        self.user_namespace = self.reloader.follow_namespace("the user namespace", shell.user_ns)
        self.settings.observe(self._patterns_changed, names=["watch", "exclude"])
        self.settings.observe(self._flags_changed, names=["selective", "strict"])
        self.settings.observe(self._detection_changed, names=["detection"])
        self.settings.observe(self._data_files_changed, names=["data_files"])
        self.reloader.use_notifications(self.settings.detection == "notify")

    # --- hooks -------------------------------------------------------------------------------
    def pre_run_cell(self, info: object = None) -> None:
        """Before every cell: reload what changed (the boundary: never raises)."""
        # One dict lookup per cell (the idle cell costs microseconds) until it was said.
        if not self.autoreload_reported and "AutoreloadMagics" in self._magics_registry:
            self._guard(self.report_autoreload)
        if self.settings.enabled:
            self.run_check()

    def report_autoreload(self) -> None:
        """Say once if IPython's ``%autoreload`` is on too: the two reloaders fight."""
        if (
            self.autoreload_reported
            or not self.settings.enabled
            or not autoreload_is_on(self.shell)
        ):
            return
        self.autoreload_reported = True
        print(AUTORELOAD_NOTICE, file=sys.stderr)
        logger.warning(AUTORELOAD_NOTICE)

    def post_run_cell(self, result: object = None) -> None:
        """After every cell: start watching modules the cell imported, as they are now."""
        self._guard(self.reloader.discover)
        info = getattr(result, "info", None)
        cell = getattr(info, "raw_cell", None)
        if isinstance(cell, str) and "import" in cell:
            self._guard(lambda: self._remember_imports(cell))

    def _remember_imports(self, cell: str) -> None:
        self.user_namespace.remember_imports(self.shell.transform_cell(cell))

    def run_check(self, force: Iterable[str] = ()) -> CycleReport | None:
        """Check now, print the report, never raise (except in strict mode)."""
        report = self._guard(lambda: self.reloader.check(force))
        if report is not None:
            if report.internal:
                self.internal_errors += [error.exception for error in report.internal]
            self.emit(report)
        return report

    def _guard(self, action: Callable[[], _T]) -> _T | None:
        """Run ``action``; report an internal error instead of raising it (unless strict).

        The engine guards :meth:`Reloader.check` itself; this covers the rest of what the
        hooks call (discovering modules, reading a cell's imports), so no hotreload error can
        take the user's kernel down.
        """
        try:
            return action()
        except Exception as exc:
            self.internal_errors.append(exc)
            if self.settings.strict:
                raise
            self.emit(CycleReport(internal=[internal_error(exc)]))
            return None

    # --- output ------------------------------------------------------------------------------
    def emit(self, report: CycleReport) -> None:
        """Print and log a check's report at the configured verbosity."""
        verbosity = self.settings.verbosity
        for error in report.internal:
            print(str(error), file=sys.stderr)
            logger.error(str(error))
        for failure in report.failed:
            print(str(failure), file=sys.stderr)
            logger.error(str(failure))
        if verbosity == "quiet":
            return
        for notice in report.notices:
            print(str(notice), file=sys.stderr)
            logger.warning(str(notice))
        for reloaded in report.reloaded:
            lines = [str(reloaded)]
            if verbosity == "verbose":
                lines += reloaded.details()
            text = "\n".join(lines)
            print(text)
            logger.info(text)
        if verbosity == "verbose" and report:
            checked = plural(report.checked, "module")
            line = f"hotreload: checked {checked} in {report.seconds * 1000:.2f} ms"
            print(line)
            logger.info(line)

    # --- configuration -----------------------------------------------------------------------
    def _patterns_changed(self, change: Bunch) -> None:
        self.reloader.set_patterns(self.settings.watch, self.settings.exclude)

    def _detection_changed(self, change: Bunch) -> None:
        self.reloader.use_notifications(self.settings.detection == "notify")

    def _data_files_changed(self, change: Bunch) -> None:
        self.reloader.use_data_files(self.settings.data_files)

    def _flags_changed(self, change: Bunch) -> None:
        self.reloader.selective = self.settings.selective
        self.reloader.strict = self.settings.strict


def load(shell: Any) -> Extension:
    """Attach hotreload to ``shell`` (idempotent)."""
    existing = _loaded.get(shell)
    if existing is not None:
        return existing
    extension = Extension(shell)
    _loaded[shell] = extension
    shell.events.register("pre_run_cell", extension.pre_run_cell)
    shell.events.register("post_run_cell", extension.post_run_cell)
    shell.configurables.append(extension.settings)
    extension.magics = HotReloadMagics(shell, extension)
    shell.register_magics(extension.magics)
    # Watch what is already imported from its current source.
    extension._guard(extension.reloader.discover)
    extension._guard(extension.report_autoreload)
    return extension


def unload(shell: Any) -> None:
    """Detach hotreload from ``shell``: every hook, magic and configurable it added."""
    extension = _loaded.pop(shell, None)
    if extension is None:
        return
    # The notifier's thread (if any) and the watcher's directory handles go with the extension.
    extension.reloader.close()
    for event, callback in (
        ("pre_run_cell", extension.pre_run_cell),
        ("post_run_cell", extension.post_run_cell),
    ):
        with contextlib.suppress(ValueError):
            shell.events.unregister(event, callback)
    # register_magics() also lists the magics object among the shell's configurables.
    shell.configurables[:] = [
        c for c in shell.configurables if c is not extension.settings and c is not extension.magics
    ]
    shell.magics_manager.magics["line"].pop("hotreload", None)
    # Both names load the same extension; IPython must forget both, or `%load_ext` under the
    # other name would answer "already loaded" while nothing is attached.
    loaded = getattr(getattr(shell, "extension_manager", None), "loaded", None)
    if isinstance(loaded, set):
        loaded.difference_update({"hotreload", "hotreload_ext"})
    shell.magics_manager.registry.pop("HotReloadMagics", None)


AUTORELOAD_NOTICE = (
    "hotreload: IPython's %autoreload is on as well. Both reload edited modules, and "
    "%autoreload runs whole modules again, resetting the state hotreload keeps. Use one: "
    "`%autoreload 0` (or `%unload_ext autoreload`), or `%hotreload off`."
)


def get_extension(shell: Any) -> Extension | None:
    """The extension loaded in ``shell``, if any."""
    return _loaded.get(shell)
