"""Stage 7 (rebind): rebind ``from m import NAME`` elsewhere when ``m.NAME`` got a new identity.

Functions and classes patched in place keep their identity, so nothing needs rebinding for them.
A constant (``THRESHOLD = 0.5`` -> ``0.7``), or a class that had to be replaced, is a *new*
object: every ``from m import THRESHOLD`` in another watched module or in the user's namespace
still holds the old one. Such a binding is rebound when it still holds exactly the object ``m``
exported under that name and an import statement confirms it came from ``m``; a name the user
has since reassigned holds another object and is left alone.

Identity alone is not proof: small integers, ``True`` and short strings are shared by the
interpreter, so an unrelated ``N = 5`` would also match. Hence the confirmation.

This module must never import IPython.
"""

from __future__ import annotations

import ast
import functools
import re
import sys
import types
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ._journal import MISSING, Journal
from ._source import ImportedNames, Statement, from_imports, parse_source, resolve_import

__all__ = [
    "DROPPED_THIS_CHECK",
    "ImportTables",
    "ImportedNames",
    "Namespace",
    "add_star_exports",
    "drop_star_exports",
    "exported_names",
    "exports",
    "from_imports",
    "rebind_imports",
]


@dataclass(frozen=True)
class Namespace:
    """A namespace that may hold names imported from reloaded modules.

    Attributes:
        label: How the report names it (a module name, or ``user namespace``).
        mapping: The namespace itself (a module ``__dict__``, IPython's ``user_ns``).
        imports: Its known ``from ... import`` statements, or None to read them from ``source``.
        source: The namespace's source text, read lazily only when a binding matches.
        source_version: What identifies that text's version (its hash, say), read lazily too:
            the import table is parsed once per version.
        module_name: The module owning the namespace, to resolve relative imports.
        is_package: Whether that module is a package (relative imports start from itself).
    """

    label: str
    mapping: dict[str, Any]
    imports: ImportedNames | None = None
    source: Callable[[], str | None] | None = None
    source_version: Callable[[], Hashable] | None = None
    module_name: str = ""
    is_package: bool = False


# module name -> {name: object} that drop_star_exports took out of that module during the
# current check; the engine empties it when the check ends (see _Steps.identity_changes).
DROPPED_THIS_CHECK: dict[str, dict[str, Any]] = {}

# module name -> (version of its source, its import table): a namespace's imports, parsed once
# per version of its source and reused by every later reload that rebinds into it.
ImportTables = dict[str, tuple[Hashable, ImportedNames]]


def rebind_imports(
    module_name: str,
    changes: Mapping[str, tuple[Any, Any]],
    namespaces: Iterable[Namespace],
    tables: ImportTables | None = None,
    journal: Journal | None = None,
) -> list[str]:
    """Rebind stale imported names; return ``"alias in label"`` for each binding that moved.

    Args:
        module_name: The module that reloaded.
        changes: ``name -> (old object, new object)`` for names whose identity changed.
        namespaces: Where to look.
        tables: A cache of parsed import tables, kept by the caller across reloads.
        journal: Where each rebinding is recorded, so a rollback undoes it.
    """
    namespaces = list(namespaces)
    tables = {} if tables is None else tables
    rebound: list[str] = []
    # A package that re-exports `from .core import VERSION` passes the new object on: its own
    # importers (`from pkg import VERSION`) are rebound in the next round. The first round scans
    # every namespace; a later one only those still holding an old object after the previous
    # round (what is passed on is one of the same old objects), so 200 importers of one name
    # cost one scan, not two.
    current: dict[str, Mapping[str, tuple[Any, Any]]] = {module_name: changes}
    done: set[tuple[str, str]] = set()
    while current and namespaces:
        fresh = {
            source: {k: v for k, v in names.items() if (source, k) not in done}
            for source, names in current.items()
        }
        done |= {(source, k) for source, names in fresh.items() for k in names}
        passed_on, namespaces = _rebind_round(fresh, namespaces, rebound, tables, journal)
        current = dict(passed_on)
    return rebound


