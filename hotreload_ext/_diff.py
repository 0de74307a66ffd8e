"""Stage 4 (diff): what changed inside a module, and whether statements can run alone.

The running and the new source (stage 2) are compared statement by statement. Each statement is
keyed by its exact source text, so a statement that merely moved (lines inserted above it) still
matches its old self. The result, a :class:`ModuleDiff`, also says whether the whole module body
must run again (:func:`whole_module_reason`); the execute stage decides from it which statements
run.

This module must never import IPython: the engine runs without it.
"""

from __future__ import annotations

import ast
import re
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ._freshness import RunningComparison
from ._source import ParsedSource, Statement, body_statements

__all__ = ["ModuleDiff", "diff_sources", "header_key", "match_statements", "whole_module_reason"]

_FULL_MARKER = re.compile(r"^#\s*hotreload:\s*full\s*$", re.MULTILINE)
# Read from the new source too, so the save that adds the attribute already honours it.
_FULL_ATTRIBUTE = re.compile(r"^__hotreload_full__\s*=\s*True\b", re.MULTILINE)


@dataclass(frozen=True)
class ModuleDiff:
    """The statement-level difference between the running source and the new one.

    Attributes:
        new: The parsed new source.
        changed: Indexes into ``new.statements`` whose text is new or changed.
        moved: ``(index, line_delta)`` for unchanged statements whose first line moved.
        deleted_names: Names bound by the old source and by no statement of the new one.
        removed: Old statements that have no counterpart in the new source.
        old: The parsed running source, if it is known.
        whole_module: Why the whole module body must run again, or None when running only
            the affected statements is safe (see :func:`whole_module_reason`).
        running: With no old text, how the new definitions compare with the running ones
            (what the report calls updated and added).
        origins: ``new index -> old index`` for each new statement that is a version of an old
            one: the same text, or a changed definition paired with its old version by kind,
            name and place among same-named siblings (see :func:`_pair_definitions`).
        must_run: Indexes into ``new.statements`` that must run again although their text is
            unchanged: they read a data file that changed (see :meth:`statements_at`).
    """

    new: ParsedSource
    changed: frozenset[int]
    moved: tuple[tuple[int, int], ...]
    deleted_names: frozenset[str]
    removed: tuple[Statement, ...] = field(default=())
    old: ParsedSource | None = None
    whole_module: str | None = None
    origins: Mapping[int, int] = field(default_factory=dict)
    running: RunningComparison | None = None
    must_run: frozenset[int] = frozenset()

    @property
    def is_empty(self) -> bool:
        """True when no statement changed, moved or disappeared."""
        return not (self.changed or self.moved or self.removed)

    def deleted_definitions(self) -> list[Statement]:
        """Removed ``def``/``class`` statements that no changed statement is a new version of."""
        if self.old is None:
            return []
        taken = set(self.origins.values())
        removed = {id(s) for s in self.removed}
        return [
            s
            for i, s in enumerate(self.old.statements)
            if i not in taken and s.kind != "statement" and id(s) in removed
        ]

    def counterpart(self, index: int) -> Statement | None:
        """The old version of the changed definition ``new.statements[index]``, if it has one."""
        origin = self.origins.get(index)
        if origin is None or self.old is None or index not in self.changed:
            return None
        return self.old.statements[origin]

    def origin(self, index: int) -> int | None:
        """The index in the old source of the statement ``new.statements[index]`` came from."""
        return self.origins.get(index)

    def statements_at(self, lines: Iterable[int]) -> frozenset[int]:
        """Indexes into ``new.statements`` of the versions of the old statements at ``lines``.

        ``lines`` are lines of the running source (where a statement read a data file); an
        old statement with no new version is changed or gone, and runs or vanishes anyway.
        """
        if self.old is None:
            return frozenset()
        wanted = set(lines)
        spans = self.old.statements
        hit = {
            i
            for i, s in enumerate(spans)
            if any(s.lineno <= line <= s.end_lineno for line in wanted)
        }
        return frozenset(new for new, old in self.origins.items() if old in hit)

    def new_lines(self, lines: Iterable[int]) -> dict[int, int | None]:
        """Each line of the running source in ``lines``: the same place in the new source.

        None where the statement holding it has no new version (removed, or rewritten).
        """
        found: dict[int, int | None] = dict.fromkeys(lines)
        if self.old is None:
            return found
        back = {old: new for new, old in self.origins.items()}
        for index, statement in enumerate(self.old.statements):
            new = back.get(index)
            if new is None:
                continue
            delta = self.new.statements[new].lineno - statement.lineno
            for line in found:
                if statement.lineno <= line <= statement.end_lineno:
                    found[line] = line + delta
        return found

    def describe(self) -> tuple[list[str], list[str], list[str]]:
        """Names updated, added and removed, with class members as ``Cls.member``."""
        if self.old is None and self.running is not None:
            return self._describe_against_running(self.running)
        old_names = self.old.bound_names() if self.old is not None else frozenset()
        old_classes = _class_nodes(self.old)
        updated: list[str] = []
        added: list[str] = []
        # Removed members read like removed module names: "removed Cls.m", never "updated".
        removed: list[str] = sorted(self.deleted_names)
        # Statements that run for a changed data file are updated like changed ones.
        for index in sorted(self.changed | self.must_run):
            statement = self.new.statements[index]
            node = statement.node
            if isinstance(node, ast.ClassDef) and node.name in old_classes:
                members = _member_changes(old_classes[node.name], node, self.old, self.new)
                if members is not None:
                    member_updated, member_added, member_removed = members
                    updated += [f"{node.name}.{m}" for m in member_updated]
                    removed += [f"{node.name}.{m}" for m in member_removed]
                    added += [f"{node.name}.{m}" for m in member_added]
                    if not (member_updated or member_added or member_removed):
                        updated.append(node.name)
                    continue
            # A definition with no old version is new, even if its name is not (a second
            # handler called `_`).
            is_new = statement.kind != "statement" and self.origin(index) is None
            for name in sorted(statement.binds):
                (updated if name in old_names and not is_new else added).append(name)
        return _unique(updated), _unique(added), _unique(removed)

    def _describe_against_running(
        self, running: RunningComparison
    ) -> tuple[list[str], list[str], list[str]]:
        # The old text is unknown: a definition is updated when the module had one by that name
        # with other code, unchanged when its code is the same, added when it had none.
        updated: list[str] = []
        added: list[str] = []
        for statement in self.new.statements:
            for name in sorted(statement.binds):
                if name in running.different:
                    updated.append(name)
                elif name in running.missing:
                    added.append(name)
        return _unique(updated), _unique(added), []


