"""The differential oracle's parts that need neither pytest nor hotreload.

- a seeded generator of multi-module edit sequences (:func:`generate_sequence`): each step is the
  full source of every module, with module names spelled with the placeholder :data:`PREFIX`;
- :func:`observe`, which turns loaded modules into a JSON-able description of what they do
  (function results on fixed inputs, classes, instances, methods, module names);
- the reference: :class:`FreshProcess`, one long-lived ``python -I`` worker that imports each
  step's files from scratch (every module it imported before is forgotten) and returns the same
  observation. This file is that worker's script: it only imports the standard library;
- :func:`shrink` (delta debugging over steps, module versions and statements) and the regression
  file format (:func:`dump_regression`, :func:`load_regression`).

The generator only produces edits whose live result the documentation promises equals a fresh
import: every value computed at import time depends only on statements of its own module, and
imported names are used when called, not when defined (see docs/limitations.md, "What is not
re-run"). The exceptions are deliberate: a step may break one module (a syntax error, or a
statement that raises at import), after which the live session must keep its previous behaviour.
Module-level ``CACHE`` dicts are state meant to persist: they keep their entries across reloads
until their own statement changes.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import importlib
import inspect
import itertools
import json
import os
import random
import re
import select
import subprocess
import sys
import types
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Module names in generated sources: replaced by a test's unique prefix when written.
PREFIX = "hrmodX_"
# Module-level names holding state meant to persist across reloads.
STATE_SUFFIX = "CACHE"
# The argument every generated function, method and constructor is called with.
CALL_ARG = 3
INIT_ARG = 2

# A sequence: for each step, every module's source by key (see module_order).
Steps = list[dict[str, str]]


def is_state(name: str) -> bool:
    """True for a module-level name whose value is meant to persist across reloads."""
    return name.endswith(STATE_SUFFIX)


def module_order(step: dict[str, str]) -> list[str]:
    """The keys of a step in import order: a package's ``__init__`` first, then ``m0``, ``m1``...

    A key is a module name without the prefix; ``pkg.__init__`` is the package ``pkg`` itself.
    A generated module imports only modules that come before it.
    """
    return sorted(
        step, key=lambda key: (key.count("."), not key.endswith("__init__"), len(key), key)
    )


def import_name(key: str) -> str:
    """The module a key names: ``pkg.__init__`` is imported as ``pkg``."""
    return key.removesuffix(".__init__")


def file_name(key: str) -> str:
    """The file a key is written to, relative to the root: ``pkg/m0.py``."""
    return key.replace(".", "/") + ".py"


# =================================================================================================
# The model: modules of items, rendered to source
# =================================================================================================


@dataclass
class Item:
    """One top-level definition or assignment of a generated module."""

    uid: int
    name: str
    module: int

    def def_deps(self) -> list[int]:
        """Items that must exist (and, if local, come earlier) when this statement runs."""
        return []

    def call_refs(self) -> list[int]:
        """Items this item's code reads only when called."""
        return []


@dataclass
class Const(Item):
    """``C_1 = 7``."""

    value: int = 0


@dataclass
class State(Item):
    """``CACHE = {}`` (three spellings): state that counting functions fill in."""

    variant: int = 0


@dataclass
class Pure(Item):
    """A function of its argument only: safe to call at import time."""

    k: int = 1
    c: int = 0
    cached: bool = False  # decorated with functools.lru_cache


@dataclass
class Derived(Item):
    """``NAME = pure(A) + B + k``: a constant computed from other local constants."""

    func: int | None = None
    args: list[int] = field(default_factory=list)
    k: int = 0

    def def_deps(self) -> list[int]:
        return ([self.func] if self.func is not None else []) + self.args


@dataclass
class Func(Item):
    """``[@deco] def f_1(x, k=K): [CACHE count;] return x * k + c [+ READ] [+ callee(x)]``."""

    k: int = 1
    c: int = 0
    default: int | None = None  # a local constant used as the default of `k`
    deco: int | None = None  # a decorator, local or imported
    callee: int | None = None  # a function called with x, local or imported
    read: int | None = None  # a constant read when called, local or imported
    via_module: bool = False  # imported callee/read spelled `module.name`
    alias: bool = False  # imported callee/read bound with `from m import name as name_as`
    counts: bool = False  # counts its calls in the module's CACHE
    doc: str | None = None
    kwonly: bool = False  # `k` is keyword-only (its default lives in __kwdefaults__)

    def def_deps(self) -> list[int]:
        return [d for d in (self.default, self.deco) if d is not None]

    def call_refs(self) -> list[int]:
        return [d for d in (self.callee, self.read) if d is not None]


@dataclass
class Factory(Item):
    """``def make_1(n)`` returning a closure over ``n``."""

    k: int = 1


@dataclass
class Product(Item):
    """``add_2 = make_1(n)``: a closure made at import time."""

    factory: int = 0
    n: int = 1

    def def_deps(self) -> list[int]:
        return [self.factory]


@dataclass
class Deco(Item):
    """A decorator whose wrapper uses ``functools.wraps`` and adds ``k``."""

    k: int = 1


@dataclass
class Method:
    """One member function of a class."""

    kind: str  # "method" | "property" | "classmethod" | "staticmethod"
    k: int
    read: int | None = None
    calls_super: bool = False


@dataclass
class Klass(Item):
    """A class (optionally a dataclass or a subclass): ``tag``, ``__init__``, methods."""

    base: int | None = None
    is_dataclass: bool = False
    tag: int = 0
    tag_const: int | None = None
    init_k: int | None = 1
    fields: dict[str, int] = field(default_factory=dict)
    methods: dict[str, Method] = field(default_factory=dict)
    doc: str | None = None

    def def_deps(self) -> list[int]:
        return [d for d in (self.base, self.tag_const) if d is not None]

    def call_refs(self) -> list[int]:
        return [m.read for m in self.methods.values() if m.read is not None]


