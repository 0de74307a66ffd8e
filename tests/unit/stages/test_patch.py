"""Stage 5, patching (``_patch.Patcher``), on real objects made by ``exec``.

Each test runs version 1 of a small module into a dict namespace under a fake module name,
keeps the old objects, runs version 2 into the same namespace (as a reload does), and merges
each new binding into the old one with :meth:`Patcher.merge`, binding the result back. The
journal's rollback must then restore everything the merge changed.
"""

from __future__ import annotations

import ast
import textwrap
import types
from typing import Any

import pytest

from hotreload_ext._journal import MISSING, Journal
from hotreload_ext._patch import Patcher, Replacement, migrate_instances

MODULE = "hotreload_fake_patch_module"


def run(source: str, namespace: dict[str, Any], filename: str = "fake_module.py") -> None:
    """Run ``source`` in ``namespace`` (without this file's ``from __future__`` flags)."""
    exec(compile(textwrap.dedent(source), filename, "exec", dont_inherit=True), namespace)


class FakeModule:
    """A module namespace that is only a dict, with one journal and patcher per reload."""

    def __init__(self, source: str, **names: Any) -> None:
        self.namespace: dict[str, Any] = {"__name__": MODULE, **names}
        run(source, self.namespace)
        self.journal = Journal()
        self.patcher = Patcher(self.journal, self.namespace, MODULE)

    def __getitem__(self, name: str) -> Any:
        return self.namespace[name]

    def reload(self, source: str) -> None:
        """Run ``source`` statement by statement, merging what each binds, as a reload does.

        Each statement sees the objects the earlier ones kept (``class Child(Base)`` gets the
        old ``Base``).
        """
        self.journal.save_mapping(self.namespace)
        for node in ast.parse(textwrap.dedent(source)).body:
            previous = dict(self.namespace)
            code = compile(ast.Module([node], []), "fake_module.py", "exec", dont_inherit=True)
            exec(code, self.namespace)
            for name, value in list(self.namespace.items()):
                if previous.get(name, MISSING) is not value:
                    self.namespace[name] = self.patcher.merge(previous.get(name, MISSING), value)


def function(value: Any) -> types.FunctionType:
    assert type(value) is types.FunctionType
    return value


# --- functions -----------------------------------------------------------------------------------
def test_a_new_version_of_a_function_runs_in_the_old_function_object() -> None:
    module = FakeModule(
        """\
        def area(r, scale=1, *, unit="cm") -> int:
            "Old."
            return 3 * r * r * scale
        area.tag = "old"
        """
    )
    area = function(module["area"])
    old_code = area.__code__
    module.reload(
        """\
        def area(r, scale=2, *, unit="mm") -> float:
            "New."
            return 3.14 * r * r * scale
        area.extra = "new"
        """
    )
    assert module["area"] is area
    assert area(1) == pytest.approx(6.28)
    assert area.__code__ is not old_code
    assert area.__defaults__ == (2,)
    assert area.__kwdefaults__ == {"unit": "mm"}
    assert area.__doc__ == "New."
    assert area.__annotations__ == {"return": float}
    # The new function's __dict__ wins; `area.tag = "old"` is not run again by v2.
    assert area.__dict__ == {"extra": "new"}


def test_rollback_restores_a_merged_function() -> None:
    module = FakeModule('def f(x=1):\n    "Old."\n    return x\n')
    f = function(module["f"])
    code = f.__code__
    module.reload('def f(x=2):\n    "New."\n    return -x\n')
    assert f() == -2

    assert module.journal.rollback() == []
    assert module["f"] is f
    assert f.__code__ is code
    assert f.__doc__ == "Old."
    assert f() == 1


def test_rebinding_an_alias_does_not_turn_one_function_into_another() -> None:
    module = FakeModule(
        """\
        def foo():
            return "foo"
        def bar():
            return "bar"
        f = foo
        """
    )
    foo, bar = module["foo"], module["bar"]
    module.reload(
        """\
        def foo():
            return "foo"
        def bar():
            return "bar"
        f = bar
        """
    )
    assert module["f"] is bar
    assert module["foo"] is foo
    assert foo() == "foo"
    assert bar() == "bar"


