"""Cases for standard-library patterns: slotted dataclasses, enums, protocols, typed records,
``singledispatch`` handlers named ``_``, decorator-filled registries and ``from m import *``.

Each check asserts what a fresh import of that version would give.
"""

from __future__ import annotations

from tests.matrix.case import case
from tests.matrix.cases import rows

_FROZEN_SLOTS = """
from dataclasses import dataclass

@dataclass(frozen=True, slots=True)
class Key:
    a: int

    def label(self):
        return {label}

@dataclass(frozen=True, slots=True)
class Box:
    a: int
{box_field}
    def size(self):
        return {size}
"""

_ENUMS = """
import enum

class Color(enum.Enum):
    RED = 1
    GREEN = 2
{color}
class Level(enum.IntEnum):
    LOW = 1
{level}
class Perm(enum.Flag):
    R = 1
    W = 2
{perm}"""

_DISPATCH = """
from functools import singledispatch

@singledispatch
def show(x):
    return "object"

@show.register
def _(x: int):
    return "int"
{float_handler}
@show.register
def _(x: str):
    return {str_body}
"""

_FLOAT_HANDLER = """
@show.register
def _(x: float):
    return "float"
"""

_REGISTRY = """
HANDLERS = []

def register(fn):
    HANDLERS.append(fn)
    return fn

@register
def first(x):
    return f"first {{x}}"
{middle}{second}
@register
def last(x):
    return f"last {{x}}"

def run(x):
    return [handler(x) for handler in HANDLERS]
"""

_MIDDLE = """
@register
def middle(x):
    return f"middle {x}"
"""

_SECOND = """
@register
def second(x):
    return f"second {x}"
"""

