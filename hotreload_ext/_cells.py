"""Notebook cells: a cell that defines a class or function again updates the one the session holds.

Python runs a re-run ``class Account`` cell by making a second class: the objects made before
keep the first one (``isinstance`` fails, they run the old methods, pickling them fails), as do
the subclasses of later cells and the callbacks stored away. A "Restart & Run All" of the edited
notebook would leave one class, the new one, behind everything. This module gets the session
there without a restart, with the machinery the file path uses (``_redefine.py``,
``_redefine_class.py``, ``_patch.py``, one journal per definition).

The host hands each cell's syntax tree to :meth:`CellDefinitions.rewrite` before it runs. A
top-level ``def``/``class`` whose name holds what an earlier cell's definition made is replaced
by ``NAME = __hotreload_cell__.define(TOKEN, lambda: None)``: when the cell reaches it (in
order, so a cell failing part-way keeps Python's meaning), :meth:`CellDefinitions.define`
updates the old object in place and binds the name to it again. The lambda tells it the
cell's file name and ``from __future__`` flags, as the host compiled them. Every other
top-level definition runs untouched and is followed by ``__hotreload_cell__.made(...)``, which
remembers the object and the statement that made it, for next time.

A definition is updated as for a file: a class or decorated function whose header did not
change takes its new body in place (``update_class``, ``update_function``: no decorator runs
again, no pass over the heap; a plain class runs its whole body, as the cell did); anything
else runs its statement and the new object is merged into the old (``Patcher.merge``), or
replaces it where it cannot be (``__slots__``), its instances moved where the layout allows.

``%run -i script.py`` runs a file in the user namespace without a syntax tree the host would
show us: the names it bound to new definitions are merged after the cell
(:meth:`CellDefinitions.note_script_run`, :meth:`CellDefinitions.after_cell`).

Only objects a cell (or such a script) defined are touched: what this module recorded, or a
definition of the user module whose code a cell compiled. Imported modules' objects never are.

This module must never import IPython.
"""

from __future__ import annotations
import __future__

import ast
import contextlib
import dataclasses
import functools
import itertools
import linecache
import operator
import os
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._journal import MISSING, Journal

# The patching stages are imported when a cell first defines something again, not with the
# extension: a session that never does pays nothing for them.
if TYPE_CHECKING:
    from ._patch import Patcher, Replacement
    from ._redefine import MustRun, Patched
    from ._source import ParsedSource, Statement

__all__ = ["HOOK", "CellDefinition", "CellDefinitions", "CellReplaced", "CellUpdate"]

HOOK = "__hotreload_cell__"
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_FUTURE_FLAGS = functools.reduce(
    operator.or_, (getattr(__future__, f).compiler_flag for f in __future__.all_feature_names), 0
)
_MAX_PENDING = 256
_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _is_ipython_input(filename: str) -> bool:
    return filename.startswith("<ipython-input-")


@dataclass(frozen=True)
class CellDefinition:
    """What a cell's ``def``/``class`` made, and the statement (in its cell) that made it.

    ``statement`` and ``source`` are None for a definition a ``%run -i`` script made.
    """

    value: object
    statement: Statement | None
    source: ParsedSource | None


@dataclass(frozen=True)
class CellUpdate:
    """A definition updated in place: ``hotreload: updated cell class Account: deposit``.

    Attributes:
        kind: ``class`` or ``function``.
        name: The name the cell bound.
        changed: The members whose text changed (for a class), in the new body's order.
        edited: Whether the definition's text changed at all (a cell re-run unchanged is
            reported only in verbose mode).
        detail: How it was updated, for the verbose report.
        script: The script's file name, when ``%run -i`` made the new version.
    """

    kind: str
    name: str
    changed: tuple[str, ...] = ()
    edited: bool = True
    detail: str = ""
    script: str = ""

    def __str__(self) -> str:
        where = f" (from %run -i {self.script})" if self.script else ""
        line = f"hotreload: updated cell {self.kind} {self.name}{where}"
        return f"{line}: {', '.join(self.changed)}" if self.changed else line


