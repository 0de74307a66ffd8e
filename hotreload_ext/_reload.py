"""Stages 4 to 6: run what must run, patch live objects, then commit or roll back.

One call to :func:`reload_module` reloads one module, all or nothing:

1. Decide per statement whether it must run: it changed, or it reads or rebinds a name that a
   statement that ran before it (re)defined (source order, transitively). Unchanged
   definitions that only moved get their line numbers shifted instead.
2. Run each such statement in the live module namespace, compiled from the new source with its
   real line numbers (never from a ``.pyc``).
3. Merge each new function and class into the object the name held before (:class:`Patcher`),
   so identities survive; every change is journaled.
4. Delete the names the new source no longer binds, then commit. Any exception on the way rolls
   the journal back: the module and its objects are exactly as before.
"""

from __future__ import annotations

import ast
import linecache
import os
import re
import sys
import time
import types
from typing import Any

from ._diff import ModuleDiff
from ._journal import MISSING, Journal
from ._patch import Patcher, migrate_instances, shift_after, shift_lines
from ._redefine import UserCodeRaised, update_class, update_function
from ._report import ModuleReport
from ._source import ParsedSource, Statement

__all__ = ["UserCodeError", "full_rerun_reason", "reload_module"]

FULL_MARKER = re.compile(r"^#\s*hotreload:\s*full\s*$", re.MULTILINE)
# Read from the new source too, so the save that adds the attribute already honours it.
FULL_ATTRIBUTE = re.compile(r"^__hotreload_full__\s*=\s*True\b", re.MULTILINE)


class UserCodeError(Exception):
    """The user's module raised while its new code ran. The reload was rolled back."""

    def __init__(self, statement: Statement | None, error: BaseException) -> None:
        super().__init__(f"{type(error).__name__}: {error}")
        self.statement = statement
        self.error = error


def full_rerun_reason(
    diff: ModuleDiff, module: types.ModuleType, *, selective: bool, forced: bool = False
) -> str:
    """Why the whole module body must run again; empty when running statements is safe."""
    if forced:
        return "a reload of the whole module was requested (%hotreload now MODULE)"
    if not selective:
        return "statement-level reloading is off (HotReload.selective = False)"
    if diff.old is None:
        return (
            "the source it was imported from is unknown (the file changed before it was "
            "watched, or hotreload's stored copy of it could not be read)"
        )
    text = diff.new.text
    # Substring tests first: a regex over a big file costs milliseconds.
    if vars(module).get("__hotreload_full__") is True or (
        "__hotreload_full__" in text and FULL_ATTRIBUTE.search(text)
    ):
        return "the module sets __hotreload_full__ = True"
    if "hotreload:" in text and FULL_MARKER.search(text):
        return "the module has a '# hotreload: full' marker"
    touched = [diff.new.statements[i] for i in sorted(diff.changed)] + list(diff.removed)
    for statement in touched:
        if statement.is_dynamic:
            return f"line {statement.lineno} ({statement.summary}) cannot be re-run on its own"
    return ""