def diff_sources(old: ParsedSource | None, new: ParsedSource) -> ModuleDiff:
    """Match the new statements to the old ones by text.

    With no old source every statement counts as changed (a full run).
    """
    if old is None:
        return ModuleDiff(
            new=new,
            changed=frozenset(range(len(new.statements))),
            moved=(),
            deleted_names=frozenset(),
        )
    changed, moved, removed, pairs = _match_by_text(old.statements, new.statements)
    pairs.update(_pair_definitions(old.statements, new.statements, changed, removed))
    return ModuleDiff(
        new=new,
        changed=frozenset(changed),
        moved=tuple(moved),
        deleted_names=old.bound_names() - new.bound_names(),
        removed=tuple(old.statements[i] for i in removed),
        old=old,
        origins=pairs,
    )


def whole_module_reason(
    diff: ModuleDiff, module: types.ModuleType, *, selective: bool, forced: bool = False
) -> str | None:
    """Why the whole module body must run again; None when running statements is safe.

    Some statements cannot be re-run on their own, because running them again cannot undo
    what their old version did (``CONFIG["k"] = v``, ``REGISTRY.append(f)``, ``global``, a
    star import, ``exec``); the user can also ask for whole-module runs.
    """
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
        "__hotreload_full__" in text and _FULL_ATTRIBUTE.search(text)
    ):
        return "the module sets __hotreload_full__ = True"
    if "hotreload:" in text and _FULL_MARKER.search(text):
        return "the module has a '# hotreload: full' marker"
    # A statement that runs for a changed data file (`CONFIG.update(load())`) counts as changed.
    touched = [diff.new.statements[i] for i in sorted(diff.changed | diff.must_run)]
    touched += list(diff.removed)
    for statement in touched:
        if statement.is_dynamic:
            return f"line {statement.lineno} ({statement.summary}) cannot be re-run on its own"
    return None