@dataclass(frozen=True)
class CellReplaced:
    """A cell class that could not be updated in place: its old objects keep the old class."""

    name: str
    reason: str
    kept: int
    moved: int

    @classmethod
    def of(cls, name: str, replaced: Replacement) -> CellReplaced:
        """The line for a class the patcher replaced (subclasses it rebased are not objects)."""
        # Instances that could not move are counted; tuples of the wrong length are noted.
        kept = replaced.kept + sum(not n.startswith("subclass ") for n in replaced.not_moved)
        return cls(name, replaced.reason, kept, replaced.moved)

    def __str__(self) -> str:
        if not self.kept:
            # Nothing is left behind: the new class holds every old object.
            moved = f"{self.moved} old object{'' if self.moved == 1 else 's'} moved to it"
            return f"hotreload: cell class {self.name} replaced ({self.reason}); {moved}"
        line = f"hotreload: cell class {self.name} could not be updated in place ({self.reason})"
        one = self.kept == 1
        objects = f"{self.kept} old object{'' if one else 's'} {'keeps' if one else 'keep'}"
        moved = f", {self.moved} moved to the new one" if self.moved else ""
        return f"{line}; {objects} the old class{moved}: recreate {'it' if one else 'them'}"


CellReport = CellUpdate | CellReplaced