def test_a_function_from_another_module_is_rebound_not_merged() -> None:
    other: dict[str, Any] = {"__name__": "other_module"}
    run("def helper():\n    return 'other'\n", other, "other_module.py")
    module = FakeModule("def helper():\n    return 'mine'\n")
    mine = module["helper"]
    assert module.patcher.merge(mine, other["helper"]) is other["helper"]
    assert mine() == "mine"
    assert len(module.journal) == 0


def test_merge_of_the_same_object_or_of_nothing_keeps_the_old_one() -> None:
    module = FakeModule("def f():\n    return 1\n")
    f = module["f"]
    assert module.patcher.merge(f, f) is f
    assert module.patcher.merge(f, MISSING) is f
    assert module.patcher.merge(MISSING, f) is f
    assert len(module.journal) == 0


def test_other_values_are_rebound() -> None:
    module = FakeModule("N = 1\nITEMS = [1]\n")
    module.reload("N = 2\nITEMS = [2]\n")
    assert module["N"] == 2
    assert module["ITEMS"] == [2]


# --- closures ------------------------------------------------------------------------------------
def test_a_closure_keeps_its_cells_and_runs_the_new_body() -> None:
    factory = """\
        def make(k):
            def scale(x):
                return x * k{suffix}
            return scale
        double = make(2)
        """
    module = FakeModule(factory.format(suffix=""))
    double = function(module["double"])
    cells = double.__closure__
    module.reload(factory.format(suffix=" + 1"))
    assert module["double"] is double
    assert double(10) == 21
    assert double.__closure__ is cells


def test_a_closure_gains_a_free_variable() -> None:
    module = FakeModule(
        """\
        def make(k):
            def scale(x):
                return x
            return scale
        triple = make(3)
        """
    )
    triple = function(module["triple"])
    assert triple.__closure__ is None
    module.reload(
        """\
        def make(k):
            def scale(x):
                return x * k
            return scale
        triple = make(3)
        """
    )
    assert module["triple"] is triple
    assert triple(2) == 6
    assert triple.__code__.co_freevars == ("k",)

    module.journal.rollback()
    assert triple.__closure__ is None
    assert triple(2) == 2


def test_a_method_that_starts_using_super_gets_the_old_class_in_its_cell() -> None:
    module = FakeModule(
        """\
        class Base:
            def greet(self):
                return "base"
        class Child(Base):
            def greet(self):
                return "child"
        """
    )
    child_class = module["Child"]
    greet = function(child_class.__dict__["greet"])
    instance = child_class()
    module.reload(
        """\
        class Base:
            def greet(self):
                return "base"
        class Child(Base):
            def greet(self):
                return "child of " + super().greet()
        """
    )
    assert module["Child"] is child_class
    assert child_class.__dict__["greet"] is greet
    assert instance.greet() == "child of base"
    assert greet.__closure__ is not None
    assert greet.__closure__[0].cell_contents is child_class


# Whether a new object is a version of the old one is decided by the transaction, which knows
# the statements (an alias `b = a` is never merged into `a`): tests/unit/test_same_name.py.


# --- methods, descriptors, wrappers --------------------------------------------------------------
SHAPES_V1 = """\
class Shape:
    unit = "cm"
    removed = "gone soon"

    def __init__(self, r):
        self.r = r

    def describe(self):
        return f"shape {self.r}"

    @property
    def size(self):
        return self.r

    @classmethod
    def unit_shape(cls):
        return cls(1)

    @staticmethod
    def kind():
        return "round"
"""

SHAPES_V2 = """\
class Shape:
    unit = "mm"

    def __init__(self, r):
        self.r = r

    def describe(self):
        return f"Shape(r={self.r})"

    def scale(self, k):
        return Shape(self.r * k)

    @property
    def size(self):
        return self.r * 2

    @classmethod
    def unit_shape(cls):
        return cls(10)

    @staticmethod
    def kind():
        return "ROUND"
"""


def test_a_class_is_merged_in_place() -> None:
    module = FakeModule(SHAPES_V1)
    shape = module["Shape"]
    members = dict(shape.__dict__)
    instance = shape(3)
    bound = instance.describe
    module.reload(SHAPES_V2)

    assert module["Shape"] is shape
    assert type(instance) is shape
    assert bound() == "Shape(r=3)"
    assert instance.scale(2).r == 6
    assert shape.unit == "mm"
    assert "removed" not in shape.__dict__
    assert module.patcher.replacements == []
    # Methods, classmethods, staticmethods and properties keep their identity.
    for name in ("describe", "size", "unit_shape", "kind"):
        assert shape.__dict__[name] is members[name], name
    assert instance.size == 6
    assert shape.unit_shape().r == 10
    assert shape.kind() == "ROUND"