def reload_module(
    module: types.ModuleType, diff: ModuleDiff, *, selective: bool, forced: bool = False
) -> ModuleReport:
    """Bring ``module`` up to ``diff.new``, all or nothing.

    Raises:
        UserCodeError: The module's own code raised; everything was rolled back.
        SyntaxError: A changed statement does not compile; nothing ran.
    """
    started = time.perf_counter()
    new = diff.new
    namespace = module.__dict__
    name = module.__name__
    full_reason = full_rerun_reason(diff, module, selective=selective, forced=forced)
    # Compile every changed statement before running any, so a compile-time error (`return`
    # outside a function, say) is reported before a single line ran.
    compiled = {i: _compile(new.statements[i], new) for i in sorted(diff.changed)}
    moved = dict(diff.moved)

    journal = Journal()
    patcher = Patcher(journal, namespace, name)
    journal.save_mapping(namespace)
    initial = dict(namespace)
    registered = sys.modules.get(name)
    journal.add(lambda: _restore_registration(name, registered))

    # Names whose object is new (their readers must run again), and names whose object kept
    # its identity while its code changed (only statements that call or inspect it must).
    redefined: set[str] = set(diff.deleted_names)
    kept: set[str] = set()
    # A removed decorated definition may have registered itself with its decorator's object
    # (`@show.register`, `@app.route`): that object is made again so the registration goes.
    rebuild = {n for s in diff.deleted_definitions() for n in s.decorator_names}
    last_binder = {n: i for i, s in enumerate(new.statements) for n in s.binds}
    reran: list[str] = []
    run_seconds = 0.0
    try:
        if new.docstring_known and namespace.get("__doc__") != new.docstring:
            namespace["__doc__"] = new.docstring
        for index, statement in enumerate(new.statements):
            must_run = (
                bool(full_reason)
                or index in diff.changed
                or not redefined.isdisjoint(statement.reads)
                or not (redefined | kept | rebuild).isdisjoint(statement.binds)
                or not kept.isdisjoint(statement.uses)
            )
            if not must_run:
                if index in moved:
                    _shift(statement, moved[index], new, namespace, name, journal)
                continue
            line = f"L{statement.lineno}: {statement.summary}"
            in_place, why_not = "", ""
            # Only an edit of the definition itself: if what its header reads changed too
            # (the decorator was edited), the header must run again.
            depends = not redefined.isdisjoint(statement.reads) or not kept.isdisjoint(
                statement.uses
            )
            if not full_reason and index in diff.changed and not depends:
                clock = time.perf_counter()
                in_place, why_not = _update_in_place(diff, index, namespace, patcher)
                run_seconds += time.perf_counter() - clock
            if in_place:
                reran.append(f"{line} ({in_place})")
                kept |= statement.binds
                continue
            code = compiled.get(index) or _compile(statement, new)
            before = {n: namespace.get(n, MISSING) for n in statement.binds}
            clock = time.perf_counter()
            _run(statement, code, namespace)
            run_seconds += time.perf_counter() - clock
            reran.append(f"{line} ({why_not})" if why_not else line)
            for bound in statement.binds:
                after = namespace.get(bound, MISSING)
                if after is not MISSING and after is before[bound] and bound not in rebuild:
                    # The statement produced the very same object (an import, a constant):
                    # nothing that reads it needs to run again.
                    continue
                if last_binder.get(bound) != index:
                    # `def f` followed by `f = wrap(f)`: the value is not final yet, and the
                    # object held before the reload came from the later statement.
                    redefined.add(bound)
                    kept.discard(bound)
                    continue
                target = initial.get(bound, MISSING)
                if after is not MISSING:
                    kept_object = patcher.merge(target, after)
                    if kept_object is not after:
                        namespace[bound] = kept_object
                    elif _was_defined_as(target, bound, name) and callable(after):
                        patcher.forward(target, after)
                if target is not MISSING and namespace.get(bound, MISSING) is target:
                    kept.add(bound)
                    redefined.discard(bound)
                else:
                    redefined.add(bound)
                    kept.discard(bound)
        for deleted in diff.deleted_names:
            namespace.pop(deleted, None)
        if new.region is not None and diff.old is not None and diff.old.region is not None:
            # Only part of the file was parsed: what follows it may have moved.
            old_end, new_end = diff.old.region[1], new.region[1]
            shift_after(namespace, name, new.filename, old_end, new_end - old_end, journal)
        if sys.modules.get(name) is not module:
            # The module body removed or replaced its own sys.modules entry; a module that is
            # still loaded and watched must stay registered under its name.
            sys.modules[name] = module
        migrate_instances(patcher.replacements)
        patcher.commit()
    except BaseException:
        journal.rollback()
        raise
    journal.commit()
    _refresh_linecache(new)
    identity_changes = {
        bound: (initial[bound], namespace[bound])
        for bound in redefined | kept
        if bound in initial and bound in namespace and namespace[bound] is not initial[bound]
    }

    updated, added, removed = diff.describe()
    replaced = [
        f"{r.old.__qualname__} ({r.reason}; {r.moved} instance(s) moved"
        + (f", subclasses rebased: {', '.join(r.rebased)}" if r.rebased else "")
        + (f", {len(r.not_moved)} could not be: {r.not_moved[0]}" if r.not_moved else "")
        + ")"
        for r in patcher.replacements
    ]
    return ModuleReport(
        module=name,
        path=new.filename,
        updated=tuple(updated),
        added=tuple(added),
        removed=tuple(removed),
        replaced=tuple(replaced),
        reran=tuple(reran),
        mode=f"whole module: {full_reason}" if full_reason else "statements",
        parsed=new.region,
        run_seconds=run_seconds,
        seconds=time.perf_counter() - started,
        identity_changes=identity_changes,
    )