class CellDefinitions:
    """The definitions the cells of one session made, updated in place when a cell redefines them.

    Args:
        namespace: The user namespace the cells run in (their globals).
        module_name: The ``__name__`` of that namespace (``__main__`` in IPython).
        is_cell_file: Whether a file name is one the host compiles cells under: a definition
            made before this object was (the extension loaded later, or ``cells`` was off) is
            recognised as a cell's by its code's file name.
        strict: Re-raise hotreload's own errors (the test suite) instead of reporting them
            and running the statement as Python would.
    """

    def __init__(
        self,
        namespace: dict[str, Any],
        module_name: str,
        *,
        is_cell_file: Callable[[str], bool] = _is_ipython_input,
        strict: bool = False,
    ) -> None:
        self.namespace = namespace
        self.module_name = module_name
        self.is_cell_file = is_cell_file
        self.strict = strict
        self.definitions: dict[str, CellDefinition] = {}
        self.reports: list[CellReport] = []
        self.internal: list[BaseException] = []
        self._pending: dict[int, ast.stmt] = {}
        self._tokens = itertools.count()
        self._source: tuple[str, int, ParsedSource | None] | None = None
        self._before_script: dict[str, object] | None = None

    # --- before the cell ------------------------------------------------------------------
    def rewrite(self, tree: ast.Module) -> ast.Module:
        """Route the cell's top-level definitions through :meth:`define` and :meth:`made`.

        A cell that defines nothing (and runs no ``%run -i``) is returned as it is, after one
        look at each of its top-level statements.
        """
        body = tree.body
        if not any(type(node) in _DEFINITIONS for node in body):
            if any(_is_script_run(node) for node in body):
                self.note_script_run()
            return tree
        if any(_is_script_run(node) for node in body):
            self.note_script_run()
        self.namespace[HOOK] = self
        rewritten: list[ast.stmt] = []
        for node in body:
            if type(node) not in _DEFINITIONS:
                rewritten.append(node)
                continue
            assert isinstance(node, _DEFINITIONS)
            token = next(self._tokens)
            self._pending[token] = node
            if self._holds_definition(node.name):
                rewritten.append(_hook_call(node, "define", token, bind=True))
            else:
                rewritten += [node, _hook_call(node, "made", token, bind=False)]
        tree.body = rewritten
        return tree

    def note_script_run(self) -> None:
        """Remember the definitions the namespace holds: a ``%run -i`` may define them again."""
        self._before_script = {
            name: value
            for name, value in self.namespace.items()
            if _is_definition(value) and _module_of(value) == self.module_name
        }

    def _holds_definition(self, name: str) -> bool:
        return self._record(name) is not None

    def _record(self, name: str) -> CellDefinition | None:
        """What the definition the name holds was made by, if a cell made it."""
        value = self.namespace.get(name, MISSING)
        record = self.definitions.get(name)
        if record is not None and record.value is value:
            return record
        if _is_definition(value) and _module_of(value) == self.module_name:
            filename = _filename_of(value)
            if filename is not None and self.is_cell_file(filename):
                # Made by a cell before we watched: its statement is unknown, so it runs.
                return CellDefinition(value, None, None)
        return None

    # --- while the cell runs (called by the rewritten cell) -------------------------------
    def made(self, token: int, probe: types.FunctionType) -> None:
        """A definition ran as Python runs it: remember what it made, for the next cell."""
        node = self._pending.pop(token, None)
        if not isinstance(node, _DEFINITIONS):
            return
        value = self.namespace.get(node.name, MISSING)
        if value is MISSING:
            return
        source = self._cell_source(probe)
        statement = _statement_for(source, node) if source is not None else None
        self.definitions[node.name] = CellDefinition(value, statement, source)

    def define(self, token: int, probe: types.FunctionType) -> object:
        """Run one ``def``/``class`` of the cell, updating what its name holds in place.

        Returns the object the name is to hold: the old one, updated, unless the definition
        had to replace it. Errors in the user's code propagate as the cell's own errors.
        """
        __tracebackhide__ = True  # IPython leaves this frame out of the user's traceback
        node = self._pending.pop(token)
        assert isinstance(node, _DEFINITIONS)
        source = self._cell_source(probe)
        statement = _statement_for(source, node) if source is not None else None
        record = self._record(node.name)
        old = self.namespace.get(node.name, MISSING)
        if source is None or statement is None or record is None or not _same_kind(old, node):
            # What the name held changed since the cell was read: Python's meaning.
            value = _run_plain(node, probe)
        else:
            value = self._update(node, old, record, statement, source, probe)
        self.definitions[node.name] = CellDefinition(value, statement, source)
        return value

    # --- after the cell -------------------------------------------------------------------
    def after_cell(self) -> list[CellReport]:
        """Finish the cell (merge what a ``%run -i`` defined); return what to report."""
        if self._before_script is not None:
            before, self._before_script = self._before_script, None
            self._merge_script(before)
        if len(self._pending) > _MAX_PENDING:
            # Statements after an error never ran; kept for a cell a cell runs (run_cell
            # inside a cell ends before the outer cell's statements run), but not forever.
            for token in list(self._pending)[: len(self._pending) - _MAX_PENDING]:
                del self._pending[token]
        self._source = None
        reports, self.reports = self.reports, []
        return reports

    def take_internal_errors(self) -> list[BaseException]:
        """Errors in hotreload itself met since the last call (the cell ran as Python runs it)."""
        errors, self.internal = self.internal, []
        return errors

    # --- updating ---------------------------------------------------------------------------
    def _update(
        self,
        node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef,
        old: Any,
        record: CellDefinition,
        statement: Statement,
        source: ParsedSource,
        probe: types.FunctionType,
    ) -> object:
        """Update ``old`` to ``statement``, all or nothing (one journal)."""
        __tracebackhide__ = True
        from ._patch import Patcher, migrate_instances
        from ._redefine import UserCodeRaised

        journal = Journal()
        patcher = Patcher(journal, self.namespace, self.module_name)
        user_error: BaseException | None = None
        try:
            kept, detail = self._apply(old, record, statement, source, patcher)
            migrate_instances(patcher.replacements)
            patcher.commit()
        except UserCodeRaised as exc:
            journal.rollback()
            user_error = exc.error
        except Exception as exc:
            journal.rollback()
            if self.strict:
                raise
            self.internal.append(exc)
            return _run_plain(node, probe)
        except BaseException:  # an interrupt in our own code: undo, and let it through
            journal.rollback()
            raise
        if user_error is not None:
            # Raised here, outside the handler, so it does not chain to hotreload's wrapper.
            raise _without_own_frames(user_error)
        journal.commit()
        self._report(old, kept, record, (statement, source), detail, patcher.replacements)
        return kept

    def _apply(
        self,
        old: Any,
        record: CellDefinition,
        statement: Statement,
        source: ParsedSource,
        patcher: Patcher,
    ) -> tuple[object, str]:
        """Update in place if the header allows it, else run the statement and merge."""
        from ._redefine import MustRun, Patched, exec_statements, update_function
        from ._redefine_class import update_class

        outcome: Patched | MustRun = MustRun("its statement ran")
        before, old_source = record.statement, record.source
        if before is not None and old_source is not None:
            namespace = self.namespace
            if statement.kind == "class":
                args = (before, statement, old_source, source, namespace, patcher)
                outcome = update_class(*args, whole_body=True)
            elif getattr(statement.node, "decorator_list", None):
                outcome = update_function(
                    before, statement, namespace, patcher, source, old_filename=old_source.filename
                )
        if isinstance(outcome, Patched):
            return old, outcome.detail
        scratch: dict[str, Any] = {}
        exec_statements([statement.node], source, self.namespace, scratch)
        node = statement.node
        assert isinstance(node, _DEFINITIONS)
        new = scratch[node.name]
        kept = patcher.merge(old, new)
        if kept is new and type(old) is types.FunctionType and callable(new):
            # A decorator that now makes another kind of object: old references call it.
            patcher.forward(old, new)
        return kept, f"statement ran ({outcome.reason})"

    def _report(
        self,
        old: object,
        kept: object,
        record: CellDefinition,
        made: tuple[Statement, ParsedSource],
        detail: str,
        replacements: list[Replacement],
    ) -> None:
        statement, source = made
        node = statement.node
        assert isinstance(node, _DEFINITIONS)
        for replaced in replacements:
            if replaced.old is old:
                self.reports.append(CellReplaced.of(node.name, replaced))
                return
        kind = "class" if statement.kind == "class" else "function"
        before = record.statement
        edited = before is None or before.text != statement.text
        changed = _changed_members(record, statement, source) if edited else ()
        self.reports.append(CellUpdate(kind, node.name, changed, edited, detail))

    def _merge_script(self, before: dict[str, object]) -> None:
        """Merge what a ``%run -i`` script bound over earlier definitions into them."""
        from ._patch import Patcher, migrate_instances

        journal = Journal()
        patcher = Patcher(journal, self.namespace, self.module_name)
        merged: list[tuple[str, object, object]] = []
        try:
            journal.save_mapping(self.namespace)
            for name, value in list(self.namespace.items()):
                old = before.get(name, MISSING)
                if value is old or not _is_definition(value):
                    continue
                if _module_of(value) != self.module_name:
                    continue
                if old is not MISSING and _same_definition(old, value):
                    kept = patcher.merge(old, value)
                    self.namespace[name] = kept
                    merged.append((name, old, kept))
                    value = kept
                self.definitions[name] = CellDefinition(value, None, None)
            migrate_instances(patcher.replacements)
            patcher.commit()
        except Exception as exc:
            journal.rollback()
            if self.strict:
                raise
            self.internal.append(exc)
            return
        except BaseException:
            journal.rollback()
            raise
        journal.commit()
        self._report_script(merged, patcher.replacements)

    def _report_script(
        self, merged: list[tuple[str, object, object]], replacements: list[Replacement]
    ) -> None:
        replaced = {id(r.old): r for r in replacements}
        for name, old, kept in merged:
            replacement = replaced.get(id(old))
            if replacement is not None:
                self.reports.append(CellReplaced.of(name, replacement))
                continue
            kind = "class" if isinstance(kept, type) else "function"
            script = os.path.basename(_filename_of(kept) or "")
            self.reports.append(CellUpdate(kind, name, script=script, detail="script ran"))

    # --- sources --------------------------------------------------------------------------
    def _cell_source(self, probe: types.FunctionType) -> ParsedSource | None:
        """The parsed text of the cell ``probe`` was compiled in (the host cached it)."""
        from ._source import parse_source

        code = probe.__code__
        flags = code.co_flags & _FUTURE_FLAGS
        cached = self._source
        if cached is not None and cached[0] == code.co_filename and cached[1] == flags:
            return cached[2]
        lines = linecache.getlines(code.co_filename)
        parsed: ParsedSource | None = None
        with contextlib.suppress(SyntaxError):
            if lines:
                parsed = parse_source("".join(lines), code.co_filename)
                # Flags the host carries over from earlier cells count for this one too.
                parsed = dataclasses.replace(parsed, compile_flags=parsed.compile_flags | flags)
        self._source = (code.co_filename, flags, parsed)
        return parsed


