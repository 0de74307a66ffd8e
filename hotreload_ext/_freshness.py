"""Stage 1 (detect): whether a module's running code matches its file, when no ``.pyc`` says.

A module found already imported (when watching starts, or imported during the last cell) is
tracked from its file as it is now. If the file was edited after the import, the running code
came from older text, and treating the file as the running source would hide the edit for
good. The import system's ``.pyc`` answers that (:func:`._discovery.changed_since_import`); with
``PYTHONDONTWRITEBYTECODE=1`` (common in containers) there is none, and this module decides:

1. A file last written *before* the module can have been imported is what it was imported from:
   before this process started, for modules found at the first check; before the previous check
   started, for modules imported since. One ``stat`` already made: nothing else to do.
2. Otherwise the file is compiled and each top-level function and class method is compared,
   by bytecode, constants and names (line numbers aside), with the running one. One difference:
   the module is stale. No difference, and every other top-level statement is one that cannot
   differ unseen (imports, docstrings, literal constants equal to the running value): fresh.
   Anything else (``X = compute()``) cannot be decided without running it: :data:`UNKNOWN`, and
   the user is told once how to force a reload.

The same comparison tells the first reload of a stale module which definitions really changed.

This module must never import IPython.
"""

from __future__ import annotations

import ast
import os
import time
import types
from dataclasses import dataclass
from typing import Any, Literal, cast

from ._static import own_attributes

__all__ = [
    "FRESH",
    "STALE",
    "UNKNOWN",
    "Freshness",
    "RunningComparison",
    "compare_running",
    "now_ns",
    "process_start_ns",
    "written_before",
]

Freshness = Literal["fresh", "stale", "unknown"]
FRESH: Freshness = "fresh"
STALE: Freshness = "stale"
UNKNOWN: Freshness = "unknown"

# Literal values whose == cannot run user code: compared with the running value directly.
_PLAIN = (int, float, complex, str, bytes, bool, type(None), tuple, frozenset)


@dataclass(frozen=True)
class RunningComparison:
    """How the top-level definitions of a file compare with the running module's.

    Attributes:
        same: Names whose running object has the file's code (or literal value).
        different: Names whose running object has other code (or another literal value).
        missing: Names the file defines that the running module does not have.
        undecided: Top-level statements whose effect cannot be compared without running them.
        parses: Whether the file compiles at all.
    """

    same: frozenset[str]
    different: frozenset[str]
    missing: frozenset[str]
    undecided: int
    parses: bool = True

    @property
    def verdict(self) -> Freshness:
        """Stale on any difference; fresh when everything was compared; else unknown."""
        if self.different or self.missing or not self.parses:
            return STALE  # a file that does not compile is not what is running
        return UNKNOWN if self.undecided else FRESH


