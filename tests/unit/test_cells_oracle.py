"""Generated edit sequences for cells: after every re-run cell, the session is a fresh replay.

A small notebook (a registry cell, a cell defining a class and a function, a subclass cell, a
cell using them) is run once; then seeded random edits are made to the definition cells, and
each edited cell is run again with :class:`CellDefinitions` (no IPython: a tiny host compiles
each run under its own file name and caches its text, as IPython does). After every step the
live session must behave like a fresh replay of the edited notebook in a new namespace, plain
Python, for what the definitions make: the objects the use cell built before the edits (an
instance, a subclass instance, a bound method, a function reference, the registries) included.
``HOTRELOAD_SLOW=1`` runs ten times more sequences (marked ``slow``).
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import linecache
import os
import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hotreload_ext._cells import CellDefinitions

REGISTRY_CELL = (
    "REG = []\nPLUGINS = []\n\n\ndef register(fn):\n    REG.append(fn)\n    return fn\n\n\n"
    "def plugin(cls):\n    PLUGINS.append(cls)\n    return cls\n"
)
USE_CELL = "k = K(1)\ns = S(2)\nbound = k.m0\nfref = f\n"
SLOW = bool(os.environ.get("HOTRELOAD_SLOW"))
NORMAL_SEEDS = 40
SEEDS = [
    pytest.param(seed, marks=pytest.mark.slow) if seed >= NORMAL_SEEDS else seed
    for seed in range(NORMAL_SEEDS * 10 if SLOW else NORMAL_SEEDS)
]
STEPS = 8


@dataclasses.dataclass
class Model:
    """The text of the definition cells, as numbers to edit."""

    rate: int = 1
    methods: dict[str, int] = dataclasses.field(default_factory=lambda: {"m0": 0})
    prop: int | None = None
    static: int | None = None
    func_const: int = 2
    func_default: bool = False
    registered: bool = False
    plugin: bool = False
    calls_m0: set[str] = dataclasses.field(default_factory=set)
    sub_const: int = 10
    next_method: int = 1

    def defs_cell(self) -> str:
        lines = ["@plugin"] if self.plugin else []
        lines += ["class K:", f"    rate = {self.rate}", ""]
        lines += ["    def __init__(self, x):", "        self.x = x", ""]
        for name, const in self.methods.items():
            base = "self.m0()" if name in self.calls_m0 else "self.x"
            lines += [f"    def {name}(self):", f"        return {base} + {const}", ""]
        if self.prop is not None:
            lines += ["    @property", "    def p(self):", f"        return {self.prop}", ""]
        if self.static is not None:
            lines += ["    @staticmethod", "    def st():", f"        return {self.static}", ""]
        lines.append("")
        if self.registered:
            lines.append("@register")
        signature, extra = ("a, b=1", " + b") if self.func_default else ("a", "")
        lines += [f"def f({signature}):", f"    return a * {self.func_const}{extra}", ""]
        return "\n".join(lines)

    def sub_cell(self) -> str:
        return f"class S(K):\n    def m0(self):\n        return super().m0() * {self.sub_const}\n"


class Notebook:
    """A host running cells in one namespace, each compiled under its own file name."""

    def __init__(self, label: str, *, cells: bool) -> None:
        self.label = label
        self.namespace: dict[str, Any] = {"__name__": f"notebook_{label}"}
        self.cells = (
            CellDefinitions(
                self.namespace,
                f"notebook_{label}",
                is_cell_file=lambda name: name.startswith("<cell-"),
                strict=True,
            )
            if cells
            else None
        )
        self.filenames: list[str] = []

    def run(self, text: str) -> None:
        filename = f"<cell-{self.label}-{len(self.filenames)}>"
        self.filenames.append(filename)
        linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
        tree = ast.parse(text, filename)
        if self.cells is not None:
            tree = self.cells.rewrite(tree)
        exec(compile(tree, filename, "exec", dont_inherit=True), self.namespace)
        if self.cells is not None:
            self.cells.after_cell()

    def forget(self) -> None:
        for filename in self.filenames:
            linecache.cache.pop(filename, None)


def edit(model: Model, rng: random.Random) -> str:
    """Change ``model`` at random; return which cell to run again (``defs`` or ``sub``)."""
    choices: list[Callable[[], str]] = [
        lambda: _set(model, "rate", rng.randint(0, 9)),
        lambda: _change_method(model, rng),
        lambda: _add_method(model, rng),
        lambda: _remove_method(model, rng),
        lambda: _set(model, "prop", None if model.prop is not None else rng.randint(0, 9)),
        lambda: _set(model, "static", None if model.static is not None else rng.randint(0, 9)),
        lambda: _set(model, "func_const", rng.randint(0, 9)),
        lambda: _set(model, "sub_const", rng.randint(2, 9), cell="sub"),
    ]
    if not model.registered:
        # A changed signature re-runs the decorators (a documented limit): only without one.
        choices.append(lambda: _set(model, "func_default", not model.func_default))
    return rng.choice(choices)()


def _set(model: Model, name: str, value: object, cell: str = "defs") -> str:
    setattr(model, name, value)
    return cell


def _change_method(model: Model, rng: random.Random) -> str:
    name = rng.choice(sorted(model.methods))
    model.methods[name] = rng.randint(0, 9)
    return "defs"


def _add_method(model: Model, rng: random.Random) -> str:
    name = f"m{model.next_method}"
    model.methods[name] = rng.randint(0, 9)
    if rng.random() < 0.5:
        model.calls_m0.add(name)
    model.next_method += 1
    return "defs"


def _remove_method(model: Model, rng: random.Random) -> str:
    removable = sorted(n for n in model.methods if n != "m0")
    if removable:
        del model.methods[rng.choice(removable)]
    return "defs"


def observe(namespace: dict[str, Any], methods: list[str]) -> dict[str, str]:
    """What the definitions and the objects built from them do now, as comparable text."""
    seen: dict[str, str] = {}

    def attempt(key: str, action: Callable[[], object]) -> None:
        try:
            seen[key] = repr(action())
        except Exception as exc:  # the same error on both sides is the same behaviour
            seen[key] = type(exc).__name__

    K, S, k, s = (namespace[n] for n in ("K", "S", "k", "s"))
    attempt("types", lambda: (type(k) is K, isinstance(k, K), isinstance(s, K), type(s) is S))
    attempt("bases", lambda: S.__bases__ == (K,))
    for name in methods:
        for label, target in (("k", k), ("s", s), ("K(5)", None)):
            attempt(f"{label}.{name}", functools.partial(_call, target, K, name))
    attempt("bound", namespace["bound"])
    attempt("fref", lambda: namespace["fref"](2))
    attempt("f", lambda: namespace["f"](2))
    attempt("registry", lambda: [fn(3) for fn in namespace["REG"]])
    attempt("plugins", lambda: [cls is K for cls in namespace["PLUGINS"]])
    attempt("rate", lambda: (K.rate, k.rate, s.rate))
    attempt("p", lambda: (k.p, s.p))
    attempt("st", lambda: (K.st(), k.st()))
    return seen


def _call(target: object, cls: Any, name: str) -> object:
    """``target.name()``, or on a new instance of ``cls`` when ``target`` is None."""
    return getattr(cls(5) if target is None else target, name)()


def replay(model: Model, label: str) -> Notebook:
    fresh = Notebook(label, cells=False)
    for text in (REGISTRY_CELL, model.defs_cell(), model.sub_cell(), USE_CELL):
        fresh.run(text)
    return fresh


@pytest.fixture
def notebooks() -> Iterator[list[Notebook]]:
    made: list[Notebook] = []
    yield made
    for notebook in made:
        notebook.forget()


@pytest.mark.parametrize("seed", SEEDS)
def test_rerun_cells_match_a_fresh_replay(seed: int, notebooks: list[Notebook]) -> None:
    rng = random.Random(seed)
    model = Model(registered=rng.random() < 0.5, plugin=rng.random() < 0.5)
    live = Notebook(f"live{seed}", cells=True)
    notebooks.append(live)
    for text in (REGISTRY_CELL, model.defs_cell(), model.sub_cell(), USE_CELL):
        live.run(text)
    history = [model.defs_cell()]
    for step in range(STEPS):
        which = edit(model, rng)
        text = model.defs_cell() if which == "defs" else model.sub_cell()
        history.append(text)
        live.run(text)
        fresh = replay(model, f"fresh{seed}-{step}")
        notebooks.append(fresh)
        methods = sorted({f"m{i}" for i in range(model.next_method)})
        expected = observe(fresh.namespace, methods)
        actual = observe(live.namespace, methods)
        assert actual == expected, "\n---\n".join(history)
