"""The IPython face: hooks, the never-crash boundary, and where report lines go.

This module must never be reloaded by hotreload itself (the filter skips it).
"""

from __future__ import annotations

import ast
import contextlib
import functools
import html
import logging
import os
import sys
import weakref
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.path import compress_user
from traitlets import Bunch

from ._cells import HOOK, CellDefinitions, CellReplaced
from ._config import HotReload
from ._engine import Reloader
from ._magics import HotReloadMagics, autoreload_is_on
from ._report import (
    CycleReport,
    ModuleFailure,
    internal_error,
    plural,
    short_path,
    user_frames,
)

if TYPE_CHECKING:
    from ._dask import DaskFollower

__all__ = ["Extension", "load", "unload"]

logger = logging.getLogger("hotreload")
# Reports are shown by the extension; without a handler of its own, logging's last-resort
# handler would print every error a second time on stderr. And while they are shown on screen
# the logger keeps them to its own handlers: passed on to the root logger, a
# `logging.basicConfig()` would print each report a second time (HotReload.report_to).
logger.addHandler(logging.NullHandler())
logger.propagate = False

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
        # Definitions cells make, updated in place when a cell makes them again (issue 15).
        self.cells = CellDefinitions(
            shell.user_ns,
            _user_module_name(shell),
            is_cell_file=functools.partial(_is_cell_file, shell),
            strict=self.settings.strict,
        )
        self.cell_transformer = CellTransformer(self)
        self.settings.observe(self._detection_changed, names=["detection"])
        self.settings.observe(self._report_to_changed, names=["report_to"])
        self._report_to_changed(None)
        self.settings.observe(self._data_files_changed, names=["data_files"])
        self.reloader.use_notifications(self.settings.detection == "notify")
        # Made when a reload first meets a Dask client (hotreload_ext/_dask.py).
        self.dask_follower: DaskFollower | None = None

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
        if self.settings.report_to == "screen":
            print(AUTORELOAD_NOTICE, file=sys.stderr)
        logger.warning(AUTORELOAD_NOTICE)

    def post_run_cell(self, result: object = None) -> None:
        """After every cell: start watching modules the cell imported, as they are now."""
        self._guard(self.reloader.discover)
        self._guard(self.finish_cell)
        info = getattr(result, "info", None)
        cell = getattr(info, "raw_cell", None)
        if isinstance(cell, str) and "import" in cell:
            self._guard(lambda: self._remember_imports(cell))

    def finish_cell(self) -> None:
        """Report the definitions the cell updated in place (and merge a ``%run -i``)."""
        reports = self.cells.after_cell()
        for error in self.cells.take_internal_errors():
            self.internal_errors.append(error)
            self.emit(CycleReport(internal=[internal_error(error)]))
        verbosity = self.settings.verbosity
        good: list[str] = []
        bad: list[str] = []
        for report in reports:
            if isinstance(report, CellReplaced) and report.kept:
                bad.append(str(report))
            elif isinstance(report, CellReplaced):
                if verbosity != "quiet":
                    good.append(str(report))
            elif verbosity == "verbose" or (verbosity == "normal" and report.edited):
                detail = f" ({report.detail})" if verbosity == "verbose" else ""
                good.append(f"{report}{detail}")
        self.say(good, bad)

    def say(self, good: list[str], bad: list[str]) -> None:
        """Lines outside a check's report: problems on stderr, the rest as one display output.

        Like :meth:`emit`, each goes to the ``hotreload`` logger too, and only there when
        ``HotReload.report_to`` is ``"logging"``.
        """
        for line in bad:
            logger.warning(line)
        for line in good:
            logger.info(line)
        if self.settings.report_to != "screen":
            return
        for line in bad:
            print(line, file=sys.stderr)
        if good:
            rich = "".join(f"<div>{html.escape(line)}</div>" for line in good)
            self._display("\n".join(good), rich)

    def _remember_imports(self, cell: str) -> None:
        self.user_namespace.remember_imports(self.shell.transform_cell(cell))

    def run_check(self, force: Iterable[str] = ()) -> CycleReport | None:
        """Check now, print the report, never raise (except in strict mode)."""
        report = self._guard(lambda: self.reloader.check(force))
        if report is not None:
            if report.internal:
                self.internal_errors += [error.exception for error in report.internal]
            self.emit(report)
            if report.reloaded and self.settings.dask == "auto":
                self._guard(lambda: self.follow_dask(report))
        return report

    def follow_dask(self, report: CycleReport) -> None:
        """Apply the reloads that committed on the workers of the session's Dask clients."""
        from ._dask import DaskFollower, session_clients

        clients = session_clients(self.shell.user_ns)
        if not clients:
            return
        sources = {}
        for reloaded in report.reloaded:
            tracked = self.reloader.watched.get(reloaded.module)
            source = tracked.source if tracked is not None else None
            if source is not None:
                sources[reloaded.module] = source
        if not sources:
            return
        if self.dask_follower is None:
            self.dask_follower = DaskFollower()
        for client in clients:
            failures, lines = self.dask_follower.push(client, sources)
            # A worker that could not follow is a failure: said at any verbosity.
            self.say(lines if self.settings.verbosity != "quiet" else [], failures)

    def dask_status(self) -> list[str]:
        """The Dask lines of ``%hotreload status`` (none when the session has no client)."""
        from ._dask import DaskFollower, session_clients

        if self.settings.dask == "off":
            return ["  Dask: off; workers do not follow reloads (`%hotreload dask auto`)"]
        digests = {n: t.digest for n, t in self.reloader.watched.items() if t.source_known}
        follower = self.dask_follower or DaskFollower()
        return [
            line
            for client in session_clients(self.shell.user_ns)
            for line in follower.status(client, digests)
        ]

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
        """Show and log a check's report at the configured verbosity, each part once."""
        _log(report, self.settings.verbosity)
        if self.settings.report_to != "screen":
            return
        for error in report.internal:
            print(str(error), file=sys.stderr)
        for failure in report.failed:
            self._show_failure(failure)
        verbosity = self.settings.verbosity
        if verbosity == "quiet":
            return
        plain: list[str] = []
        rich: list[str] = []
        for notice in report.notices:
            if not notice.good:
                print(str(notice), file=sys.stderr)
                continue
            plain.append(str(notice))
            rich.append(f"<div>{html.escape(str(notice))}</div>")
        for reloaded in report.reloaded:
            details = reloaded.details() if verbosity == "verbose" else []
            plain.append("\n".join([str(reloaded), *details]))
            rich.append(reloaded.html(verbose=verbosity == "verbose"))
        if verbosity == "verbose" and report:
            plain.append(_checked_line(report))
            rich.append(f"<div>{html.escape(_checked_line(report))}</div>")
        if plain:
            self._display("\n".join(plain), "".join(rich))

    def _display(self, plain: str, rich: str) -> None:
        """One display output: a notebook renders the HTML, a terminal prints the text."""
        publisher = getattr(self.shell, "display_pub", None)
        if publisher is None:
            print(plain)
            return
        bundle = {"text/plain": plain, "text/html": f'<div class="hotreload">{rich}</div>'}
        publisher.publish(data=bundle, metadata={})

    def _show_failure(self, failure: ModuleFailure) -> None:
        """A failed reload, once, as IPython shows errors: the user's frames, short paths."""
        exc = failure.exception
        formatter = getattr(self.shell, "InteractiveTB", None)
        if exc is None or formatter is None:
            # hotreload's own error (every frame matters for the bug report), or no IPython.
            print(str(failure), file=sys.stderr)
            return
        try:
            if isinstance(exc, SyntaxError):
                frames = self.shell.SyntaxTB.structured_traceback(type(exc), exc, [])
            else:
                frames = formatter.structured_traceback(type(exc), exc, user_frames(exc), 0)
        except Exception:
            # IPython could not format it (a hostile exception's __str__, say): the plain text
            # still tells the user, and the report must never take the cell down.
            print(str(failure), file=sys.stderr)
            return
        stb = [failure.headline(), *_shorten_paths(frames, exc)]
        if type(self.shell)._showtraceback is not InteractiveShell._showtraceback:
            # A kernel sends errors on their own channel: the notebook shows one error output.
            self.shell._showtraceback(type(exc), exc, stb)
        else:
            # A terminal (IPython's own would print it on stdout, with the cell's output).
            print(formatter.stb2text(stb), file=sys.stderr)

    # --- configuration -----------------------------------------------------------------------
    def _patterns_changed(self, change: Bunch) -> None:
        self.reloader.set_patterns(self.settings.watch, self.settings.exclude)

    def _report_to_changed(self, change: Bunch | None) -> None:
        # On screen, the logger keeps reports to its own handlers (see `logger` above).
        logger.propagate = self.settings.report_to == "logging"

    def _detection_changed(self, change: Bunch) -> None:
        self.reloader.use_notifications(self.settings.detection == "notify")

    def _data_files_changed(self, change: Bunch) -> None:
        self.reloader.use_data_files(self.settings.data_files)

    def _flags_changed(self, change: Bunch) -> None:
        self.reloader.selective = self.settings.selective
        self.reloader.strict = self.settings.strict
        self.cells.strict = self.settings.strict


