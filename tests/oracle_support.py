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

Besides constants, functions, closures, decorators and classes, modules hold:

- same-name definitions: handlers all named ``_``, registered by ``functools.singledispatch``
  (``@show.register(T)``, stacked, or by annotation) or by a decorator appending to a
  module-level list (returning the function, or the list itself), and ``typing.overload``
  stubs before their implementation (:class:`Registry`, :class:`Overloaded`);
- statements run for their side effects, which a fresh process runs once each: ``addFilter``
  on the module's logger (:class:`LogFilter`, :class:`InstallFilter`), and calls that increment
  a module-level counter through ``global`` (:class:`Counter`, :class:`Tick`);
- values read from data files at import (``json.loads(path.read_text())``, :class:`DataLoad`),
  and constants computed from them; the data files' contents change in some good steps, alone
  or with code edits, and a fresh import reads them anew;
- library classes: dataclasses (frozen, slots, kw_only), enums (Enum, IntEnum, StrEnum, Flag),
  runtime-checkable protocols and classes that match them, named tuples, and, when installed,
  pydantic models and attrs classes (:class:`EnumItem`, :class:`Proto`, :class:`Duck`,
  :class:`NTuple`, :class:`PydModel`, :class:`AttrsItem`).

The observation covers what a user sees of them: what a dispatcher returns for each type and
what it has registered, a registry's handlers in order, ``typing.get_overloads``, a logger's
filters and what they do to a record, counters, dataclass and attrs fields and options, enum
members, lookups and Flag combinations, ``isinstance`` against every protocol, and pydantic's
fields, validation (returning the live class), errors and schema. :data:`GAPS` lists the edits
the generator can steer around while the engine gets them wrong.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import enum
import functools
import importlib
import inspect
import itertools
import json
import logging
import os
import random
import re
import select
import subprocess
import sys
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Sequence
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

# A sequence: for each step, every module's source by key (see module_order), and the text of
# every data file the modules may read at import (keys ending in DATA_SUFFIX, see data_keys).
Steps = list[dict[str, str]]
DATA_SUFFIX = ".json"


def is_state(name: str) -> bool:
    """True for a module-level name whose value is meant to persist across reloads."""
    return name.endswith(STATE_SUFFIX)


def is_data_key(key: str) -> bool:
    """Whether a step's key names a data file (``d0.json``), not a module."""
    return key.endswith(DATA_SUFFIX)


def module_order(step: dict[str, str]) -> list[str]:
    """The module keys of a step in import order: a package's ``__init__`` first, then ``m0``...

    A key is a module name without the prefix; ``pkg.__init__`` is the package ``pkg`` itself.
    A generated module imports only modules that come before it. Data files are not modules.
    """
    return sorted(
        (key for key in step if not is_data_key(key)),
        key=lambda key: (key.count("."), not key.endswith("__init__"), len(key), key),
    )


def data_keys(step: dict[str, str]) -> list[str]:
    """The data files of a step (``d0.json``...), in order."""
    return sorted(key for key in step if is_data_key(key))


def import_name(key: str) -> str:
    """The module a key names: ``pkg.__init__`` is imported as ``pkg``."""
    return key.removesuffix(".__init__")


def file_name(key: str) -> str:
    """The file a key is written to, relative to the root: ``pkg/m0.py``, ``d0.json``."""
    return key if is_data_key(key) else key.replace(".", "/") + ".py"


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

    def imports(self) -> set[str]:
        """Standard or library modules its statement needs, besides dataclasses and functools."""
        return set()


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
class DataLoad(Item):
    """``LOAD_1 = json.loads((... / "d0.json").read_text())["v"] * k``: a value read from a
    data file at import, whose contents change in some steps."""

    file: int = 0
    k: int = 1

    def imports(self) -> set[str]:
        return {"json", "pathlib"}


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
    options: list[str] = field(default_factory=list)  # dataclass(frozen=, slots=, kw_only=)

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


# --- same-name definitions --------------------------------------------------------------------

# The types a singledispatch handler may be registered for, and the value each is observed with.
DISPATCH_TYPES = ("int", "str", "float", "bytes", "list", "tuple", "bool", "dict")
DISPATCH_SAMPLES: dict[str, Any] = {
    "int": 1,
    "str": "a",
    "float": 1.5,
    "bytes": b"b",
    "list": [1],
    "tuple": (1,),
    "bool": True,
    "dict": {},
    "NoneType": None,
}
# Handlers return "h<tag>:<k>": the tag says which handler ran, whatever object it is now.
HANDLER_RESULT = re.compile(r"^'(h\d+):")


@dataclass
class Handler:
    """One ``def _`` registered by a :class:`Registry`'s decorator; returns ``"h<tag>:<k>"``."""

    tag: int
    k: int
    types: list[str] = field(default_factory=list)  # singledispatch: one or two stacked types
    annotated: bool = False  # `@show.register` reading the parameter's annotation instead
    param: str = "x"  # the parameter's name: a header edit


@dataclass
class Registry(Item):
    """Handlers all named ``_`` and registered by a decorator, in one block of statements.

    - ``dispatch``: ``@functools.singledispatch def show_N``, handlers ``@show_N.register(T)``;
    - ``list``: ``HANDLERS_N = []`` and ``def register_N(fn)`` appending to it, returning ``fn``;
    - ``list-self``: the same, but ``register_N`` returns the registry itself (``_`` is the list).
    """

    kind: str = "dispatch"
    k: int = 1  # the dispatcher's default result
    prepend: bool = False  # register_N inserts at the front (an edit of the decorator itself)
    handlers: list[Handler] = field(default_factory=list)

    @property
    def decorator(self) -> str:
        return f"register_{self.name.rsplit('_', 1)[1]}"


@dataclass
class Overloaded(Item):
    """``typing.overload`` stubs (one per annotated type), then the implementation."""

    stubs: list[str] = field(default_factory=list)
    k: int = 1

    def imports(self) -> set[str]:
        return {"typing"}


# --- side effects at import -------------------------------------------------------------------


@dataclass
class LogFilter(Item):
    """``class Filter_N(logging.Filter)`` appending its mark to a record's message."""

    k: int = 1

    def imports(self) -> set[str]:
        return {"logging"}


@dataclass
class InstallFilter(Item):
    """``logging.getLogger(__name__).addFilter(Filter_N())``: binds no name."""

    filter: int = 0

    def def_deps(self) -> list[int]:
        return [self.filter]

    def imports(self) -> set[str]:
        return {"logging"}


@dataclass
class Counter(Item):
    """``TICKS_N = 0`` and ``def tick_N(step)`` adding ``step * k`` to it (``global``)."""

    k: int = 1

    @property
    def function(self) -> str:
        return f"tick_{self.name.rsplit('_', 1)[1]}"


@dataclass
class Tick(Item):
    """``tick_N(step)``: a call made once per import, for its effect only."""

    counter: int = 0
    step: int = 1

    def def_deps(self) -> list[int]:
        return [self.counter]


# --- library classes --------------------------------------------------------------------------

DATACLASS_OPTIONS = ("frozen", "slots", "kw_only")
ENUM_BASES = ("Enum", "IntEnum", "Flag", *(("StrEnum",) if sys.version_info >= (3, 11) else ()))
# Names that protocols ask for and duck-typed classes provide.
PROTOCOL_POOL = ("area", "scale", "label")


