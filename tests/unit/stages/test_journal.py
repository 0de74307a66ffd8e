"""Stage 6, the undo log (``_journal.Journal``), on real functions, classes, cells and dicts."""

from __future__ import annotations

import functools
import types
from typing import Any

import pytest

from hotreload_ext._journal import MISSING, Journal, set_closure


def make_function(source: str, name: str) -> types.FunctionType:
    namespace: dict[str, Any] = {"__name__": "fake_journal_module"}
    exec(source, namespace)
    function = namespace[name]
    assert type(function) is types.FunctionType
    return function


def make_cell(value: object = MISSING) -> types.CellType:
    return types.CellType() if value is MISSING else types.CellType(value)


# --- functions -----------------------------------------------------------------------------------
def test_save_function_then_rollback_restores_every_attribute() -> None:
    f = make_function('def f(a, b=1, *, c=2):\n    "Old."\n    return a + b + c\n', "f")
    g = make_function('def g(x, y=10, *, z=20) -> int:\n    "New."\n    return 0\n', "g")
    f.marker = "old"  # type: ignore[attr-defined]
    code, defaults, kwdefaults = f.__code__, f.__defaults__, f.__kwdefaults__
    journal = Journal()
    journal.save_function(f)

    f.__code__ = g.__code__
    f.__defaults__ = g.__defaults__
    f.__kwdefaults__ = g.__kwdefaults__
    f.__doc__ = g.__doc__
    f.__annotations__ = g.__annotations__
    f.__name__ = "renamed"
    f.__qualname__ = "Renamed.renamed"
    f.__module__ = "elsewhere"
    f.__dict__.clear()
    f.added = True  # type: ignore[attr-defined]
    assert f(1) == 0

    assert journal.rollback() == []
    assert f.__code__ is code
    assert f.__defaults__ is defaults
    assert f.__kwdefaults__ == kwdefaults
    assert f.__doc__ == "Old."
    assert f.__annotations__ == {}
    assert f.__name__ == "f"
    assert f.__qualname__ == "f"
    assert f.__module__ == "fake_journal_module"
    assert f.__dict__ == {"marker": "old"}
    assert f(1) == 4


def test_a_function_is_saved_once_per_reload() -> None:
    f = make_function("def f():\n    return 1\n", "f")
    g = make_function("def g():\n    return 2\n", "g")
    h = make_function("def h():\n    return 3\n", "h")
    journal = Journal()
    journal.save_function(f)
    f.__code__ = g.__code__
    journal.save_function(f)  # the second save must not record the patched state
    f.__code__ = h.__code__
    assert len(journal) == 1
    journal.rollback()
    assert f() == 1


def test_rollback_restores_a_closure_that_was_swapped() -> None:
    f = make_function("def f():\n    return 1\n", "f")
    make = make_function(
        "def make():\n    n = 5\n    def f():\n        return n\n    return f\n", "make"
    )
    closed = make()
    code = f.__code__
    journal = Journal()
    journal.save_function(f)
    set_closure(f, closed.__code__, closed.__closure__)
    assert f() == 5

    journal.rollback()
    assert f.__closure__ is None
    assert f.__code__ is code
    assert f() == 1


# --- set_closure ---------------------------------------------------------------------------------
def test_set_closure_gives_a_function_code_with_other_free_variables() -> None:
    plain = make_function("def f(x):\n    return x\n", "f")
    make = make_function(
        "def make():\n    a, b = 10, 20\n    def f(x):\n        return x + a + b\n    return f\n",
        "make",
    )
    closed = make()
    set_closure(plain, closed.__code__, closed.__closure__)
    assert plain.__code__ is closed.__code__
    assert plain.__closure__ is closed.__closure__
    assert plain(1) == 31

    # And back to no free variables at all.
    other = make_function("def f(x):\n    return -x\n", "f")
    set_closure(plain, other.__code__, None)
    assert plain.__closure__ is None
    assert plain(1) == -1


def test_set_closure_with_fresh_cells() -> None:
    make = make_function(
        "def make():\n    n = 0\n    def f():\n        return n\n    return f\n", "make"
    )
    f = make()
    set_closure(f, f.__code__, (make_cell(42),))
    assert f() == 42


# --- classes -------------------------------------------------------------------------------------
def test_save_class_then_rollback_restores_changed_added_and_removed_attributes() -> None:
    class C:
        kept = "kept"
        changed = "old"
        removed = "removed"

        def method(self) -> str:
            return "old"

    method = C.__dict__["method"]
    journal = Journal()
    journal.save_class(C)
    C.changed = "new"
    del C.removed
    C.added = "added"  # type: ignore[attr-defined]
    C.method = lambda self: "new"  # type: ignore[method-assign]

    assert journal.rollback() == []
    assert C.kept == "kept"
    assert C.changed == "old"
    assert C.removed == "removed"
    assert "added" not in C.__dict__
    assert C.__dict__["method"] is method
    assert C().method() == "old"


def test_a_class_is_saved_once_per_reload() -> None:
    class C:
        value = 1

    journal = Journal()
    journal.save_class(C)
    C.value = 2
    journal.save_class(C)
    C.value = 3
    assert len(journal) == 1
    journal.rollback()
    assert C.value == 1