def process_start_ns() -> int | None:
    """When this process started (Linux ``/proc``), in ``time.time_ns()`` terms; else None."""
    try:
        with open("/proc/self/stat", "rb") as handle:
            # The command name (field 2) may hold spaces and parentheses: split after its end.
            fields = handle.read().rsplit(b")", 1)[1].split()
        started_ticks = int(fields[19])  # field 22, starttime, in clock ticks since boot
        with open("/proc/stat", "rb") as handle:
            boot = next(int(line.split()[1]) for line in handle if line.startswith(b"btime"))
        ticks = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration, AttributeError):
        return None
    return (boot * ticks + started_ticks) * (1_000_000_000 // ticks)


def written_before(mtime_ns: int, moment_ns: int | None) -> bool:
    """Whether a file with this mtime was last written before ``moment_ns``, with a margin.

    Filesystem clocks are coarse (a few ms) and the boot time in ``/proc/stat`` is rounded to the
    second: a second of margin keeps a file written just after the moment from passing as older.
    """
    return moment_ns is not None and mtime_ns < moment_ns - 2_000_000_000


def compare_running(
    module: types.ModuleType, text: str | bytes, filename: str
) -> RunningComparison:
    """Compare the top-level definitions of ``text`` with ``module``'s running objects."""
    try:
        tree = ast.parse(text, filename)
        # Compiled whole, and inheriting no flags of ours: the file's own __future__ imports
        # decide its code objects' flags, as they did at import.
        module_code = compile(tree, filename, "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return RunningComparison(frozenset(), frozenset(), frozenset(), 0, parses=False)
    # Top-level function and class-body code, by name; the last binding wins, as it did.
    compiled = {c.co_name: c for c in module_code.co_consts if isinstance(c, types.CodeType)}
    namespace = own_attributes(module)
    found: dict[str, bool] = {}  # name -> same as running (the last binding wins)
    missing: set[str] = set()
    undecided = 0
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            if node.name not in namespace:
                missing.add(node.name)
                continue
            matches = _definition_matches(node, namespace[node.name], compiled)
            if matches is None:
                undecided += 1
            else:
                found[node.name] = matches
            continue
        compared = _compare_statement(node, namespace)
        if compared is None:
            undecided += 1
        found.update(compared or {})
    same = frozenset(n for n, equal in found.items() if equal)
    different = frozenset(n for n, equal in found.items() if not equal)
    return RunningComparison(same, different, frozenset(missing - found.keys()), undecided)


def _definition_matches(
    node: ast.stmt, running: object, compiled: dict[str, types.CodeType]
) -> bool | None:
    """Whether the running object has the definition's code; None when that can't be told."""
    code = compiled.get(getattr(node, "name", ""))
    if code is None:
        return None
    if isinstance(node, ast.ClassDef):
        # type(), not isinstance(): isinstance() asks a user object for its __class__.
        if not issubclass(type(running), type):
            return None
        return _class_matches(code, cast("type", running))
    return _code_matches(code, _function_code(running))


def _code_matches(code: types.CodeType, running: types.CodeType | None) -> bool | None:
    # Only the function this very definition made can be compared: a decorator may return
    # another function (a wrapper without __wrapped__), whose code says nothing about the file.
    if running is None or running.co_name != code.co_name:
        return None
    if running.co_filename != code.co_filename:
        return None
    return _same_code(code, running)


def _class_matches(body: types.CodeType, cls: type) -> bool | None:
    namespace = type.__getattribute__(cls, "__dict__")
    defined = set()
    verdict: bool | None = True
    for code in body.co_consts:
        if not isinstance(code, types.CodeType) or code.co_name.startswith("<"):
            continue
        name = _mangled(code.co_name, body.co_name)
        defined.add(name)
        if name not in namespace:
            return False  # a method the running class does not have
        matches = _code_matches(code, _function_code(namespace[name]))
        if matches is False:
            return False
        verdict = verdict if matches else None
    # A method the file no longer has, still on the running class: the file changed too. Only
    # one its body made (its qualified name says so): a decorator or a later statement may
    # have set other functions of the file on the class.
    prefix = type.__getattribute__(cls, "__qualname__") + "."
    for name, value in namespace.items():
        function = _function(value)
        if function is None or name in defined:
            continue
        qualname = object.__getattribute__(function, "__qualname__")
        made: types.CodeType = object.__getattribute__(function, "__code__")
        if qualname.startswith(prefix) and made.co_filename == body.co_filename:
            return False
    return verdict


def _mangled(name: str, class_name: str) -> str:
    """The name a class body binds for ``name``: ``__secret`` in ``C`` is ``_C__secret``."""
    if name.startswith("__") and not name.endswith("__") and class_name.strip("_"):
        return f"_{class_name.lstrip('_')}{name}"
    return name


def _function_code(value: object) -> types.CodeType | None:
    """The code of a function, through staticmethod/classmethod/property and ``__wrapped__``."""
    function = _function(value)
    if function is None:
        return None
    code: types.CodeType = object.__getattribute__(function, "__code__")
    return code


def _function(value: object) -> object | None:
    """The plain function behind a method-like value, read without running user code."""
    for _ in range(10):
        # type(), not isinstance(): no user __getattribute__ may run (see _static).
        kind = type(value)
        if issubclass(kind, staticmethod | classmethod):
            value = object.__getattribute__(value, "__func__")
        elif issubclass(kind, property):
            value = object.__getattribute__(value, "fget")
        if type(value) is types.FunctionType:
            return value
        wrapped = own_attributes(value).get("__wrapped__")
        if wrapped is None:
            return None
        value = wrapped
    return None


def _same_code(left: types.CodeType, right: types.CodeType | None) -> bool:
    """Equal code, line numbers aside: ``left`` moved to ``right``'s lines, then compared.

    Code equality compares instructions, constants (nested code alike), names and flags
    without reading ``co_code``, which on Python 3.11+ would make and keep a copy of the
    bytecode in every running function compared.
    """
    if right is None:
        return False
    return bool(_aligned(left, right) == right)


def _aligned(code: types.CodeType, running: types.CodeType) -> types.CodeType:
    """``code`` with the first line of ``running`` (and so of its nested code)."""
    consts = code.co_consts
    if len(consts) == len(running.co_consts):
        consts = tuple(
            _aligned(mine, theirs)
            if type(mine) is types.CodeType and type(theirs) is types.CodeType
            else mine
            for mine, theirs in zip(consts, running.co_consts, strict=True)
        )
    return code.replace(co_firstlineno=running.co_firstlineno, co_consts=consts)


def _compare_statement(node: ast.stmt, namespace: dict[str, Any]) -> dict[str, bool] | None:
    """Names a statement binds -> equal to the running value; None when it can't be told.

    Imports, docstrings and ``pass`` cannot differ unseen; an assignment of a literal that
    equals the running value made it.
    """
    if isinstance(node, ast.Import | ast.ImportFrom | ast.Pass):
        return {}
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
        return {}
    if not isinstance(node, ast.Assign | ast.AnnAssign) or node.value is None:
        return None
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    names = [t.id for t in targets if isinstance(t, ast.Name)]
    if len(names) != len(targets):
        return None
    try:
        value = ast.literal_eval(node.value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    running = [namespace.get(n, _ABSENT) for n in names]
    if any(r is _ABSENT for r in running):
        return dict.fromkeys(names, False)  # a constant the running module does not have
    equal = all(_plain(r) and type(r) is type(value) and bool(r == value) for r in running)
    # Equal: this statement made it. Not equal tells nothing: the module body itself (a counter
    # it increments) or the session may have changed the value since the import.
    return dict.fromkeys(names, True) if equal else None


_ABSENT = object()


def _plain(value: object) -> bool:
    if type(value) in (tuple, frozenset):
        return all(_plain(item) for item in value)  # type: ignore[attr-defined]
    return type(value) in _PLAIN


def now_ns() -> int:
    """The moment a check starts, for :func:`written_before` at the next one."""
    return time.time_ns()