@dataclass
class EnumItem(Item):
    """``class Color_N(enum.<base>)``: members ``NAME = value`` and a ``label`` method."""

    base: str = "Enum"
    members: dict[str, int] = field(default_factory=dict)
    k: int = 1

    def imports(self) -> set[str]:
        return {"enum"}


@dataclass
class Proto(Item):
    """A ``typing.Protocol`` of methods (and maybe a data member ``size: int``)."""

    members: list[str] = field(default_factory=list)
    runtime: bool = True  # decorated with typing.runtime_checkable

    def imports(self) -> set[str]:
        return {"typing"}


@dataclass
class Duck(Item):
    """A plain class with some of the protocols' methods, and maybe ``size``."""

    methods: dict[str, int] = field(default_factory=dict)
    size: int | None = None


@dataclass
class NTuple(Item):
    """``class Point_N(typing.NamedTuple)``: ``v: int``, defaulted fields, a method."""

    fields: dict[str, int] = field(default_factory=dict)
    k: int = 1

    def imports(self) -> set[str]:
        return {"typing"}


@dataclass
class PydModel(Item):
    """A pydantic ``BaseModel``: ``v: int``, defaulted fields, a validator of ``v``, a method."""

    fields: dict[str, int] = field(default_factory=dict)
    validator: int | None = None  # the validator multiplies v by this
    k: int = 1
    frozen: bool = False

    def imports(self) -> set[str]:
        return {"pydantic"}


ATTRS_VARIANTS = ("define", "frozen", "define(kw_only=True)")


@dataclass
class AttrsItem(Item):
    """An ``attrs`` class (``@attrs.define`` and variants): fields, a validator, a method."""

    variant: str = "define"
    fields: dict[str, int] = field(default_factory=dict)
    limit: int | None = None  # the validator rejects v above this
    k: int = 1

    def imports(self) -> set[str]:
        return {"attrs"}


_STATE_SPELLINGS = ("{}", "dict()", "dict({})")

# Changes to a module's `def _` handlers that one save must not combine while a gap is avoided.
HANDLER_CONFLICTS = {
    frozenset(("added", "edited")): "handler-added-with-edit",
}

# Edits that can be steered around, each while the engine gets one thing wrong: the test names
# those it avoids (tests/unit/test_oracle.py, KNOWN_GAPS) next to the regression showing it.
GAPS = {
    "install-edited": "an addFilter statement changed or removed (or its filter class renamed)",
    "install-order": "addFilter statements reordered: one moved, or a new one above another",
    "handler-added-with-edit": "one save adding a `def _` handler and editing another",
    "same-type-handlers": "two singledispatch handlers registered for the same type",
    "overload-stubs": "typing.overload stubs (then only implementations are generated)",
    "star-import-edited": "a star import added or removed where a statement has process-wide "
    "effects (an addFilter, overload stubs)",
}


