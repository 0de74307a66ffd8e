"""Stage 5 (execute): which statements of the new source run, and running one.

The rule (:class:`RerunRule`) follows the new source top to bottom. A statement runs again if

- it is changed or new, or read a data file that changed (``ModuleDiff.must_run``); or
- it reads or rebinds a name that a statement which ran earlier in this reload bound to a new
  object, or a name that was deleted; or
- it calls or inspects a name whose object was patched in place (passing it along as an
  argument or storing it in a container does not count: the object kept its identity, so the
  statement would produce the same result).

Every other statement is left alone, so ``INDEX = build_index()`` does not repeat a slow call
when an unrelated function was edited. The rule only decides; running a statement
(:func:`run_statement`) and merging what it made into the live objects (stage 6) are driven by
the transaction that owns the reload (``_transaction.py``).

This module must never import IPython.
"""

from __future__ import annotations

import ast
import types
from collections.abc import Iterable, Mapping
from typing import Any

from ._diff import ModuleDiff
from ._registries import registrations
from ._source import ParsedSource, Statement

__all__ = ["RerunRule", "UserCodeError", "compile_statement", "run_statement"]


class UserCodeError(Exception):
    """The user's module raised while its new code ran. The reload was rolled back."""

    def __init__(self, statement: Statement | None, error: BaseException) -> None:
        super().__init__(f"{type(error).__name__}: {error}")
        self.statement = statement
        self.error = error