@dataclass
class Instance(Item):
    """``INST_1 = K_2(arg)``: an instance made at import time."""

    cls: int = 0
    arg: int = 1

    def def_deps(self) -> list[int]:
        return [self.cls]


_STATE_SPELLINGS = ("{}", "dict()", "dict({})")


@dataclass
class World:
    """Every generated module: the order of its items, and every item ever made."""

    order: list[list[int]]
    items: dict[int, Item]
    docs: list[str | None]
    serial: int = 0
    package: bool = False  # modules `pkg.m0`, `pkg.m1`... importing each other relatively

    # --- queries --------------------------------------------------------------------------
    def alive(self, uid: int) -> bool:
        item = self.items[uid]
        return uid in self.order[item.module]

    def local(self, module: int, kind: type | tuple[type, ...]) -> list[Item]:
        return [self.items[u] for u in self.order[module] if isinstance(self.items[u], kind)]

    def visible(self, module: int, kind: type | tuple[type, ...]) -> list[Item]:
        """Items of ``kind`` in this module or a module it may import (a lower one)."""
        return [it for m in range(module + 1) for it in self.local(m, kind)]

    def position(self, uid: int) -> int:
        return self.order[self.items[uid].module].index(uid)

    def users(self, uid: int) -> list[Item]:
        """Alive items whose definition needs ``uid``."""
        return [self.items[u] for mod in self.order for u in mod if uid in self.items[u].def_deps()]

    def callers(self, uid: int) -> list[Item]:
        """Alive items whose code reads ``uid`` when called."""
        return [
            self.items[u] for mod in self.order for u in mod if uid in self.items[u].call_refs()
        ]

    def has_foreign_users(self, uid: int) -> bool:
        module = self.items[uid].module
        return any(user.module != module for user in self.users(uid))

    def is_local_chain(self, cls: Klass) -> bool:
        """A class all of whose generated bases are defined in its own module."""
        current: Item = cls
        while isinstance(current, Klass) and current.base is not None:
            base = self.items[current.base]
            if base.module != cls.module:
                return False
            current = base
        return True

    def order_ok(self, module: int) -> bool:
        seen: set[int] = set()
        for uid in self.order[module]:
            for dep in self.items[uid].def_deps():
                if self.items[dep].module == module and dep not in seen:
                    return False
                if not self.alive(dep):
                    return False
            seen.add(uid)
        return True

    def next_serial(self) -> int:
        self.serial += 1
        return self.serial

    def new_name(self, stem: str) -> str:
        return f"{stem}_{self.next_serial()}"

    # --- rendering ------------------------------------------------------------------------
    def ref(self, uid: int, module: int, *, via_module: bool = False, alias: bool = False) -> str:
        """How module ``module`` spells item ``uid``."""
        item = self.items[uid]
        if item.module == module:
            return item.name
        if via_module:
            return (
                f"m{item.module}.{item.name}"
                if self.package
                else f"{PREFIX}m{item.module}.{item.name}"
            )
        return f"{item.name}_as" if alias else item.name

    def key(self, module: int) -> str:
        return f"pkg.m{module}" if self.package else f"m{module}"

    def render(self, module: int, extra: tuple[int, str] | None = None) -> str:
        """The module's source; ``extra`` inserts a chunk before the item at that position."""
        from_imports: dict[int, set[str]] = {}
        module_imports: set[int] = set()
        for uid in self.order[module]:
            item = self.items[uid]
            refs = [(d, False, False) for d in item.def_deps()]
            if isinstance(item, Func):
                refs += [(d, item.via_module, item.alias) for d in item.call_refs()]
            else:
                refs += [(d, False, False) for d in item.call_refs()]
            for dep, by_module, alias in refs:
                target = self.items[dep]
                if target.module == module:
                    continue
                if by_module:
                    module_imports.add(target.module)
                elif self.alive(dep):
                    spelled = f"{target.name} as {target.name}_as" if alias else target.name
                    from_imports.setdefault(target.module, set()).add(spelled)
        head = [f'"""{self.docs[module]}"""\n'] if self.docs[module] is not None else []
        head.append("import dataclasses\nimport functools\n")
        source = "." if self.package else PREFIX
        if self.package:
            head += [f"from . import m{m}\n" for m in sorted(module_imports)]
        else:
            head += [f"import {PREFIX}m{m}\n" for m in sorted(module_imports)]
        head += [
            f"from {source}m{m} import {', '.join(sorted(names))}\n"
            for m, names in sorted(from_imports.items())
        ]
        chunks = [self.render_item(self.items[uid]) for uid in self.order[module]]
        if extra is not None:
            chunks.insert(extra[0], extra[1])
        return "".join(head) + "".join("\n\n" + chunk for chunk in chunks)

    def render_all(self) -> dict[str, str]:
        sources = {self.key(i): self.render(i) for i in range(len(self.order))}
        if self.package:
            sources["pkg.__init__"] = ""
        return sources

    def render_item(self, item: Item) -> str:
        m = item.module
        if isinstance(item, Const):
            return f"{item.name} = {item.value}\n"
        if isinstance(item, State):
            return f"{item.name} = {_STATE_SPELLINGS[item.variant]}\n"
        if isinstance(item, Pure):
            cache = "@functools.lru_cache\n" if item.cached else ""
            return f"{cache}def {item.name}(x):\n    return x * {item.k} + {item.c}\n"
        if isinstance(item, Derived):
            names = [self.ref(a, m) for a in item.args]
            if item.func is not None:
                first = f"{self.ref(item.func, m)}({names[0] if names else item.k})"
                names = [first, *names[1:]]
            return f"{item.name} = {' + '.join([*names, str(item.k)])}\n"
        if isinstance(item, Func):
            return self._render_func(item)
        if isinstance(item, Factory):
            return (
                f"def {item.name}(n):\n    def inner(x):\n        return x + n * {item.k}\n\n"
                "    return inner\n"
            )
        if isinstance(item, Product):
            return f"{item.name} = {self.ref(item.factory, m)}({item.n})\n"
        if isinstance(item, Deco):
            return (
                f"def {item.name}(fn):\n    @functools.wraps(fn)\n    def wrapper(x):\n"
                f"        return fn(x) + {item.k}\n\n    return wrapper\n"
            )
        if isinstance(item, Klass):
            return self._render_class(item)
        assert isinstance(item, Instance)
        return f"{item.name} = {self.ref(item.cls, m)}({item.arg})\n"

    def _render_func(self, item: Func) -> str:
        m = item.module
        lines = []
        if item.deco is not None:
            lines.append(f"@{self.ref(item.deco, m)}\n")
        default = self.ref(item.default, m) if item.default is not None else str(item.k)
        star = "*, " if item.kwonly else ""
        lines.append(f"def {item.name}(x, {star}k={default}):\n")
        if item.doc is not None:
            lines.append(f'    """{item.doc}"""\n')
        if item.counts:
            lines.append(f'    CACHE["{item.name}"] = CACHE.get("{item.name}", 0) + 1\n')
        terms = ["x * k", str(item.c)]
        if item.read is not None:
            terms.append(self.ref(item.read, m, via_module=item.via_module, alias=item.alias))
        if item.callee is not None:
            callee = self.ref(item.callee, m, via_module=item.via_module, alias=item.alias)
            terms.append(f"{callee}(x)")
        lines.append(f"    return {' + '.join(terms)}\n")
        return "".join(lines)

    def _render_class(self, item: Klass) -> str:
        m = item.module
        lines = ["@dataclasses.dataclass\n"] if item.is_dataclass else []
        base = f"({self.ref(item.base, m)})" if item.base is not None else ""
        lines.append(f"class {item.name}{base}:\n")
        if item.doc is not None:
            lines.append(f'    """{item.doc}"""\n\n')
        tag = self.ref(item.tag_const, m) if item.tag_const is not None else str(item.tag)
        lines.append(f"    tag = {tag}\n")
        if item.is_dataclass:
            lines.append("    v: int\n")
            lines += [f"    {name}: int = {value}\n" for name, value in item.fields.items()]
        elif item.init_k is not None:
            if item.base is None:
                lines.append(f"\n    def __init__(self, v):\n        self.v = v * {item.init_k}\n")
            else:
                lines.append(
                    "\n    def __init__(self, v):\n        super().__init__(v)\n"
                    f"        self.w = v + {item.init_k}\n"
                )
        for name, method in item.methods.items():
            read = f" + {self.ref(method.read, m)}" if method.read is not None else ""
            if method.kind == "method":
                sup = f" + super().{name}(x)" if method.calls_super else ""
                body = f"def {name}(self, x):\n        return x * {method.k} + self.tag{read}{sup}"
            elif method.kind == "property":
                body = f"@property\n    def {name}(self):\n        return self.v * {method.k}{read}"
            elif method.kind == "classmethod":
                body = (
                    f"@classmethod\n    def {name}(cls, x):\n"
                    f"        return x + cls.tag * {method.k}{read}"
                )
            else:
                body = f"@staticmethod\n    def {name}(x):\n        return x - {method.k}{read}"
            lines.append(f"\n    {body}\n")
        return "".join(lines)


