"""Stage 6 (patch), in place: a changed ``class`` gets its new body, its header doesn't run.

The class body is compared statement by statement, like a module. Only the changed members (and
members that depend on them) run, inside a class body of the same name so that ``super()``,
``__class__`` and private-name mangling work, with the old class's attributes as its starting
namespace. The results are merged into the old class. Decorators and the metaclass do not run,
so this is only done where they cannot have processed what changed: methods, or any member of a
plain class (no decorators, ``type``/``ABCMeta`` metaclass, no ``__init_subclass__`` of its own
bases, not a named tuple). Anything else (a dataclass gaining a field, an Enum gaining a
member) runs the whole statement, and the report says why. Methods whose decorators did not
change have their raw function patched, as ``_redefine.py`` does for module functions.

This module must never import IPython.
"""

from __future__ import annotations

import abc
import ast
import copy
import functools
import types
from dataclasses import dataclass, field
from typing import Any

from ._diff import header_key, match_statements
from ._journal import LAZY_ANNOTATIONS, MISSING
from ._libraries import processes_member
from ._patch import CLASS_OWN, Patcher
from ._redefine import (
    IDENTITY,
    MustRun,
    Patched,
    UserCodeRaised,
    find_raw_function,
    identity,
    identity_decorated,
    refresh_wrappers,
)
from ._source import ParsedSource, Statement, body_statements

__all__ = ["update_class"]

# Decorators that only wrap a function in a builtin descriptor: running them again is harmless,
# and the descriptors merge (property into property) without losing anything.
_PURE_DECORATORS = frozenset(
    {"property", "classmethod", "staticmethod", "abstractmethod", "cached_property"}
)
_PURE_ACCESSORS = frozenset({"setter", "getter", "deleter"})
# Filled in by the class body run and meaningless for a partial body.
_SKIP_MEMBERS = CLASS_OWN | {"__classcell__", "__static_attributes__", "__module__", "__qualname__"}
# Methods that type() wraps when it makes a class; a partial class body must do the same.
_IMPLICIT_WRAPPERS: dict[str, type] = {
    "__new__": staticmethod,
    "__init_subclass__": classmethod,
    "__class_getitem__": classmethod,
}


@dataclass
class ClassEdit:
    """What an in-place class update did, for the report."""

    reran: list[str] = field(default_factory=list)
    patched: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _ClassPlan:
    """What an in-place update of one class will do, worked out before anything changes."""

    node: ast.ClassDef
    live: type
    members: tuple[Statement, ...]
    removed: list[Statement]
    raw_updates: dict[int, tuple[types.FunctionType, list[Any]]]
    to_run: list[int]


def update_class(
    old: Statement,
    new: Statement,
    old_source: ParsedSource,
    source: ParsedSource,
    namespace: dict[str, Any],
    patcher: Patcher,
    *,
    whole_body: bool = False,
) -> Patched | MustRun:
    """Give the live class of ``old`` the body of ``new``, or say why its statement must run.

    With ``whole_body`` (a notebook cell that ran the class statement again) the members that
    did not change run too, as the cell ran them: class attributes take the values the body
    gives them. Only for a class nothing but ``type`` processes (a library's class keeps the
    values of the members whose text is unchanged, as for a file); methods whose decorators
    are not builtin descriptors are not run again either (they would register a second time).
    """
    plan = _plan_class(old, new, old_source, source, namespace, patcher, whole_body=whole_body)
    if isinstance(plan, MustRun):
        return plan
    # Everything is known: from here on the class is changed (through the journal).
    patcher.classes.before_change(plan.live)
    names_before = set(plan.live.__dict__)
    edit = _apply_class_plan(plan, source, namespace, patcher)
    docstring = ast.get_docstring(plan.node, clean=False)
    assert isinstance(old.node, ast.ClassDef)
    bound = {n for m in plan.members for n in m.binds}
    gone = [n for m in plan.removed for n in m.binds - bound - _SKIP_MEMBERS]
    gone = sorted(_mangle(plan.node.name, n) for n in gone)
    if docstring == ast.get_docstring(old.node, clean=False):
        # Unchanged in the source: keep what the class has (a decorator may have written it,
        # as dataclass does).
        patcher.set_members(plan.live, gone)
    else:
        patcher.set_members(plan.live, gone, docstring)
    if "__firstlineno__" in plan.live.__dict__:
        # Python 3.13+ reads a class's position from here for inspect.getsource.
        patcher.merge_members(plan.live, {"__firstlineno__": new.lineno})
    patcher.classes.updated(plan.live, members_changed=set(plan.live.__dict__) != names_before)
    parts = [f"patched {n}" for n in edit.patched] + [f"ran {r}" for r in edit.reran]
    return Patched("in place: " + (", ".join(parts) or "docstring") + "; header not re-run")