@dataclass
class World:
    """Every generated module: the order of its items, and every item ever made."""

    order: list[list[int]]
    items: dict[int, Item]
    docs: list[str | None]
    serial: int = 0
    package: bool = False  # modules `pkg.m0`, `pkg.m1`... importing each other relatively
    libraries: frozenset[str] = frozenset()  # installed optional libraries: pydantic, attrs
    avoid: frozenset[str] = frozenset()  # known engine gaps the edits steer around (GAPS)
    # What this step did to each module's `def _` handlers: "added", "removed", "edited".
    traded: dict[int, set[str]] = field(default_factory=dict)
    # Star imports: importing module -> the lower module it does `from ... import *` from.
    stars: dict[int, int] = field(default_factory=dict)
    # Modules that define `__all__` (every other item of theirs, so a star import skips some).
    alls: set[int] = field(default_factory=set)
    # Modules not written yet: the last one may appear during the sequence, and is then
    # imported by the user (nothing else imports it: modules import only lower ones).
    absent: set[int] = field(default_factory=set)
    # The value in each data file `d<i>.json` (the modules' DataLoad items read them).
    data: list[int] = field(default_factory=list)

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

    def may_subclass(self, cls: Item) -> bool:
        """A base for a generated subclass, whose ``__init__`` calls ``super().__init__(v)``."""
        return isinstance(cls, Klass) and "kw_only" not in cls.options

    def allows(self, gap: str) -> bool:
        """Whether edits may provoke a known engine gap (see :data:`GAPS`)."""
        assert gap in GAPS, gap
        return gap not in self.avoid

    def installs_in_order(self, module: int, before: list[int]) -> bool:
        """False if a move changed the order of the module's ``addFilter`` statements while
        the gap ``install-order`` is avoided."""
        if self.allows("install-order"):
            return True
        now = [u for u in self.order[module] if isinstance(self.items[u], InstallFilter)]
        return now == [u for u in before if u in now]

    def trade_ok(self, module: int, change: str) -> bool:
        """Whether a handler of ``module`` may be ``change`` ("added", "removed" or "edited") in
        this step, and record it: not with a change that one of the avoided gaps pairs it with
        (:data:`HANDLER_CONFLICTS`)."""
        done = self.traded.setdefault(module, set())
        for other in done:
            gap = HANDLER_CONFLICTS.get(frozenset((change, other)))
            if gap is not None and not self.allows(gap):
                return False
        done.add(change)
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
        needed = set().union(*(self.items[uid].imports() for uid in self.order[module]))
        head += [f"import {name}\n" for name in sorted(needed)]
        source = "." if self.package else PREFIX
        if self.package:
            head += [f"from . import m{m}\n" for m in sorted(module_imports)]
        else:
            head += [f"import {PREFIX}m{m}\n" for m in sorted(module_imports)]
        if module in self.stars:
            head.append(f"from {source}m{self.stars[module]} import *\n")
        head += [
            f"from {source}m{m} import {', '.join(sorted(names))}\n"
            for m, names in sorted(from_imports.items())
        ]
        if module in self.alls:
            # Every other item that binds a name (a tick call binds none).
            exported = [n for u in self.order[module][::2] if (n := self.items[u].name)]
            head.append(f"__all__ = {exported!r}\n")
        chunks = [self.render_item(self.items[uid]) for uid in self.order[module]]
        if extra is not None:
            chunks.insert(extra[0], extra[1])
        return "".join(head) + "".join("\n\n" + chunk for chunk in chunks)

    def render_all(self) -> dict[str, str]:
        present = [i for i in range(len(self.order)) if i not in self.absent]
        sources = {self.key(i): self.render(i) for i in present}
        if self.package:
            sources["pkg.__init__"] = ""
        for index, value in enumerate(self.data):
            sources[f"d{index}{DATA_SUFFIX}"] = json.dumps({"v": value}) + "\n"
        return sources

    def render_item(self, item: Item) -> str:
        m = item.module
        if isinstance(item, Const):
            return f"{item.name} = {item.value}\n"
        if isinstance(item, DataLoad):
            # The data files sit at the root, beside the modules or above the package.
            where = f"pathlib.Path(__file__).parents[{1 if self.package else 0}]"
            path = f'{where} / "{PREFIX}d{item.file}{DATA_SUFFIX}"'
            return f'{item.name} = json.loads(({path}).read_text())["v"] * {item.k}\n'
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
        if isinstance(item, Instance):
            cls = self.items[item.cls]
            keyword = "v=" if isinstance(cls, Klass) and "kw_only" in cls.options else ""
            return f"{item.name} = {self.ref(item.cls, m)}({keyword}{item.arg})\n"
        if isinstance(item, Registry):
            return self._render_registry(item)
        if isinstance(item, Overloaded):
            stubs = [
                f"@typing.overload\ndef {item.name}(x: {t}) -> {t}: ...\n\n\n" for t in item.stubs
            ]
            return "".join(stubs) + f"def {item.name}(x):\n    return x * {item.k}\n"
        if isinstance(item, LogFilter):
            return (
                f"class {item.name}(logging.Filter):\n    def filter(self, record):\n"
                f'        record.msg = f"{{record.msg}}|{item.name}:{item.k}"\n'
                "        return True\n"
            )
        if isinstance(item, InstallFilter):
            return f"logging.getLogger(__name__).addFilter({self.ref(item.filter, m)}())\n"
        if isinstance(item, Counter):
            return (
                f"{item.name} = 0\n\n\ndef {item.function}(step):\n    global {item.name}\n"
                f"    {item.name} += step * {item.k}\n    return {item.name}\n"
            )
        if isinstance(item, Tick):
            counter = self.items[item.counter]
            assert isinstance(counter, Counter)
            return f"{counter.function}({item.step})\n"
        return self._render_library_class(item)

    def _render_registry(self, item: Registry) -> str:
        if item.kind == "dispatch":
            chunks = [
                f'@functools.singledispatch\ndef {item.name}(x):\n    return "default:{item.k}"\n'
            ]
        else:
            add = "insert(0, fn)" if item.prepend else "append(fn)"
            returned = item.name if item.kind == "list-self" else "fn"
            chunks = [
                f"{item.name} = []\n",
                f"def {item.decorator}(fn):\n    {item.name}.{add}\n    return {returned}\n",
            ]
        for handler in item.handlers:
            param = handler.param
            if item.kind != "dispatch":
                decorators = f"@{item.decorator}\n"
            elif handler.annotated:
                decorators = f"@{item.name}.register\n"
                param = f"{param}: {handler.types[0]}"
            else:
                decorators = "".join(f"@{item.name}.register({t})\n" for t in handler.types)
            chunks.append(f'{decorators}def _({param}):\n    return "h{handler.tag}:{handler.k}"\n')
        return "\n\n".join(chunks)

    def _render_library_class(self, item: Item) -> str:
        if isinstance(item, EnumItem):
            lines = [f"class {item.name}(enum.{item.base}):\n"]
            spell = '"s{}"' if item.base == "StrEnum" else "{}"
            lines += [f"    {n} = {spell.format(v)}\n" for n, v in item.members.items()]
            lines.append(
                f'\n    def label(self, x):\n        return f"{{self.name}}:{{x * {item.k}}}"\n'
            )
            return "".join(lines)
        if isinstance(item, Proto):
            lines = ["@typing.runtime_checkable\n"] if item.runtime else []
            lines.append(f"class {item.name}(typing.Protocol):\n")
            body = [
                "    size: int\n" if name == "size" else f"    def {name}(self, x): ...\n"
                for name in item.members
            ]
            lines.append("\n".join(body) if body else "    pass\n")
            return "".join(lines)
        if isinstance(item, Duck):
            lines = [f"class {item.name}:\n"]
            if item.size is not None:
                lines.append(f"    size = {item.size}\n\n")
            lines.append("    def __init__(self, v):\n        self.v = v\n")
            lines += [
                f"\n    def {name}(self, x):\n        return self.v * x + {k}\n"
                for name, k in item.methods.items()
            ]
            return "".join(lines)
        if isinstance(item, NTuple):
            lines = [f"class {item.name}(typing.NamedTuple):\n    v: int\n"]
            lines += [f"    {name}: int = {value}\n" for name, value in item.fields.items()]
            lines.append(f"\n    def total(self, x):\n        return sum(self) * {item.k} + x\n")
            return "".join(lines)
        if isinstance(item, PydModel):
            lines = [f"class {item.name}(pydantic.BaseModel):\n"]
            if item.frozen:
                lines.append("    model_config = pydantic.ConfigDict(frozen=True)\n\n")
            lines.append("    v: int\n")
            lines += [f"    {name}: int = {value}\n" for name, value in item.fields.items()]
            if item.validator is not None:
                lines.append(
                    '\n    @pydantic.field_validator("v")\n    @classmethod\n'
                    "    def check_v(cls, value):\n        if value < 0:\n"
                    '            raise ValueError("v must not be negative")\n'
                    f"        return value * {item.validator}\n"
                )
            lines.append(f"\n    def total(self, x):\n        return self.v * {item.k} + x\n")
            return "".join(lines)
        assert isinstance(item, AttrsItem), item
        lines = [f"@attrs.{item.variant}\nclass {item.name}:\n"]
        lines.append("    v: int = attrs.field()\n" if item.limit is not None else "    v: int\n")
        lines += [f"    {name}: int = {value}\n" for name, value in item.fields.items()]
        if item.limit is not None:
            lines.append(
                "\n    @v.validator\n    def _check_v(self, attribute, value):\n"
                f"        if value > {item.limit}:\n"
                f'            raise ValueError(f"v={{value}} is above {item.limit}")\n'
            )
        lines.append(f"\n    def total(self, x):\n        return self.v * {item.k} + x\n")
        return "".join(lines)

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
        options = ", ".join(f"{option}=True" for option in item.options)
        lines = [f"@dataclasses.dataclass({options})\n" if options else "@dataclasses.dataclass\n"]
        lines = lines if item.is_dataclass else []
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
            *("registry", "registry", "overload", "filter", "install", "counter", "tick"),
            *("enum", "protocol", "duck", "namedtuple"),
            *(name for name in ("pydantic", "attrs") if name in world.libraries),
        ]
    )
    uid = _uid(world)
    if kind in _ADDERS:
        _ADDERS[kind](world, module, uid, rng)
        return
    if kind == "const":
        _insert(world, Const(uid, world.new_name("C"), module, rng.randrange(10)), rng)
    elif kind == "state":
        if not any(isinstance(i, State) for i in world.local(module, State)):
            _insert(world, State(uid, "CACHE", module, rng.randrange(3)), rng)
    elif kind == "pure":
        _insert(world, Pure(uid, world.new_name("p"), module, rng.randrange(1, 5)), rng)
    elif kind == "derived":
        args = [i.uid for i in world.local(module, (Const, Derived, DataLoad))]
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
    bases = [b for b in world.visible(module, Klass) if world.may_subclass(b)]
    base = None if is_dataclass or rng.random() < 0.6 else _pick(rng, bases)
    item = Klass(uid, world.new_name("K"), module, base.uid if base else None, is_dataclass)
    if is_dataclass and rng.random() < 0.6:
        item.options = sorted(rng.sample(DATACLASS_OPTIONS, rng.randint(1, 2)))
    item.tag = rng.randrange(10)
    item.init_k = rng.randrange(1, 5) if base is None or rng.random() < 0.5 else None
    for _ in range(rng.randint(1, 3)):
        _add_member(world, item, rng)
    _insert(world, item, rng)


def _fixed_layout(world: World, cls: Klass) -> bool:
    """A slots dataclass subclassed in another module: a field added or removed changes the
    instance layout, and CPython cannot rebase a subclass onto a class of another layout (as it
    cannot move instances, docs/limitations.md)."""
    return "slots" in cls.options and cls.uid in world.items and world.has_foreign_users(cls.uid)