# =================================================================================================
# Edits
# =================================================================================================


def _insert(world: World, item: Item, rng: random.Random) -> None:
    """Add ``item`` at a random position after everything its definition needs."""
    world.items[item.uid] = item
    order = world.order[item.module]
    local = [order.index(d) for d in item.def_deps() if world.items[d].module == item.module]
    order.insert(rng.randint(max(local, default=-1) + 1, len(order)), item.uid)


def _uid(world: World) -> int:
    return world.next_serial()


def _pick(rng: random.Random, items: Sequence[Item]) -> Item | None:
    return rng.choice(list(items)) if items else None


def add_item(world: World, module: int, rng: random.Random) -> None:
    """Add a random new definition to ``module``."""
    kind = rng.choice(
        [
            *("const", "const", "pure", "derived", "func", "func", "func", "factory", "deco"),
            *("class", "class", "instance", "state"),
        ]
    )
    uid = _uid(world)
    if kind == "const":
        _insert(world, Const(uid, world.new_name("C"), module, rng.randrange(10)), rng)
    elif kind == "state":
        if not any(isinstance(i, State) for i in world.local(module, State)):
            _insert(world, State(uid, "CACHE", module, rng.randrange(3)), rng)
    elif kind == "pure":
        _insert(world, Pure(uid, world.new_name("p"), module, rng.randrange(1, 5)), rng)
    elif kind == "derived":
        args = [i.uid for i in world.local(module, (Const, Derived))]
        chosen = rng.sample(args, k=min(len(args), rng.randint(0, 2)))
        func = _pick(rng, world.local(module, Pure))
        derived = Derived(uid, world.new_name("D"), module, func.uid if func else None, chosen)
        derived.k = rng.randrange(10)
        _insert(world, derived, rng)
    elif kind == "func":
        item = Func(uid, world.new_name("f"), module, rng.randrange(1, 5), rng.randrange(5))
        _insert(world, item, rng)
        for _ in range(2):
            change_func(world, item, rng)
    elif kind == "factory":
        factory = Factory(uid, world.new_name("make"), module, rng.randrange(1, 5))
        _insert(world, factory, rng)
        product = Product(_uid(world), world.new_name("add"), module, uid, rng.randrange(1, 9))
        _insert(world, product, rng)
    elif kind == "deco":
        _insert(world, Deco(uid, world.new_name("deco"), module, rng.randrange(1, 5)), rng)
    elif kind == "class":
        _add_class(world, module, uid, rng)
    else:
        classes = [c for c in world.local(module, Klass) if world.is_local_chain(c)]  # type: ignore[arg-type]
        cls = _pick(rng, classes)
        if cls is not None:
            _insert(world, Instance(uid, world.new_name("INST"), module, cls.uid, 1 + uid % 5), rng)


