"""Stage 6 (patch), in place: a changed ``def`` gets its new body, its decorators don't run.

A definition whose decorators and signature did not change only needs its new body. Running the
whole statement again would call the decorators again (``@app.route`` registers twice,
``@register`` adds a second plugin) and make a new object that the old one must then be merged
with. Instead, the decorated object the module holds is searched (through ``__wrapped__``,
closures, ``functools.partial``, bound methods, descriptors) for the raw function the ``def``
made, recognised by its code: this module's globals, its name, and a first line inside the old
statement. The new ``def`` is compiled with its decorators replaced by an identity decorator on
the same line, so the new raw function is made without calling them, and it is merged into the
old raw one (:class:`Patcher`). The wrappers keep working, now around the new body.

Classes get the same treatment member by member (``_redefine_class.py``). Each update returns
:class:`Patched` when it updated the definition in place, or :class:`MustRun` with the reason the
whole statement must run; it makes no change before it knows it can finish (the patcher's
journal covers the rest).
"""

from __future__ import annotations

import ast
import copy
import functools
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ._diff import header_key
from ._journal import MISSING
from ._patch import Patcher
from ._registries import registries
from ._source import ParsedSource, Statement
from ._static import class_attribute, own_attributes

__all__ = [
    "IDENTITY",
    "MustRun",
    "Patched",
    "UserCodeRaised",
    "exec_statements",
    "find_made_by",
    "find_raw_function",
    "identity",
    "identity_decorated",
    "refresh_wrappers",
    "update_function",
]

IDENTITY = "__hotreload_identity__"
_SEARCH_DEPTH = 6


