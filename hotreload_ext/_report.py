"""Stage 9 (report): what the user is told.

Each stage hands its result on as a small record; ``str(record)`` is the line the user sees. The
IPython face decides where the lines go (cell output, ``logging``) and how many of them.
"""

from __future__ import annotations

import html
import os
import traceback
import types
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._patch import Replacement
    from ._transaction import Committed

__all__ = [
    "CycleReport",
    "InternalError",
    "ModuleFailure",
    "ModuleNotice",
    "ModuleReport",
    "internal_error",
    "internal_failure",
    "module_failure",
    "module_report",
    "plural",
    "short_path",
    "user_frames",
    "user_traceback",
]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


@dataclass(frozen=True)
class ModuleReport:
    """A module that reloaded successfully.

    Attributes:
        module: The module's name.
        path: Its source file.
        updated: Names (``f``, ``Cls.method``) whose definition changed and was patched in place.
        added: Names that are new.
        removed: Names deleted from the source, and so from the module.
        replaced: Classes that could not be patched in place, with the reason and how many
            instances moved to the new class.
        reran: The statements that ran again, as ``L<line>: <first line>``.
        rebound: ``from m import NAME`` bindings elsewhere that now hold the new object.
        mode: ``"statements"`` when only affected statements ran; otherwise why the whole body ran.
        parsed: The first and last line parsed when only the edited region of a big file was
            (the rest is unchanged text), or None when the whole file was parsed.
        seconds: Wall time of the reload.
        run_seconds: The part of it spent running the module's own statements.
        stale: What could not be made right, one line each, naming the object and what to do.
        data_files: Data files read by the module's body whose change made it reload.
    """

    module: str
    path: str
    updated: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    replaced: tuple[str, ...] = ()
    reran: tuple[str, ...] = ()
    rebound: tuple[str, ...] = ()
    mode: str = "statements"
    parsed: tuple[int, int] | None = None
    seconds: float = 0.0
    run_seconds: float = 0.0
    stale: tuple[str, ...] = ()
    data_files: tuple[str, ...] = ()

    def __str__(self) -> str:
        parts = []
        for label, names in (
            ("updated", self.updated),
            ("added", self.added),
            ("removed", self.removed),
            ("replaced", self.replaced),
        ):
            if names:
                parts.append(f"{label} {', '.join(names)}")
        detail = "; ".join(parts) if parts else "no definitions changed"
        cause = ""
        if self.data_files:
            label = "data file" if len(self.data_files) == 1 else "data files"
            shown = ", ".join(os.path.basename(path) for path in self.data_files)
            cause = f" ({label} {shown} changed)"
        lines = [f"hotreload: reloaded {self.module}{cause}: {detail}"]
        lines += [f"hotreload: stale: {line}" for line in self.stale]
        return "\n".join(lines)

    def counts(self) -> str:
        """What changed, counted: ``2 updated, 1 added``."""
        parts = [
            f"{len(names)} {label}"
            for label, names in (
                ("updated", self.updated),
                ("added", self.added),
                ("removed", self.removed),
                ("replaced", self.replaced),
            )
            if names
        ]
        return ", ".join(parts) or "no definitions changed"

    def html(self, *, verbose: bool = False) -> str:
        """The report for a notebook: one compact line, the names in a collapsed block.

        What could not be made right stays visible: it asks the user to act.
        """
        items = [
            f"<li>{label} {_code_list(names)}</li>"
            for label, names in (
                ("updated", self.updated),
                ("added", self.added),
                ("removed", self.removed),
                ("replaced", self.replaced),
            )
            if names
        ]
        if verbose:
            items += [f"<li>{html.escape(line.strip())}</li>" for line in self.details()]
        head = (
            f"hotreload: reloaded <code>{html.escape(self.module)}</code>: "
            f"{html.escape(self.counts())}"
        )
        body = (
            f"<details><summary>{head}</summary><ul>{''.join(items)}</ul></details>"
            if items
            else f"<div>{head}</div>"
        )
        stale = "".join(
            f'<div style="color: #a15c00">hotreload: stale: {html.escape(line)}</div>'
            for line in self.stale
        )
        return body + stale

    def details(self) -> list[str]:
        """Extra lines for the verbose report."""
        lines = [f"  mode: {self.mode}; {self.seconds * 1000:.1f} ms"]
        lines += [f"  data file changed: {path}" for path in self.data_files]
        if self.parsed is not None:
            lines.append(
                f"  parsed only lines {self.parsed[0]}-{self.parsed[1]} (the edited region)"
            )
        lines += [f"  re-ran {statement}" for statement in self.reran]
        if self.rebound:
            lines.append(f"  rebound imported names: {', '.join(self.rebound)}")
        return lines


