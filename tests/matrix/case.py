"""The patching matrix: one case format, one runner, shared by the tests and the behaviour table.

A :class:`Case` is a small set of module files in several versions, a *hold* cell that imports
version 1 and keeps references to its objects (old functions, bound methods, instances,
``from m import NAME`` bindings), and one *check* cell per version asserting that those held
references behave like that version. :func:`run_case` drives a real IPython ``InteractiveShell``
through it with one reloading tool loaded (hotreload, or IPython's ``%autoreload 2``):

1. write version 1, load the tool, run the hold cell, run one more cell (users run cells between
   an import and an edit; autoreload's deduper mode snapshots sources only then), check v1;
2. for each step: write the files that differ in that version (mtime bumped with ``os.utime``,
   never a sleep), run ``pass`` (this triggers the reload; its output is ``matrix.out``), run
   ``pass`` again (``matrix.out_next``: a problem must be reported once, not every cell), then run
   the version's check cell. Before the first check, ``matrix.out`` is what the cell after the
   hold cell printed.

The check cells see a ``matrix`` object (:class:`CaseHelper`) with the reload output and the line
of a marker comment in the file as it is now (for traceback and ``inspect`` checks).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import re
import sys
import textwrap
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import bump

TOOLS = ("hotreload", "autoreload")
TOOL_TITLES = {"hotreload": "hotreload", "autoreload": "%autoreload 2"}

# Text a tool prints when a reload failed or the tool itself broke. Unless a case expects a
# failure, seeing one of these after an edit fails the step even if the check cell passes.
FAILURE_MARKERS = (
    "hotreload: could not reload",
    "hotreload: internal error",
    "[autoreload of",
    "Error in callback",
)

_ANSI = re.compile(r"\x1b\[[0-9;]*m")

Source = str | bytes | None
"""A module file's content in one version: text, raw bytes (coding cookies), or None (absent)."""


@dataclass(frozen=True)
class Case:
    """One row of the patching matrix.

    Attributes:
        id: Short unique name (``function-body``); used for test ids and in the table.
        row: The row of issue 3 it proves (the table groups cases by it).
        versions: Module files per version, ``{"mx": source, "mx_pkg.__init__": source}``.
            Version 1 lists every file; later versions list only the files that differ from
            the version before (``None`` deletes a file).
        hold: The cell run after importing version 1; it stores the old references.
        checks: One cell per version, asserting the held references behave like it.
        steps: The versions visited after version 1 (0-based indices into ``versions``);
            forward and back by default.
        note: Why the case matters or what the user should know; shown in the table.
        min_python: Skip on older Pythons (``__type_params__`` needs 3.12).
        expect_failure: The tool is expected to print a failure message after an edit (the
            case then asserts that message itself).
    """

    id: str
    row: str
    versions: tuple[Mapping[str, Source], ...]
    hold: str
    checks: tuple[str, ...]
    steps: tuple[int, ...] = (1, 0)
    note: str = ""
    min_python: tuple[int, int] | None = None
    expect_failure: bool = False

    def __post_init__(self) -> None:
        if len(self.checks) != len(self.versions):
            raise ValueError(f"{self.id}: one check per version is needed")

    def files_at(self, version: int) -> dict[str, Source]:
        """Every file's content in ``version`` (later versions inherit unchanged files)."""
        files: dict[str, Source] = {}
        for v in self.versions[: version + 1]:
            files.update(v)
        return files

    def skip_reason(self) -> str:
        """Why this case cannot run on this interpreter; empty when it can."""
        if self.min_python and sys.version_info < self.min_python:
            return f"needs Python {'.'.join(map(str, self.min_python))}+"
        return ""


def case(
    id: str,
    row: str,
    versions: Sequence[Mapping[str, Source]],
    hold: str,
    checks: Sequence[str],
    **options: Any,
) -> Case:
    """Build a :class:`Case`, dedenting every source and cell."""
    return Case(
        id=id,
        row=row,
        versions=tuple(
            {name: _dedent(source) for name, source in version.items()} for version in versions
        ),
        hold=textwrap.dedent(hold).strip() + "\n",
        checks=tuple(textwrap.dedent(c).strip() + "\n" for c in checks),
        **options,
    )


def _dedent(source: Source) -> Source:
    if isinstance(source, str):
        return textwrap.dedent(source).lstrip("\n")
    return source


@dataclass
class StepResult:
    """One step of a case with one tool: passed, or the first thing that went wrong."""

    label: str
    ok: bool
    detail: str = ""


@dataclass
class CaseResult:
    """A whole case run with one tool."""

    case: str
    tool: str
    steps: list[StepResult] = field(default_factory=list)
    skipped: str = ""

    @property
    def ok(self) -> bool:
        """Every step passed."""
        return not self.skipped and all(step.ok for step in self.steps)

    def summary(self) -> str:
        """``pass``, ``skipped: why`` or the first failing step, on one line."""
        if self.skipped:
            return f"skipped: {self.skipped}"
        for step in self.steps:
            if not step.ok:
                return f"{step.label}: {step.detail}"
        return "pass"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the table script's subprocesses send results this way)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CaseResult:
        """The inverse of :meth:`to_json`."""
        steps = [StepResult(**s) for s in data["steps"]]
        return cls(data["case"], data["tool"], steps, data.get("skipped", ""))