def _add_class(world: World, module: int, uid: int, rng: random.Random) -> None:
    is_dataclass = rng.random() < 0.3
    base = None if is_dataclass or rng.random() < 0.6 else _pick(rng, world.visible(module, Klass))
    item = Klass(uid, world.new_name("K"), module, base.uid if base else None, is_dataclass)
    item.tag = rng.randrange(10)
    item.init_k = rng.randrange(1, 5) if base is None or rng.random() < 0.5 else None
    for _ in range(rng.randint(1, 3)):
        _add_member(world, item, rng)
    _insert(world, item, rng)


def _add_member(world: World, cls: Klass, rng: random.Random) -> None:
    if cls.is_dataclass and rng.random() < 0.3:
        cls.fields[world.new_name("w")] = rng.randrange(10)
        return
    kind = rng.choice(["method", "method", "property", "classmethod", "staticmethod"])
    prefix = {"method": "m", "property": "prop", "classmethod": "cm", "staticmethod": "sm"}[kind]
    name = world.new_name(prefix)
    if kind == "method" and cls.base is not None and rng.random() < 0.5:
        # Override a method the base has, calling it through zero-argument super().
        base = world.items[cls.base]
        inherited = [n for n, m in base.methods.items() if m.kind == "method"]  # type: ignore[attr-defined]
        if inherited:
            name = rng.choice(inherited)
            cls.methods[name] = Method(kind, rng.randrange(1, 5), calls_super=True)
            return
    cls.methods[name] = Method(kind, rng.randrange(1, 5))


def change_func(world: World, item: Func, rng: random.Random) -> None:
    """Change one thing about a function: its body, default, decorator, callee, or docstring."""
    choice = rng.randrange(8)
    module = item.module
    before = world.position(item.uid)
    if choice == 0:
        item.k = rng.randrange(1, 9)
    elif choice == 1:
        item.c = rng.randrange(10)
    elif choice == 2:
        consts = [c for c in world.local(module, Const) if world.position(c.uid) < before]
        default = _pick(rng, consts)
        item.default = default.uid if default is not None and rng.random() < 0.7 else None
        item.kwonly = rng.random() < 0.3
    elif choice == 3:
        decos = [
            d
            for d in world.visible(module, Deco)
            if d.module != module or world.position(d.uid) < before
        ]
        deco = _pick(rng, decos)
        item.deco = deco.uid if deco is not None and item.deco is None else None
    elif choice == 4:
        # Only lower functions: calls can never recurse.
        callees = [
            f
            for f in world.visible(module, (Func, Pure, Product))
            if f.module < module or f.uid < item.uid
        ]
        callee = _pick(rng, callees)
        item.callee = callee.uid if callee is not None and rng.random() < 0.8 else None
        item.via_module = rng.random() < 0.3
        item.alias = not item.via_module and rng.random() < 0.3
    elif choice == 5:
        read = _pick(rng, world.visible(module, (Const, Derived)))
        item.read = read.uid if read is not None and rng.random() < 0.8 else None
    elif choice == 6:
        item.counts = not item.counts
    else:
        item.doc = (
            None if item.doc is not None and rng.random() < 0.5 else f"Doc {rng.randrange(9)}."
        )


def change_class(world: World, cls: Klass, rng: random.Random) -> None:
    """Change one thing inside a class body (never its header)."""
    choice = rng.randrange(8)
    if choice == 7:
        change_class_header(world, cls, rng)
    elif choice == 0:
        cls.tag = rng.randrange(10)
        consts = [
            c
            for c in world.local(cls.module, (Const, Derived))
            if world.position(c.uid) < world.position(cls.uid)
        ]
        tag = _pick(rng, consts) if rng.random() < 0.4 else None
        cls.tag_const = tag.uid if tag is not None else None
    elif choice == 1 and not cls.is_dataclass and (cls.init_k is not None or cls.base is not None):
        cls.init_k = rng.randrange(1, 5) if cls.base is None or rng.random() < 0.7 else None
    elif choice == 2:
        _add_member(world, cls, rng)
    elif choice == 3 and cls.methods:
        name = rng.choice(sorted(cls.methods))
        cls.methods[name].k = rng.randrange(1, 9)
    elif choice == 4 and cls.methods:
        del cls.methods[rng.choice(sorted(cls.methods))]
    elif choice == 5 and cls.methods:
        method = cls.methods[rng.choice(sorted(cls.methods))]
        read = _pick(rng, world.visible(cls.module, (Const, Derived)))
        method.read = read.uid if read is not None and method.read is None else None
    elif choice == 6 and cls.is_dataclass and cls.fields:
        name = rng.choice(sorted(cls.fields))
        if rng.random() < 0.5:
            del cls.fields[name]
        else:
            cls.fields[name] = rng.randrange(10)
    else:
        cls.doc = None if cls.doc is not None else f"Class doc {rng.randrange(9)}."


