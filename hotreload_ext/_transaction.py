"""Stage 8 (commit or roll back): one module's reload, owned from start to finish by one object.

A :class:`ModuleReload` is made for each changed module as soon as detection found it. It owns
the undo journal and every change the reload makes, in the order the code runs them:

1. the statements the rerun rule picks run in the live namespace (stage 5, ``_execute.py``);
2. what each made is merged into the live objects (stage 6, ``_patch.py``, ``_redefine.py``);
3. names that now hold new objects are rebound where they were imported (stage 7,
   ``_rebind.py``);
4. then it commits: the journal is dropped and the watcher's record of the module takes the new
   source and stamp. Or, if anything raised on the way, it rolls back: every change, including
   those to process-wide tables (the forwarding functions) and other modules' bindings, is
   undone newest first, and the watcher remembers the failed version so it is not retried
   until the file changes again.

Nothing outside this object decides whether a reload took effect.

This module must never import IPython.
"""

from __future__ import annotations

import ast
import functools
import linecache
import os
import sys
import time
import types
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._diff import ModuleDiff
from ._execute import RerunRule, UserCodeError, compile_statement, run_statement
from ._journal import MISSING, Journal
from ._lines import shift_after, shift_lines
from ._patch import Patcher, Replacement, migrate_instances
from ._rebind import (
    DROPPED_THIS_CHECK,
    ImportTables,
    Namespace,
    add_star_exports,
    drop_star_exports,
    drop_star_imported,
    exported_names,
    rebind_imports,
    refill_from_star_imports,
)
from ._redefine import (
    MustRun,
    Patched,
    UserCodeRaised,
    find_made_by,
    find_raw_function,
    update_function,
)
from ._redefine_class import update_class
from ._source import ParsedSource, Statement
from ._tracking import Change, files_in_failure

__all__ = ["Committed", "ModuleReload", "RolledBack"]


@dataclass(frozen=True)
class Committed:
    """A reload that took effect. Short-lived: the report stage keeps only text from it.

    Attributes:
        module: The module's name.
        diff: What changed in its source.
        replacements: Classes that could not be patched in place.
        reran: The statements that ran, as ``L<line>: <first line>`` (with how, if in place).
        rebound: ``from m import NAME`` bindings elsewhere that now hold the new object.
        seconds: Wall time of the whole reload.
        run_seconds: The part spent running the module's own statements.
        rebind_seconds: The part spent rebinding imported names.
        stale: Classes elsewhere made from an old version of a changed class, which could not
            be made right here, each as the line that says what to do.
    """

    module: str
    diff: ModuleDiff
    replacements: tuple[Replacement, ...]
    reran: tuple[str, ...]
    rebound: tuple[str, ...]
    seconds: float
    run_seconds: float
    rebind_seconds: float
    stale: tuple[str, ...] = ()


@dataclass(frozen=True)
class RolledBack:
    """A reload that was undone because the user's code (or its text) failed.

    Attributes:
        module: The module's name.
        error: The user's exception (a ``SyntaxError`` for text that does not compile).
    """

    module: str
    error: BaseException