def _rebind_round(
    changes: Mapping[str, Mapping[str, tuple[Any, Any]]],
    namespaces: list[Namespace],
    rebound: list[str],
    tables: ImportTables,
    journal: Journal | None,
) -> tuple[dict[str, dict[str, tuple[Any, Any]]], list[Namespace]]:
    """One round of :func:`rebind_imports`.

    Returns:
        The rebindings made in module namespaces (passed on to the next round), and the
        namespaces that still hold one of the old objects afterwards.
    """
    passed_on: dict[str, dict[str, tuple[Any, Any]]] = {}
    holding: list[Namespace] = []
    old_ids = {id(old) for names in changes.values() for old, _ in names.values()}
    if not old_ids:
        return passed_on, holding
    # Several changed names may have held the same old object (`X = 0`, `Y = 0`): a binding
    # is matched to its name through its import statement, not through the object.
    all_names = sorted({name for names in changes.values() for name in names})
    hint = _import_hint(all_names)
    for namespace in namespaces:
        mapping = namespace.mapping
        candidates = [alias for alias, value in list(mapping.items()) if id(value) in old_ids]
        if not candidates:
            continue
        imports = namespace.imports
        if imports is None:
            imports = _imports_of(namespace, hint, tables)
            if imports is None:
                holding.append(namespace)
                continue
        stars = _star_sources(imports)
        for alias in candidates:
            source, name = imports.get(alias) or _by_star(alias, stars, changes)
            names = changes.get(source)
            if names is None or name not in names:
                continue
            old, new = names[name]
            if mapping.get(alias) is old:
                if journal is not None:
                    journal.add(functools.partial(_restore_binding, mapping, alias, old, new))
                mapping[alias] = new
                rebound.append(f"{alias} in {namespace.label}")
                if namespace.module_name:
                    passed_on.setdefault(namespace.module_name, {})[alias] = (old, new)
        if any(id(mapping.get(alias)) in old_ids for alias in candidates):
            holding.append(namespace)
    return passed_on, holding


def _star_sources(imports: ImportedNames) -> list[str]:
    return [module for module, name in imports.values() if name == "*"]


def _by_star(
    alias: str, stars: list[str], changes: Mapping[str, Mapping[str, Any]]
) -> tuple[str, str]:
    """The star import that bound ``alias``, if one of the changed modules exports it."""
    for source in stars:
        if alias in changes.get(source, ()) and exports(source, alias):
            return source, alias
    return "", ""


def exports(module_name: str, name: str) -> bool:
    """Whether ``from module_name import *`` binds ``name``: its ``__all__``, or public names."""
    module = sys.modules.get(module_name)
    namespace = getattr(module, "__dict__", {})
    public = namespace.get("__all__")
    if type(public) is list or type(public) is tuple:
        return name in public
    return not name.startswith("_")


def exported_names(namespace: Mapping[str, Any]) -> dict[str, Any]:
    """What ``from module import *`` binds, for a module whose namespace is ``namespace``."""
    public = namespace.get("__all__")
    if type(public) is list or type(public) is tuple:
        return {n: namespace[n] for n in public if type(n) is str and n in namespace}
    return {n: v for n, v in namespace.items() if not n.startswith("_")}


def add_star_exports(
    module_name: str,
    added: Mapping[str, Any],
    namespaces: Iterable[Namespace],
    tables: ImportTables,
    journal: Journal,
    exported_before: Mapping[str, Any] | None = None,
) -> list[str]:
    """Put a module's newly exported names where ``from module import *`` put the others.

    ``added`` maps those names to their objects. As running the star import again would, but
    only where the name is not bound already (a name the user bound since is left alone). A
    module that star-imports holds many of the exporting module's objects, so only those
    namespaces have their imports read. Re-exports (``from .core import *`` in a package
    imported with ``*`` elsewhere) are followed.
    """
    shown: list[str] = []
    pending = [(module_name, dict(added))]
    namespaces = list(namespaces)
    while pending:
        source, names = pending.pop()
        if not names:
            continue
        # An importer may hold only names the module exported before (its __all__ changed).
        before = exported_before if source == module_name else None
        for namespace in _star_importers(source, namespaces, tables, also=before):
            fresh = {n: v for n, v in names.items() if n not in namespace.mapping}
            for name, value in fresh.items():
                journal.add(functools.partial(namespace.mapping.pop, name, None))
                namespace.mapping[name] = value
                shown.append(f"{name} in {namespace.label}")
            if namespace.module_name and fresh:
                passed = {n: v for n, v in fresh.items() if exports(namespace.module_name, n)}
                pending.append((namespace.module_name, passed))
    return shown


def drop_star_exports(
    module_name: str,
    dropped: Mapping[str, Any],
    namespaces: Iterable[Namespace],
    tables: ImportTables,
    journal: Journal,
) -> list[str]:
    """Take a module's no-longer-exported names out of where ``from module import *`` put them.

    ``dropped`` maps those names to the objects they had. Running the star import again in a
    fresh process would not bind them; a namespace where the name still holds that object got
    it from the star import, and loses it. A name the user bound to something else since is
    left alone. Re-exports are followed, as in :func:`add_star_exports`.
    """
    shown: list[str] = []
    pending = [(module_name, dict(dropped))]
    namespaces = list(namespaces)
    while pending:
        source, names = pending.pop()
        for namespace in _star_importers(source, namespaces, tables, also=names):
            mapping = namespace.mapping
            own = _bound_by_itself(namespace)
            held = {
                n: v
                for n, v in names.items()
                if mapping.get(n, MISSING) is v
                # Where its statements are unknown, a module object is taken for its own import.
                and (n not in own if own is not None else not issubclass(type(v), types.ModuleType))
            }
            for name, value in held.items():
                journal.add(functools.partial(mapping.__setitem__, name, value))
                del mapping[name]
                shown.append(f"{name} (removed) in {namespace.label}")
                if namespace.module_name:
                    DROPPED_THIS_CHECK.setdefault(namespace.module_name, {})[name] = value
            if namespace.module_name and held:
                pending.append((namespace.module_name, held))
    return shown