def change_class_header(world: World, cls: Klass, rng: random.Random) -> None:
    """Change a class's base or make it a dataclass (or not): the class is replaced.

    Only for a class no other module subclasses: a subclass elsewhere keeps the old class as its
    base (docs/limitations.md, "Other replaced classes").
    """
    if world.has_foreign_users(cls.uid):
        return
    if rng.random() < 0.5 and cls.base is None:
        cls.is_dataclass = not cls.is_dataclass
        cls.init_k = None if cls.is_dataclass else rng.randrange(1, 5)
        return
    if cls.is_dataclass:
        return
    position = world.position(cls.uid)
    bases = [
        b
        for b in world.visible(cls.module, Klass)
        if b.uid != cls.uid and (b.module != cls.module or world.position(b.uid) < position)
    ]
    base = _pick(rng, bases)
    cls.base = None if cls.base is not None or base is None else base.uid
    if cls.base is None and cls.init_k is None:
        cls.init_k = rng.randrange(1, 5)
    if (
        cls.base is not None
        and any(
            isinstance(world.items[u], Instance) and world.items[u].cls == cls.uid  # type: ignore[attr-defined]
            for u in world.order[cls.module]
        )
        and not world.is_local_chain(cls)
    ):
        # A module-level instance may only be made of a class whose bases are all local.
        cls.base = None


def change_item(world: World, module: int, rng: random.Random) -> None:
    """Change a random existing definition of ``module``."""
    item = _pick(rng, [world.items[u] for u in world.order[module]])
    if item is None:
        return
    if isinstance(item, Const):
        item.value = rng.randrange(20)
    elif isinstance(item, State):
        item.variant = (item.variant + 1) % len(_STATE_SPELLINGS)
    elif isinstance(item, Pure):
        if rng.random() < 0.25:
            item.cached = not item.cached
        else:
            item.k, item.c = rng.randrange(1, 9), rng.randrange(9)
    elif isinstance(item, Derived):
        item.k = rng.randrange(20)
    elif isinstance(item, Func):
        change_func(world, item, rng)
    elif isinstance(item, Factory):
        item.k = rng.randrange(1, 9)
    elif isinstance(item, Product):
        item.n = rng.randrange(1, 9)
    elif isinstance(item, Deco):
        # A wrapper made in another module is that module's computed value: not re-made.
        if not world.has_foreign_users(item.uid):
            item.k = rng.randrange(1, 9)
    elif isinstance(item, Klass):
        change_class(world, item, rng)
    elif isinstance(item, Instance):
        item.arg = rng.randrange(1, 9)


def remove_item(world: World, module: int, rng: random.Random) -> None:
    """Delete a definition nothing else needs at import time (callers may dangle)."""
    item = _pick(rng, [world.items[u] for u in world.order[module]])
    if item is not None and not world.users(item.uid):
        world.order[module].remove(item.uid)


def rename_item(world: World, module: int, rng: random.Random) -> None:
    """Rename a definition; every reference, here and in importing modules, follows."""
    item = _pick(rng, [world.items[u] for u in world.order[module]])
    if item is None or isinstance(item, State) or world.has_foreign_users(item.uid):
        return
    item.name = world.new_name(item.name.rsplit("_", 1)[0])


def move_item(world: World, module: int, rng: random.Random) -> None:
    """Move a definition, if everything still runs after what it needs."""
    order = world.order[module]
    if len(order) < 2:
        return
    saved = list(order)
    uid = order.pop(rng.randrange(len(order)))
    order.insert(rng.randrange(len(order) + 1), uid)
    if not world.order_ok(module):
        order[:] = saved


def move_to_module(world: World, module: int, rng: random.Random) -> None:
    """Move a definition to another module (a refactoring): its callers import it from there.

    Only a definition that needs nothing at import time and that nothing needs at import time
    (a value computed from it in another module would not be recomputed, see the module
    docstring); and only where every caller can import it (modules import only lower ones) and
    calls still cannot recurse.
    """
    item = _pick(rng, [world.items[u] for u in world.order[module]])
    target = rng.randrange(len(world.order))
    if item is None or target == module or isinstance(item, State):
        return
    if item.def_deps() or world.users(item.uid):
        return

    def comes_before(first: Item, first_module: int, second: Item, second_module: int) -> bool:
        return first_module < second_module or (
            first_module == second_module and first.uid < second.uid
        )

    if not all(
        comes_before(world.items[r], world.items[r].module, item, target) for r in item.call_refs()
    ):
        return
    if not all(comes_before(item, target, c, c.module) for c in world.callers(item.uid)):
        return
    world.order[module].remove(item.uid)
    item.module = target
    world.order[target].insert(rng.randint(0, len(world.order[target])), item.uid)


def change_doc(world: World, module: int, rng: random.Random) -> None:
    world.docs[module] = (
        None if world.docs[module] else f"Generated module, version {rng.randrange(9)}."
    )


EDITS: list[Callable[[World, int, random.Random], None]] = [
    add_item,
    add_item,
    change_item,
    change_item,
    change_item,
    change_item,
    remove_item,
    rename_item,
    move_item,
    move_to_module,
    change_doc,
]


def new_world(rng: random.Random) -> World:
    modules = rng.randint(2, 3)
    world = World(order=[[] for _ in range(modules)], items={}, docs=[None] * modules)
    world.package = rng.random() < 0.3
    for module in range(modules):
        for _ in range(rng.randint(2, 5)):
            add_item(world, module, rng)
    return world


def edit_world(world: World, rng: random.Random) -> None:
    """One random edit to a random module."""
    rng.choice(EDITS)(world, rng.randrange(len(world.order)), rng)


def _broken_step(world: World, rng: random.Random) -> dict[str, str]:
    """The current sources with one module broken: a syntax error, or a statement that raises.

    Edits to that module alone may come with it (they must be rolled back together); the world
    keeps them, so the next good step shows them again.
    """
    module = rng.randrange(len(world.order))
    before = world.render_all()
    for _ in range(rng.randint(0, 2)):
        trial = copy.deepcopy(world)
        rng.choice(EDITS)(trial, module, rng)
        after = trial.render_all()
        if all(after[s] == before[s] for s in after if s != world.key(module)):
            world.order, world.items, world.docs = trial.order, trial.items, trial.docs
            world.serial = trial.serial
    sources = world.render_all()
    position = rng.randint(0, len(world.order[module]))
    uid = world.next_serial()
    bad = rng.choice(
        [
            f"def broken_{uid}(x:\n    return x\n",
            f"BOOM_{uid} = 1 // 0\n",
            f"BOOM_{uid} = undefined_name_{uid}\n",
            f"class Broken_{uid}:\n    tag = 1\n    raise RuntimeError('boom {uid}')\n",
            f"if True\n    BROKEN_{uid} = 1\n",
        ]
    )
    sources[world.key(module)] = world.render(module, extra=(position, bad))
    return sources