class CellTransformer(ast.NodeTransformer):
    """IPython's hook into each cell's syntax tree, before it runs: cell definitions.

    IPython unregisters a transformer that raises, so nothing escapes it but in strict mode.
    """

    def __init__(self, extension: Extension) -> None:
        self.extension = extension

    def visit(self, node: ast.AST) -> Any:
        """Rewrite the cell's top-level definitions (:meth:`CellDefinitions.rewrite`)."""
        extension = self.extension
        if not extension.settings.cells or not isinstance(node, ast.Module):
            return node
        rewritten = extension._guard(lambda: extension.cells.rewrite(node))
        return node if rewritten is None else rewritten


def _is_cell_file(shell: Any, filename: str) -> bool:
    """Whether IPython (or ipykernel, which names cells by a temporary path) compiled a cell there.

    IPython's compiler maps each cell's file name to its number (``CachingCompiler.cache``).
    """
    names = getattr(getattr(shell, "compile", None), "_filename_map", None)
    return filename.startswith("<ipython-input-") or (isinstance(names, dict) and filename in names)


def _user_module_name(shell: Any) -> str:
    name = getattr(getattr(shell, "user_module", None), "__name__", None)
    return name if isinstance(name, str) else "__main__"


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
    shell.ast_transformers.append(extension.cell_transformer)
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
    logger.propagate = False  # the module's default (report_to may have changed it)
    # The notifier's thread (if any) and the watcher's directory handles go with the extension.
    extension.reloader.close()
    for event, callback in (
        ("pre_run_cell", extension.pre_run_cell),
        ("post_run_cell", extension.post_run_cell),
    ):
        with contextlib.suppress(ValueError):
            shell.events.unregister(event, callback)
    shell.ast_transformers[:] = [
        t for t in shell.ast_transformers if t is not extension.cell_transformer
    ]
    shell.user_ns.pop(HOOK, None)
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