CASES = (
    case(
        "dataclass-frozen-slots",
        rows.DC_FROZEN_SLOTS,
        [
            {"mx": _FROZEN_SLOTS.format(label='f"key {self.a}"', box_field="", size="self.a")},
            {
                "mx": _FROZEN_SLOTS.format(
                    label='f"KEY {self.a}"', box_field="    b: int = 5\n", size="self.a + self.b"
                )
            },
        ],
        hold="""
            import dataclasses
            import mx
            from mx import Key, Box
            key = mx.Key(1)
            bound = key.label
            table = {key: "one"}
        """,
        checks=[
            """
            assert key.label() == "key 1" and bound() == "key 1"
            assert [f.name for f in dataclasses.fields(mx.Box)] == ["a"]
            assert Box(2).size() == 2 and mx.Box(2).size() == 2
            assert mx.Key.__slots__ == ("a",) and mx.Box.__slots__ == ("a",)
            assert table[mx.Key(1)] == "one"
            """,
            """
            assert key.label() == "KEY 1"
            assert bound() == "KEY 1"
            assert type(key) is mx.Key and Key is mx.Key
            assert table[mx.Key(1)] == "one"
            assert [f.name for f in dataclasses.fields(mx.Box)] == ["a", "b"]
            assert mx.Box.__slots__ == ("a", "b")
            assert mx.Box(2).size() == 7
            assert Box is mx.Box
            assert Box(2, 1) == mx.Box(2, 1) and Box(2, 1).size() == 3
            assert repr(Box(2)) == "Box(a=2, b=5)"
            try:
                mx.Box(1).b = 2
            except dataclasses.FrozenInstanceError:
                pass
            else:
                raise AssertionError("a frozen instance accepted an assignment")
            """,
        ],
        note=(
            "`slots=True` makes the decorator return a new class; adding a field changes its "
            "`__slots__`, so `Box` is a replaced class."
        ),
    ),
    case(
        "enum-intenum-flag-member-added",
        rows.ENUM_KINDS,
        [
            {"mx": _ENUMS.format(color="", level="", perm="")},
            {
                "mx": _ENUMS.format(
                    color="    BLUE = 3\n", level="    HIGH = 2\n", perm="    X = 4\n"
                )
            },
        ],
        hold="""
            import mx
            from mx import Color, Level, Perm
            red, low, read = mx.Color.RED, mx.Level.LOW, mx.Perm.R
        """,
        checks=[
            """
            assert [m.name for m in mx.Color] == ["RED", "GREEN"] and len(Color) == 2
            assert [m.name for m in Level] == ["LOW"]
            assert [m.name for m in mx.Perm] == ["R", "W"]
            assert ~read == mx.Perm.W
            assert mx.Perm(3) == read | mx.Perm.W
            assert "BLUE" not in mx.Color.__members__
            for bad in (lambda: mx.Color(3), lambda: mx.Level(2), lambda: mx.Color["BLUE"]):
                try:
                    bad()
                except (ValueError, KeyError):
                    pass
                else:
                    raise AssertionError("a member of v2 is still there")
            """,
            """
            assert [m.name for m in mx.Color] == ["RED", "GREEN", "BLUE"] and len(Color) == 3
            assert mx.Color(3) is mx.Color.BLUE is mx.Color["BLUE"] is Color.BLUE
            assert red is mx.Color.RED and mx.Color(1) is red
            assert [m.name for m in Level] == ["LOW", "HIGH"]
            assert mx.Level(2) is mx.Level.HIGH and mx.Level.HIGH > low
            assert low is mx.Level.LOW
            assert [m.name for m in mx.Perm] == ["R", "W", "X"]
            assert read is mx.Perm.R
            assert ~read == mx.Perm.W | mx.Perm.X
            assert mx.Perm(7) == read | mx.Perm.W | mx.Perm.X
            assert (read | Perm.X).value == 5
            """,
        ],
    ),
    case(
        "runtime-checkable-protocol",
        rows.PROTOCOL,
        [
            {
                "mx": """
                from typing import Protocol, runtime_checkable

                @runtime_checkable
                class Shape(Protocol):
                    def area(self) -> float: ...

                class Square:
                    def area(self):
                        return 1.0

                class Circle:
                    def area(self):
                        return 3.14

                    def perimeter(self):
                        return 6.28
                """
            },
            {
                "mx": """
                from typing import Protocol, runtime_checkable

                @runtime_checkable
                class Shape(Protocol):
                    def area(self) -> float: ...

                    def perimeter(self) -> float: ...

                class Square:
                    def area(self):
                        return 1.0

                class Circle:
                    def area(self):
                        return 3.14

                    def perimeter(self):
                        return 6.28
                """
            },
        ],
        hold="""
            import mx
            from mx import Shape
            square, circle = mx.Square(), mx.Circle()
        """,
        checks=[
            """
            assert isinstance(square, Shape) and isinstance(circle, Shape)
            assert isinstance(square, mx.Shape) and isinstance(mx.Square(), mx.Shape)
            assert issubclass(mx.Square, mx.Shape)
            """,
            """
            assert isinstance(circle, mx.Shape) and isinstance(circle, Shape)
            assert not isinstance(square, mx.Shape)
            assert not isinstance(square, Shape)
            assert not isinstance(mx.Square(), mx.Shape)
            assert not issubclass(mx.Square, mx.Shape)
            assert issubclass(mx.Circle, Shape)
            """,
        ],
        note=(
            "`isinstance` on a protocol goes through the ABC cache, which remembers the positive "
            "answer given for `Square` before the edit."
        ),
    ),
    case(
        "namedtuple-typeddict-field-added",
        rows.NT_TYPEDDICT,
        [
            {
                "mx": """
                from typing import NamedTuple, TypedDict

                class Pair(NamedTuple):
                    a: int
                    b: int = 0

                class Config(TypedDict):
                    name: str

                def make():
                    return Pair(1)
                """
            },
            {
                "mx": """
                from typing import NamedTuple, TypedDict

                class Pair(NamedTuple):
                    a: int
                    b: int = 0
                    c: int = 7

                class Config(TypedDict):
                    name: str
                    debug: bool

                def make():
                    return Pair(1)
                """
            },
        ],
        hold="""
            import typing
            import mx
            from mx import Pair, Config, make
        """,
        checks=[
            """
            assert Pair._fields == ("a", "b") and mx.Pair._fields == ("a", "b")
            assert make() == (1, 0)
            assert Config.__required_keys__ == frozenset({"name"})
            assert list(typing.get_type_hints(mx.Config)) == ["name"]
            """,
            """
            assert mx.Pair._fields == ("a", "b", "c")
            assert Pair is mx.Pair
            assert Pair(1, 2) == (1, 2, 7) and Pair(1, 2).c == 7
            assert mx.Pair._field_defaults == {"b": 0, "c": 7}
            assert make() == (1, 0, 7) and type(make()) is mx.Pair
            assert Config is mx.Config
            assert mx.Config.__required_keys__ == frozenset({"name", "debug"})
            assert list(typing.get_type_hints(Config)) == ["name", "debug"]
            assert Config(name="a", debug=True) == {"name": "a", "debug": True}
            """,
        ],
    ),
    case(
        "singledispatch-underscore-handlers",
        rows.DISPATCH_UNDERSCORE,
        [
            {"mx": _DISPATCH.format(float_handler="", str_body='"str"')},
            {"mx": _DISPATCH.format(float_handler=_FLOAT_HANDLER, str_body='"str"')},
            {"mx": _DISPATCH.format(float_handler=_FLOAT_HANDLER, str_body='"STR v3"')},
        ],
        hold="""
            import mx
            from mx import show
        """,
        checks=[
            """
            assert [show(v) for v in (1, 1.5, "a", None)] == ["int", "object", "str", "object"]
            assert set(mx.show.registry) == {object, int, str}
            """,
            """
            assert [show(v) for v in (1, 1.5, "a", None)] == ["int", "float", "str", "object"]
            assert mx.show(1.5) == "float"
            assert set(mx.show.registry) == {object, int, float, str}
            """,
            """
            assert [show(v) for v in (1, 1.5, "a", None)] == ["int", "float", "STR v3", "object"]
            assert mx.show("a") == "STR v3"
            assert set(mx.show.registry) == {object, int, float, str}
            """,
        ],
        steps=(1, 2, 0),
        note=(
            "The handlers cannot be told apart by name: v2 adds one between two others, v3 "
            "edits the last one's body, then the file goes back to v1."
        ),
    ),
    case(
        "list-registry-decorator",
        rows.LIST_REGISTRY,
        [
            {"mx": _REGISTRY.format(middle="", second=_SECOND)},
            {"mx": _REGISTRY.format(middle=_MIDDLE, second=_SECOND)},
            {"mx": _REGISTRY.format(middle=_MIDDLE, second="")},
        ],
        hold="""
            import mx
            from mx import HANDLERS, run
        """,
        checks=[
            """
            assert [h.__name__ for h in mx.HANDLERS] == ["first", "second", "last"]
            assert [h.__name__ for h in HANDLERS] == ["first", "second", "last"]
            assert run(1) == ["first 1", "second 1", "last 1"]
            """,
            """
            assert [h.__name__ for h in mx.HANDLERS] == ["first", "middle", "second", "last"]
            assert [h.__name__ for h in HANDLERS] == ["first", "middle", "second", "last"]
            assert run(1) == ["first 1", "middle 1", "second 1", "last 1"]
            assert mx.run(2) == ["first 2", "middle 2", "second 2", "last 2"]
            """,
            """
            assert [h.__name__ for h in mx.HANDLERS] == ["first", "middle", "last"]
            assert [h.__name__ for h in HANDLERS] == ["first", "middle", "last"]
            assert run(1) == ["first 1", "middle 1", "last 1"]
            assert not hasattr(mx, "second")
            """,
        ],
        steps=(1, 2, 0),
        note="v2 registers a handler between two others; v3 removes one; then back to v1.",
    ),
    case(
        "star-import",
        rows.STAR_IMPORT,
        [
            {
                "mx": """
                LIMIT = 10
                _PRIVATE = "hidden"

                def double(x):
                    return x * 2
                """
            },
            {
                "mx": """
                LIMIT = 20
                _PRIVATE = "hidden"

                def double(x):
                    return x * 2

                def triple(x):
                    return x * 3
                """
            },
        ],
        hold="""
            import mx
            from mx import *
        """,
        checks=[
            """
            assert LIMIT == 10 and double(2) == 4
            assert "triple" not in get_ipython().user_ns
            assert "_PRIVATE" not in get_ipython().user_ns
            """,
            """
            assert mx.LIMIT == 20
            assert LIMIT == 20
            assert double(2) == 4
            assert triple(2) == 6
            assert "_PRIVATE" not in get_ipython().user_ns
            """,
        ],
        steps=(1,),
        note="`from m import *` again would bind the new function and the new constant.",
    ),
)