def match_statements(
    old: tuple[Statement, ...], new: tuple[Statement, ...]
) -> tuple[list[int], list[tuple[int, int]], list[Statement]]:
    """Match statements by text: new indexes changed, ``(index, line delta)`` moved, old removed.

    Used for module bodies and for class bodies alike.
    """
    changed, moved, removed_indexes, _ = _match_by_text(old, new)
    return changed, moved, [old[i] for i in removed_indexes]


def _match_by_text(
    old: tuple[Statement, ...], new: tuple[Statement, ...]
) -> tuple[list[int], list[tuple[int, int]], list[int], dict[int, int]]:
    """Changed new indexes, moved ``(index, delta)``, removed old indexes, and new -> old pairs."""
    # Identical texts match one-to-one, in order (two `print()` calls are two statements).
    old_indexes: dict[str, list[int]] = {}
    for index, statement in enumerate(old):
        old_indexes.setdefault(statement.text, []).append(index)
    changed: list[int] = []
    moved: list[tuple[int, int]] = []
    pairs: dict[int, int] = {}
    for index, statement in enumerate(new):
        left = old_indexes.get(statement.text)
        if not left:
            changed.append(index)
            continue
        origin = left.pop(0)
        pairs[index] = origin
        if old[origin].lineno != statement.lineno:
            moved.append((index, statement.lineno - old[origin].lineno))
    # What is left of each text's old indexes are the copies no new statement took.
    removed = sorted(i for indexes in old_indexes.values() for i in indexes)
    return changed, moved, removed, pairs


def _pair_definitions(
    old: tuple[Statement, ...], new: tuple[Statement, ...], changed: list[int], removed: list[int]
) -> dict[int, int]:
    """Pair each changed ``def``/``class`` with the removed old one it is a new version of.

    Definitions are matched by kind and name, and then by their place among the same-named
    siblings, never by name alone:

    1. those whose header (decorators, signature, bases) is unchanged: first the last
       definition of a name (the one the module binds, whose object old references hold) with
       the old last one, then the others in source order;
    2. then the rest the same way: the last with the last, the others in source order.

    Several handlers all named ``_`` (``singledispatch``, a registry, ``typing.overload``) are
    so told apart: adding, editing or removing one of them affects exactly that one. A
    definition with no partner is new.
    """
    olds: dict[tuple[str, str], list[int]] = {}
    for index in removed:
        key = _definition_key(old[index])
        if key is not None:
            olds.setdefault(key, []).append(index)
    keyed = [(i, key) for i in changed if (key := _definition_key(new[i])) is not None]
    old_last, new_last = _last_binders(old), _last_binders(new)
    pairs: dict[int, int] = {}

    def pair_last(same_header: bool) -> None:
        for index, key in keyed:
            last = old_last.get(key[1])
            candidates = olds.get(key, [])
            if index in pairs or new_last.get(key[1]) != index or last not in candidates:
                continue
            # The name's last definition continues it even when decorators came or went.
            if _fits(old[last], new[index], same_header, either_bare=True):
                pairs[index] = last
                candidates.remove(last)

    def pair_in_order(same_header: bool) -> None:
        for index, key in keyed:
            candidates = olds.get(key, [])
            if index in pairs or not candidates:
                continue
            fits = [i for i in candidates if _fits(old[i], new[index], same_header)]
            if fits:
                pairs[index] = fits[0]
                candidates.remove(fits[0])

    pair_last(same_header=True)
    pair_in_order(same_header=True)
    pair_last(same_header=False)
    pair_in_order(same_header=False)
    return pairs