def _bound_by_itself(namespace: Namespace) -> frozenset[str] | None:
    """Names the namespace binds by its own statements (a star import's names not included).

    A module's come from its source (``import pydantic`` beside ``from m import *``); None for
    a namespace whose statements are unknown (a notebook's).
    """
    text = namespace.source() if namespace.source is not None else None
    if text is None:
        return None
    try:
        return parse_source(text, namespace.label).bound_names()
    except SyntaxError:
        return None


def _star_importers(
    source: str,
    namespaces: list[Namespace],
    tables: ImportTables,
    also: Mapping[str, Any] | None = None,
) -> list[Namespace]:
    """The namespaces that did ``from source import *``.

    Such a namespace holds the module's exported objects under the same names; only those
    that hold at least one have their import statements read (once per version of their
    source), so a reload that adds a name does not read every watched module.
    """
    namespace_of_source = getattr(sys.modules.get(source), "__dict__", {})
    shared = list(exported_names(namespace_of_source).items()) + list((also or {}).items())
    hint = re.compile(r"\bimport\s*\*")
    found: list[Namespace] = []
    for namespace in namespaces:
        mapping = namespace.mapping
        if mapping is namespace_of_source:
            continue
        if namespace.imports is None and not any(mapping.get(k, MISSING) is v for k, v in shared):
            continue
        imports = namespace.imports
        if imports is None:
            imports = _imports_of(namespace, hint, tables)
        if imports is not None and source in _star_sources(imports):
            found.append(namespace)
    return found


def _restore_binding(mapping: dict[str, Any], alias: str, old: object, new: object) -> None:
    if mapping.get(alias) is new:
        mapping[alias] = old


def _import_hint(names: Iterable[str]) -> re.Pattern[str]:
    """A cheap test that a source may import one of ``names``, before parsing it.

    ``import`` and the name on one line, on lines joined by a backslash, or inside the
    parentheses of a ``from m import (...)`` spanning several lines; or a star import.
    """
    alternatives = "|".join(re.escape(name) for name in names)
    return re.compile(
        rf"\bimport\b(?:\s*\([^)]*|[^\n]*(?:\\\n[^\n]*)*)\b(?:{alternatives})\b|\bimport\s*\*"
    )


def _imports_of(
    namespace: Namespace, hint: re.Pattern[str], tables: ImportTables
) -> ImportedNames | None:
    """The namespace's import table: cached for this version of its source, or parsed now."""
    key = namespace.module_name or namespace.label
    version = namespace.source_version() if namespace.source_version is not None else None
    if version is not None:
        cached = tables.get(key)
        if cached is not None and cached[0] == version:
            return cached[1]
    text = namespace.source() if namespace.source is not None else None
    # The hint only spares a parse; a version already parsed (above) needs no hint.
    if text is None or not hint.search(text):
        return None
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    imports = from_imports(tree, namespace.module_name, is_package=namespace.is_package)
    if version is not None:
        tables[key] = (version, imports)
    return imports


def _star_import_sources(
    statements: Iterable[Statement], module_name: str, is_package: bool
) -> list[dict[str, Any]]:
    """The namespaces of the modules the ``from X import *`` among ``statements`` import from."""
    package = module_name if is_package else module_name.rpartition(".")[0]
    found = []
    for statement in statements:
        node = statement.node
        if not isinstance(node, ast.ImportFrom) or all(a.name != "*" for a in node.names):
            continue
        source = resolve_import(node.module, node.level, package)
        exporter = getattr(sys.modules.get(source or ""), "__dict__", None)
        if isinstance(exporter, dict):
            found.append(exporter)
    return found


def drop_star_imported(
    namespace: dict[str, Any],
    module_name: str,
    is_package: bool,
    removed: Iterable[Statement],
    kept: frozenset[str],
) -> None:
    """Delete what a removed ``from X import *`` bound, as a fresh import would not have it.

    Its names are unknown to the parser: they are ``X``'s exports, where the module still
    holds ``X``'s object under that name and no statement of the new source (``kept``) binds it.
    """
    for exporter in _star_import_sources(removed, module_name, is_package):
        for exported, value in exported_names(exporter).items():
            if exported not in kept and namespace.get(exported, MISSING) is value:
                del namespace[exported]


def refill_from_star_imports(
    namespace: dict[str, Any],
    module_name: str,
    is_package: bool,
    statements: Iterable[Statement],
    deleted: frozenset[str],
) -> None:
    """A deleted name that a star import among ``statements`` exports is bound to that export.

    In a fresh run the star import binds it, and no later statement rebinds it any more (a
    definition moved from this module to the one it star-imports).
    """
    if not deleted:
        return
    for exporter in _star_import_sources(statements, module_name, is_package):
        for name, value in exported_names(exporter).items():
            if name in deleted and name not in namespace:
                namespace[name] = value