def _shorten_paths(frames: list[str], exc: BaseException) -> list[str]:
    """IPython's traceback with the user's files relative to the working directory.

    IPython already writes ``~`` for the home directory; a project's files read shorter still.
    """
    paths = {short_path(p): p for p in _traceback_files(exc)}
    replacements = [
        (variant, short)
        for short, path in paths.items()
        if short != path
        for variant in (path, compress_user(path))
    ]
    replacements.sort(key=lambda pair: -len(pair[0]))
    shortened = []
    for frame in frames:
        for long, short in replacements:
            frame = frame.replace(long, short)
        shortened.append(frame)
    return shortened


def _traceback_files(exc: BaseException) -> set[str]:
    files = set()
    tb = user_frames(exc)
    while tb is not None:
        files.add(tb.tb_frame.f_code.co_filename)
        tb = tb.tb_next
    if isinstance(exc, SyntaxError) and exc.filename:
        files.add(exc.filename)
    return {f for f in files if os.path.isabs(f)}


def _checked_line(report: CycleReport) -> str:
    checked = plural(report.checked, "module")
    return f"hotreload: checked {checked} in {report.seconds * 1000:.2f} ms"


def _log(report: CycleReport, verbosity: str) -> None:
    """The report's lines to the ``hotreload`` logger, as much as the verbosity lets through."""
    for error in report.internal:
        logger.error(str(error))
    for failure in report.failed:
        logger.error(str(failure))
    if verbosity == "quiet":
        return
    for notice in report.notices:
        (logger.info if notice.good else logger.warning)(str(notice))
    for reloaded in report.reloaded:
        details = reloaded.details() if verbosity == "verbose" else []
        logger.info("\n".join([str(reloaded), *details]))
    if verbosity == "verbose" and report:
        logger.info(_checked_line(report))


AUTORELOAD_NOTICE = (
    "hotreload: IPython's %autoreload is on as well. Both reload edited modules, and "
    "%autoreload runs whole modules again, resetting the state hotreload keeps. Use one: "
    "`%autoreload 0` (or `%unload_ext autoreload`), or `%hotreload off`."
)


def get_extension(shell: Any) -> Extension | None:
    """The extension loaded in ``shell``, if any."""
    return _loaded.get(shell)