def _plan_class(
    old: Statement,
    new: Statement,
    old_source: ParsedSource,
    source: ParsedSource,
    namespace: dict[str, Any],
    patcher: Patcher,
    *,
    whole_body: bool = False,
) -> _ClassPlan | MustRun:
    """What updating the class in place takes, or why its whole statement must run."""
    node, old_node = new.node, old.node
    assert isinstance(node, ast.ClassDef)
    assert isinstance(old_node, ast.ClassDef)
    if header_key(old_node) != header_key(node):
        return MustRun("its decorators, bases or keywords changed")
    if getattr(node, "type_params", None):
        return MustRun("it has type parameters")
    live = namespace.get(node.name, MISSING)
    if (
        not isinstance(live, type)
        or live.__module__ != patcher.module_name
        or live.__qualname__ != node.name
    ):
        return MustRun("the module no longer holds the class this statement made")
    old_members = body_statements(old_node, old_source)
    members = body_statements(node, source)
    changed, _, removed = match_statements(old_members, members)
    counterparts = {i: _member_counterpart(members[i], removed) for i in changed}
    raw_updates = _raw_updates(node, live, members, counterparts, old_source.filename)
    others = [i for i in changed if i not in raw_updates]
    reason = _why_type_must_run(members, changed, removed)
    if reason is None and not _is_plain(live, node):
        reason = _why_not_partial(node, old_node, members, changed, others, counterparts, live)
        if reason is None:
            reason = _why_removed_matters(members, changed, removed)
    if reason is not None:
        return MustRun(reason)
    to_run = _members_to_run(members, set(others), {i: members[i] for i in raw_updates})
    if whole_body and _is_plain(live, node):
        to_run = sorted({*to_run, *_unchanged_to_run(members, raw_updates)})
    return _ClassPlan(node, live, members, removed, raw_updates, to_run)


def _unchanged_to_run(
    members: tuple[Statement, ...], raw_updates: dict[int, tuple[types.FunctionType, list[Any]]]
) -> list[int]:
    """Members a cell's run of the class statement runs again although their text is the same.

    Class attributes take the body's values again (the cell ran them). Methods registered
    by a decorator of unknown effect are left as they are: running it would register twice.
    """
    return [
        i
        for i, member in enumerate(members)
        if i not in raw_updates
        and "__slots__" not in member.binds
        and (not _is_function(member) or _has_only_pure_decorators(member))
    ]


def _raw_updates(
    node: ast.ClassDef,
    live: type,
    members: tuple[Statement, ...],
    counterparts: dict[int, Statement | None],
    old_filename: str,
) -> dict[int, tuple[types.FunctionType, list[Any]]]:
    """Changed methods whose decorators did not change: their raw function can be patched.

    Decorators of unknown effect (a registry, a framework's validator) are then not re-run.
    A method without decorators counts too when the class holds a wrapper around it: the
    class machinery wrapped it when the class was made (scikit-learn's ``set_output`` wraps
    ``transform`` in ``__init_subclass__``), and setting the new raw function on the class
    would drop that wrapping.
    """
    found: dict[int, tuple[types.FunctionType, list[Any]]] = {}
    for index, before in counterparts.items():
        member = members[index]
        if before is None or not _is_function(member):
            continue
        if header_key(before.node) != header_key(member.node):
            continue
        name = _function_name(member)
        value = live.__dict__.get(_mangle(node.name, name), MISSING)
        bare = not getattr(member.node, "decorator_list", None)
        if _has_only_pure_decorators(member) and not (bare and type(value) is types.FunctionType):
            continue
        raw = find_raw_function(value, name, old_filename, (before.lineno, before.end_lineno))
        if raw is not None and not (bare and raw[0] is value):
            found[index] = raw
    return found


def _why_not_partial(
    node: ast.ClassDef,
    old_node: ast.ClassDef,
    members: tuple[Statement, ...],
    changed: list[int],
    others: list[int],
    counterparts: dict[int, Statement | None],
    live: type,
) -> str | None:
    """Why a class with decorators or a metaclass cannot take a partial body; None if it can."""
    for index in others:
        reason = _why_not_alone(members[index], counterparts[index], live)
        if reason is not None:
            return reason
    if ast.get_docstring(node, clean=False) != ast.get_docstring(old_node, clean=False):
        return "its docstring changed, and its decorators or metaclass may use it"
    return None


