"""The shape of the engine: stages import only earlier stages, the engine never imports IPython,
and the pieces stay small enough to read at once.

The stage order is the one docs/how-it-works.md walks through; a new module must be placed in
it here, which is the point: where it sits decides what it may import.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "hotreload_ext"

# Each module's place in the pipeline. Foundations (0) are records and tools every stage uses;
# the engine drives the stages; the IPython face sits on top.
STAGES: dict[str, int] = {
    "_digest": 0,
    "_store": 0,
    "_journal": 0,
    "_static": 0,
    "_speedups": 0,  # C (optional); imported by polling
    "_tracking": 1,
    "_freshness": 1,
    "_datafiles": 1,
    "_discovery": 1,
    "_polling": 1,
    "_watcher": 1,
    "_inotify": 1,
    "_notify": 1,
    "_source": 2,
    "_region": 2,
    "_graph": 3,
    "_diff": 4,
    "_registries": 5,
    "_execute": 5,
    "_forward": 6,
    "_lines": 6,
    "_library_abc": 6,
    "_library_pydantic": 6,
    "_library_sklearn": 6,
    "_library_typing": 6,
    "_adopt": 6,
    "_libraries": 6,
    "_patch": 6,
    "_redefine": 6,
    "_redefine_class": 6,
    "_rebind": 7,
    "_transaction": 8,
    "_cells": 8,
    "_report": 9,
    "_engine": 10,
    # Other processes (Dask workers) follow the kernel's reloads through the engine.
    "_remote": 10,
    "_dask": 10,
    "_dask_plugin": 10,
    "_config": 11,
    "_magics": 11,
    "_extension": 11,
    "__init__": 11,
}
IPYTHON_FACE = {"_config", "_magics", "_extension", "__init__"}
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 600


@functools.cache
def _modules() -> dict[str, ast.Module]:
    return {path.stem: ast.parse(path.read_text()) for path in sorted(PACKAGE.glob("*.py"))}


def _imports(tree: ast.Module, *, with_type_checking: bool) -> set[str]:
    """Names this module imports: own modules as ``_name``, others by their top package."""
    skipped: set[int] = set()
    if not with_type_checking:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                skipped |= {id(child) for child in ast.walk(node)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module:
                found.add(node.module)
            elif node.level == 1:
                found |= {alias.name for alias in node.names}
            elif node.module:
                found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
    return found


PYTHON_MODULES = sorted(set(STAGES) - {"_speedups"})


def test_every_module_has_a_place_in_the_stage_order() -> None:
    assert sorted(_modules()) == PYTHON_MODULES


@pytest.mark.parametrize("module", PYTHON_MODULES)
def test_a_stage_imports_only_earlier_stages(module: str) -> None:
    tree = _modules()[module]
    own = {name for name in _imports(tree, with_type_checking=True) if name in STAGES}
    later = sorted(name for name in own if STAGES[name] > STAGES[module])
    assert later == [], f"{module} (stage {STAGES[module]}) imports later stages {later}"


def test_no_import_cycle_at_run_time() -> None:
    modules = _modules()
    graph = {
        name: {n for n in _imports(tree, with_type_checking=False) if n in STAGES and n != name}
        for name, tree in modules.items()
    }
    graph["_speedups"] = set()

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for following in graph[start]:
            if following == goal or (
                following not in seen and reaches(following, goal, seen | {following})
            ):
                return True
        return False

    cycles = sorted(name for name in graph if reaches(name, name, {name}))
    assert cycles == []


@pytest.mark.parametrize("module", sorted(set(PYTHON_MODULES) - IPYTHON_FACE))
def test_the_engine_never_imports_ipython(module: str) -> None:
    imported = _imports(_modules()[module], with_type_checking=True)
    assert imported.isdisjoint({"IPython", "traitlets", "ipykernel"})


def test_functions_are_short_enough_to_read_at_once() -> None:
    long = [
        f"{module}.{node.name}: {node.end_lineno - node.lineno + 1} lines"
        for module, tree in _modules().items()
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert long == []


def test_modules_are_small() -> None:
    big = [
        f"{path.name}: {count} lines"
        for path in sorted(PACKAGE.glob("*.py"))
        if (count := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    ]
    assert big == []