class ModuleReload:
    """One module's reload, all or nothing.

    Args:
        change: What detection found: the module, its new source bytes, hash and stamp.
        waiting: The watcher's set of modules whose last reload failed; kept up to date here.
    """

    def __init__(self, change: Change, waiting: set[str]) -> None:
        self.change = change
        self.waiting = waiting

    @property
    def name(self) -> str:
        """The module's name."""
        return self.change.tracked.name

    def reject(self, error: BaseException, *, internal: bool = False) -> None:
        """Remember that this version of the file failed (not retried until it changes).

        A fix saved to another file the error went through (a module this one imports)
        retries this version; an internal error names no such file.
        """
        tracked = self.change.tracked
        self.waiting.add(tracked.name)
        causes = () if internal else files_in_failure(error, tracked.path)
        tracked.reject(self.change.digest, self.change.stamp, causes)

    def run(
        self, diff: ModuleDiff, namespaces: Callable[[], list[Namespace]], tables: ImportTables
    ) -> Committed | RolledBack:
        """Bring the module up to ``diff.new``; commit, or roll back and say why.

        Args:
            diff: The module's diff (stage 4).
            namespaces: Where names imported from this module may live; called only when some
                name got a new object.
            tables: The import tables cache, kept by the caller across reloads.

        Raises:
            Exception: hotreload's own error, after everything was rolled back.
        """
        started = time.perf_counter()
        try:
            # Compile every changed statement before running any, so a compile-time error
            # (`return` outside a function, say) is reported before a single line ran.
            compiled = {
                i: compile_statement(diff.new.statements[i], diff.new) for i in sorted(diff.changed)
            }
        except SyntaxError as exc:
            self.reject(exc)
            return RolledBack(self.name, exc)
        steps = _Steps(self.change.tracked.module, diff, compiled)
        try:
            steps.run_all()
            rebind_started = time.perf_counter()
            rebound = self._rebind(steps, functools.cache(namespaces), tables)
            rebind_seconds = time.perf_counter() - rebind_started
        except BaseException as exc:
            steps.journal.rollback()
            user_error = _user_error(exc)
            if user_error is not None:
                self.reject(user_error)
                return RolledBack(self.name, user_error)
            if isinstance(exc, Exception):
                self.reject(exc, internal=True)
            raise
        self._commit(steps)
        return Committed(
            module=self.name,
            diff=diff,
            replacements=tuple(steps.patcher.replacements),
            reran=tuple(steps.reran),
            rebound=tuple(rebound),
            seconds=time.perf_counter() - started,
            run_seconds=steps.run_seconds,
            rebind_seconds=rebind_seconds,
            stale=tuple(str(record) for record in steps.patcher.stale),
        )

    def _rebind(
        self, steps: _Steps, namespaces: Callable[[], list[Namespace]], tables: ImportTables
    ) -> list[str]:
        """Stage 7: imported names that now hold new objects, and star-exported new names."""
        changes = steps.identity_changes()
        journal = steps.journal
        rebound = (
            rebind_imports(self.name, changes, namespaces(), tables, journal) if changes else []
        )
        added = steps.newly_exported()
        if added:
            before = exported_names(steps.initial)
            rebound += add_star_exports(self.name, added, namespaces(), tables, journal, before)
        dropped = steps.no_longer_exported()
        if dropped:
            rebound += drop_star_exports(self.name, dropped, namespaces(), tables, journal)
        return rebound

    def _commit(self, steps: _Steps) -> None:
        steps.journal.commit()
        change = self.change
        change.tracked.accept(change.data, change.digest, change.stamp)
        self.waiting.discard(change.tracked.name)
        _refresh_linecache(steps.diff.new)