def _add_member(world: World, cls: Klass, rng: random.Random) -> None:
    if cls.is_dataclass and rng.random() < 0.3:
        if not _fixed_layout(world, cls):
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
            if not _fixed_layout(world, cls):
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
    subclassed = any(isinstance(user, Klass) for user in world.users(cls.uid))
    if cls.is_dataclass and rng.random() < 0.5:
        # Toggle one of the decorator's options (slots changes the instances' layout: those
        # made before cannot move to the new class, docs/limitations.md).
        option = rng.choice(DATACLASS_OPTIONS)
        if option in cls.options:
            cls.options.remove(option)
        elif option != "kw_only" or not subclassed:
            cls.options = sorted([*cls.options, option])
        return
    if rng.random() < 0.5 and cls.base is None:
        cls.is_dataclass = not cls.is_dataclass
        cls.init_k = None if cls.is_dataclass else rng.randrange(1, 5)
        cls.options = []
        return
    if cls.is_dataclass:
        return
    position = world.position(cls.uid)
    bases = [
        b
        for b in world.visible(cls.module, Klass)
        if b.uid != cls.uid
        and (b.module != cls.module or world.position(b.uid) < position)
        and world.may_subclass(b)
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


# --- same-name definitions and side effects ------------------------------------------------


def _new_handler(world: World, registry: Registry, rng: random.Random) -> Handler:
    handler = Handler(world.next_serial(), rng.randrange(1, 9))
    if registry.kind == "dispatch":
        handler.types = [_dispatch_type(world, registry, rng)]
        handler.annotated = rng.random() < 0.25
        if not handler.annotated and rng.random() < 0.2:
            handler.types.append(_dispatch_type(world, registry, rng, also=handler.types))
    return handler


def _dispatch_type(
    world: World, registry: Registry, rng: random.Random, also: Sequence[str] = ()
) -> str:
    """A type no handler is registered for, usually (a second registration overrides)."""
    taken = {t for h in registry.handlers for t in h.types} | set(also)
    free = [t for t in DISPATCH_TYPES if t not in taken]
    if not world.allows("same-type-handlers"):
        # Every type taken (change_registry adds no handler then): repeat the handler's own.
        return rng.choice(free or list(also) or DISPATCH_TYPES)
    return rng.choice(free if free and rng.random() < 0.9 else DISPATCH_TYPES)


def _add_registry(world: World, module: int, uid: int, rng: random.Random) -> None:
    kind = rng.choice(["dispatch", "dispatch", "list", "list-self"])
    stem = "show" if kind == "dispatch" else "HANDLERS"
    item = Registry(uid, world.new_name(stem), module, kind, rng.randrange(1, 9))
    for _ in range(rng.randint(1, 3)):
        item.handlers.append(_new_handler(world, item, rng))
    if world.trade_ok(module, "added"):
        _insert(world, item, rng)


def change_registry(world: World, item: Registry, rng: random.Random) -> None:
    """Add a handler (at the end or in the middle), edit, re-register, remove or swap one."""
    handlers = item.handlers
    choice = rng.randrange(8) if handlers else 0
    change = "added" if choice <= 1 else "removed" if choice == 4 else "edited"
    if not world.trade_ok(item.module, change):
        return
    taken = {t for h in handlers for t in h.types}
    full = item.kind == "dispatch" and taken >= set(DISPATCH_TYPES)
    if choice <= 1 and full and not world.allows("same-type-handlers"):
        return
    if choice <= 1:
        position = len(handlers) if choice == 0 else rng.randint(0, len(handlers))
        handlers.insert(position, _new_handler(world, item, rng))
    elif choice == 2:
        rng.choice(handlers).k = rng.randrange(1, 9)
    elif choice == 3:
        handler = rng.choice(handlers)
        if item.kind != "dispatch":
            handler.param = "value" if handler.param == "x" else "x"
        elif rng.random() < 0.3 and len(handler.types) == 1:
            handler.annotated = not handler.annotated
        else:
            others = [t for t in handler.types if t != handler.types[0]]
            handler.types = [_dispatch_type(world, item, rng, also=handler.types), *others]
    elif choice == 4:
        handlers.remove(rng.choice(handlers))
    elif choice == 5 and len(handlers) > 1:
        i, j = rng.sample(range(len(handlers)), 2)
        handlers[i], handlers[j] = handlers[j], handlers[i]
    elif choice == 6:
        if item.kind == "dispatch":
            item.k = rng.randrange(1, 9)
        else:
            item.prepend = not item.prepend
    else:
        handler = rng.choice(handlers)
        if item.kind == "dispatch" and not handler.annotated:
            if len(handler.types) > 1:
                handler.types.pop()
            else:
                handler.types.append(_dispatch_type(world, item, rng, also=handler.types))


OVERLOAD_TYPES = ("int", "str", "float", "bytes", "list")


def _add_overloaded(world: World, module: int, uid: int, rng: random.Random) -> None:
    stubs = rng.sample(OVERLOAD_TYPES, rng.randint(0, 2)) if world.allows("overload-stubs") else []
    _insert(
        world, Overloaded(uid, world.new_name("parse"), module, stubs, rng.randrange(1, 9)), rng
    )


def change_overloaded(world: World, item: Overloaded, rng: random.Random) -> None:
    """Add a stub (at the end or in the middle), retype, remove or swap one, or edit the body."""
    choice = rng.randrange(5) if world.allows("overload-stubs") else 4
    free = [t for t in OVERLOAD_TYPES if t not in item.stubs]
    if choice == 0 and free:
        item.stubs.insert(rng.randint(0, len(item.stubs)), rng.choice(free))
    elif choice == 1 and item.stubs and free:
        item.stubs[rng.randrange(len(item.stubs))] = rng.choice(free)
    elif choice == 2 and item.stubs:
        item.stubs.pop(rng.randrange(len(item.stubs)))
    elif choice == 3 and len(item.stubs) > 1:
        i, j = rng.sample(range(len(item.stubs)), 2)
        item.stubs[i], item.stubs[j] = item.stubs[j], item.stubs[i]
    else:
        item.k = rng.randrange(1, 9)


def _add_filter(world: World, module: int, uid: int, rng: random.Random) -> None:
    _insert(world, LogFilter(uid, world.new_name("Filter"), module, rng.randrange(1, 9)), rng)
    if rng.random() < 0.8:
        _add_install(world, module, _uid(world), rng)


def _add_install(world: World, module: int, uid: int, rng: random.Random) -> None:
    chosen = _pick(rng, world.visible(module, LogFilter))
    if chosen is None:
        return
    item = InstallFilter(uid, "", module, chosen.uid)
    if world.allows("install-order"):
        _insert(world, item, rng)
    else:  # below every other addFilter (and below its class)
        world.items[uid] = item
        world.order[module].append(uid)


def _add_counter(world: World, module: int, uid: int, rng: random.Random) -> None:
    counter = Counter(uid, world.new_name("TICKS"), module, rng.randrange(1, 5))
    _insert(world, counter, rng)
    for _ in range(rng.randint(1, 2)):
        _insert(world, Tick(_uid(world), "", module, counter.uid, rng.randrange(1, 9)), rng)


def _add_tick(world: World, module: int, uid: int, rng: random.Random) -> None:
    """A new call to an existing counter's function."""
    counter = _pick(rng, world.local(module, Counter))
    if counter is not None:
        _insert(world, Tick(uid, "", module, counter.uid, rng.randrange(1, 9)), rng)


# --- library classes ---------------------------------------------------------------------------


def _enum_value(item: EnumItem, rng: random.Random) -> int:
    """A value no member has (Flag: a free power of two), or rarely an alias's."""
    pool = [1, 2, 4, 8, 16] if "Flag" in item.base else list(range(1, 10))
    free = [v for v in pool if v not in item.members.values()]
    return rng.choice(free if free and rng.random() < 0.9 else pool)


def _add_enum(world: World, module: int, uid: int, rng: random.Random) -> None:
    item = EnumItem(uid, world.new_name("Color"), module, rng.choice(ENUM_BASES))
    item.k = rng.randrange(1, 9)
    for _ in range(rng.randint(1, 3)):
        item.members[world.new_name("M")] = _enum_value(item, rng)
    _insert(world, item, rng)


def change_enum(world: World, item: EnumItem, rng: random.Random) -> None:
    """Add a member (at the end or in the middle), change a value, remove one, edit the method."""
    choice = rng.randrange(5)
    names = list(item.members)
    if choice <= 1 or not names:
        position = len(names) if choice == 0 else rng.randint(0, len(names))
        names.insert(position, world.new_name("M"))
        values = dict(item.members)
        item.members = {n: values.get(n) or _enum_value(item, rng) for n in names}
    elif choice == 2:
        item.members[rng.choice(names)] = _enum_value(item, rng)
    elif choice == 3:
        del item.members[rng.choice(names)]
    else:
        item.k = rng.randrange(1, 9)


def _add_protocol(world: World, module: int, uid: int, rng: random.Random) -> None:
    members = rng.sample(PROTOCOL_POOL, rng.randint(1, 2))
    if rng.random() < 0.2:
        members.append("size")
    _insert(world, Proto(uid, world.new_name("Proto"), module, members), rng)
    if rng.random() < 0.7:
        _add_duck(world, module, _uid(world), rng)


def change_protocol(item: Proto, rng: random.Random) -> None:
    """Add a member, remove one, or toggle runtime_checkable (the header)."""
    choice = rng.randrange(5)
    free = [n for n in (*PROTOCOL_POOL, "size") if n not in item.members]
    if choice <= 1 and free:
        item.members.insert(rng.randint(0, len(item.members)), rng.choice(free))
    elif choice <= 3 and item.members:
        item.members.remove(rng.choice(item.members))
    else:
        item.runtime = not item.runtime


def _add_duck(world: World, module: int, uid: int, rng: random.Random) -> None:
    item = Duck(uid, world.new_name("Duck"), module)
    for name in rng.sample(PROTOCOL_POOL, rng.randint(1, 3)):
        item.methods[name] = rng.randrange(1, 9)
    item.size = rng.randrange(1, 9) if rng.random() < 0.3 else None
    _insert(world, item, rng)


def change_duck(item: Duck, rng: random.Random) -> None:
    """Add or remove one of the protocols' methods, edit one, or toggle ``size``."""
    choice = rng.randrange(4)
    free = [n for n in PROTOCOL_POOL if n not in item.methods]
    if choice == 0 and free:
        item.methods[rng.choice(free)] = rng.randrange(1, 9)
    elif choice == 1 and item.methods:
        del item.methods[rng.choice(sorted(item.methods))]
    elif choice == 2 and item.methods:
        item.methods[rng.choice(sorted(item.methods))] = rng.randrange(1, 9)
    else:
        item.size = None if item.size is not None else rng.randrange(1, 9)


def _add_ntuple(world: World, module: int, uid: int, rng: random.Random) -> None:
    item = NTuple(uid, world.new_name("Point"), module, k=rng.randrange(1, 9))
    for _ in range(rng.randint(0, 2)):
        item.fields[world.new_name("w")] = rng.randrange(9)
    _insert(world, item, rng)


def _change_fields(world: World, fields: dict[str, int], rng: random.Random) -> None:
    """Add a defaulted field, remove one, or change a default."""
    choice = rng.randrange(3)
    if choice == 0 or not fields:
        fields[world.new_name("w")] = rng.randrange(9)
    elif choice == 1:
        del fields[rng.choice(sorted(fields))]
    else:
        fields[rng.choice(sorted(fields))] = rng.randrange(9)


def change_ntuple(world: World, item: NTuple, rng: random.Random) -> None:
    if rng.random() < 0.6:
        _change_fields(world, item.fields, rng)
    else:
        item.k = rng.randrange(1, 9)


def _add_pydantic(world: World, module: int, uid: int, rng: random.Random) -> None:
    item = PydModel(uid, world.new_name("Model"), module, k=rng.randrange(1, 9))
    for _ in range(rng.randint(0, 2)):
        item.fields[world.new_name("w")] = rng.randrange(9)
    item.validator = rng.randrange(1, 5) if rng.random() < 0.6 else None
    _insert(world, item, rng)


def change_pydantic(world: World, item: PydModel, rng: random.Random) -> None:
    """A field, the validator (added, removed or edited), the method, or ``frozen``."""
    choice = rng.randrange(6)
    if choice <= 1:
        _change_fields(world, item.fields, rng)
    elif choice == 2:
        item.validator = None if item.validator is not None else rng.randrange(1, 5)
    elif choice == 3 and item.validator is not None:
        item.validator = rng.randrange(1, 5)
    elif choice == 4:
        item.k = rng.randrange(1, 9)
    else:
        item.frozen = not item.frozen


def _add_attrs(world: World, module: int, uid: int, rng: random.Random) -> None:
    item = AttrsItem(uid, world.new_name("Rec"), module, rng.choice(ATTRS_VARIANTS))
    item.k = rng.randrange(1, 9)
    for _ in range(rng.randint(0, 2)):
        item.fields[world.new_name("w")] = rng.randrange(9)
    item.limit = rng.randrange(3, 9) if rng.random() < 0.5 else None
    _insert(world, item, rng)


def change_attrs(world: World, item: AttrsItem, rng: random.Random) -> None:
    """A field, the validator (added, removed or edited), the method, or the decorator."""
    choice = rng.randrange(6)
    if choice <= 1:
        _change_fields(world, item.fields, rng)
    elif choice == 2:
        item.limit = None if item.limit is not None else rng.randrange(3, 9)
    elif choice == 3 and item.limit is not None:
        item.limit = rng.randrange(3, 9)
    elif choice == 4:
        item.k = rng.randrange(1, 9)
    else:
        item.variant = rng.choice(ATTRS_VARIANTS)


_ADDERS: dict[str, Callable[[World, int, int, random.Random], None]] = {
    "registry": _add_registry,
    "overload": _add_overloaded,
    "filter": _add_filter,
    "install": _add_install,
    "counter": _add_counter,
    "tick": _add_tick,
    "enum": _add_enum,
    "protocol": _add_protocol,
    "duck": _add_duck,
    "namedtuple": _add_ntuple,
    "pydantic": _add_pydantic,
    "attrs": _add_attrs,
}


def change_item(world: World, module: int, rng: random.Random) -> None:
    """Change a random existing definition of ``module``."""
    item = _pick(rng, [world.items[u] for u in world.order[module]])
    if item is None:
        return
    if isinstance(item, Const):
        item.value = rng.randrange(20)
    elif isinstance(item, DataLoad):
        item.k = rng.randrange(1, 5)
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
    elif isinstance(item, Registry):
        change_registry(world, item, rng)
    elif isinstance(item, Overloaded):
        change_overloaded(world, item, rng)
    elif isinstance(item, LogFilter):
        item.k = rng.randrange(1, 9)
    elif isinstance(item, InstallFilter):
        chosen = _pick(rng, world.visible(module, LogFilter))
        position = world.position(item.uid)
        earlier = chosen is not None and (
            chosen.module != module or world.position(chosen.uid) < position
        )
        if chosen is not None and earlier and world.allows("install-edited"):
            item.filter = chosen.uid
    elif isinstance(item, Counter):
        item.k = rng.randrange(1, 5)
    elif isinstance(item, Tick):
        item.step = rng.randrange(1, 9)
    elif isinstance(item, EnumItem):
        change_enum(world, item, rng)
    elif isinstance(item, Proto):
        change_protocol(item, rng)
    elif isinstance(item, Duck):
        change_duck(item, rng)
    elif isinstance(item, NTuple):
        change_ntuple(world, item, rng)
    elif isinstance(item, PydModel):
        change_pydantic(world, item, rng)
    elif isinstance(item, AttrsItem):
        change_attrs(world, item, rng)


def remove_item(world: World, module: int, rng: random.Random) -> None:
    """Delete a definition nothing else needs at import time (callers may dangle)."""
    item = _pick(rng, [world.items[u] for u in world.order[module]])
    if item is None or world.users(item.uid):
        return
    if isinstance(item, InstallFilter) and not world.allows("install-edited"):
        return
    if isinstance(item, Registry) and item.handlers and not world.trade_ok(module, "removed"):
        return
    world.order[module].remove(item.uid)


def rename_item(world: World, module: int, rng: random.Random) -> None:
    """Rename a definition; every reference, here and in importing modules, follows."""
    item = _pick(rng, [world.items[u] for u in world.order[module]])
    if item is None or isinstance(item, State) or world.has_foreign_users(item.uid):
        return
    if not item.name:  # a statement that binds no name
        return
    if isinstance(item, Registry) and not world.trade_ok(module, "edited"):
        return
    if isinstance(item, LogFilter) and world.users(item.uid) and not world.allows("install-edited"):
        return
    item.name = world.new_name(item.name.rsplit("_", 1)[0])
    if isinstance(item, Registry):
        # Handlers registered with another dispatcher are other definitions, as a renamed
        # function is: an old reference to one of them need not follow (HeldReferences).
        for handler in item.handlers:
            handler.tag = world.next_serial()


def move_item(world: World, module: int, rng: random.Random) -> None:
    """Move a definition, if everything still runs after what it needs."""
    order = world.order[module]
    if len(order) < 2:
        return
    saved = list(order)
    uid = order.pop(rng.randrange(len(order)))
    order.insert(rng.randrange(len(order) + 1), uid)
    if not world.order_ok(module) or not world.installs_in_order(module, saved):
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
    if (
        isinstance(item, Registry)
        and item.handlers
        and not (world.trade_ok(module, "removed") and world.trade_ok(target, "added"))
    ):
        return
    world.order[module].remove(item.uid)
    item.module = target
    world.order[target].insert(rng.randint(0, len(world.order[target])), item.uid)


def change_doc(world: World, module: int, rng: random.Random) -> None:
    world.docs[module] = (
        None if world.docs[module] else f"Generated module, version {rng.randrange(9)}."
    )


def reveal_module(world: World, module: int, rng: random.Random) -> None:
    """A module not written so far appears (a new file the user then imports)."""
    world.absent.clear()


def change_exports(world: World, module: int, rng: random.Random) -> None:
    """Add or remove a star import of a lower module, or ``__all__``."""
    if module > 0 and rng.random() < 0.5:
        effects = [world.items[u] for u in world.order[module]]
        if not world.allows("star-import-edited") and any(
            isinstance(i, InstallFilter) or (isinstance(i, Overloaded) and i.stubs) for i in effects
        ):
            return
        if module not in world.stars:
            world.stars[module] = rng.randrange(module)
        else:
            del world.stars[module]
        return
    world.alls ^= {module}


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
    change_exports,
    reveal_module,
]