def _fits(old: Statement, new: Statement, same_header: bool, *, either_bare: bool = False) -> bool:
    """Whether ``new`` may be a version of ``old``.

    The same header; or, when that is not required, at least the same decorator objects, so
    a handler never moves to another registry (``either_bare``: or one has no decorators, a
    decorator added to or removed from the name's definition).
    """
    if header_key(old.node) == header_key(new.node):
        return True
    if same_header:
        return False
    old_roots, new_roots = _decorator_roots(old), _decorator_roots(new)
    return old_roots == new_roots or (either_bare and not (old_roots and new_roots))


def _decorator_roots(statement: Statement) -> frozenset[str]:
    """The names the decorator expressions start from: ``show`` for ``@show.register(int)``."""
    roots: list[str] = []
    for decorator in getattr(statement.node, "decorator_list", []):
        node = decorator.func if isinstance(decorator, ast.Call) else decorator
        while isinstance(node, (ast.Attribute, ast.Call)):
            node = node.value if isinstance(node, ast.Attribute) else node.func
        roots.append(node.id if isinstance(node, ast.Name) else ast.dump(node))
    return frozenset(roots)


def _last_binders(statements: tuple[Statement, ...]) -> dict[str, int]:
    return {name: i for i, s in enumerate(statements) for name in s.binds}


def header_key(node: ast.stmt) -> tuple[object, ...] | None:
    """Everything of a ``def`` or ``class`` except its body; None for other statements.

    Two definitions with the same key differ only in their body (docstring included), so the
    old object can take the new body without its decorators, base classes or metaclass
    running again. For a function the signature is part of the header: a decorator may have
    read it (``singledispatch``'s ``register``, a CLI or web framework).
    """
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        parts: tuple[list[ast.AST], ...] = (
            list(node.decorator_list),
            [node.args],
            [node.returns] if node.returns else [],
        )
        return (type(node).__name__, node.name, *_dumps(parts), _dumps_type_params(node))
    if isinstance(node, ast.ClassDef):
        return _header(node)
    return None


def _dumps(groups: tuple[list[ast.AST], ...]) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(ast.dump(part) for part in group) for group in groups)


def _dumps_type_params(node: ast.stmt) -> tuple[str, ...]:
    return tuple(ast.dump(p) for p in getattr(node, "type_params", []))


def _definition_key(statement: Statement) -> tuple[str, str] | None:
    node = statement.node
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return (statement.kind, node.name)
    return None


def _unique(names: list[str]) -> list[str]:
    return list(dict.fromkeys(names))


def _class_nodes(source: ParsedSource | None) -> dict[str, ast.ClassDef]:
    if source is None:
        return {}
    return {s.node.name: s.node for s in source.statements if isinstance(s.node, ast.ClassDef)}


def _member_changes(
    old: ast.ClassDef, new: ast.ClassDef, old_source: ParsedSource | None, new_source: ParsedSource
) -> tuple[list[str], list[str], list[str]] | None:
    """Class members updated, added and removed; None when the class header changed."""
    if old_source is None or _header(old) != _header(new):
        return None
    old_members = body_statements(old, old_source)
    new_members = body_statements(new, new_source)
    changed, _, _ = match_statements(old_members, new_members)
    old_bound = {name for m in old_members for name in m.binds}
    new_bound = {name for m in new_members for name in m.binds}
    updated: list[str] = []
    added: list[str] = []
    for index in changed:
        # A member that binds nothing (a docstring, `pass`) is no name to report.
        for name in sorted(new_members[index].binds):
            (updated if name in old_bound else added).append(name)
    gone = sorted(old_bound - new_bound)
    return _unique(updated), _unique(added), gone


def _header(node: ast.ClassDef) -> tuple[object, ...]:
    """Everything of a class statement except its body: decorators, bases, keywords."""
    groups = (node.decorator_list, node.bases, node.keywords, getattr(node, "type_params", []))
    # One tuple per role, so an expression moved from decorator to base is still a change.
    return (node.name, *(tuple(ast.dump(part) for part in group) for group in groups))
