"""Stage 2: plan which modules reload, in dependency order.

A module reloads after the modules it imports, so ``b`` may start importing a name that only the
new ``a`` defines. Imports are read from each module's new source (imports inside function bodies
run later and are ignored). Modules that import each other (a cycle) keep their import order.

This module must never import IPython.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._diff import ParsedSource

__all__ = ["imported_modules", "order_modules", "resolve_import"]


def imported_modules(source: ParsedSource, module_name: str, *, is_package: bool) -> set[str]:
    """Absolute names of the modules ``source`` imports when it runs."""
    package = module_name if is_package else module_name.rpartition(".")[0]
    found: set[str] = set()
    stack: list[ast.AST] = list(source.tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                found |= _with_parents(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = resolve_import(node.module, node.level, package)
            if base is not None:
                found |= _with_parents(base)
                # `from pkg import sub` may import the submodule `pkg.sub`.
                found |= {f"{base}.{a.name}" for a in node.names if a.name != "*"}
        stack.extend(ast.iter_child_nodes(node))
    found.discard(module_name)
    return found


def _with_parents(name: str) -> set[str]:
    parts = name.split(".")
    return {".".join(parts[: i + 1]) for i in range(len(parts))}


def resolve_import(module: str | None, level: int, package: str) -> str | None:
    """The absolute module name of ``from <level dots><module> import ...`` inside ``package``."""
    if level == 0:
        return module
    parts = package.split(".") if package else []
    if level - 1 > len(parts):
        return None
    base = ".".join(parts[: len(parts) - (level - 1)])
    if module:
        return f"{base}.{module}" if base else module
    return base or None


def order_modules(names: Iterable[str], imports: Mapping[str, set[str]]) -> list[str]:
    """Order ``names`` so each module comes after the modules it imports.

    Strongly connected groups (import cycles) keep the order ``names`` gave them, which is the
    order they were first imported in.
    """
    wanted = list(dict.fromkeys(names))
    position = {name: i for i, name in enumerate(wanted)}
    edges = {
        n: sorted((d for d in imports.get(n, ()) if d in position), key=position.__getitem__)
        for n in wanted
    }

    # Tarjan's algorithm yields components dependencies-first.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    ordered: list[str] = []
    counter = 0

    def connect(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for dep in edges[node]:
            if dep not in index:
                connect(dep)
                low[node] = min(low[node], low[dep])
            elif dep in on_stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            ordered.extend(sorted(component, key=position.__getitem__))

    for name in wanted:
        if name not in index:
            connect(name)
    return ordered