def new_world(
    rng: random.Random,
    libraries: frozenset[str] = frozenset(),
    avoid: frozenset[str] = frozenset(),
) -> World:
    modules = rng.randint(2, 3)
    world = World(order=[[] for _ in range(modules)], items={}, docs=[None] * modules)
    world.package = rng.random() < 0.3
    world.libraries, world.avoid = libraries, avoid
    for module in range(modules):
        for _ in range(rng.randint(2, 5)):
            add_item(world, module, rng)
    if rng.random() < 0.3:
        world.stars[modules - 1] = rng.randrange(modules - 1)
    if rng.random() < 0.2:
        world.alls.add(rng.randrange(modules))
    if rng.random() < 0.25:
        world.order.append([])
        world.docs.append(None)
        world.absent.add(modules)
        for _ in range(rng.randint(1, 3)):
            add_item(world, modules, rng)
    return world


def edit_data(world: World, rng: random.Random) -> None:
    """Maybe a new statement reading a data file at import, maybe a data file's new contents.

    Decided by a random stream of their own, so the other edits of a seed stay as they were.
    """
    roll = rng.random()
    if roll < 0.3:
        module = rng.randrange(len(world.order))
        load = DataLoad(_uid(world), world.new_name("LOAD"), module, rng.randrange(len(world.data)))
        load.k = rng.randrange(1, 5)
        _insert(world, load, rng)
    elif roll < 0.7:
        world.data[rng.randrange(len(world.data))] = rng.randrange(20)