def generate_sequence(seed: int, steps: int) -> Steps:
    """A seeded sequence: the initial sources, then ``steps`` edited versions.

    About one step in eight breaks one module (and only that module changes in that step); the
    step after a broken one is always good.
    """
    rng = random.Random(seed)
    world = new_world(rng)
    sequence = [world.render_all()]
    broken = False
    for _ in range(steps):
        if not broken and rng.random() < 0.125:
            sequence.append(_broken_step(world, rng))
            broken = True
            continue
        broken = False
        for _ in range(rng.randint(1, 3)):
            edit_world(world, rng)
        sequence.append(world.render_all())
    return sequence


# =================================================================================================
# Observation: what a set of loaded modules does, as plain JSON data
# =================================================================================================

Observation = dict[str, Any]


def observe(modules: Sequence[types.ModuleType]) -> Observation:
    """Describe what the modules do. Calls every generated function and method.

    The same function runs in the reference process and on the live session. State names
    (``*CACHE``) are listed but their values are reported apart, under ``"state"``, read after
    every call was made.
    """
    generated = frozenset(m.__name__ for m in modules)
    described: dict[str, Any] = {}
    for module in modules:
        names: dict[str, Any] = {}
        for name in sorted(vars(module)):
            if name.startswith("__"):
                continue
            value = vars(module)[name]
            names[name] = ["state"] if is_state(name) else describe(value, generated)
        described[module.__name__] = {"doc": module.__doc__, "names": names}
    return {"modules": described, "state": read_state(modules)}


def read_state(modules: Sequence[types.ModuleType]) -> dict[str, dict[str, Any]]:
    """The persistent-state values of each module: ``{module: {name: {key: count}}}``."""
    state: dict[str, dict[str, Any]] = {}
    for module in modules:
        values: dict[str, Any] = {}
        for name, value in vars(module).items():
            if is_state(name):
                values[name] = (
                    {str(k): v for k, v in value.items()}
                    if isinstance(value, dict)
                    else repr(value)
                )
        state[module.__name__] = values
    return state


def outcome(thunk: Callable[[], Any], generated: frozenset[str], depth: int) -> dict[str, Any]:
    """What calling ``thunk`` did: ``{"returns": ...}`` or ``{"raises": "Type: message"}``."""
    try:
        result = thunk()
    except Exception as exc:
        return {"raises": f"{type(exc).__name__}: {exc}"}
    return {"returns": describe(result, generated, depth + 1)}


def describe(value: Any, generated: frozenset[str], depth: int = 0) -> Any:
    """A JSON-able description of ``value`` that does not depend on the process it lives in.

    Functions and classes of the generated modules are exercised (called with fixed arguments,
    instantiated, their methods called); anything else is described by type and name only.
    """
    if depth > 3:
        return {"too deep": type(value).__name__}
    if value is None or isinstance(value, (bool, int, float, str)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return {type(value).__name__: [describe(v, generated, depth + 1) for v in value]}
    if isinstance(value, dict):
        return {"dict": {repr(k): describe(v, generated, depth + 1) for k, v in value.items()}}
    if isinstance(value, types.ModuleType):
        return {"module": value.__name__}
    if isinstance(value, type):
        if value.__module__ in generated:
            return describe_class(value, generated, depth)
        return {"type": f"{value.__module__}.{value.__qualname__}"}
    if isinstance(value, types.FunctionType):
        if value.__module__ in generated:
            return describe_function(value, generated, depth)
        return {"function": f"{value.__module__}.{value.__qualname__}"}
    if callable(value) and hasattr(value, "__wrapped__") and value.__module__ in generated:
        # A C-implemented wrapper of a generated function (functools.lru_cache).
        return describe_function(value, generated, depth)
    if type(value).__module__ in generated:
        return describe_instance(value, generated, depth)
    return {"object": f"{type(value).__module__}.{type(value).__qualname__}"}


def _signature(func: Any) -> str:
    """Parameters and defaults, of the function a ``functools.wraps`` chain leads to.

    What ``inspect.signature`` reports, computed directly (it is slow, and it runs for every
    function of every step).
    """
    seen = 0
    while hasattr(func, "__wrapped__") and seen < 10:
        func = func.__wrapped__
        seen += 1
    code = getattr(func, "__code__", None)
    if code is None:
        return f"<not a function: {type(func).__name__}>"
    count = code.co_argcount + code.co_kwonlyargcount
    return f"{code.co_varnames[:count]} {func.__defaults__!r} {func.__kwdefaults__!r}"


def describe_function(func: Any, generated: frozenset[str], depth: int) -> dict[str, Any]:
    return {
        "function": f"{func.__module__}.{func.__qualname__}",
        "type": type(func).__name__,
        "__name__": func.__name__,
        "__doc__": func.__doc__,
        "signature": _signature(func),
        "wraps": hasattr(func, "__wrapped__"),
        f"call({CALL_ARG})": outcome(lambda: func(CALL_ARG), generated, depth),
    }


def _members(cls: type, target: Any, generated: frozenset[str], depth: int) -> dict[str, Any]:
    """Each non-dunder attribute of ``cls``, exercised on ``target`` (the class or an instance)."""
    members: dict[str, Any] = {}
    # The lambdas below bind the loop variable with a default argument, and mypy cannot type
    # such a lambda (python/mypy#15459), hence their ignores.
    for name in sorted(dir(cls)):
        if name.startswith("__"):
            continue
        static = inspect.getattr_static(cls, name)
        call = f"{name}({CALL_ARG})"
        if isinstance(static, (staticmethod, classmethod)):
            members[name] = {
                type(static).__name__: outcome(
                    lambda n=name: getattr(cls, n)(CALL_ARG),  # type: ignore[misc]
                    generated,
                    depth,
                )
            }
        elif isinstance(static, property):
            members[name] = (
                {"property": outcome(lambda n=name: getattr(target, n), generated, depth)}  # type: ignore[misc]
                if target is not cls
                else {"property": None}
            )
        elif isinstance(static, types.FunctionType):
            members[name] = (
                {call: outcome(lambda n=name: getattr(target, n)(CALL_ARG), generated, depth)}  # type: ignore[misc]
                if target is not cls
                else {"method": _signature(static)}
            )
        else:
            members[name] = {"value": describe(static, generated, depth + 1)}
    return members


def describe_class(cls: type, generated: frozenset[str], depth: int) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "class": f"{cls.__module__}.{cls.__qualname__}",
        "__doc__": cls.__doc__,
        "__bases__": [f"{b.__module__}.{b.__qualname__}" for b in cls.__bases__],
    }
    if dataclasses.is_dataclass(cls):
        entry["fields"] = {
            f.name: None if f.default is dataclasses.MISSING else repr(f.default)
            for f in dataclasses.fields(cls)
        }
    entry["members"] = _members(cls, cls, generated, depth)
    entry[f"instance({INIT_ARG})"] = outcome(lambda: cls(INIT_ARG), generated, depth)
    return entry


