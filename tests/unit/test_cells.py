"""The cells stage on its own (``_cells.py``): what it rewrites, what it reports, no IPython."""

from __future__ import annotations

import ast
import linecache
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hotreload_ext._cells import HOOK, CellDefinitions, CellReplaced, CellUpdate

MODULE = "cells_unit_ns"


class Host:
    """Runs cells as IPython does: one file name per run, its text in linecache."""

    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {"__name__": MODULE}
        self.cells = CellDefinitions(self.namespace, MODULE, strict=True)
        self.filenames: list[str] = []

    def run(self, text: str) -> list[CellUpdate | CellReplaced]:
        text = textwrap.dedent(text)
        filename = f"<ipython-input-{len(self.filenames)}-unit>"
        self.filenames.append(filename)
        linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
        tree = self.cells.rewrite(ast.parse(text, filename))
        try:
            exec(compile(tree, filename, "exec", dont_inherit=True), self.namespace)
        finally:
            reports = self.cells.after_cell()
        return reports


@pytest.fixture
def host() -> Iterator[Host]:
    made = Host()
    yield made
    for filename in made.filenames:
        linecache.cache.pop(filename, None)


def test_a_cell_that_defines_nothing_is_left_as_it_is(host: Host) -> None:
    tree = ast.parse("x = 1\nprint(x)\nfor i in range(3):\n    def inner(): pass\n")
    before = ast.dump(tree, include_attributes=True)
    assert host.cells.rewrite(tree) is tree
    assert ast.dump(tree, include_attributes=True) == before
    assert HOOK not in host.namespace


def test_definitions_are_routed_through_the_hook_at_their_own_lines(host: Host) -> None:
    host.run("class A:\n    pass\n")
    tree = host.cells.rewrite(ast.parse("x = 1\n\nclass A:\n    pass\n\ndef f():\n    pass\n"))
    kinds = [(type(node).__name__, node.lineno) for node in tree.body]
    # A holds a cell's class: redefined through the hook; f is new: it runs, then is recorded.
    assert kinds == [("Assign", 1), ("Assign", 3), ("FunctionDef", 6), ("If", 6)]
    assert host.namespace[HOOK] is host.cells


def test_reports_name_the_changed_members(host: Host) -> None:
    host.run(
        "class A:\n    x = 1\n    def f(self):\n        return 1\n    def g(self):\n        pass\n"
    )
    reports = host.run("class A:\n    x = 1\n    def f(self):\n        return 2\n")
    assert [str(r) for r in reports] == ["hotreload: updated cell class A: f, removed g"]
    (again,) = host.run("class A:\n    x = 1\n    def f(self):\n        return 2\n")
    assert isinstance(again, CellUpdate)
    assert again.edited is False
    host.run("def h():\n    return 1\n")
    assert [str(r) for r in host.run("def h():\n    return 2\n")] == [
        "hotreload: updated cell function h"
    ]


def test_replaced_class_line_counts_the_old_objects(host: Host) -> None:
    assert str(CellReplaced("P", "__slots__ changed", 1, 0)) == (
        "hotreload: cell class P could not be updated in place (__slots__ changed); "
        "1 old object keeps the old class: recreate it"
    )
    host.run("class P:\n    __slots__ = ('x',)\n\nkept = [P(), P(), P()]\n")
    (report,) = host.run("class P:\n    __slots__ = ('x', 'y')\n")
    assert isinstance(report, CellReplaced)
    assert (report.name, report.kept, report.moved) == ("P", 3, 0)


class HeapPasses:
    """Counts passes over the heap (``gc.get_objects``/``get_referrers`` audit events).

    An audit hook cannot be removed: one is installed for the process, on first use, and
    counts only while a test listens.
    """

    installed: HeapPasses | None = None

    def __init__(self) -> None:
        self.listening = False
        self.events: list[str] = []
        sys.addaudithook(self._hook)

    @classmethod
    def get(cls) -> HeapPasses:
        if cls.installed is None:
            cls.installed = cls()
        return cls.installed

    def _hook(self, event: str, args: tuple[object, ...]) -> None:
        if self.listening and event in ("gc.get_objects", "gc.get_referrers"):
            self.events.append(event)

    def during(self, action: Callable[[], object]) -> list[str]:
        self.events, self.listening = [], True
        try:
            action()
        finally:
            self.listening = False
        return self.events


def test_a_class_updated_in_place_needs_no_pass_over_the_heap(host: Host) -> None:
    passes = HeapPasses.get()
    host.run("class A:\n    def f(self):\n        return 1\n\nheap = [A() for _ in range(1000)]\n")
    assert passes.during(lambda: host.run("class A:\n    def f(self):\n        return 2\n")) == []
    assert host.namespace["heap"][0].f() == 2
    # The detector works: a class that must be replaced moves its instances in one pass.
    host.run("class P:\n    __slots__ = ()\n")
    assert passes.during(lambda: host.run("class P:\n    __slots__ = ('x',)\n")) != []


def test_an_object_of_another_module_is_never_updated(host: Host) -> None:
    import json

    host.namespace["JSONDecoder"] = json.JSONDecoder
    tree = host.cells.rewrite(ast.parse("class JSONDecoder:\n    pass\n"))
    assert [type(node).__name__ for node in tree.body] == ["ClassDef", "If"]
    host.run("class JSONDecoder:\n    pass\n")
    assert host.namespace["JSONDecoder"] is not json.JSONDecoder
    assert json.JSONDecoder.__module__ == "json.decoder"


def test_the_cells_stage_runs_without_ipython() -> None:
    code = textwrap.dedent(
        """
        import ast, linecache, sys
        from hotreload_ext._cells import CellDefinitions
        ns = {"__name__": "m"}
        cells = CellDefinitions(ns, "m", strict=True)
        for n, text in enumerate(["class A:\\n    def f(self):\\n        return 1\\n",
                                  "a = A()\\n",
                                  "class A:\\n    def f(self):\\n        return 2\\n"]):
            name = f"<ipython-input-{n}-x>"
            linecache.cache[name] = (len(text), None, text.splitlines(True), name)
            exec(compile(cells.rewrite(ast.parse(text)), name, "exec"), ns)
            cells.after_cell()
        assert ns["a"].f() == 2 and isinstance(ns["a"], ns["A"])
        assert "IPython" not in sys.modules
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True)