class CaseHelper:
    """What check cells see as ``matrix``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.out = ""
        self.out_next = ""

    def path(self, module: str) -> Path:
        """The file of ``module`` (``pkg.__init__`` for a package's own file)."""
        return module_path(self.root, module)

    def line(self, module: str, marker: str) -> int:
        """The 1-based line of ``module``'s file, as it is now, that contains ``marker``."""
        text = self.path(module).read_bytes().decode("utf-8", "replace")
        for number, line in enumerate(text.splitlines(), start=1):
            if marker in line:
                return number
        raise LookupError(f"{marker!r} is not in {module}")


def module_path(root: Path, module: str) -> Path:
    """Where the file of a dotted module name lives under ``root``."""
    parts = module.split(".")
    return root.joinpath(*parts[:-1], parts[-1] + ".py")


def write_files(root: Path, files: Mapping[str, Source], before: Mapping[str, Source]) -> None:
    """Bring the files under ``root`` from ``before`` to ``files``, bumping each mtime.

    A file in ``before`` but not in ``files`` did not exist in that version: it is deleted.
    """
    files = {**dict.fromkeys(before), **files}
    for module, source in files.items():
        if before.get(module) == source:
            continue
        path = module_path(root, module)
        if source is None:
            path.unlink(missing_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        previous = path.stat().st_mtime_ns if path.exists() else 0
        data = source if isinstance(source, bytes) else source.encode("utf-8")
        path.write_bytes(data)
        bump(path, after=previous)
    importlib.invalidate_caches()


def load_tool(shell: Any, tool: str, *, strict: bool) -> None:
    """Load one reloading tool into ``shell`` as a user would."""
    if tool == "hotreload":
        shell.run_line_magic("load_ext", "hotreload")
        if strict:
            shell.run_line_magic("config", "HotReload.strict = True")
    elif tool == "autoreload":
        shell.run_line_magic("load_ext", "autoreload")
        # Mode 2 reloads every module; 9.x uses its deduperreload algorithm unless `2-`/--full.
        shell.run_line_magic("autoreload", "2")
    else:
        raise ValueError(f"unknown tool {tool!r}")


def _run_cell(shell: Any, cell: str) -> tuple[BaseException | None, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        result = shell.run_cell(cell, store_history=False, silent=False)
    error = result.error_before_exec or result.error_in_exec
    return error, _ANSI.sub("", stdout.getvalue() + stderr.getvalue())


def describe_error(error: BaseException, cell: str) -> str:
    """One short line: the statement of ``cell`` that failed and the exception."""
    where = ""
    lines = cell.splitlines()
    for frame in traceback.extract_tb(error.__traceback__):
        if frame.filename.startswith("<ipython-input") and frame.lineno:
            where = lines[frame.lineno - 1].strip() if frame.lineno <= len(lines) else ""
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    text = type(error).__name__ + (f": {message}" if message else "")
    if where:
        text = f"`{where}` -> {text}"
    return _shorten(text)


def _shorten(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _failure_line(output: str) -> str:
    lines = output.splitlines()
    for index, line in enumerate(lines):
        if any(marker in line for marker in FAILURE_MARKERS):
            # The exception line of a traceback says more than its header.
            tail = [s for s in lines[index:] if re.match(r"^\w*(Error|Exception)\b", s)]
            return _shorten(line if not tail else f"{line.strip()} ... {tail[-1]}")
    return ""


def _internal_errors(shell: Any, tool: str) -> list[BaseException]:
    if tool != "hotreload":
        return []
    from hotreload_ext._extension import get_extension

    extension = get_extension(shell)
    return list(extension.internal_errors) if extension else []


def run_case(shell: Any, case: Case, root: Path, tool: str, *, strict: bool) -> CaseResult:
    """Run ``case`` with ``tool`` in ``shell``, writing its modules under ``root``.

    ``root`` is put first on ``sys.path``; the caller restores ``sys.path`` and ``sys.modules``
    and unloads the tool.
    """
    result = CaseResult(case.id, tool)
    reason = case.skip_reason()
    if reason:
        result.skipped = reason
        return result
    helper = CaseHelper(root)
    sys.path.insert(0, str(root))
    current: dict[str, Source] = {}
    write_files(root, case.files_at(0), current)
    current = case.files_at(0)
    load_tool(shell, tool, strict=strict)
    shell.user_ns["matrix"] = helper

    error, _ = _run_cell(shell, case.hold)
    if error is not None:
        result.steps.append(StepResult("import v1", False, describe_error(error, case.hold)))
        return result
    _, helper.out = _run_cell(shell, "pass")
    labels = [f"v{i + 1}" for i in range(len(case.versions))]
    plan = [(0, labels[0])]
    seen = {0}
    for version in case.steps:
        plan.append((version, labels[version] + (" again" if version in seen else "")))
        seen.add(version)
    for index, (version, label) in enumerate(plan):
        if index:
            files = case.files_at(version)
            write_files(root, files, current)
            current = files
            _, helper.out = _run_cell(shell, "pass")
            _, helper.out_next = _run_cell(shell, "pass")
            if not case.expect_failure:
                failure = _failure_line(helper.out + helper.out_next)
                if failure:
                    result.steps.append(StepResult(label, False, f"reload failed: {failure}"))
                    continue
        check = case.checks[version]
        error, _ = _run_cell(shell, check)
        internal = _internal_errors(shell, tool)
        if internal:
            detail = f"internal error: {type(internal[0]).__name__}: {internal[0]}"
            result.steps.append(StepResult(label, False, _shorten(detail)))
            return result
        if error is not None:
            result.steps.append(StepResult(label, False, describe_error(error, check)))
        else:
            result.steps.append(StepResult(label, True))
    return result