class UserCodeRaised(Exception):
    """A default value or class-body statement raised while the new definition was made."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(f"{type(error).__name__}: {error}")
        self.error = error


@dataclass(frozen=True)
class Patched:
    """The definition took its new body in place; ``detail`` says how (verbose report)."""

    detail: str


@dataclass(frozen=True)
class MustRun:
    """The whole statement must run again; ``reason`` says why (verbose report)."""

    reason: str


def update_function(
    old: Statement,
    new: Statement,
    namespace: dict[str, Any],
    patcher: Patcher,
    source: ParsedSource,
    *,
    old_filename: str | None = None,
) -> Patched | MustRun:
    """Give the live decorated function of ``old`` the body of ``new``, or say why it can't.

    ``old_filename`` is where ``old`` was compiled when that is not ``source``'s file (a
    notebook cell defining the function again: each cell is its own file).
    """
    node = new.node
    assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    if header_key(old.node) != header_key(node):
        return MustRun("its decorators or signature changed")
    found = _find_live_functions(old, new, namespace, old_filename or source.filename)
    if not found:
        return MustRun("the decorated object does not expose the function it wraps")
    for raw, wrappers in found:
        old_doc = raw.__doc__
        # One new function per old one: the patcher maps each new object to one old object.
        new_raw = _make_raw_function(node, source, namespace)
        if patcher.merge(raw, new_raw) is not raw:
            return MustRun("the new function cannot be merged into the old one")
        refresh_wrappers(wrappers, raw, old_doc, patcher)
    return Patched("body patched in place; decorators not re-run")


def _find_live_functions(
    old: Statement, new: Statement, namespace: dict[str, Any], filename: str
) -> list[tuple[types.FunctionType, list[Any]]]:
    """The raw functions ``old`` made: in the object its name holds, and where it registered.

    A definition that shares its name with a later one (handlers all called ``_``) is no longer
    bound to its name: the object its decorator registered it with (``show`` in
    ``@show.register(int)``, a registry) still holds it. After a registry was made again, the
    name and the registry may hold two function objects of the one definition: both are
    patched.
    """
    node = new.node
    assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    span = (old.lineno, old.end_lineno)
    found: dict[int, tuple[types.FunctionType, list[Any]]] = {}
    live = namespace.get(node.name, MISSING)
    roots = [(live, False)] if live is not MISSING else []
    roots += [(namespace[r], True) for r in sorted(registries(new, namespace)) if r in namespace]
    for root, containers in roots:
        result = find_raw_function(root, node.name, filename, span, containers=containers)
        if result is not None:
            found.setdefault(id(result[0]), result)
    return list(found.values())


def find_made_by(
    statement: Statement,
    span: tuple[int, int],
    values: Mapping[str, Any],
    namespace: Mapping[str, Any],
    filename: str,
    *,
    through_name: bool = True,
) -> list[types.FunctionType]:
    """The raw functions the ``def`` ``statement`` made when it stood at lines ``span``.

    Searched in what ``values`` binds to its name (unless not ``through_name``) and to the
    registries its decorators fill (worked out from the live ``namespace``); ``values`` may
    be the namespace as it was before the reload.
    """
    node = statement.node
    assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    name = node.name
    roots = [(values[name], False)] if name in values and through_name else []
    roots += [(values[r], True) for r in sorted(registries(statement, namespace)) if r in values]
    found: dict[int, types.FunctionType] = {}
    for root, containers in roots:
        result = find_raw_function(root, name, filename, span, containers=containers)
        if result is not None:
            found.setdefault(id(result[0]), result[0])
    return list(found.values())


def refresh_wrappers(
    wrappers: list[Any], raw: types.FunctionType, old_doc: str | None, patcher: Patcher
) -> None:
    """Clear the caches around ``raw`` and update the docstring ``functools.wraps`` copied."""
    for wrapper in wrappers:
        if class_attribute(type(wrapper), "cache_clear") is not MISSING:
            patcher.clear_cache(wrapper)
        attributes = own_attributes(wrapper)
        if attributes.get("__wrapped__") is raw and wrapper.__doc__ == old_doc:
            if type(wrapper) is types.FunctionType:
                patcher.journal.save_function(wrapper)
            else:
                patcher.journal.add(functools.partial(setattr, wrapper, "__doc__", old_doc))
            wrapper.__doc__ = raw.__doc__


def find_raw_function(
    value: object, name: str, filename: str, span: tuple[int, int], *, containers: bool = False
) -> tuple[types.FunctionType, list[Any]] | None:
    """The one function inside ``value`` that a ``def name`` between ``span`` lines made.

    Also returns the callable objects met on the way (wrappers, caches), whose cached results
    and copied docstrings go stale once the function changes. None when there is no such
    function, or more than one. With ``containers``, dicts, lists, tuples, sets and plain
    objects' attributes are searched too: that is where a registry keeps what its decorator
    registered.
    """
    first, last = span
    seen: set[int] = set()
    found: dict[int, types.FunctionType] = {}
    wrappers: list[Any] = []
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        obj, depth = stack.pop()
        if id(obj) in seen or depth > _SEARCH_DEPTH:
            continue
        seen.add(id(obj))
        if type(obj) is types.FunctionType:
            assert isinstance(obj, types.FunctionType)
            code = obj.__code__
            if (
                code.co_name == name
                and code.co_filename == filename
                and first <= code.co_firstlineno <= last
            ):
                found[id(obj)] = obj
        children, is_wrapper = _children(obj, containers)
        if is_wrapper:
            wrappers.append(obj)
        stack += [(child, depth + 1) for child in children if child is not None]
    if len(found) != 1:
        return None
    raw = next(iter(found.values()))
    return raw, [w for w in wrappers if w is not raw]


def _children(obj: Any, containers: bool) -> tuple[list[object], bool]:
    """What to search inside ``obj`` for a raw function, and whether ``obj`` wraps one."""
    # Classified by type(obj) only: isinstance() may ask the object's own __class__, and a
    # user __getattribute__ must never run while we look.
    kind = type(obj)
    if kind is types.FunctionType:
        cells = [_cell_value(c) for c in obj.__closure__ or ()]
        return [*cells, obj.__dict__.get("__wrapped__")], True
    if issubclass(kind, (types.MethodType, classmethod, staticmethod)):
        return [obj.__func__], False
    if issubclass(kind, property):
        return [obj.fget, obj.fset, obj.fdel], False
    if issubclass(kind, functools.partial):
        return [obj.func], False
    if issubclass(kind, (type, types.ModuleType)):
        return [], False
    if containers and kind in _CONTAINERS:
        return _items(obj), False
    if not callable(obj):
        return (list(own_attributes(obj).values()) if containers else []), False
    # A callable object (a decorator class, an lru_cache wrapper): its own attributes, read
    # without running a user __getattr__ or __getattribute__.
    return list(own_attributes(obj).values()), True


# Where registries keep what their decorators registered (type(x) is checked, exactly).
_CONTAINERS = (dict, list, tuple, set, frozenset, types.MappingProxyType)


def _items(container: Any) -> list[object]:
    values = container.values() if hasattr(type(container), "values") else container
    return list(values)


def _cell_value(cell: types.CellType) -> object:
    try:
        return cell.cell_contents
    except ValueError:
        return None


def identity_decorated(node: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.stmt:
    """A copy of ``node`` whose decorators are one identity decorator on the first one's line.

    Keeping a decorator on that line keeps ``co_firstlineno`` where a fresh import puts it, so
    ``inspect.getsource`` still shows the decorators.
    """
    first = node.decorator_list[0] if node.decorator_list else node
    marker = ast.Name(id=IDENTITY, ctx=ast.Load())
    ast.copy_location(marker, first)
    bare = copy.copy(node)
    bare.decorator_list = [marker] if node.decorator_list else []
    return bare


def _make_raw_function(
    node: ast.FunctionDef | ast.AsyncFunctionDef, source: ParsedSource, namespace: dict[str, Any]
) -> types.FunctionType:
    scratch: dict[str, Any] = {IDENTITY: identity}
    exec_statements([identity_decorated(node)], source, namespace, scratch)
    function = scratch[node.name]
    assert isinstance(function, types.FunctionType)
    return function


def identity(function: Callable[..., Any]) -> Callable[..., Any]:
    return function


def exec_statements(
    nodes: list[ast.stmt], source: ParsedSource, globals_: dict[str, Any], locals_: dict[str, Any]
) -> None:
    module = ast.Module(body=nodes, type_ignores=[])
    code = compile(module, source.filename, "exec", flags=source.compile_flags, dont_inherit=True)
    try:
        exec(code, globals_, locals_)
    except BaseException as exc:
        raise UserCodeRaised(exc) from exc