class _Steps:
    """The journaled steps of one reload: statements run and merged, then the finishing work."""

    def __init__(
        self, module: types.ModuleType, diff: ModuleDiff, compiled: dict[int, types.CodeType]
    ) -> None:
        self.module = module
        self.diff = diff
        self.compiled = compiled
        self.namespace: dict[str, Any] = module.__dict__
        self.journal = Journal()
        self.patcher = Patcher(self.journal, self.namespace, module.__name__)
        self.rule = RerunRule(diff, self.namespace)
        self.initial: dict[str, Any] = {}
        # How many names held each object before the reload (for aliases), made when needed.
        self._bound_count: Counter[int] | None = None
        self.reran: list[str] = []
        self.run_seconds = 0.0
        # index -> functions the definition made last time, held by a registry (not its name).
        self._previous: dict[int, list[types.FunctionType]] = {}

    def run_all(self) -> None:
        """Run and merge what the rule picks, then finish; every change journaled."""
        name, namespace = self.module.__name__, self.namespace
        self.journal.save_mapping(namespace)
        self.initial = dict(namespace)
        registered = sys.modules.get(name)
        self.journal.add(lambda: _restore_registration(name, registered))
        new = self.diff.new
        if new.docstring_known and namespace.get("__doc__") != new.docstring:
            namespace["__doc__"] = new.docstring
        moved = dict(self.diff.moved)
        self._remember_previous()
        for index, statement in enumerate(new.statements):
            restored = self.rule.may_restore(index, statement) and self._restore(index, statement)
            if not restored and self.rule.must_run(index, statement):
                self._statement(index, statement)
            elif index in moved:
                self._shift(statement, moved[index])
        self._finish()

    def _restore(self, index: int, statement: Statement) -> bool:
        """Bind the statement's names back to what it made before, instead of running it.

        Only the names it binds last: a later statement binds the others again anyway.
        """
        stale = statement.binds & self.rule.redefined
        last = {name for name in stale if self.rule.is_final_binding(name, index)}
        if any(name not in self.initial for name in last):
            return False
        for name in last:
            self.namespace[name] = self.initial[name]
        self.rule.restored(last)
        return True

    def _statement(self, index: int, statement: Statement) -> None:
        """Run one statement (or patch it in place) and merge what it bound."""
        line = f"L{statement.lineno}: {statement.summary}"
        clock = time.perf_counter()
        outcome = None
        if self.rule.may_update_in_place(index, statement):
            outcome = self._update_in_place(index, statement)
        if isinstance(outcome, Patched):
            self.run_seconds += time.perf_counter() - clock
            self.reran.append(f"{line} ({outcome.detail})")
            # A handler that shares its name with a later one is not what the name holds.
            final = [n for n in statement.binds if self.rule.is_final_binding(n, index)]
            self.rule.patched_in_place(final)
            return
        code = self.compiled.get(index) or compile_statement(statement, self.diff.new)
        before = {n: self.namespace.get(n, MISSING) for n in statement.binds}
        run_statement(statement, code, self.namespace)
        self.run_seconds += time.perf_counter() - clock
        self.reran.append(f"{line} ({outcome.reason})" if outcome is not None else line)
        self._forward_registered(index, statement)
        for bound in statement.binds:
            self._merge(bound, index, before[bound])

    def _forward_registered(self, index: int, statement: Statement) -> None:
        """Old functions of a re-run ``def`` held elsewhere than its name now call the new one.

        A handler registered before (in a registry made again, or one that no longer holds
        it) may still be referenced by the user: it forwards to the function the statement
        just made, so it follows this edit and every later one.
        """
        previous = self._previous.get(index, ())
        if not previous:
            return
        span = (statement.lineno, statement.end_lineno)
        filename = self.diff.new.filename
        new = find_made_by(statement, span, self.namespace, self.namespace, filename)
        if len(new) != 1:
            return
        for function in previous:
            if function is not new[0]:
                self.patcher.forward(function, new[0])

    def _remember_previous(self) -> None:
        """The functions each ``def`` that may run again made last time, before any runs.

        Made again, a registry no longer holds them, so they are found now (see
        :meth:`_forward_registered`); the one its name holds is merged, not forwarded.
        """
        diff, old = self.diff, self.diff.old
        if old is None or diff.whole_module is not None:
            return
        filename = diff.new.filename
        for index, statement in enumerate(diff.new.statements):
            origin = diff.origin(index)
            if statement.kind != "def" or origin is None:
                continue
            if index not in diff.changed and not self.rule.registers_again(index):
                continue
            before = old.statements[origin]
            span = (before.lineno, before.end_lineno)
            args = (before, span, self.initial, self.namespace, filename)
            registered = find_made_by(*args, through_name=False)
            # What the name holds (and wraps) is merged with the new version instead.
            in_name = self._found_through_name(before, span)
            self._previous[index] = [f for f in registered if id(f) not in in_name]

    def _update_in_place(self, index: int, statement: Statement) -> Patched | MustRun | None:
        """Try to give a changed definition its new body without running its header again.

        None for statements this does not apply to: anything but a ``def`` or ``class``, or a
        ``def`` without decorators (running it costs nothing, and the patcher merges it).
        """
        diff = self.diff
        decorated = bool(getattr(statement.node, "decorator_list", None))
        if statement.kind == "statement" or (statement.kind == "def" and not decorated):
            return None
        old = diff.counterpart(index)
        if old is None or diff.old is None:
            return None  # a new definition: its statement simply runs
        others = [s for i, s in enumerate(diff.new.statements) if i != index]
        if any(not (s.binds & s.reads).isdisjoint(statement.binds) for s in others):
            # `f = other(f)` below would wrap the already wrapped object a second time.
            return MustRun("decorators re-ran: another statement rebinds its name")
        try:
            if statement.kind == "def":
                outcome = update_function(old, statement, self.namespace, self.patcher, diff.new)
            else:
                args = (old, statement, diff.old, diff.new, self.namespace, self.patcher)
                outcome = update_class(*args)
        except UserCodeRaised as exc:
            raise UserCodeError(statement, exc.error) from exc.error
        if isinstance(outcome, MustRun):
            what = "decorators" if statement.kind == "def" else "the class statement"
            return MustRun(f"{what} re-ran: {outcome.reason}")
        return outcome

    def _merge(self, bound: str, index: int, before: object) -> None:
        """Merge the new object bound to ``bound`` into the old one; tell the rule the result."""
        namespace, rule = self.namespace, self.rule
        after = namespace.get(bound, MISSING)
        if after is not MISSING and after is before and not rule.must_rebuild(bound):
            # The statement produced the very same object (an import, a constant): nothing
            # that reads it needs to run again.
            return
        if not rule.is_final_binding(bound, index):
            rule.rebound([bound])
            return
        target = self.initial.get(bound, MISSING)
        if not rule.continues_binding(bound, index) or self._is_alias(target, index):
            # A new definition that took over the name, or an alias (`b = a`): the old object
            # belongs to another (or a removed) statement and must not become this one.
            target = MISSING
        if after is not MISSING:
            kept = self.patcher.merge(target, after)
            if kept is not after:
                namespace[bound] = kept
            elif self._renamed_class(target, after):
                # `class NewName` plus `OldName = NewName`: what the old class made follows.
                reason = f"renamed to {after.__qualname__}"
                self.patcher.replacements.append(Replacement(old=target, new=after, reason=reason))
            elif callable(after) and self._made_for(target, bound):
                self.patcher.forward(target, after)
        if target is not MISSING and namespace.get(bound, MISSING) is target:
            if issubclass(type(target), type) and self.patcher.classes.copies_changed(target):
                # Subclasses below copy from it (dataclass fields, TypedDict keys): they must
                # be made again, as for a new object.
                rule.rebound([bound])
            else:
                rule.patched_in_place([bound])
        else:
            rule.rebound([bound])

    def _renamed_class(self, target: object, after: object) -> bool:
        """Whether ``after`` is a new class of this module taking over a removed class's name."""
        module = self.module.__name__
        if not (issubclass(type(target), type) and issubclass(type(after), type)):
            return False
        assert isinstance(target, type)
        assert isinstance(after, type)
        if target.__module__ != module or after.__module__ != module:
            return False
        removed = {
            s.node.name for s in self.diff.deleted_definitions() if isinstance(s.node, ast.ClassDef)
        }
        return target.__qualname__ in removed and after.__qualname__ not in removed

    def _made_for(self, target: object, bound: str) -> bool:
        """Whether ``target`` is a function this module made for the name ``bound`` alone.

        Then old references to it may forward to the new object: the module's function for
        that name, or a wrapper its decorator made (``functools.wraps`` names it after the
        function; a plain closure or lambda keeps its own name, but no other name holds it).
        A function shared with other names (a registry's dispatcher) is never touched.
        """
        if type(target) is not types.FunctionType:
            return False
        assert isinstance(target, types.FunctionType)
        if target.__module__ != self.module.__name__:
            return False
        if _was_defined_as(target, bound, self.module.__name__):
            return True
        return self._holders(target) == 1

    def _holders(self, target: object) -> int:
        """How many names held ``target`` before the reload."""
        if self._bound_count is None:
            self._bound_count = Counter(id(value) for value in self.initial.values())
        return self._bound_count[id(target)]

    def _is_alias(self, target: object, index: int) -> bool:
        """Whether ``target`` was also bound to a name the statement ``index`` does not bind.

        ``b = a`` makes ``b`` an alias of ``a``'s object; when ``b`` becomes ``lambda: 2`` (or
        another closure of the same factory: every lambda is ``<lambda>``), ``a``'s object
        must stay what it is (ipython/ipython#14944). Only assignments can be aliases: a
        ``def`` or ``class`` statement makes its object.
        """
        statement = self.diff.new.statements[index]
        if statement.kind != "statement" or not callable(target):
            return False
        holders = sum(1 for name in statement.binds if self.initial.get(name, MISSING) is target)
        return self._holders(target) > holders

    def _found_through_name(self, statement: Statement, span: tuple[int, int]) -> set[int]:
        """Ids of the functions the ``def`` made that its name held before the reload."""
        node = statement.node
        assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        held = self.initial.get(node.name, MISSING)
        if held is MISSING:
            return set()
        found = find_raw_function(held, node.name, self.diff.new.filename, span)
        return {id(found[0])} if found is not None else set()

    def _shift(self, statement: Statement, delta: int) -> None:
        """Move the line numbers of an unchanged definition that moved.

        Also of the functions it registered that its name no longer holds (handlers called
        ``_``): their lines must stay right for tracebacks and for finding them next time.
        """
        span = (statement.lineno - delta, statement.end_lineno - delta)
        filename, name = self.diff.new.filename, self.module.__name__
        values = [self.namespace.get(bound, MISSING) for bound in statement.binds]
        if statement.kind == "def" and statement.decorator_names:
            values += find_made_by(statement, span, self.namespace, self.namespace, filename)
        for value in values:
            if value is not MISSING:
                shift_lines(value, name, filename, span, delta, self.journal)

    def _finish(self) -> None:
        """Delete what the new source no longer binds; finish what needs every statement run."""
        diff, name, module = self.diff, self.module.__name__, self.module
        for deleted in diff.deleted_names:
            self.namespace.pop(deleted, None)
        is_package = "__path__" in self.namespace
        drop_star_imported(self.namespace, name, is_package, diff.removed, diff.new.bound_names())
        refill_from_star_imports(
            self.namespace, name, is_package, diff.new.statements, diff.deleted_names
        )
        new, old = diff.new, diff.old
        if new.region is not None and old is not None and old.region is not None:
            # Only part of the file was parsed: what follows it may have moved.
            old_end, new_end = old.region[1], new.region[1]
            shift_after(
                self.namespace, name, new.filename, old_end, new_end - old_end, self.journal
            )
        if sys.modules.get(name) is not module:
            # The module body removed or replaced its own sys.modules entry; a module that is
            # still loaded and watched must stay registered under its name.
            sys.modules[name] = module
        migrate_instances(self.patcher.replacements)
        self.patcher.commit()

    def newly_exported(self) -> dict[str, Any]:
        """The names ``from module import *`` binds now and did not before this reload."""
        namespace, initial = self.namespace, self.initial
        if namespace.get("__all__", MISSING) is initial.get("__all__", MISSING):
            # The export rule did not change: only names bound for the first time can be new
            # (a set difference of keys, not a pass over a namespace of thousands of names).
            added = namespace.keys() - initial.keys()
            exported = exported_names({"__all__": namespace.get("__all__")} | dict.fromkeys(added))
            return {n: namespace[n] for n in exported if n in added}
        before = set(exported_names(initial))
        return {n: v for n, v in exported_names(namespace).items() if n not in before}

    def no_longer_exported(self) -> dict[str, Any]:
        """What ``from module import *`` bound before this reload and binds no more.

        The names, with the objects they had.
        """
        namespace, initial = self.namespace, self.initial
        if namespace.get("__all__", MISSING) is initial.get("__all__", MISSING):
            # Same export rule: only names the module no longer binds at all can drop out.
            gone = initial.keys() - namespace.keys()
            if not gone:
                return {}
            rule = {"__all__": initial.get("__all__")} | {n: initial[n] for n in gone}
            return exported_names(rule)
        now = exported_names(namespace)
        return {n: v for n, v in exported_names(initial).items() if n not in now}

    def identity_changes(self) -> dict[str, tuple[Any, Any]]:
        """``name -> (old, new)`` for the names now bound to a different object.

        The names the statements that ran bound, and the module state the functions they
        called assign (``global TICKS`` inside ``tick()``).
        """
        namespace, initial = self.namespace, self.initial
        names = self.rule.redefined | self.rule.kept | self.rule.state_written()
        # A name a star import gave this module and an earlier reload of this check took away
        # (the definition moved here): what was imported from here still holds that object.
        dropped = DROPPED_THIS_CHECK.get(self.module.__name__, {})
        return {
            n: (before, after)
            for n in names
            if (before := initial.get(n, dropped.get(n, MISSING))) is not MISSING
            and (after := namespace.get(n, MISSING)) is not MISSING
            and after is not before
        }


