"""Cases for dataclasses, NamedTuple and Enum classes."""

from __future__ import annotations

from tests.matrix.case import case
from tests.matrix.cases import rows

CASES = (
    case(
        "dataclass-field-added",
        rows.DATACLASSES,
        [
            {
                "mx": """
                from dataclasses import dataclass

                @dataclass
                class Item:
                    name: str
                    qty: int = 1

                    def total(self):
                        return self.qty
                """
            },
            {
                "mx": """
                from dataclasses import dataclass

                @dataclass
                class Item:
                    name: str
                    qty: int = 1
                    price: float = 0.5

                    def total(self):
                        return self.qty * self.price
                """
            },
        ],
        hold="""
            import copy, pickle
            import mx
            from mx import Item
            old = mx.Item("a", 2)
        """,
        checks=[
            """
            assert repr(old) == "Item(name='a', qty=2)"
            assert old == Item("a", 2)
            assert old.total() == 2
            """,
            """
            assert Item("b").price == 0.5
            assert repr(Item("b", 3, 2.0)) == "Item(name='b', qty=3, price=2.0)"
            assert type(old) is mx.Item
            assert repr(old) == "Item(name='a', qty=2, price=0.5)"
            assert old == Item("a", 2)
            assert old.total() == 1.0
            assert copy.deepcopy(old) == old
            assert pickle.loads(pickle.dumps(old)) == old
            """,
        ],
    ),
    case(
        "frozen-dataclass",
        rows.FROZEN,
        [
            {
                "mx": """
                from dataclasses import dataclass

                @dataclass(frozen=True)
                class Key:
                    a: int

                    def label(self):
                        return f"key {self.a}"
                """
            },
            {
                "mx": """
                from dataclasses import dataclass

                @dataclass(frozen=True)
                class Key:
                    a: int
                    b: int = 0

                    def label(self):
                        return f"KEY {self.a}/{self.b}"
                """
            },
        ],
        hold="""
            import dataclasses
            import mx
            from mx import Key
            old = mx.Key(1)
            table = {old: "one"}
        """,
        checks=[
            """
            assert old.label() == "key 1"
            assert table[mx.Key(1)] == "one"
            """,
            """
            assert old.label() == "KEY 1/0"
            assert type(old) is mx.Key
            assert old == mx.Key(1)
            assert hash(old) == hash(mx.Key(1))
            assert {old: "one"}[mx.Key(1)] == "one"
            assert Key(1, 2).b == 2
            try:
                old.a = 5
            except dataclasses.FrozenInstanceError:
                pass
            else:
                raise AssertionError("a frozen instance accepted an assignment")
            """,
        ],
        note=(
            "A dict or set keeps the hash each key had when it was inserted: after the hashed "
            "fields change, old keys are found again only once re-inserted (`table` here is "
            "checked after going back)."
        ),
    ),
    case(
        "namedtuple-methods",
        rows.NAMEDTUPLE,
        [
            {
                "mx": """
                from typing import NamedTuple

                class Pair(NamedTuple):
                    a: int
                    b: int = 0

                    def total(self):
                        return self.a + self.b
                """
            },
            {
                "mx": """
                from typing import NamedTuple

                class Pair(NamedTuple):
                    a: int
                    b: int = 0

                    def total(self):
                        return self.a * 10 + self.b

                    def swap(self):
                        return Pair(self.b, self.a)
                """
            },
        ],
        hold="""
            import pickle
            import mx
            from mx import Pair
            p = mx.Pair(1, 2)
        """,
        checks=[
            """
            assert p.total() == 3
            assert repr(p) == "Pair(a=1, b=2)"
            """,
            """
            assert p.total() == 12
            assert p.swap() == (2, 1)
            assert type(p) is mx.Pair
            assert Pair is mx.Pair
            assert pickle.loads(pickle.dumps(p)) == p
            assert repr(p) == "Pair(a=1, b=2)"
            """,
        ],
    ),
    case(
        "namedtuple-field-added",
        rows.NAMEDTUPLE,
        [
            {
                "mx": """
                from typing import NamedTuple

                class Pair(NamedTuple):
                    a: int
                    b: int = 0
                """
            },
            {
                "mx": """
                from typing import NamedTuple

                class Pair(NamedTuple):
                    a: int
                    b: int = 0
                    c: int = 0
                """
            },
        ],
        hold="""
            import mx
            from mx import Pair
            p = mx.Pair(1, 2)
        """,
        checks=[
            """
            assert repr(p) == "Pair(a=1, b=2)"
            assert p._fields == ("a", "b")
            """,
            """
            assert mx.Pair(1, 2, 3).c == 3
            assert Pair(1)._fields == ("a", "b", "c")
            # A tuple cannot grow in place: the old instance keeps its two fields and still
            # works, and the report says it could not follow the new layout.
            assert (p.a, p.b) == (1, 2)
            assert repr(p) == "Pair(a=1, b=2)"
            report = [line for line in matrix.out.splitlines() if "Pair" in line]
            assert report and "an old Pair of 2 items cannot take 3 fields; recreate it" in (
                report[0]
            ), matrix.out
            """,
        ],
        steps=(1,),
        note=(
            "An existing tuple cannot gain a field (CPython fixes a tuple's length at creation): "
            "old instances keep the old layout and the report says so; rebuild them."
        ),
    ),
    case(
        "enum-members",
        rows.ENUMS,
        [
            {
                "mx": """
                import enum

                class Color(enum.Enum):
                    RED = 1
                    GREEN = 2

                    def describe(self):
                        return f"{self.name} v1"

                class Level(enum.IntEnum):
                    LOW = 1

                class Perm(enum.Flag):
                    R = 1
                    W = 2
                """
            },
            {
                "mx": """
                import enum

                class Color(enum.Enum):
                    RED = 1
                    GREEN = 2
                    BLUE = 3

                    def describe(self):
                        return f"{self.name} v2"

                class Level(enum.IntEnum):
                    LOW = 1
                    HIGH = 2

                class Perm(enum.Flag):
                    R = 1
                    W = 2
                    X = 4
                """
            },
        ],
        hold="""
            import pickle
            import mx
            from mx import Color
            red, low, read = mx.Color.RED, mx.Level.LOW, mx.Perm.R
        """,
        checks=[
            """
            assert red.describe() == "RED v1"
            assert list(mx.Color) == [red, mx.Color.GREEN]
            assert not hasattr(mx.Color, "BLUE")
            assert red is mx.Color.RED and Color is mx.Color
            assert low is mx.Level.LOW and read is mx.Perm.R
            """,
            """
            assert mx.Color.BLUE.value == 3
            assert Color.BLUE is mx.Color.BLUE
            assert red is mx.Color.RED
            assert Color is mx.Color
            assert isinstance(red, mx.Color)
            assert mx.Color(1) is red
            assert red.describe() == "RED v2"
            assert pickle.loads(pickle.dumps(red)) is red
            assert low is mx.Level.LOW and mx.Level.HIGH == 2
            assert read is mx.Perm.R
            assert (read | mx.Perm.X).value == 5
            """,
        ],
    ),
)