def edit_world(world: World, rng: random.Random) -> None:
    """One random edit to a random module."""
    rng.choice(EDITS)(world, rng.randrange(len(world.order)), rng)


def _broken_step(world: World, rng: random.Random) -> dict[str, str]:
    """The current sources with one module broken: a syntax error, or a statement that raises.

    Edits to that module alone may come with it (they must be rolled back together); the world
    keeps them, so the next good step shows them again.
    """
    module = rng.choice([i for i in range(len(world.order)) if i not in world.absent])
    before = world.render_all()
    for _ in range(rng.randint(0, 2)):
        trial = copy.deepcopy(world)
        rng.choice(EDITS)(trial, module, rng)
        after = trial.render_all()
        # Only that module may change (a module appearing is a change to another one).
        if after.keys() == before.keys() and all(
            after[s] == before[s] for s in after if s != world.key(module)
        ):
            world.order, world.items, world.docs = trial.order, trial.items, trial.docs
            world.serial, world.traded = trial.serial, trial.traded
            world.stars, world.alls = trial.stars, trial.alls
    sources = world.render_all()
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
    order = world.order[module]
    last = len(order)
    if "BOOM" in bad or "raise" in bad:
        # A statement that raises comes before the module's first side effect: what a
        # statement run before it did to a logger, a registry or typing's tables stays after
        # the rollback (docs/limitations.md, "Rollback covers hotreload's own changes only").
        last = next((i for i, u in enumerate(order) if _has_effects(world.items[u])), last)
    position = rng.randint(0, last)
    sources[world.key(module)] = world.render(module, extra=(position, bad))
    return sources


def _has_effects(item: Item) -> bool:
    """Whether running the item's statements changes objects that the rollback of a failed
    reload cannot restore (a counter's ``global`` lives in the module namespace, which it can)."""
    if isinstance(item, Overloaded):
        return bool(item.stubs)
    return isinstance(item, (Registry, InstallFilter))