def _hook_call(node: ast.stmt, method: str, token: int, *, bind: bool) -> ast.stmt:
    """``NAME = __hotreload_cell__.METHOD(TOKEN, lambda: None)`` at ``node``'s position.

    The lambda's code carries the cell's file name and ``from __future__`` flags. Without
    ``bind``, an ``if`` (an expression statement ending a cell would be displayed).
    """
    assert isinstance(node, _DEFINITIONS)
    probe = ast.Lambda(
        args=ast.arguments(posonlyargs=[], args=[], kwonlyargs=[], kw_defaults=[], defaults=[]),
        body=ast.Constant(None),
    )
    call = ast.Call(
        func=ast.Attribute(value=ast.Name(HOOK, ast.Load()), attr=method, ctx=ast.Load()),
        args=[ast.Constant(token), probe],
        keywords=[],
    )
    statement: ast.stmt
    if bind:
        statement = ast.Assign(targets=[ast.Name(node.name, ast.Store())], value=call)
    else:
        statement = ast.If(test=call, body=[ast.Pass()], orelse=[])
    ast.copy_location(statement, node)
    return ast.fix_missing_locations(statement)


def _is_script_run(node: ast.stmt) -> bool:
    """Whether ``node`` is ``%run -i ...`` as the host wrote it (a ``run_line_magic`` call)."""
    if type(node) is not ast.Expr or type(node.value) is not ast.Call:
        return False
    call = node.value
    func = call.func
    if not isinstance(func, ast.Attribute) or func.attr != "run_line_magic" or len(call.args) < 2:
        return False
    magic, line = call.args[0], call.args[1]
    return (
        isinstance(magic, ast.Constant)
        and magic.value == "run"
        and isinstance(line, ast.Constant)
        and isinstance(line.value, str)
        and "-i" in line.value.split()
    )