def test_rollback_restores_a_merged_class() -> None:
    module = FakeModule(SHAPES_V1)
    shape = module["Shape"]
    members = dict(shape.__dict__)
    instance = shape(3)
    module.reload(SHAPES_V2)

    assert module.journal.rollback() == []
    assert module["Shape"] is shape
    assert dict(shape.__dict__) == members
    assert "scale" not in shape.__dict__
    assert shape.removed == "gone soon"
    assert shape.unit == "cm"
    assert instance.describe() == "shape 3"
    assert instance.size == 3
    assert shape.unit_shape().r == 1
    assert shape.kind() == "round"


def test_a_property_with_a_new_setter_is_a_new_property_over_the_old_getter() -> None:
    module = FakeModule(
        """\
        class C:
            @property
            def value(self):
                return 1
        """
    )
    cls = module["C"]
    getter = cls.__dict__["value"].fget
    module.reload(
        """\
        class C:
            @property
            def value(self):
                return 2
            @value.setter
            def value(self, new):
                self.stored = new
        """
    )
    prop = cls.__dict__["value"]
    assert prop.fget is getter
    assert prop.fset is not None
    instance = cls()
    instance.value = 5
    assert instance.stored == 5
    assert instance.value == 2


def test_a_classmethod_that_became_a_staticmethod_is_rebound() -> None:
    module = FakeModule("class C:\n    @classmethod\n    def make(cls):\n        return 'cm'\n")
    cls = module["C"]
    module.reload("class C:\n    @staticmethod\n    def make():\n        return 'sm'\n")
    assert type(cls.__dict__["make"]) is staticmethod
    assert cls.make() == "sm"


def test_an_lru_cache_wrapper_keeps_its_identity_and_its_cache_is_cleared() -> None:
    source = """\
        import functools
        @functools.lru_cache(maxsize=None)
        def square(x):
            return x * x{suffix}
        """
    module = FakeModule(source.format(suffix=""))
    square = module["square"]
    inner = square.__wrapped__
    assert square(3) == 9
    assert square.cache_info().currsize == 1
    module.reload(source.format(suffix=" + 1"))

    assert module["square"] is square
    assert square.__wrapped__ is inner
    assert square.cache_info().currsize == 0
    assert square(3) == 10
    assert module.patcher.caches == [square]
    module.patcher.commit()
    assert square.cache_info().currsize == 0


def test_a_partial_of_the_same_function_is_updated_in_place() -> None:
    module = FakeModule(
        """\
        import functools
        def power(base, exp):
            return base ** exp
        square = functools.partial(power, exp=2)
        """
    )
    square = module["square"]
    power = module["power"]
    module.reload(
        """\
        import functools
        def power(base, exp):
            return base ** exp
        square = functools.partial(power, exp=3)
        """
    )
    assert module["square"] is square
    assert square.func is power
    assert square.keywords == {"exp": 3}
    assert square(2) == 8

    module.journal.rollback()
    assert square.keywords == {"exp": 2}
    assert square(2) == 4


def test_a_partial_of_another_function_is_rebound() -> None:
    module = FakeModule(
        """\
        import functools
        def f(x):
            return x
        def g(x):
            return -x
        p = functools.partial(f, 1)
        """
    )
    old = module["p"]
    module.reload(
        """\
        import functools
        def f(x):
            return x
        def g(x):
            return -x
        p = functools.partial(g, 1)
        """
    )
    assert module["p"] is not old
    assert module["p"]() == -1
    assert old() == 1


# --- classes that cannot be merged ---------------------------------------------------------------
def test_a_class_whose_bases_changed_is_replaced_and_its_instances_moved() -> None:
    module = FakeModule(
        """\
        class Base:
            def hello(self):
                return "base"
        class C:
            def name(self):
                return "old"
        """
    )
    old_class = module["C"]
    instances = [old_class(), old_class()]
    module.reload(
        """\
        class Base:
            def hello(self):
                return "base"
        class C(Base):
            def name(self):
                return "new"
        """
    )
    new_class = module["C"]
    assert new_class is not old_class
    (replacement,) = module.patcher.replacements
    assert isinstance(replacement, Replacement)
    assert replacement.old is old_class
    assert replacement.new is new_class
    assert replacement.reason == "its base classes changed"

    migrate_instances(module.patcher.replacements)
    assert replacement.moved == 2
    assert replacement.not_moved == []
    assert all(type(i) is new_class for i in instances)
    assert instances[0].hello() == "base"
    assert instances[0].name() == "new"