@dataclass(frozen=True)
class ModuleFailure:
    """A module whose new source could not be loaded; the old code keeps running.

    Attributes:
        module: The module's name.
        path: Its source file.
        lineno: The line of the user's code that failed, when known.
        error: One line: the exception type and message.
        traceback: The user's traceback, without hotreload's own frames.
    """

    module: str
    path: str
    lineno: int | None
    error: str
    traceback: str = ""
    # The error itself, for the face to format its own way (IPython's traceback). Only the
    # cycle's report holds it: the history keeps a copy without it, so no frame of the failed
    # code stays alive.
    exception: BaseException | None = field(default=None, repr=False, compare=False)

    def __str__(self) -> str:
        where = self.path if self.lineno is None else f"{self.path}, line {self.lineno}"
        # The error line is said once, in the first line; the traceback gives only the frames.
        frames = _without_last_line(self.traceback, self.error)
        return (
            f"hotreload: could not reload {self.module} ({where}): {self.error}\n"
            f"{frames}"
            f"hotreload: {self.module} keeps its previous code; save a fix and run a cell to retry."
        )

    def headline(self) -> str:
        """The line above a traceback formatted elsewhere (which ends with the error)."""
        path = short_path(self.path)
        where = path if self.lineno is None else f"{path}, line {self.lineno}"
        return (
            f"hotreload: could not reload {self.module} ({where}); it keeps its previous code: "
            "save a fix and run a cell to retry."
        )


@dataclass(frozen=True)
class ModuleNotice:
    """Something the user should know once, that is not a failure of their code."""

    module: str
    message: str
    # Good news (a module healthy again) rather than a warning: shown like a reload.
    good: bool = False

    def __str__(self) -> str:
        return f"hotreload: {self.module}: {self.message}"


@dataclass(frozen=True)
class InternalError:
    """hotreload's own error, caught at the engine's boundary; the user's code is untouched.

    Attributes:
        exception: The error itself (for a bug report; not kept in any history).
        traceback: Its formatted traceback, hotreload's frames included.
    """

    exception: BaseException = field(repr=False, compare=False)
    traceback: str = ""

    def __str__(self) -> str:
        exc = self.exception
        return (
            f"hotreload: internal error ({type(exc).__name__}: {exc}); your code and data are "
            "untouched. Please report this with the traceback below.\n" + self.traceback
        )


@dataclass
class CycleReport:
    """Everything one check (one cell) did."""

    reloaded: list[ModuleReport] = field(default_factory=list)
    failed: list[ModuleFailure] = field(default_factory=list)
    notices: list[ModuleNotice] = field(default_factory=list)
    internal: list[InternalError] = field(default_factory=list)
    checked: int = 0
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.reloaded or self.failed or self.notices or self.internal)


def module_report(committed: Committed) -> ModuleReport:
    """The report line of a reload that committed (it keeps no live object alive)."""
    diff = committed.diff
    updated, added, removed = diff.describe()
    replaced = [_replaced(r) for r in committed.replacements]
    reason = diff.whole_module
    return ModuleReport(
        module=committed.module,
        path=diff.new.filename,
        updated=tuple(updated),
        added=tuple(added),
        removed=tuple(removed),
        replaced=tuple(replaced),
        reran=committed.reran,
        rebound=committed.rebound,
        mode=f"whole module: {reason}" if reason is not None else "statements",
        parsed=diff.new.region,
        run_seconds=committed.run_seconds,
        seconds=committed.seconds,
        stale=committed.stale,
    )