def _statement_for(source: ParsedSource, node: ast.stmt) -> Statement | None:
    """The statement of the cell's parsed text that ``node`` (the host's tree) stands for."""
    assert isinstance(node, _DEFINITIONS)
    for statement in source.statements:
        found = statement.node
        if (
            type(found) is type(node)
            and found.lineno == node.lineno
            and isinstance(found, _DEFINITIONS)
            and found.name == node.name
        ):
            return statement
    return None


def _same_kind(old: object, node: ast.stmt) -> bool:
    """A class statement updates a class; a ``def`` updates anything but a class."""
    return isinstance(node, ast.ClassDef) == issubclass(type(old), type)


def _run_plain(node: ast.stmt, probe: types.FunctionType) -> object:
    """Run the definition as Python would, in the cell's namespace; return what it made."""
    __tracebackhide__ = True
    assert isinstance(node, _DEFINITIONS)
    code = probe.__code__
    module = ast.Module(body=[node], type_ignores=[])
    compiled = compile(
        module, code.co_filename, "exec", flags=code.co_flags & _FUTURE_FLAGS, dont_inherit=True
    )
    scratch: dict[str, Any] = {}
    try:
        exec(compiled, probe.__globals__, scratch)
    except BaseException as exc:
        error = exc
    else:
        return scratch[node.name]
    raise _without_own_frames(error)


def _without_own_frames(error: BaseException) -> BaseException:
    """``error`` with hotreload's frames cut from the front of its traceback."""
    tb = error.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_PACKAGE):
        tb = tb.tb_next
    return error.with_traceback(tb)


def _changed_members(
    record: CellDefinition, statement: Statement, source: ParsedSource
) -> tuple[str, ...]:
    """The names of a class's members whose text changed, added ones included."""
    from ._diff import match_statements
    from ._source import body_statements

    before, old_source = record.statement, record.source
    node = statement.node
    if before is None or old_source is None or not isinstance(node, ast.ClassDef):
        return ()
    old_node = before.node
    if not isinstance(old_node, ast.ClassDef):
        return ()
    old_members = body_statements(old_node, old_source)
    members = body_statements(node, source)
    changed, _, removed = match_statements(old_members, members)
    names = [n for i in changed for n in sorted(members[i].binds)]
    kept = set(names) | {n for m in members for n in m.binds}
    names += [f"removed {n}" for m in removed for n in sorted(m.binds) if n not in kept]
    return tuple(dict.fromkeys(names))


def _is_definition(value: object) -> bool:
    return type(value) is types.FunctionType or issubclass(type(value), type)


def _module_of(value: object) -> object:
    # Read from the object's own dict or its class's: no user __getattr__ runs.
    if issubclass(type(value), type):
        return type.__dict__["__module__"].__get__(value)
    return getattr(value, "__module__", None) if type(value) is types.FunctionType else None


def _same_definition(old: object, new: object) -> bool:
    """Whether ``new`` is a new version of ``old``: same kind, same qualified name."""
    if type(old) is types.FunctionType and type(new) is types.FunctionType:
        return bool(old.__qualname__ == new.__qualname__)
    if issubclass(type(old), type) and issubclass(type(new), type):
        assert isinstance(old, type)
        assert isinstance(new, type)
        return old.__qualname__ == new.__qualname__
    return False


def _filename_of(value: object) -> str | None:
    """The file a function, or the first method of a class, was compiled from."""
    if type(value) is types.FunctionType:
        return value.__code__.co_filename
    if isinstance(value, type):
        for member in value.__dict__.values():
            # By type only: a getattr() could run a user __getattr__.
            if type(member) in (staticmethod, classmethod):
                member = member.__func__
            if type(member) is types.FunctionType:
                return str(member.__code__.co_filename)
    return None
