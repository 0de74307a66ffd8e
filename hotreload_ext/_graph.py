"""Stage 3 (plan): which changed modules reload first, in dependency order.

A module reloads after the modules it imports, so ``b`` may start importing a name that only the
new ``a`` defines. The imports come from each module's new source
(``_source.imported_modules``). Modules that import each other (a cycle) keep their import order.

This module must never import IPython.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

__all__ = ["order_modules"]


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

    # Tarjan's algorithm yields components dependencies-first. It runs on an explicit stack of
    # (module, its remaining imports), not by recursion: a chain of imports longer than the
    # recursion limit (a branch switch that changed a thousand modules) must not raise
    # RecursionError.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    ordered: list[str] = []

    def enter(node: str) -> tuple[str, Iterator[str]]:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        return node, iter(edges[node])

    for name in wanted:
        if name in index:
            continue
        path = [enter(name)]
        while path:
            node, deps = path[-1]
            for dep in deps:
                if dep not in index:
                    path.append(enter(dep))
                    break
                if dep in on_stack:
                    low[node] = min(low[node], index[dep])
            else:
                # Every import of `node` is done: close its component, then resume its importer.
                path.pop()
                if low[node] == index[node]:
                    component: list[str] = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    ordered.extend(sorted(component, key=position.__getitem__))
                if path:
                    parent = path[-1][0]
                    low[parent] = min(low[parent], low[node])
    return ordered