def _replaced(r: Replacement) -> str:
    """``P (its __slots__ changed; 2 old objects moved to the new class; ...)``, plain words."""
    name = r.old.__qualname__
    parts = [r.reason]
    if r.moved:
        parts.append(f"{plural(r.moved, 'old object')} moved to the new class")
    elif not r.kept and not r.not_moved:
        parts.append("no old objects to move")
    if r.rebased:
        parts.append(f"subclasses now based on the new class: {', '.join(r.rebased)}")
    if r.kept:
        them = "it" if r.kept == 1 else "them"
        keeps = "keeps" if r.kept == 1 else "keep"
        parts.append(
            f"{plural(r.kept, f'old {name} object')} {keeps} the old class: {r.reason}, so "
            f"Python cannot move {them}; recreate {them}"
        )
    parts += r.not_moved
    return f"{name} ({'; '.join(parts)})"


def module_failure(module: str, path: str, error: BaseException) -> ModuleFailure:
    """The report of a module whose new code failed: the user's error, the user's frames."""
    text, lineno = user_traceback(error)
    if isinstance(error, SyntaxError) and error.filename:
        path = error.filename
    message = error.msg if isinstance(error, SyntaxError) else error
    return ModuleFailure(module, path, lineno, f"{type(error).__name__}: {message}", text, error)


def internal_failure(module: str, path: str, error: BaseException) -> ModuleFailure:
    """The report of a module whose reload hit hotreload's own error (it keeps its old code)."""
    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    summary = (
        f"internal error in hotreload: {type(error).__name__}: {error} "
        "(please report it with this traceback)"
    )
    return ModuleFailure(module, path, None, summary, text)


def internal_error(error: BaseException) -> InternalError:
    """The report of hotreload's own error outside any one module's reload."""
    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return InternalError(error, text)


def plural(count: int, noun: str) -> str:
    """``1 module``, ``2 modules``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def short_path(path: str) -> str:
    """``path`` relative to the working directory when under it, else with ``~`` for home."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive, on Windows
        relative = path
    if not relative.startswith(os.pardir):
        return relative
    home = os.path.expanduser("~")
    if home not in ("~", os.sep) and path.startswith(home + os.sep):
        return "~" + path[len(home) :]
    return path


def _without_last_line(text: str, error: str) -> str:
    """``text`` without its final exception line (``error`` says it already)."""
    lines = text.splitlines(keepends=True)
    if lines and lines[-1].startswith(error.split(":", 1)[0]):
        lines.pop()
    return "".join(lines)


def _code_list(names: tuple[str, ...]) -> str:
    return ", ".join(f"<code>{html.escape(name)}</code>" for name in names)


def user_frames(exc: BaseException) -> types.TracebackType | None:
    """``exc``'s traceback from the user's first frame on (hotreload's own frames skipped)."""
    tb = exc.__traceback__
    while tb is not None and _is_own_frame(tb):
        tb = tb.tb_next
    return tb


def _is_own_frame(tb: types.TracebackType) -> bool:
    return os.path.dirname(os.path.abspath(tb.tb_frame.f_code.co_filename)) == _PACKAGE_DIR


def user_traceback(exc: BaseException) -> tuple[str, int | None]:
    """Format ``exc`` without hotreload's frames; also return the user's innermost line."""
    tb = user_frames(exc)
    lineno: int | None = None
    if isinstance(exc, SyntaxError):
        lineno = exc.lineno
        text = "".join(traceback.format_exception_only(type(exc), exc))
        return text, lineno
    cursor = tb
    first_user: int | None = None
    while cursor is not None:
        if first_user is None:
            first_user = cursor.tb_lineno
        cursor = cursor.tb_next
    lineno = first_user
    text = "".join(traceback.format_exception(type(exc), exc, tb))
    return text, lineno