def _why_removed_matters(
    members: tuple[Statement, ...], changed: list[int], removed: list[Statement]
) -> str | None:
    """Why a removed member may matter to a class's decorators or metaclass; None if not."""
    rebound = {n for i in changed for n in members[i].binds}
    lost = [n for m in removed for n in m.binds if n not in rebound]
    if lost:
        return f"its metaclass or decorators may depend on the removed member {lost[0]}"
    return None


def _apply_class_plan(
    plan: _ClassPlan, source: ParsedSource, namespace: dict[str, Any], patcher: Patcher
) -> ClassEdit:
    """Patch the planned methods' raw functions and run the planned members into the class."""
    edit = ClassEdit()
    node = plan.node
    for index, (raw, wrappers) in plan.raw_updates.items():
        member = plan.members[index]
        new_raw = _class_member_function(node, member, source, namespace)
        old_doc = raw.__doc__
        if patcher.merge(raw, new_raw) is not raw:  # pragma: no cover - same code, same globals
            raise AssertionError(f"{node.name}.{_function_name(member)} could not be merged")
        refresh_wrappers(wrappers, raw, old_doc, patcher)
        edit.patched.append(f"{node.name}.{_function_name(member)}")
    if plan.to_run:
        run = [plan.members[i] for i in plan.to_run]
        results = _run_members(node, run, plan.live, source, namespace)
        edit.reran += [f"{node.name}.{m.summary}" for m in run]
        patcher.merge_members(plan.live, results)
    return edit


def _member_counterpart(member: Statement, removed: list[Statement]) -> Statement | None:
    if not _is_function(member):
        return None
    name = _function_name(member)
    olds = [m for m in removed if _is_function(m) and _function_name(m) == name]
    return olds[0] if len(olds) == 1 else None


def _is_function(member: Statement) -> bool:
    return isinstance(member.node, (ast.FunctionDef, ast.AsyncFunctionDef))


def _function_name(member: Statement) -> str:
    node = member.node
    assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    return node.name


def _has_only_pure_decorators(member: Statement) -> bool:
    node = member.node
    assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    for decorator in node.decorator_list:
        if isinstance(decorator, ast.Name) and decorator.id in _PURE_DECORATORS:
            continue
        if isinstance(decorator, ast.Attribute) and (
            decorator.attr in _PURE_ACCESSORS or decorator.attr in _PURE_DECORATORS
        ):
            continue
        return False
    return True


def _is_plain(cls: type, node: ast.ClassDef) -> bool:
    """Whether nothing but ``type`` processes this class's namespace when it is created."""
    if node.decorator_list or node.keywords or type(cls) not in (type, abc.ABCMeta):
        return False
    if "_fields" in cls.__dict__ or "__dataclass_fields__" in cls.__dict__:
        return False
    return not any("__init_subclass__" in base.__dict__ for base in cls.__mro__[1:-1])


def _why_type_must_run(
    members: tuple[Statement, ...], changed: list[int], removed: list[Statement]
) -> str | None:
    """Why only ``type()`` itself can make the new class right, or None.

    ``type()`` reads ``__slots__`` to lay out instances, sets ``__hash__ = None`` next to a new
    ``__eq__``, and a class's annotations are rebuilt from scratch; a partial body can't.
    """
    old_names = {n for m in removed for n in m.binds}
    for index in changed:
        member = members[index]
        if LAZY_ANNOTATIONS and isinstance(member.node, ast.AnnAssign):
            # Python 3.14 makes a class's annotations with one `__annotate__` function of its
            # whole body: a partial body's would hold only the members it ran.
            return f"the annotated member '{member.summary}' changed"
        for name in member.binds:
            if name == "__slots__":
                return "its __slots__ changed"
            if _is_dunder(name) and name not in old_names:
                return f"the special member {name} is new"
    new_names = {n for i in changed for n in members[i].binds}
    for member in removed:
        if isinstance(member.node, ast.AnnAssign):
            return f"the annotated member '{member.summary}' was removed"
        for name in member.binds - new_names:
            if _is_dunder(name):
                return f"the special member {name} was removed"
    return None


def _mangle(class_name: str, name: str) -> str:
    """The name a class body really binds for ``name`` (private names are mangled)."""
    if not name.startswith("__") or name.endswith("__") or "." in name:
        return name
    stripped = class_name.lstrip("_")
    return f"_{stripped}{name}" if stripped else name


def _is_dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