def test_rollback_of_a_replacement_binds_the_old_class_again() -> None:
    module = FakeModule("class C:\n    pass\n")
    old_class = module["C"]
    module.reload("class Mixin:\n    pass\nclass C(Mixin):\n    pass\n")
    assert module["C"] is not old_class
    module.journal.rollback()
    assert module["C"] is old_class
    assert "Mixin" not in module.namespace


def test_subclasses_of_a_replaced_class_are_rebased() -> None:
    module = FakeModule("class C:\n    pass\n")
    old_class = module["C"]
    subclass = type("Sub", (old_class,), {})
    module.reload("class Mixin:\n    pass\nclass C(Mixin):\n    pass\n")
    (replacement,) = module.patcher.replacements
    migrate_instances(module.patcher.replacements)
    assert subclass.__bases__ == (module["C"],)
    assert replacement.rebased == ["Sub"]


def test_a_class_whose_slots_changed_is_replaced_and_its_instances_cannot_move() -> None:
    module = FakeModule("class Point:\n    __slots__ = ('x',)\n")
    old_class = module["Point"]
    point = old_class()
    module.reload("class Point:\n    __slots__ = ('x', 'y')\n")
    (replacement,) = module.patcher.replacements
    assert replacement.reason == "its __slots__ changed"
    assert module["Point"] is replacement.new

    migrate_instances(module.patcher.replacements)
    assert type(point) is old_class
    assert replacement.moved == 0
    # Counted, not described one by one: the report says how many old objects keep the class.
    assert replacement.kept == 1
    assert replacement.not_moved == []


def test_a_class_whose_metaclass_changed_is_replaced() -> None:
    module = FakeModule("import abc\nclass C:\n    pass\n")
    module.reload("import abc\nclass C(metaclass=abc.ABCMeta):\n    pass\n")
    (replacement,) = module.patcher.replacements
    assert replacement.reason == "its metaclass changed (type -> ABCMeta)"


def test_rebinding_a_class_alias_does_not_merge_two_classes() -> None:
    module = FakeModule("class A:\n    x = 'a'\nclass B:\n    x = 'b'\nDefault = A\n")
    a, b = module["A"], module["B"]
    module.reload("class A:\n    x = 'a'\nclass B:\n    x = 'b'\nDefault = B\n")
    assert module["Default"] is b
    assert a.x == "a"
    assert module.patcher.replacements == []


def test_a_class_from_another_module_is_rebound() -> None:
    module = FakeModule("class C:\n    pass\n")
    old_class = module["C"]
    foreign = type("C", (), {"__module__": "other_module"})
    assert module.patcher.merge(old_class, foreign) is foreign
    assert module.patcher.replacements == []


def test_migrate_instances_without_replacements_does_nothing() -> None:
    migrate_instances([])


def test_instances_are_found_even_when_only_a_container_holds_them() -> None:
    module = FakeModule("class C:\n    pass\nKEEP = [C()]\n")
    old_class = module["C"]
    held = module["KEEP"]
    module.reload("class B:\n    pass\nclass C(B):\n    pass\n")
    migrate_instances(module.patcher.replacements)
    assert type(held[0]) is module["C"]
    assert type(held[0]) is not old_class


def test_functools_wraps_wrapper_from_another_module_is_merged() -> None:
    decorators: dict[str, Any] = {"__name__": "decorators_module"}
    run(
        """\
        import functools
        def logged(f):
            @functools.wraps(f)
            def wrapper(*args):
                return ("logged", f(*args))
            return wrapper
        """,
        decorators,
        "decorators_module.py",
    )
    source = """\
        @logged
        def f(x):
            return x{suffix}
        """
    module = FakeModule(source.format(suffix=""), logged=decorators["logged"])
    wrapper = module["f"]
    module.reload(source.format(suffix=" * 10"))
    assert module["f"] is wrapper
    assert wrapper(2) == ("logged", 20)
    module.journal.rollback()
    assert wrapper(2) == ("logged", 2)