def describe_instance(obj: Any, generated: frozenset[str], depth: int) -> dict[str, Any]:
    # type[object], not type[Any]: on type[Any] mypy sees `cls.__repr__` as a bound method.
    cls: type[object] = type(obj)
    return {
        "instance of": f"{cls.__module__}.{cls.__qualname__}",
        "vars": describe(dict(vars(obj)), generated, depth + 1)
        if hasattr(obj, "__dict__")
        else None,
        "repr": repr(obj) if cls.__repr__ is not object.__repr__ else None,
        "members": _members(cls, obj, generated, depth),
    }


def normalize(data: Any) -> Any:
    """``data`` as it comes back from JSON (tuples become lists), for comparisons."""
    return json.loads(json.dumps(data))


def differences(live: Any, fresh: Any, path: str = "") -> Iterator[str]:
    """Every place two observations differ, as ``path: live != fresh``."""
    if isinstance(live, dict) and isinstance(fresh, dict):
        for key in sorted(set(live) | set(fresh)):
            if key not in live:
                yield f"{path}/{key}: missing in the live session (fresh: {_short(fresh[key])})"
            elif key not in fresh:
                yield f"{path}/{key}: only in the live session ({_short(live[key])})"
            else:
                yield from differences(live[key], fresh[key], f"{path}/{key}")
    elif isinstance(live, list) and isinstance(fresh, list) and len(live) == len(fresh):
        for index, (a, b) in enumerate(zip(live, fresh, strict=True)):
            yield from differences(a, b, f"{path}[{index}]")
    elif live != fresh:
        yield f"{path}: live {_short(live)} != fresh {_short(fresh)}"


def first_difference(live: Any, fresh: Any, path: str = "", *, limit: int = 4) -> str | None:
    """Where two observations differ (the first ``limit`` places); None when they are equal."""
    found = list(itertools.islice(differences(live, fresh, path), limit + 1))
    if not found:
        return None
    more = "\n  (and more)" if len(found) > limit else ""
    return "\n  ".join(found[:limit]) + more


def _short(value: Any, limit: int = 300) -> str:
    text = json.dumps(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# =================================================================================================
# The reference process
# =================================================================================================


@dataclass
class FreshResult:
    """What a fresh import of one step's files did: an observation, or the error it raised."""

    observation: Observation | None
    error: str | None


class FreshProcess:
    """A long-lived worker process that imports each step's files from scratch.

    For every request the worker writes the step's sources into its directory (removing files
    that are not part of the step), forgets every module it imported before, and imports the
    modules in order; it answers with :func:`observe`'s result or the error the import raised.
    ``python -I -B``: no user site, no environment variables, no bytecode written or read.

    :meth:`submit` returns at once, so the live session can reload while the worker imports;
    :meth:`result` waits for the answer.
    """

    def __init__(self, workdir: Path, *, timeout: float = 60.0) -> None:
        self.workdir = workdir
        self.timeout = timeout
        self._process: subprocess.Popen[str] | None = None
        self._pending = 0

    def _start(self) -> subprocess.Popen[str]:
        if self._process is None or self._process.poll() is not None:
            self.workdir.mkdir(parents=True, exist_ok=True)
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-I",
                    "-B",
                    os.path.abspath(__file__),
                    "--serve",
                    str(self.workdir),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                encoding="utf-8",
            )
            self._pending = 0
        return self._process

    def submit(self, sources: dict[str, str], order: list[str]) -> None:
        """Ask for a fresh import of ``sources`` (module name -> text), in ``order``."""
        process = self._start()
        assert process.stdin is not None
        process.stdin.write(json.dumps({"sources": sources, "order": order}) + "\n")
        process.stdin.flush()
        self._pending += 1

    def result(self) -> FreshResult:
        """The answer to the oldest request not yet answered."""
        process = self._process
        assert process is not None
        assert process.stdout is not None
        assert self._pending
        ready, _, _ = select.select([process.stdout], [], [], self.timeout)
        line = process.stdout.readline() if ready else ""
        if not line:
            self.close()
            raise RuntimeError(f"the fresh process did not answer within {self.timeout} s")
        self._pending -= 1
        answer = json.loads(line)
        return FreshResult(answer.get("observation"), answer.get("error"))

    def run(self, sources: dict[str, str], order: list[str]) -> FreshResult:
        """:meth:`submit`, then :meth:`result`."""
        self.submit(sources, order)
        return self.result()

    def close(self) -> None:
        if self._process is not None:
            if self._process.stdin is not None:
                self._process.stdin.close()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            if self._process.stdout is not None:
                self._process.stdout.close()
            self._process = None


