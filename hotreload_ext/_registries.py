"""Stage 5 (execute): registries that decorators fill, and when a reload fills them again.

``@show.register(int)``, ``@app.route("/")``, ``@register`` appending to a module-level list:
a decorator may put the definition into a registry. Registering cannot be undone, and a new
registration goes to the end, so when a reload changes what a fresh import would register (a
registration removed, moved, added before others, or made under another key, or the decorator's
own code edited), the registry is made again and every definition decorated into it registers
again, in source order. An edit of a body alone registers nothing again: the function is
patched where it is registered.

This module must never import IPython.
"""

from __future__ import annotations

import ast
import dis
import types
from collections.abc import Iterable, Mapping
from typing import Any

from ._diff import ModuleDiff, header_key
from ._source import Statement

__all__ = ["registrations", "registries"]


def registries(statement: Statement, namespace: Mapping[str, Any]) -> frozenset[str]:
    """The module-level state a statement may have written to: registries and counters.

    For a definition, what its decorators may have registered it in: an object a decorator
    expression uses (``show`` in ``@show.register(int)``, ``REG`` in ``@REG.add``), or, for a
    decorator that is a plain function of this module, the data its code reads (``HANDLERS``
    in ``def register(f): HANDLERS.append(f)``) or assigns (``global COUNT``). For any other
    statement, the globals the module's functions it calls assign (``tick()`` with ``global
    TICKS`` inside). Modules and classes are not state here; nor is a decorator factory that
    keeps nothing (``def tag(label)``).
    """
    names: set[str] = set()
    if statement.kind != "statement":
        for name in statement.decorator_names & namespace.keys():
            value = namespace[name]
            kind = type(value)
            if kind is types.ModuleType or issubclass(kind, type):
                continue
            if kind is types.FunctionType and value.__globals__ is namespace:
                names |= _data_read_by(value.__code__, namespace)
                names |= _globals_assigned_by(value.__code__) & namespace.keys()
            else:
                names.add(name)
        return frozenset(names)
    for name in statement.uses & namespace.keys():
        value = namespace[name]
        if type(value) is types.FunctionType and value.__globals__ is namespace:
            names |= _globals_assigned_by(value.__code__) & namespace.keys()
    return frozenset(names)


def _globals_assigned_by(code: types.CodeType) -> set[str]:
    """Names a code object (and those nested in it) assigns or deletes as globals."""
    found = {
        str(op.argval)
        for op in dis.get_instructions(code)
        if op.opname in ("STORE_GLOBAL", "DELETE_GLOBAL")
    }
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            found |= _globals_assigned_by(const)
    return found


def registrations(
    diff: ModuleDiff, namespace: Mapping[str, Any], rerun: Iterable[int] = ()
) -> tuple[dict[int, frozenset[str]], set[str]]:
    """Where each new statement registers, and the registries to make again.

    ``rerun``: unchanged statements that must run again all the same; what they register in
    is made again too, or they would register twice.

    Only objects this module makes count: an imported decorator's registry lives in its own
    module, which this reload does not run.
    """
    new, old = diff.new.statements, diff.old.statements if diff.old is not None else ()
    made = _made_here(new) | _made_here(old)

    def where(statement: Statement) -> frozenset[str]:
        if statement.kind != "statement" and not statement.decorator_names:
            return frozenset()
        return registries(statement, namespace) & made

    registers = {i: found for i, s in enumerate(new) if (found := where(s))}
    touched = [where(s) for s in diff.deleted_definitions()]
    touched += [where(s) for s in diff.removed if s.kind == "statement"]
    touched += [registers[i] for i in rerun if i in registers]
    # A decorator (or a called function) whose own code changed writes differently: all it
    # wrote, again.
    last = {name: i for i, s in enumerate(new) for name in s.binds}
    edited = {name for name, i in last.items() if i in diff.changed}
    touched += [registers[i] for i in registers if not edited.isdisjoint(_callees(new[i]))]
    previous: dict[frozenset[str], int] = {}
    later: set[str] = set()
    for index in sorted(registers, reverse=True):
        state, origin = registers[index], diff.origin(index)
        counterpart = old[origin] if origin is not None else None
        if counterpart is None and not state.isdisjoint(later):
            touched.append(state)  # added before a registration that stays
        elif counterpart is not None and _header_changed(counterpart, new[index]):
            # Its decorators or signature changed: it registers anew (maybe under another key,
            # `@show.register` reads the annotation), and the old entry must go.
            touched += [state, where(counterpart)]
        elif origin is not None and origin > previous.get(state, origin):
            touched.append(state)  # moved past a registration into the same registry
        if origin is not None:
            previous[state] = min(origin, previous.get(state, origin))
        later |= state
    return registers, {name for state in touched for name in state}


def _data_read_by(code: types.CodeType, namespace: Mapping[str, Any]) -> set[str]:
    """The module-level data (not definitions, modules or callables) a function's code reads."""
    found: set[str] = set()
    for name in _global_names(code) & namespace.keys():
        held = namespace[name]
        if not issubclass(type(held), _DEFINITIONS) and not callable(held):
            found.add(name)
    return found


# What a decorator's code reads that is not a registry: other definitions, modules.
_DEFINITIONS = (types.FunctionType, type, types.ModuleType)


def _global_names(code: types.CodeType) -> set[str]:
    """Names a code object (and those nested in it) looks up: globals and attributes."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


def _made_here(statements: tuple[Statement, ...]) -> set[str]:
    """Names bound by this module's own statements, not by its imports."""
    return {
        name
        for s in statements
        if not isinstance(s.node, (ast.Import, ast.ImportFrom))
        for name in s.binds
    }


def _header_changed(old: Statement, new: Statement) -> bool:
    return header_key(old.node) != header_key(new.node)


def _callees(statement: Statement) -> frozenset[str]:
    """The names whose code writes the state a statement registers in."""
    return statement.decorator_names if statement.kind != "statement" else statement.uses