def generate_sequence(
    seed: int,
    steps: int,
    *,
    libraries: frozenset[str] = frozenset(),
    avoid: frozenset[str] = frozenset(),
) -> Steps:
    """A seeded sequence: the initial sources, then ``steps`` edited versions.

    About one step in eight breaks one module (and only that module changes in that step); the
    step after a broken one is always good. ``libraries`` are the optional libraries whose
    classes may be generated (``pydantic``, ``attrs``: those installed); ``avoid`` names the
    :data:`GAPS` whose edits are not made.
    """
    rng = random.Random(seed)
    data_rng = random.Random(f"data-{seed}")
    world = new_world(rng, libraries, avoid)
    world.data = [1, 2]
    sequence = [world.render_all()]
    broken = False
    for _ in range(steps):
        if not broken:
            # The live session saw the previous step; a broken step's edits reach it only with
            # the next good step's, so they count as that step's.
            world.traded.clear()
        if not broken and rng.random() < 0.125:
            sequence.append(_broken_step(world, rng))
            broken = True
            continue
        broken = False
        for _ in range(rng.randint(1, 3)):
            edit_world(world, rng)
        # Never in a broken step: only the broken module changes there.
        edit_data(world, data_rng)
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
        entry: dict[str, Any] = {"doc": module.__doc__, "names": names}
        logger = logging.Logger.manager.loggerDict.get(module.__name__)
        if isinstance(logger, logging.Logger) and logger.filters:
            entry["logger"] = describe_logger(logger, generated)
        protocols = describe_protocols(module, modules, generated)
        if protocols:
            entry["protocols"] = protocols
        described[module.__name__] = entry
    return {"modules": described, "state": read_state(modules)}


def describe_logger(logger: logging.Logger, generated: frozenset[str]) -> dict[str, Any]:
    """The filters a module's statements added to its logger, and what they do to a record."""

    def run() -> list[Any]:
        record = logging.LogRecord(logger.name, logging.INFO, "oracle", 1, "msg", None, None)
        return [bool(logger.filter(record)), record.msg]

    return {
        "filters": [f"{type(f).__module__}.{type(f).__qualname__}" for f in logger.filters],
        "filter(record)": outcome(run, generated, 0),
    }


def generated_classes(modules: Sequence[types.ModuleType]) -> list[type]:
    """Every class a generated module defines under its own name, in a stable order."""
    found = {
        f"{value.__module__}.{value.__qualname__}": value
        for module in modules
        for name, value in sorted(vars(module).items())
        if isinstance(value, type)
        and value.__module__ == module.__name__
        and value.__qualname__ == name
    }
    return [found[key] for key in sorted(found)]


def is_protocol(cls: type) -> bool:
    return bool(getattr(cls, "_is_protocol", False)) and cls.__module__ != "typing"


def _is_new_instance(cls: type, proto: type) -> bool:
    return isinstance(construct(cls), proto)