def one_shot(sources: dict[str, str], order: list[str], workdir: Path) -> FreshResult:
    """The same as :meth:`FreshProcess.run`, in a brand-new process used for one import only."""
    process = FreshProcess(workdir)
    try:
        return process.run(sources, order)
    finally:
        process.close()


def _serve(root: Path, lines: Iterator[str], write: Callable[[str], object]) -> None:
    """The worker loop: one JSON request per line in, one JSON answer per line out."""
    sys.path.insert(0, str(root))
    mine = str(root) + os.sep
    written: dict[str, str] = {}
    for line in lines:
        request = json.loads(line)
        sources: dict[str, str] = request["sources"]
        for name in [n for n in written if n not in sources]:
            (root / file_name(name)).unlink()
            del written[name]
        for name, text in sources.items():
            if written.get(name) != text:
                path = root / file_name(name)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
                written[name] = text
        # Forget every module imported from the directory. Standard-library modules imported
        # lazily stay (Python 3.13's invalidate_caches() imports importlib.metadata, say).
        for name, module in list(sys.modules.items()):
            if (getattr(module, "__file__", None) or "").startswith(mine):
                del sys.modules[name]
        importlib.invalidate_caches()
        try:
            modules = [importlib.import_module(import_name(n)) for n in request["order"]]
            answer: dict[str, Any] = {"observation": normalize(observe(modules))}
        except BaseException as exc:  # the answer says what a fresh import did, whatever it was
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        write(json.dumps(answer) + "\n")


# =================================================================================================
# Shrinking and regression files
# =================================================================================================


def _blocks(source: str) -> list[str]:
    """Whole-line blocks of each statement, outermost first, decorators included."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return [line + "\n" for line in source.splitlines() if line.strip()]
    lines = source.splitlines(keepends=True)
    nodes = [node for node in ast.walk(tree) if isinstance(node, ast.stmt)]
    blocks = []
    for node in nodes:
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        end = node.end_lineno if node.end_lineno is not None else node.lineno
        blocks.append("".join(lines[first - 1 : end]))
    return blocks


def _tidy(source: str) -> str:
    """At most two blank lines in a row, none at the start, one newline at the end."""
    source = re.sub(r"\n{4,}", "\n\n\n", source).lstrip("\n")
    return source.rstrip("\n") + "\n" if source.strip() else ""


def shrink_candidates(steps: Steps) -> Iterator[Steps]:
    """Smaller variants of a sequence, biggest cuts first; last, the same with tidier blanks."""
    for index in range(len(steps) - 1, -1, -1):
        if len(steps) > 1:
            yield steps[:index] + steps[index + 1 :]
    for index in range(len(steps) - 1, 0, -1):
        for stem in steps[index]:
            if steps[index][stem] != steps[index - 1].get(stem):
                candidate = [dict(step) for step in steps]
                candidate[index][stem] = steps[index - 1][stem]
                yield candidate
    stems = module_order(steps[0])
    for stem in reversed(stems):
        if all(stem in step for step in steps) and len(stems) > 1:
            yield [{s: t for s, t in step.items() if s != stem} for step in steps]
    for stem in stems:
        seen: dict[str, None] = {}
        for step in steps:
            seen.update(dict.fromkeys(_blocks(step.get(stem, ""))))
        for block in seen:
            candidate = [dict(step) for step in steps]
            for step in candidate:
                if stem in step:
                    step[stem] = step[stem].replace(block, "", 1)
            if candidate != steps:
                yield candidate
    tidy = [{stem: _tidy(text) for stem, text in step.items()} for step in steps]
    if tidy != steps:
        yield tidy


def shrink(steps: Steps, still_fails: Callable[[Steps], bool], *, budget: int = 400) -> Steps:
    """Greedy delta debugging: keep taking the first smaller variant that still fails."""
    current = steps
    progress = True
    while progress and budget > 0:
        progress = False
        for candidate in shrink_candidates(current):
            budget -= 1
            if still_fails(candidate):
                current = candidate
                progress = True
                break
            if budget <= 0:
                break
    return current


def dump_regression(steps: Steps, *, title: str, observed: str) -> str:
    """The text of a regression file: plain data, each step's module versions as lines."""
    data = {
        "title": title,
        "observed": observed,
        "steps": [{stem: step[stem].split("\n") for stem in module_order(step)} for step in steps],
    }
    return json.dumps(data, indent=1) + "\n"


def load_regression(path: Path) -> Steps:
    data = json.loads(path.read_text(encoding="utf-8"))
    return [{stem: "\n".join(lines) for stem, lines in step.items()} for step in data["steps"]]


def render_steps(steps: Steps) -> str:
    """The sources of a sequence, readable: each module's text where it changed."""
    out = []
    for index, step in enumerate(steps):
        for stem in module_order(step):
            if index == 0 or step[stem] != steps[index - 1].get(stem):
                out.append(f"# ---- step {index}: {PREFIX}{file_name(stem)} ----\n{step[stem]}")
    return "\n".join(out)


if __name__ == "__main__" and sys.argv[1:2] == ["--serve"]:
    _serve(
        Path(sys.argv[2]),
        iter(sys.stdin),
        lambda text: (sys.stdout.write(text), sys.stdout.flush()),
    )