def _user_error(exc: BaseException) -> BaseException | None:
    """The user's own error behind ``exc``, or None when ``exc`` is hotreload's."""
    if isinstance(exc, UserCodeError):
        return exc.error
    # A statement that must run although unchanged is compiled only then.
    return exc if isinstance(exc, SyntaxError) else None


def _was_defined_as(value: object, bound: str, module_name: str) -> bool:
    """Whether ``value`` is this module's function for the name ``bound`` (or its wrapper)."""
    if type(value) is not types.FunctionType:
        return False
    assert isinstance(value, types.FunctionType)
    # `functools.wraps` copies __module__ and __qualname__ onto a wrapper; a function imported
    # from another module keeps that module's name and is never touched.
    return value.__qualname__ == bound and value.__module__ == module_name


def _restore_registration(name: str, module: types.ModuleType | None) -> None:
    if module is None:
        sys.modules.pop(name, None)
    else:
        sys.modules[name] = module


def _refresh_linecache(source: ParsedSource) -> None:
    # Tracebacks and inspect.getsource read through linecache; give it the text we compiled,
    # stamped with the file's current size and mtime so checkcache() keeps it until the next save.
    try:
        stat = os.stat(source.filename)
    except OSError:
        return
    lines = list(source.lines)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    linecache.cache[source.filename] = (stat.st_size, stat.st_mtime, lines, source.filename)