class RerunRule:
    """Decides, statement by statement, what must run; learns from what ran.

    Args:
        diff: The module's diff. With ``diff.whole_module`` set every statement runs.
        namespace: The live module namespace (to find where decorators keep registrations).

    Attributes:
        redefined: Names whose object is new (their readers must run again), or deleted.
        kept: Names whose object kept its identity while its code changed (only statements
            that call or inspect it must run again).
        rebuild: Registries (``show`` of ``@show.register``, ``app`` of ``@app.route``, a list
            a ``register`` decorator appends to) whose registrations changed in a way that
            registering again cannot mend: they are made again, and filled again in source
            order (see :func:`registries_to_rebuild`).
    """

    def __init__(self, diff: ModuleDiff, namespace: Mapping[str, Any]) -> None:
        self.diff = diff
        self.redefined: set[str] = set(diff.deleted_names)
        self.kept: set[str] = set()
        statements = diff.new.statements
        self._last_binder = {n: i for i, s in enumerate(statements) for n in s.binds}
        old = diff.old.statements if diff.old is not None else ()
        self._old_last_binder = {n: i for i, s in enumerate(old) for n in s.binds}
        self._readers: dict[str, list[int]] = {}
        for index, statement in enumerate(statements):
            for name in statement.reads:
                self._readers.setdefault(name, []).append(index)
        self._takes_over = self._new_last_binders()
        self._registers, self.rebuild = registrations(diff, namespace, self._takes_over)

    def _new_last_binders(self) -> set[int]:
        """Statements that are now the last to bind a name another one bound last.

        The one of two handlers called ``_`` that remains after the last was removed: the
        name must hold what it makes, which only running it gives (not patching it in place,
        which leaves the name to the removed one).
        """
        if self.diff.old is None:
            return set()
        return {
            index
            for name, index in self._last_binder.items()
            if (origin := self.diff.origin(index)) is not None
            and origin != self._old_last_binder.get(name)
        }

    def must_run(self, index: int, statement: Statement) -> bool:
        """Whether ``statement`` (at ``index`` of the new source) runs in this reload."""
        return (
            self.diff.whole_module is not None
            or index in self.diff.changed
            or index in self.diff.must_run
            or self.depends_on_changes(statement)
            or not (self.redefined | self.kept | self.rebuild).isdisjoint(statement.binds)
            or self.registers_again(index)
            or index in self._takes_over
        )

    def state_written(self) -> set[str]:
        """Every registry or global the module's statements write through what they call."""
        return {name for state in self._registers.values() for name in state} | self.rebuild

    def registers_again(self, index: int) -> bool:
        """Whether the statement's decorators register it in a registry made again."""
        return not self.rebuild.isdisjoint(self._registers.get(index, ()))

    def may_restore(self, index: int, statement: Statement) -> bool:
        """Whether the statement need not run: running it would only bind again what it did.

        That is an unchanged statement that must run only because an earlier statement of
        this reload bound one of its names to a new object. For each such name it is either
        the last to bind it, as before (the name gets back the object it made at the last
        run: the third of three handlers all named ``_`` after the first one changed), or a
        later statement binds the name again and nothing reads it in between (its value
        would be overwritten unseen, and running it would register a handler twice).
        """
        if (
            self.diff.whole_module is not None
            or index in self.diff.changed
            or index in self.diff.must_run
            or self.depends_on_changes(statement)
            or not (self.kept | self.rebuild).isdisjoint(statement.binds)
            or self.registers_again(index)
            or index in self._takes_over
        ):
            return False
        stale = statement.binds & self.redefined
        return bool(stale) and all(self._rebinding_is_moot(n, index) for n in stale)

    def _rebinding_is_moot(self, name: str, index: int) -> bool:
        last = self._last_binder.get(name, index)
        if last == index:
            return self.continues_binding(name, index)
        return not any(index < reader <= last for reader in self._readers.get(name, ()))

    def continues_binding(self, name: str, index: int) -> bool:
        """Whether statement ``index`` is the new version of the old last binder of ``name``.

        Only then may the object the name held be merged with what the statement makes: a
        new handler added after the old last ``_`` must not turn that one into itself.
        Statements other than ``def`` and ``class`` (an alias, a constant) always continue.
        """
        statement = self.diff.new.statements[index]
        if statement.kind == "statement" or self.diff.old is None:
            return True
        origin = self.diff.origin(index)
        return origin is not None and origin == self._old_last_binder.get(name)

    def depends_on_changes(self, statement: Statement) -> bool:
        """Whether what the statement reads or uses changed in this reload.

        A changed definition that does not depend on anything else changed can take its new
        body in place; otherwise its header (decorators, defaults, bases) must run again.
        """
        if not self.redefined.isdisjoint(statement.reads):
            return True
        # An expression statement is run for its effect (`logger.addFilter(MyFilter())`,
        # `atexit.register(cleanup)`): what it used kept its identity and now runs the new
        # code, and running it again would add the effect a second time, which a fresh
        # import does not.
        return not isinstance(statement.node, ast.Expr) and not self.kept.isdisjoint(statement.uses)

    def may_update_in_place(self, index: int, statement: Statement) -> bool:
        """Whether a changed ``def``/``class`` may be patched without running its header."""
        return (
            self.diff.whole_module is None
            and index in self.diff.changed
            and not self.depends_on_changes(statement)
            # A registry made again must be a new object, not the old one with a new body, and
            # a definition must register into it again.
            and self.rebuild.isdisjoint(statement.binds)
            and not self.registers_again(index)
            and index not in self._takes_over
        )

    def is_final_binding(self, name: str, index: int) -> bool:
        """Whether statement ``index`` is the last one to bind ``name`` in the new source.

        ``def f`` followed by ``f = wrap(f)``: the value of the ``def`` is not final, and the
        object the module held before came from the later statement.
        """
        return self._last_binder.get(name) == index

    def must_rebuild(self, name: str) -> bool:
        """Whether ``name``'s object must be made anew even if the statement returns it."""
        return name in self.rebuild

    def patched_in_place(self, names: Iterable[str]) -> None:
        """Record that ``names`` kept their objects, now with new code."""
        for name in names:
            self.kept.add(name)
            self.redefined.discard(name)

    def restored(self, names: Iterable[str]) -> None:
        """Record that ``names`` hold again the objects they held before this reload."""
        for name in names:
            self.redefined.discard(name)

    def rebound(self, names: Iterable[str]) -> None:
        """Record that ``names`` are now bound to new objects."""
        for name in names:
            self.redefined.add(name)
            self.kept.discard(name)


def compile_statement(statement: Statement, source: ParsedSource) -> types.CodeType:
    """Compile one statement of ``source`` with the module's ``from __future__`` flags."""
    # The node comes from parsing the new file, so it already carries its real line numbers:
    # tracebacks and inspect point at the file as it is on disk now.
    module = ast.Module(body=[statement.node], type_ignores=[])
    code: types.CodeType = compile(
        module, source.filename, "exec", flags=source.compile_flags, dont_inherit=True
    )
    return code


def run_statement(statement: Statement, code: types.CodeType, namespace: dict[str, Any]) -> None:
    """Run one compiled statement in the live module namespace.

    Raises:
        UserCodeError: The statement raised (any exception, ``KeyboardInterrupt`` included).
    """
    try:
        exec(code, namespace)
    except BaseException as exc:
        raise UserCodeError(statement, exc) from exc