def _was_defined_as(value: object, bound: str, module_name: str) -> bool:
    """Whether ``value`` is this module's function for the name ``bound`` (or its wrapper)."""
    if type(value) is not types.FunctionType:
        return False
    assert isinstance(value, types.FunctionType)
    # `functools.wraps` copies __module__ and __qualname__ onto a wrapper; a function imported
    # from another module keeps that module's name and is never touched.
    return value.__qualname__ == bound and value.__module__ == module_name


def _update_in_place(
    diff: ModuleDiff, index: int, namespace: dict[str, Any], patcher: Patcher
) -> tuple[str, str]:
    """Try to give a changed definition its new body without running its header again.

    Returns what was done (empty if nothing) and, when the whole statement must run although
    it has decorators or is a class, why.
    """
    statement = diff.new.statements[index]
    node = statement.node
    decorated = bool(getattr(node, "decorator_list", None))
    if statement.kind == "statement" or (statement.kind == "def" and not decorated):
        return "", ""
    old = diff.counterpart(index)
    if old is None or diff.old is None:
        return "", "decorators re-ran: no single earlier version of it" if decorated else ""
    others = [s for i, s in enumerate(diff.new.statements) if i != index]
    if any(not s.binds.isdisjoint(statement.binds) for s in others):
        # `f = other(f)` below would wrap the already wrapped object a second time.
        return "", "decorators re-ran: another statement rebinds its name"
    try:
        if statement.kind == "def":
            reason = update_function(old, statement, namespace, patcher, diff.new)
            done = "body patched in place; decorators not re-run"
        else:
            reason, edit = update_class(old, statement, diff.old, diff.new, namespace, patcher)
            parts = [f"patched {n}" for n in edit.patched] + [f"ran {r}" for r in edit.reran]
            done = "in place: " + (", ".join(parts) or "docstring") + "; header not re-run"
    except UserCodeRaised as exc:
        raise UserCodeError(statement, exc.error) from exc.error
    if reason:
        what = "decorators" if statement.kind == "def" else "the class statement"
        return "", f"{what} re-ran: {reason}"
    return done, ""


def _compile(statement: Statement, source: ParsedSource) -> types.CodeType:
    # The node comes from parsing the whole new file, so it already carries its real line
    # numbers: tracebacks and inspect point at the file as it is on disk now.
    module = ast.Module(body=[statement.node], type_ignores=[])
    code: types.CodeType = compile(
        module, source.filename, "exec", flags=source.compile_flags, dont_inherit=True
    )
    return code


def _run(statement: Statement, code: types.CodeType, namespace: dict[str, Any]) -> None:
    try:
        exec(code, namespace)
    except BaseException as exc:
        raise UserCodeError(statement, exc) from exc


def _shift(
    statement: Statement,
    delta: int,
    source: ParsedSource,
    namespace: dict[str, Any],
    module_name: str,
    journal: Journal,
) -> None:
    span = (statement.lineno - delta, statement.end_lineno - delta)
    for bound in statement.binds:
        value = namespace.get(bound, MISSING)
        if value is not MISSING:
            shift_lines(value, module_name, source.filename, span, delta, journal)


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
    lines = source.text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    linecache.cache[source.filename] = (stat.st_size, stat.st_mtime, lines, source.filename)