def describe_protocols(
    module: types.ModuleType, modules: Sequence[types.ModuleType], generated: frozenset[str]
) -> dict[str, Any]:
    """For each protocol ``module`` defines: ``isinstance`` of every generated class's instance.

    ``isinstance`` on a runtime-checkable protocol goes through ``abc``'s caches, which keep
    answers from before an edit unless they are reset.
    """
    classes = generated_classes(modules)
    answers: dict[str, Any] = {}
    for proto in classes:
        if proto.__module__ != module.__name__ or not is_protocol(proto):
            continue
        answers[proto.__qualname__] = {
            f"{cls.__module__}.{cls.__qualname__}": outcome(
                functools.partial(_is_new_instance, cls, proto),
                generated,
                0,
            )
            for cls in classes
            if not is_protocol(cls) and not issubclass(cls, enum.Enum)
        }
    return answers


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
    if isinstance(value, enum.Enum) and type(value).__module__ in generated:
        cls = type(value)
        return {"member": f"{cls.__module__}.{cls.__qualname__}.{value.name}", "repr": repr(value)}
    if value is None or isinstance(value, (bool, int, float, str)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return {type(value).__name__: [describe(v, generated, depth + 1) for v in value]}
    if isinstance(value, dict):
        return {"dict": {repr(k): describe(v, generated, depth + 1) for k, v in value.items()}}
    if isinstance(value, types.ModuleType):
        return {"module": value.__name__}
    if isinstance(value, type):
        if value.__module__ in generated and issubclass(value, enum.Enum):
            return describe_enum(value, generated, depth)
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


# Functions called for their effect on module state (a Counter's tick_N, a Registry's
# register_N): described, never called by the observer, whose calls the fresh process would not
# have made.
EFFECT_STEMS = ("tick_", "register_")


def is_effectful(name: str) -> bool:
    return name.startswith(EFFECT_STEMS)


def describe_function(func: Any, generated: frozenset[str], depth: int) -> dict[str, Any]:
    entry = {
        "function": f"{func.__module__}.{func.__qualname__}",
        "type": type(func).__name__,
        "__name__": func.__name__,
        "__doc__": func.__doc__,
        "signature": _signature(func),
        "wraps": hasattr(func, "__wrapped__"),
    }
    if not is_effectful(func.__name__):
        entry[f"call({CALL_ARG})"] = outcome(lambda: func(CALL_ARG), generated, depth)
    registry = getattr(func, "registry", None)
    if isinstance(registry, types.MappingProxyType) and hasattr(func, "dispatch"):
        # functools.singledispatch: what each type dispatches to, and what is registered (the
        # order of registration is not observable through dispatch).
        entry["dispatch"] = {
            name: outcome(functools.partial(func, value), generated, depth)
            for name, value in DISPATCH_SAMPLES.items()
        }
        entry["registry"] = sorted(
            f"{t.__qualname__}: {_handler_result(handler)}" for t, handler in registry.items()
        )
    get_overloads = getattr(typing, "get_overloads", None)
    if get_overloads is not None:
        overloads = get_overloads(func)
        if overloads:
            entry["overloads"] = [
                f"{_signature(stub)} {stub.__annotations__!r}" for stub in overloads
            ]
    return entry


def _handler_result(handler: Any) -> str:
    try:
        return repr(handler(CALL_ARG))
    except Exception as exc:
        return f"raises {type(exc).__name__}: {exc}"


def _members(cls: type, target: Any, generated: frozenset[str], depth: int) -> dict[str, Any]:
    """Each non-dunder attribute of ``cls``, exercised on ``target`` (the class or an instance)."""
    members: dict[str, Any] = {}
    # The lambdas below bind the loop variable with a default argument, and mypy cannot type
    # such a lambda (python/mypy#15459), hence their ignores.
    for name in sorted(dir(cls)):
        if name.startswith("__"):
            continue
        owner = next((k for k in cls.__mro__ if name in vars(k)), None)
        if owner is None or owner.__module__ not in generated:
            # A library's base class's API (BaseModel.model_dump, tuple.count...) is exercised
            # through the library observations below, not by calling it with CALL_ARG.
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
        params = cls.__dataclass_params__  # type: ignore[attr-defined]
        entry["params"] = {"frozen": params.frozen, "eq": params.eq}
        entry["kw_only"] = [f.name for f in dataclasses.fields(cls) if f.kw_only]
    if is_pydantic(cls):
        entry["pydantic"] = describe_pydantic(cls, generated, depth)
    if hasattr(cls, "__attrs_attrs__"):
        entry["attrs"] = [
            [a.name, repr(a.default), a.kw_only, a.validator is not None]
            for a in cls.__attrs_attrs__
        ]
        entry["validate(v=100)"] = outcome(lambda: cls(v=100), generated, depth)
    if "__slots__" in vars(cls):
        entry["__slots__"] = sorted(_slots(cls))
    entry["members"] = _members(cls, cls, generated, depth)
    entry[f"instance({INIT_ARG})"] = outcome(lambda: construct(cls), generated, depth)
    entry["set v"] = outcome(lambda: _set_v(construct(cls)), generated, depth)
    return entry


def _slots(cls: type) -> list[str]:
    slots = vars(cls).get("__slots__", ())
    return [slots] if isinstance(slots, str) else list(slots)


def _set_v(obj: Any) -> Any:
    """Assign to an instance made for the purpose: frozen classes refuse."""
    obj.v = 5
    return state_of(obj)


def construct(cls: type) -> Any:
    """An instance made with :data:`INIT_ARG`: by keyword for classes whose fields say ``v``
    (keyword-only dataclasses and attrs classes, pydantic models), else positionally."""
    if is_pydantic(cls) or "v" in _field_names(cls):
        return cls(v=INIT_ARG)
    return cls(INIT_ARG)


def _field_names(cls: type) -> list[str]:
    if dataclasses.is_dataclass(cls):
        return [f.name for f in dataclasses.fields(cls)]
    return [a.name for a in getattr(cls, "__attrs_attrs__", ())]


def is_pydantic(cls: type) -> bool:
    """A pydantic model, told without importing pydantic (the worker imports only stdlib)."""
    pydantic = sys.modules.get("pydantic")
    return pydantic is not None and isinstance(cls, type) and issubclass(cls, pydantic.BaseModel)


def describe_pydantic(cls: Any, generated: frozenset[str], depth: int) -> dict[str, Any]:
    """A model's fields, validation (must return the live class), errors and JSON schema."""

    def validated() -> dict[str, Any]:
        result = cls.model_validate({"v": INIT_ARG})
        return {"is the class": type(result) is cls, "dump": result.model_dump()}

    return {
        "fields": {
            name: [info.is_required(), repr(info.default)]
            for name, info in cls.model_fields.items()
        },
        "frozen": bool(cls.model_config.get("frozen")),
        "model_validate": outcome(validated, generated, depth),
        "invalid": outcome(lambda: cls.model_validate({"v": "x"}), generated, depth),
        "negative": outcome(lambda: cls(v=-1).model_dump(), generated, depth),
        "schema": outcome(cls.model_json_schema, generated, depth),
    }


def state_of(obj: Any) -> Any:
    """An instance's data, whatever its layout: ``vars``, slots, or a tuple's items."""
    if isinstance(obj, tuple):
        return list(obj)
    if hasattr(obj, "__dict__"):
        return dict(vars(obj))
    names = [n for k in type(obj).__mro__ for n in _slots(k) if not n.startswith("__")]
    return {n: getattr(obj, n, "<unset>") for n in sorted(set(names))}


def _lookup(cls: Any, value: Any) -> str:
    return repr(cls(value))


def _label(member: Any) -> Any:
    return member.label(CALL_ARG)


def describe_enum(cls: Any, generated: frozenset[str], depth: int) -> dict[str, Any]:
    """Members in order, aliases, lookups by value, the method, and Flag combinations."""
    members = list(cls)
    entry: dict[str, Any] = {
        "enum": f"{cls.__module__}.{cls.__qualname__}",
        "__bases__": [f"{b.__module__}.{b.__qualname__}" for b in cls.__bases__],
        "members": [[m.name, repr(m.value)] for m in members],
        "__members__": {name: m.name for name, m in cls.__members__.items()},
        "label": [outcome(functools.partial(_label, m), generated, depth) for m in members],
        "lookup": {
            repr(v): outcome(functools.partial(_lookup, cls, v), generated, depth)
            for v in (*range(5), "s1", "s2", "s3")
        },
        "str": [str(m) for m in members],
    }
    if issubclass(cls, enum.Flag) and len(members) >= 2:
        entry["combined"] = outcome(lambda: repr(members[0] | members[1]), generated, depth)
        entry["inverted"] = outcome(lambda: repr(~members[0]), generated, depth)
    return entry


def describe_instance(obj: Any, generated: frozenset[str], depth: int) -> dict[str, Any]:
    # type[object], not type[Any]: on type[Any] mypy sees `cls.__repr__` as a bound method.
    cls: type[object] = type(obj)
    entry = {
        "instance of": f"{cls.__module__}.{cls.__qualname__}",
        "vars": describe(dict(vars(obj)), generated, depth + 1)
        if hasattr(obj, "__dict__")
        else None,
        "repr": repr(obj) if cls.__repr__ is not object.__repr__ else None,
        "members": _members(cls, obj, generated, depth),
    }
    if not hasattr(obj, "__dict__"):
        entry["state"] = describe(state_of(obj), generated, depth + 1)
    if cls.__eq__ is not object.__eq__:
        entry["hashable"] = cls.__hash__ is not None
        entry["equals a new one"] = outcome(lambda: obj == construct(cls), generated, depth)
    return entry


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
    elif isinstance(live, list) and isinstance(fresh, list):
        for index, (a, b) in enumerate(zip(live, fresh, strict=False)):
            yield from differences(a, b, f"{path}[{index}]")
        for index in range(len(fresh), len(live)):
            yield f"{path}[{index}]: only in the live session ({_short(live[index])})"
        for index in range(len(live), len(fresh)):
            yield f"{path}[{index}]: missing in the live session (fresh: {_short(fresh[index])})"
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


def forget_process_tables(modules: Iterable[str]) -> None:
    """Forget what earlier imports of ``modules`` left in process-wide tables: their loggers
    (with the filters their statements added) and ``typing``'s overload registry, as a new
    process would not have them."""
    tops = {name.split(".")[0] for name in modules}
    loggers = logging.Logger.manager.loggerDict
    for name in [n for n in loggers if n.split(".")[0] in tops]:
        del loggers[name]
    # Python 3.11+: get_overloads reads this private table, {module: {qualname: {line: stub}}}.
    overloads = getattr(typing, "_overload_registry", {})
    for name in [n for n in overloads if n.split(".")[0] in tops]:
        del overloads[name]


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
        forget_process_tables(import_name(n) for n in request["order"])
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
            if stem in steps[index - 1] and steps[index][stem] != steps[index - 1][stem]:
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
        "steps": [
            {stem: step[stem].split("\n") for stem in [*module_order(step), *data_keys(step)]}
            for step in steps
        ],
    }
    return json.dumps(data, indent=1) + "\n"


def load_regression(path: Path) -> Steps:
    data = json.loads(path.read_text(encoding="utf-8"))
    return [{stem: "\n".join(lines) for stem, lines in step.items()} for step in data["steps"]]


def render_steps(steps: Steps) -> str:
    """The sources of a sequence, readable: each module's text where it changed."""
    out = []
    for index, step in enumerate(steps):
        for stem in [*module_order(step), *data_keys(step)]:
            if index == 0 or step[stem] != steps[index - 1].get(stem):
                out.append(f"# ---- step {index}: {PREFIX}{file_name(stem)} ----\n{step[stem]}")
    return "\n".join(out)


if __name__ == "__main__" and sys.argv[1:2] == ["--serve"]:
    _serve(
        Path(sys.argv[2]),
        iter(sys.stdin),
        lambda text: (sys.stdout.write(text), sys.stdout.flush()),
    )
