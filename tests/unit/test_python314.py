"""Python 3.14: lazy annotations (PEP 649, PEP 749) and the patcher.

On 3.14 a function's or class's annotations are made on first access by an ``__annotate__``
function, so they may name what the module defines later or imports only under
``if TYPE_CHECKING:``. Patching must carry that function over instead of reading
``__annotations__`` (which would run it, and raise NameError for such names), and a class whose
annotated members changed is made again from its whole body (its ``__annotate__`` covers the
whole body). The review is in docs/limitations.md ("Python 3.14"). Tests that need 3.14 skip
elsewhere; the helper's behaviour before 3.14 is checked everywhere.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

import pytest

from hotreload_ext import Reloader
from hotreload_ext._journal import LAZY_ANNOTATIONS, Journal, annotations_of
from tests.conftest import ModuleFiles, check

needs_314 = pytest.mark.skipif(sys.version_info < (3, 14), reason="lazy annotations: 3.14+")

# Annotations naming a class defined further down and a name imported only for type checkers.
LAZY_V1 = """
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from decimal import Decimal


def price(item: Item, rate: Decimal) -> Decimal:
    return item.cost * 1


class Item:
    def __init__(self, cost):
        self.cost = cost
"""

LAZY_V2 = LAZY_V1.replace("item.cost * 1", "item.cost * 2").replace(
    "rate: Decimal) -> Decimal", "rate: Decimal, extra: Item) -> Decimal"
)


def _function(source: str) -> types.FunctionType:
    # Compiled without this file's `from __future__ import annotations` (which makes them
    # strings at once, with no __annotate__).
    namespace: dict[str, object] = {}
    exec(compile(source, "<test>", "exec", dont_inherit=True), namespace)
    f = namespace["f"]
    assert isinstance(f, types.FunctionType)
    return f


def test_annotations_of_reads_the_dict_before_3_14() -> None:
    f = _function("def f(x: int) -> str:\n    return str(x)\n")
    name, value = annotations_of(f)
    if LAZY_ANNOTATIONS:
        assert name == "__annotate__"
        assert callable(value)
    else:
        assert (name, value) == ("__annotations__", {"x": int, "return": str})


@needs_314
def test_patching_a_function_keeps_its_annotations_lazy(
    files: ModuleFiles, reloader: Reloader
) -> None:
    name = files.name("lazy")
    m = files.load(name, LAZY_V1)
    reloader.discover()
    old = m.price
    files.write(name, LAZY_V2)
    check(reloader)  # reading __annotations__ here would raise NameError: Decimal
    assert m.price is old
    assert old(m.Item(3), None, None) == 6
    # The old function now has the new annotate function: its annotations are the new ones,
    # still unevaluated (Decimal is undefined at run time).
    assert getattr(old, "__annotate__", None) is not None
    annotationlib: Any = importlib.import_module("annotationlib")
    forward = annotationlib.get_annotations(old, format=annotationlib.Format.FORWARDREF)
    assert set(forward) == {"item", "rate", "extra", "return"}
    assert forward["item"] is m.Item
    with pytest.raises(NameError):
        _ = old.__annotations__


@needs_314
def test_rollback_restores_the_annotate_function(files: ModuleFiles) -> None:
    f = _function("def f(x: Later) -> int:\n    return 1\n")
    before = getattr(f, "__annotate__")  # noqa: B009 - not in typeshed for 3.10
    journal = Journal()
    journal.save_function(f)
    f.__annotations__ = {"x": int}
    journal.rollback()
    assert getattr(f, "__annotate__") is before  # noqa: B009


@needs_314
def test_a_changed_annotated_member_remakes_the_class_annotations(
    files: ModuleFiles, reloader: Reloader
) -> None:
    name = files.name("annotated")
    m = files.load(
        name,
        "class Point:\n    x: int = 0\n\n    def norm(self):\n        return abs(self.x)\n",
    )
    reloader.discover()
    cls = m.Point
    assert cls.__annotations__ == {"x": int}
    files.write(
        name,
        "class Point:\n    x: int = 0\n    y: float = 0.0\n\n"
        "    def norm(self):\n        return abs(self.x) + abs(self.y)\n",
    )
    check(reloader)
    assert m.Point is cls
    # What a fresh import gives: both members, in order.
    assert cls.__annotations__ == {"x": int, "y": float}
    assert cls().norm() == 0.0