def _why_not_alone(member: Statement, before: Statement | None, cls: type) -> str | None:
    """None when ``member`` can be set on a class that has decorators or a metaclass."""
    what = member.summary
    if not _is_function(member) or not _has_only_pure_decorators(member):
        return f"its metaclass or decorators may process the changed member '{what}'"
    name = _function_name(member)
    if before is not None and header_key(before.node) != header_key(member.node):
        return f"the decorators or signature of {name} changed"
    current = cls.__dict__.get(_mangle(cls.__name__, name), MISSING)
    if current is MISSING:
        reason = processes_member(cls, name)
        if reason is not None:
            return reason
    expected = _descriptor_type(member)
    if current is not MISSING and type(current) is not expected:
        kind = type(current).__name__
        article = "an" if kind[:1].lower() in "aeiou" else "a"
        return f"{name} was turned into {article} {kind} when the class was made"
    return None


def _descriptor_type(member: Statement) -> type:
    node = member.node
    assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    kinds: dict[str, type] = {
        "property": property,
        "classmethod": classmethod,
        "staticmethod": staticmethod,
        "cached_property": functools.cached_property,
    }
    for decorator in node.decorator_list:
        if isinstance(decorator, ast.Attribute) and decorator.attr in _PURE_ACCESSORS:
            return property
        key = decorator.id if isinstance(decorator, ast.Name) else getattr(decorator, "attr", "")
        if key in kinds:
            return kinds[key]
    return types.FunctionType


def _members_to_run(
    members: tuple[Statement, ...], changed: set[int], patched: dict[int, Statement]
) -> list[int]:
    """Changed members, then members reading what re-ran (or using what was patched)."""
    redefined: set[str] = set()
    kept = {n for m in patched.values() for n in m.binds}
    chosen: list[int] = []
    for index, member in enumerate(members):
        if index in patched:
            continue
        if (
            index in changed
            or not redefined.isdisjoint(member.reads)
            or not redefined.isdisjoint(member.binds)
            or not kept.isdisjoint(member.uses)
        ):
            chosen.append(index)
            redefined |= member.binds
    return chosen


def _class_member_function(
    node: ast.ClassDef, member: Statement, source: ParsedSource, namespace: dict[str, Any]
) -> types.FunctionType:
    """The raw function of a changed method, made in a class body of the class's name."""
    function_node = member.node
    assert isinstance(function_node, (ast.FunctionDef, ast.AsyncFunctionDef))
    body = _class_body(node, [identity_decorated(function_node)], source)
    results = _exec_class_body(body, namespace, {IDENTITY: identity})
    function = results[_mangle(node.name, function_node.name)]
    assert isinstance(function, types.FunctionType)
    return function


def _run_members(
    node: ast.ClassDef,
    members: list[Statement],
    cls: type,
    source: ParsedSource,
    namespace: dict[str, Any],
) -> dict[str, Any]:
    """Run ``members`` in a class body that starts from the class's current attributes."""
    start = {k: v for k, v in cls.__dict__.items() if k not in CLASS_OWN}
    if isinstance(start.get("__annotations__"), dict):
        # The body adds to this dict in place: the class's own must not change before commit.
        start["__annotations__"] = dict(start["__annotations__"])
    body = _class_body(node, [m.node for m in members], source)
    results = _exec_class_body(body, namespace, start)
    cell = results.get("__classcell__")
    if isinstance(cell, types.CellType):
        # Zero-argument super() and __class__ in the new methods mean the existing class.
        cell.cell_contents = cls
    bound = {_mangle(node.name, n) for m in members for n in m.binds}
    if "__annotations__" in results and any(isinstance(m.node, ast.AnnAssign) for m in members):
        bound.add("__annotations__")
    members_made = {k: results[k] for k in bound if k in results and k not in _SKIP_MEMBERS}
    for name, wrapper in _IMPLICIT_WRAPPERS.items():
        if isinstance(members_made.get(name), types.FunctionType):
            members_made[name] = wrapper(members_made[name])
    return members_made


def _class_body(node: ast.ClassDef, body: list[ast.stmt], source: ParsedSource) -> types.CodeType:
    """The code of a class body of ``node``'s name holding only ``body``."""
    shell = copy.copy(node)
    shell.decorator_list, shell.bases, shell.keywords = [], [], []
    shell.body = body
    module = ast.Module(body=[shell], type_ignores=[])
    code = compile(module, source.filename, "exec", flags=source.compile_flags, dont_inherit=True)
    for const in code.co_consts:
        if isinstance(const, types.CodeType) and const.co_name == node.name:
            return const
    raise AssertionError(f"no class body for {node.name}")  # pragma: no cover


def _exec_class_body(
    code: types.CodeType, globals_: dict[str, Any], start: dict[str, Any]
) -> dict[str, Any]:
    try:
        exec(code, globals_, start)
    except BaseException as exc:
        raise UserCodeRaised(exc) from exc
    return start
