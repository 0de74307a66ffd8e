"""Cases for classes updated in place, and for classes that must be replaced."""

from __future__ import annotations

from tests.matrix.case import case
from tests.matrix.cases import rows

_POINT = """
class Point:
    def __init__(self, x):
        self.x = x

    def norm(self):
        return {norm}

ORIGIN = Point({origin})
"""

_SUPER = """
class Base:
    def greet(self):
        return "base"

class Child(Base):
    def greet(self):
        {greet}

    def other(self):
        {other}

LABEL = "{label}".upper()
"""

_SUPER_V1 = _SUPER.format(
    greet='return "child"', other='return "child " + super().greet()', label="a"
)

CASES = (
    case(
        "class-identity",
        rows.CLASS_IDENTITY,
        [
            {"mx": _POINT.format(norm="abs(self.x)", origin="0")},
            {"mx": _POINT.format(norm="self.x * self.x", origin="1")},
        ],
        hold="""
            import copy, pickle
            import mx
            from mx import Point
            p = mx.Point(-3)
            OldPoint = mx.Point
        """,
        checks=[
            """
            assert p.norm() == 3
            assert isinstance(p, mx.Point)
            """,
            """
            assert p.norm() == 9
            assert Point is mx.Point
            assert OldPoint is mx.Point
            assert type(p) is mx.Point
            assert isinstance(p, mx.Point)
            assert isinstance(mx.ORIGIN, Point)
            assert pickle.loads(pickle.dumps(p)).norm() == 9
            assert copy.deepcopy(p).norm() == 9
            assert Point(2).norm() == 4
            """,
        ],
        steps=(1,),
        note=(
            "Besides the method, the edit changes a non-literal module-level line "
            "(`ORIGIN = Point(1)`), as real modules do; autoreload then re-runs the whole module."
        ),
    ),
    case(
        "methods",
        rows.METHODS,
        [
            {
                "mx": """
                class Shape:
                    def __init__(self, name):
                        self.name = name

                    def describe(self):
                        return f"{self.name} v1"

                    @classmethod
                    def make(cls):
                        return cls("made v1")

                    @staticmethod
                    def kind():
                        return "kind v1"

                    def gone(self):
                        return "gone"
                """
            },
            {
                "mx": """
                class Shape:
                    def __init__(self, name):
                        self.name = name.upper()

                    def describe(self):
                        return f"{self.name} v2"

                    @classmethod
                    def make(cls):
                        return cls("made v2")

                    @staticmethod
                    def kind():
                        return "kind v2"

                    def extra(self):
                        return "extra"
                """
            },
        ],
        hold="""
            import mx
            from mx import Shape
            s = mx.Shape("a")
            bound = s.describe
            make = mx.Shape.make
            kind = mx.Shape.kind
        """,
        checks=[
            """
            assert s.describe() == "a v1"
            assert bound() == "a v1"
            assert make().name == "made v1"
            assert kind() == "kind v1"
            assert Shape.kind() == "kind v1"
            assert s.gone() == "gone"
            assert not hasattr(s, "extra")
            """,
            """
            assert s.describe() == "a v2"
            assert bound() == "a v2"
            assert make().name == "MADE V2"
            assert Shape.make().describe() == "MADE V2 v2"
            assert kind() == "kind v2"
            assert Shape.kind() == "kind v2"
            assert s.extra() == "extra"
            assert not hasattr(s, "gone")
            """,
        ],
    ),
    case(
        "properties",
        rows.PROPERTIES,
        [
            {
                "mx": """
                class Temp:
                    def __init__(self):
                        self._c = 10

                    @property
                    def celsius(self):
                        return self._c
                """
            },
            {
                "mx": """
                class Temp:
                    def __init__(self):
                        self._c = 10

                    @property
                    def celsius(self):
                        return self._c + 0.5

                    @celsius.setter
                    def celsius(self, value):
                        self._c = value
                """
            },
        ],
        hold="""
            import mx
            t = mx.Temp()
        """,
        checks=[
            """
            assert t.celsius == t._c
            try:
                t.celsius = 1
            except AttributeError:
                pass
            else:
                raise AssertionError("the setter is still there")
            """,
            """
            assert t.celsius == t._c + 0.5
            t.celsius = 20
            assert t.celsius == 20.5
            """,
        ],
    ),
    case(
        "class-attributes",
        rows.CLASS_ATTRS,
        [
            {
                "mx": """
                class Config:
                    retries = 3
                    timeout = 1.0
                """
            },
            {
                "mx": """
                class Config:
                    retries = 5
                    verbose = True
                """
            },
        ],
        hold="""
            import mx
            from mx import Config
            c = mx.Config()
        """,
        checks=[
            """
            assert Config.retries == 3 and c.retries == 3
            assert c.timeout == 1.0
            assert not hasattr(c, "verbose")
            """,
            """
            assert Config.retries == 5 and c.retries == 5
            assert c.verbose is True
            assert not hasattr(Config, "timeout")
            """,
        ],
    ),
    case(
        "dunder-methods",
        rows.DUNDERS,
        [
            {
                "mx": """
                class Vec:
                    def __init__(self, *xs):
                        self.xs = xs

                    def __repr__(self):
                        return f"Vec{self.xs}"

                    def __eq__(self, other):
                        return self.xs == other.xs

                    __hash__ = None
                """
            },
            {
                "mx": """
                class Vec:
                    def __init__(self, *xs):
                        self.xs = xs

                    def __repr__(self):
                        return f"<{', '.join(map(str, self.xs))}>"

                    def __eq__(self, other):
                        return sorted(self.xs) == sorted(other.xs)

                    def __len__(self):
                        return len(self.xs)

                    def __hash__(self):
                        return hash(tuple(sorted(self.xs)))
                """
            },
        ],
        hold="""
            import mx
            v = mx.Vec(2, 1)
        """,
        checks=[
            """
            assert repr(v) == "Vec(2, 1)"
            assert v != mx.Vec(1, 2)
            try:
                len(v)
            except TypeError:
                pass
            else:
                raise AssertionError("__len__ is still there")
            """,
            """
            assert repr(v) == "<2, 1>"
            assert v == mx.Vec(1, 2)
            assert len(v) == 2
            assert {v: 1}[mx.Vec(1, 2)] == 1
            """,
        ],
    ),
    case(
        "nested-classes",
        rows.NESTED,
        [
            {
                "mx": """
                class Outer:
                    class Inner:
                        def hello(self):
                            return "inner v1"

                    def make(self):
                        return self.Inner()
                """
            },
            {
                "mx": """
                class Outer:
                    class Inner:
                        def hello(self):
                            return "inner v2"

                        def extra(self):
                            return "extra"

                    def make(self):
                        return self.Inner()
                """
            },
        ],
        hold="""
            import pickle
            import mx
            i = mx.Outer.Inner()
            Inner = mx.Outer.Inner
        """,
        checks=[
            """
            assert i.hello() == "inner v1"
            assert type(i) is mx.Outer.Inner
            """,
            """
            assert i.hello() == "inner v2"
            assert i.extra() == "extra"
            assert Inner is mx.Outer.Inner
            assert type(i) is mx.Outer.Inner
            assert type(mx.Outer().make()) is type(i)
            assert pickle.loads(pickle.dumps(i)).hello() == "inner v2"
            """,
        ],
    ),
    case(
        "class-decorator",
        rows.CLASS_DECORATORS,
        [
            {
                "mx": """
                REGISTRY = []

                def register(cls):
                    REGISTRY.append(cls.__name__)
                    cls.registered = "v1"
                    return cls

                @register
                class Plugin:
                    def run(self):
                        return "run v1"
                """
            },
            {
                "mx": """
                REGISTRY = []

                def register(cls):
                    REGISTRY.append(cls.__name__)
                    cls.registered = "v1"
                    return cls

                @register
                class Plugin:
                    def run(self):
                        return "run v2"
                """
            },
            {
                "mx": """
                REGISTRY = []

                def register(cls):
                    REGISTRY.append(cls.__name__)
                    cls.registered = "v3"
                    return cls

                @register
                class Plugin:
                    def run(self):
                        return "run v2"
                """
            },
        ],
        hold="""
            import mx
            from mx import Plugin
            p = mx.Plugin()
        """,
        checks=[
            """
            assert p.run() == "run v1"
            assert Plugin.registered == "v1"
            assert mx.REGISTRY == ["Plugin"]
            """,
            """
            assert p.run() == "run v2"
            assert Plugin.registered == "v1"
            assert type(p) is mx.Plugin
            assert mx.REGISTRY == ["Plugin"], mx.REGISTRY
            """,
            """
            assert p.run() == "run v2"
            assert type(p) is mx.Plugin
            assert Plugin.registered == "v3"
            assert mx.Plugin.registered == "v3"
            """,
        ],
        steps=(1, 2),
        note="v2 edits a method only (the decorator must not run again); v3 edits the decorator.",
    ),
    case(
        "metaclass",
        rows.METACLASSES,
        [
            {
                "mx": """
                class Registry(type):
                    classes = []

                    def __new__(mcls, name, bases, ns):
                        cls = super().__new__(mcls, name, bases, ns)
                        mcls.classes.append(name)
                        return cls

                    def describe(cls):
                        return f"meta v1 {cls.__name__}"

                class Model(metaclass=Registry):
                    def save(self):
                        return "save v1"
                """
            },
            {
                "mx": """
                class Registry(type):
                    classes = []

                    def __new__(mcls, name, bases, ns):
                        cls = super().__new__(mcls, name, bases, ns)
                        mcls.classes.append(name)
                        return cls

                    def describe(cls):
                        return f"meta v1 {cls.__name__}"

                class Model(metaclass=Registry):
                    def save(self):
                        return "save v2"
                """
            },
            {
                "mx": """
                class Registry(type):
                    classes = []

                    def __new__(mcls, name, bases, ns):
                        cls = super().__new__(mcls, name, bases, ns)
                        mcls.classes.append(name)
                        return cls

                    def describe(cls):
                        return f"meta v3 {cls.__name__}"

                class Model(metaclass=Registry):
                    def save(self):
                        return "save v2"
                """
            },
        ],
        hold="""
            import mx
            from mx import Model
            m = mx.Model()
        """,
        checks=[
            """
            assert m.save() == "save v1"
            assert Model.describe() == "meta v1 Model"
            assert mx.Registry.classes == ["Model"]
            """,
            """
            assert m.save() == "save v2"
            assert type(m) is mx.Model
            assert mx.Registry.classes == ["Model"], mx.Registry.classes
            """,
            """
            assert Model.describe() == "meta v3 Model"
            assert type(m) is mx.Model
            assert m.save() == "save v2"
            assert mx.Registry.classes == ["Model"], mx.Registry.classes
            """,
        ],
        steps=(1, 2),
        note=(
            "v2 edits a method of the class, v3 a method of the metaclass: neither must create "
            "the class again."
        ),
    ),
    case(
        "init-subclass",
        rows.INIT_SUBCLASS,
        [
            {
                "mx": """
                class Base:
                    registry = []

                    def __init_subclass__(cls, **kwargs):
                        super().__init_subclass__(**kwargs)
                        Base.registry.append(cls.__name__)

                class Child(Base):
                    def run(self):
                        return "child v1"
                """
            },
            {
                "mx": """
                class Base:
                    registry = []

                    def __init_subclass__(cls, **kwargs):
                        super().__init_subclass__(**kwargs)
                        Base.registry.append(cls.__name__)

                class Child(Base):
                    def run(self):
                        return "child v2"
                """
            },
        ],
        hold="""
            import mx
            c = mx.Child()
        """,
        checks=[
            """
            assert c.run() == "child v1"
            assert mx.Base.registry == ["Child"]
            """,
            """
            assert c.run() == "child v2"
            assert type(c) is mx.Child
            assert mx.Base.registry == ["Child"], mx.Base.registry
            """,
        ],
        note="A body-only edit of the subclass must not run `__init_subclass__` again.",
    ),
    case(
        "abc-abstract-methods",
        rows.ABCS,
        [
            {
                "mx": """
                import abc

                class Shape(abc.ABC):
                    @abc.abstractmethod
                    def area(self): ...

                class Square(Shape):
                    def __init__(self, s):
                        self.s = s

                    def area(self):
                        return self.s ** 2

                class Circle(Shape):
                    def area(self):
                        return 3
                """
            },
            {
                "mx": """
                import abc

                class Shape(abc.ABC):
                    @abc.abstractmethod
                    def area(self): ...

                    @abc.abstractmethod
                    def perimeter(self): ...

                class Square(Shape):
                    def __init__(self, s):
                        self.s = s

                    def area(self):
                        return self.s ** 2

                    def perimeter(self):
                        return 4 * self.s

                class Circle(Shape):
                    def area(self):
                        return 3
                """
            },
        ],
        hold="""
            import mx
            sq = mx.Square(2)
        """,
        checks=[
            """
            assert mx.Shape.__abstractmethods__ == {"area"}
            assert mx.Circle().area() == 3
            assert sq.area() == 4
            """,
            """
            assert mx.Shape.__abstractmethods__ == {"area", "perimeter"}
            assert not mx.Square.__abstractmethods__
            assert sq.perimeter() == 8
            assert mx.Square(1).perimeter() == 4
            try:
                mx.Circle()
            except TypeError:
                pass
            else:
                raise AssertionError("Circle does not implement perimeter but can be created")
            """,
        ],
    ),
    case(
        "zero-argument-super",
        rows.SUPER,
        [
            {"mx": _SUPER_V1},
            {
                "mx": _SUPER.format(
                    greet='return "child+" + super().greet()',
                    other='return "CHILD " + super().greet()',
                    label="a",
                )
            },
        ],
        hold="""
            import mx
            c = mx.Child()
            bound = c.greet
        """,
        checks=[
            """
            assert c.greet() == "child"
            assert c.other() == "child base"
            """,
            """
            assert c.greet() == "child+base"
            assert bound() == "child+base"
            assert c.other() == "CHILD base"
            assert mx.Child().greet() == "child+base"
            """,
        ],
        note="`greet` gains a zero-argument `super()`; `other` already had one.",
    ),
    case(
        "super-with-module-change",
        rows.SUPER,
        [
            {"mx": _SUPER_V1},
            {
                "mx": _SUPER.format(
                    greet='return "child+" + super().greet()',
                    other='return "CHILD " + super().greet()',
                    label="b",
                )
            },
        ],
        hold="""
            import mx
            c = mx.Child()
            bound = c.greet
        """,
        checks=[
            """
            assert c.greet() == "child"
            assert c.other() == "child base"
            """,
            """
            assert c.greet() == "child+base"
            assert bound() == "child+base"
            assert c.other() == "CHILD base"
            assert isinstance(c, mx.Child)
            assert mx.LABEL == "B"
            """,
        ],
        note=(
            "As above, plus a non-literal module-level line changes, which makes autoreload "
            "re-run the whole module (ipython#8807)."
        ),
    ),
    case(
        "subclasses",
        rows.SUBCLASSES,
        [
            {
                "mx": """
                class Base:
                    def hello(self):
                        return "base v1"

                    def shared(self):
                        return "shared v1"

                class Local(Base):
                    pass
                """,
                "mx_user": """
                from mx import Base

                class Remote(Base):
                    def hello(self):
                        return "remote " + super().hello()
                """,
            },
            {
                "mx": """
                class Base:
                    def hello(self):
                        return "base v2"

                    def shared(self):
                        return "shared v2"

                    def added(self):
                        return "added"

                class Local(Base):
                    pass
                """,
            },
        ],
        hold="""
            import mx, mx_user
            local, remote = mx.Local(), mx_user.Remote()
        """,
        checks=[
            """
            assert local.hello() == "base v1"
            assert remote.hello() == "remote base v1"
            assert not hasattr(remote, "added")
            """,
            """
            assert local.hello() == "base v2"
            assert mx.Local().shared() == "shared v2"
            assert remote.hello() == "remote base v2"
            assert remote.shared() == "shared v2"
            assert remote.added() == "added"
            assert mx_user.Remote().hello() == "remote base v2"
            assert mx_user.Base is mx.Base
            assert isinstance(remote, mx.Base)
            """,
        ],
    ),
    case(
        "replaced-classes",
        rows.REPLACED,
        [
            {
                "mx": """
                class Mixin:
                    def mixed(self):
                        return "mixin"

                class Meta(type):
                    pass

                class Movable:
                    def who(self):
                        return "movable v1"

                class WithMeta:
                    def who(self):
                        return "meta v1"

                class Slotted:
                    def who(self):
                        return "slotted v1"
                """
            },
            {
                "mx": """
                class Mixin:
                    def mixed(self):
                        return "mixin"

                class Meta(type):
                    pass

                class Movable(Mixin):
                    def who(self):
                        return "movable v2"

                class WithMeta(metaclass=Meta):
                    def who(self):
                        return "meta v2"

                class Slotted:
                    __slots__ = ("x",)

                    def who(self):
                        return "slotted v2"
                """
            },
        ],
        hold="""
            import mx
            a, c, s = mx.Movable(), mx.WithMeta(), mx.Slotted()
        """,
        checks=[
            """
            assert a.who() == "movable v1"
            assert c.who() == "meta v1"
            assert s.who() == "slotted v1"
            """,
            """
            assert type(a) is mx.Movable
            assert a.who() == "movable v2"
            assert a.mixed() == "mixin"
            assert type(c) is mx.WithMeta
            assert c.who() == "meta v2"
            assert s.who() == "slotted v1"
            assert mx.Slotted().who() == "slotted v2"
            # An instance with a __dict__ cannot take a __slots__ layout: the report says so.
            report = [line for line in matrix.out.splitlines() if "Slotted" in line]
            assert report and "1 old Slotted object keeps the old class" in report[0], matrix.out
            assert "__slots__ changed, so Python cannot move it; recreate it" in report[0]
            """,
        ],
        steps=(1,),
        note=(
            "CPython refuses `__class__` assignment between different layouts, so the old "
            "`Slotted` instance keeps its old class; the report says so. Create it again."
        ),
    ),
)