def test_rollback_of_a_class_keeps_its_dict_and_weakref_slots() -> None:
    class C:
        pass

    journal = Journal()
    journal.save_class(C)
    C.extra = 1  # type: ignore[attr-defined]
    journal.rollback()
    instance = C()
    instance.attribute = 1  # type: ignore[attr-defined]
    assert instance.__dict__ == {"attribute": 1}
    assert "extra" not in C.__dict__


# --- cells ---------------------------------------------------------------------------------------
def test_save_cell_then_rollback_restores_its_contents() -> None:
    cell = make_cell("old")
    journal = Journal()
    journal.save_cell(cell)
    cell.cell_contents = "new"
    journal.rollback()
    assert cell.cell_contents == "old"


def test_rollback_empties_a_cell_that_was_empty() -> None:
    cell = make_cell()
    journal = Journal()
    journal.save_cell(cell)
    cell.cell_contents = "filled"
    journal.rollback()
    with pytest.raises(ValueError, match="empty"):
        _ = cell.cell_contents


def test_rollback_of_a_cell_that_stayed_empty() -> None:
    cell = make_cell()
    journal = Journal()
    journal.save_cell(cell)
    assert journal.rollback() == []
    with pytest.raises(ValueError, match="empty"):
        _ = cell.cell_contents


# --- mappings ------------------------------------------------------------------------------------
def test_save_mapping_then_rollback_restores_every_binding() -> None:
    value = ["the", "same", "object"]
    namespace: dict[str, Any] = {"kept": value, "changed": 1, "removed": 2}
    journal = Journal()
    journal.save_mapping(namespace)
    namespace["changed"] = 10
    namespace["added"] = 3
    del namespace["removed"]

    journal.rollback()
    assert namespace == {"kept": value, "changed": 1, "removed": 2}
    assert namespace["kept"] is value


def test_rollback_restores_the_mapping_object_itself() -> None:
    namespace: dict[str, Any] = {"a": 1}
    journal = Journal()
    journal.save_mapping(namespace)
    namespace.clear()
    journal.rollback()
    assert namespace == {"a": 1}


def test_rollback_of_a_mapping_puts_back_the_same_objects_not_equal_ones() -> None:
    original = [1]
    namespace: dict[str, Any] = {"x": original}
    journal = Journal()
    journal.save_mapping(namespace)
    namespace["x"] = [1]
    journal.rollback()
    assert namespace["x"] is original


# --- order, commit, errors -----------------------------------------------------------------------
def test_undo_runs_newest_first() -> None:
    order: list[int] = []
    journal = Journal()
    for step in range(3):
        journal.add(functools.partial(order.append, step))
    assert len(journal) == 3
    journal.rollback()
    assert order == [2, 1, 0]
    assert len(journal) == 0


def test_newest_first_restores_the_oldest_state_of_a_binding_saved_twice() -> None:
    namespace: dict[str, Any] = {"x": 1}
    journal = Journal()
    journal.save_mapping(namespace)
    namespace["x"] = 2
    journal.save_mapping(namespace)
    namespace["x"] = 3
    journal.rollback()
    assert namespace["x"] == 1


def test_commit_forgets_the_changes() -> None:
    f = make_function("def f():\n    return 1\n", "f")
    g = make_function("def g():\n    return 2\n", "g")
    namespace: dict[str, Any] = {"x": 1}
    called: list[str] = []
    journal = Journal()
    journal.save_function(f)
    journal.save_mapping(namespace)
    journal.add(lambda: called.append("undo"))
    f.__code__ = g.__code__
    namespace["x"] = 2

    journal.commit()
    assert len(journal) == 0
    assert journal.rollback() == []
    assert f() == 2
    assert namespace == {"x": 2}
    assert called == []


def test_after_commit_a_function_can_be_saved_again() -> None:
    f = make_function("def f():\n    return 1\n", "f")
    g = make_function("def g():\n    return 2\n", "g")
    journal = Journal()
    journal.save_function(f)
    journal.commit()
    journal.save_function(f)
    f.__code__ = g.__code__
    journal.rollback()
    assert f() == 1


def test_a_failing_undo_step_does_not_stop_the_others() -> None:
    namespace: dict[str, Any] = {"x": 1}
    cell = make_cell("old")
    journal = Journal()
    journal.save_mapping(namespace)

    def broken() -> None:
        raise RuntimeError("undo failed")

    journal.add(broken)
    journal.save_cell(cell)
    namespace["x"] = 2
    cell.cell_contents = "new"

    errors = journal.rollback()
    assert [str(e) for e in errors] == ["undo failed"]
    assert isinstance(errors[0], RuntimeError)
    assert namespace == {"x": 1}
    assert cell.cell_contents == "old"
    assert len(journal) == 0


def test_every_failing_undo_step_is_reported_newest_first() -> None:
    journal = Journal()
    for message in ("first", "second"):

        def broken(message: str = message) -> None:
            raise ValueError(message)

        journal.add(broken)
    assert [str(e) for e in journal.rollback()] == ["second", "first"]
