"""Cells that define a class or function again, in a real in-process ``InteractiveShell``.

The session must end up as a "Restart & Run All" of the edited cells would leave it, for the
definitions the cells make: one class and one function per name, which every old object,
reference, subclass and registry holds.
"""

from __future__ import annotations

import copy
import os
import pickle
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

from hotreload_ext._cells import HOOK
from hotreload_ext._extension import get_extension
from tests.conftest import ModuleFiles

ACCOUNT = """
class Account:
    rate = 1

    def __init__(self, balance):
        self.balance = balance

    def deposit(self, amount):
        self.balance += amount
        return self.balance
"""


@pytest.fixture(scope="session")
def ipython(tmp_path_factory: pytest.TempPathFactory) -> InteractiveShell:
    os.environ.setdefault("IPYTHONDIR", str(tmp_path_factory.mktemp("ipythondir")))
    shell = InteractiveShell.instance()
    assert shell.history_manager is not None
    shell.history_manager.enabled = False
    return shell


@pytest.fixture
def shell(ipython: InteractiveShell) -> Iterator[InteractiveShell]:
    """The shell with hotreload loaded in strict mode; the names cells bound are removed after."""
    names = set(ipython.user_ns)
    ipython.run_line_magic("load_ext", "hotreload")
    ipython.run_line_magic("config", "HotReload.strict = True")
    yield ipython
    extension = get_extension(ipython)
    errors = list(extension.internal_errors) if extension else []
    ipython.run_line_magic("unload_ext", "hotreload")
    assert ipython.extension_manager is not None
    ipython.extension_manager.loaded.discard("hotreload_ext")
    for key in set(ipython.user_ns) - names:
        del ipython.user_ns[key]
    ipython.config.pop("HotReload", None)
    assert HOOK not in ipython.user_ns
    assert errors == [], "internal errors must not hide"


def run(shell: InteractiveShell, cell: str) -> Any:
    result = shell.run_cell(textwrap.dedent(cell), store_history=False)
    if result.error_before_exec is not None:
        raise result.error_before_exec
    if result.error_in_exec is not None:
        raise result.error_in_exec
    return result.result


def test_old_instances_references_and_bound_methods_run_the_new_class(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    run(shell, ACCOUNT)
    run(shell, "a = Account(10)\nold_class = Account\nbound = a.deposit\ncallbacks = [a.deposit]")
    capsys.readouterr()
    run(shell, ACCOUNT.replace("self.balance += amount", "self.balance += 2 * amount"))
    assert capsys.readouterr().out == "hotreload: updated cell class Account: deposit\n"
    assert run(shell, "Account is old_class, isinstance(a, Account)") == (True, True)
    assert run(shell, "a.deposit(1), bound(1), callbacks[0](1)") == (12, 14, 16)
    # Pickle finds the class by name: the name holds the old class, so old objects pickle.
    assert run(shell, "import pickle, copy\npickle.loads(pickle.dumps(a)).balance") == 16
    assert run(shell, "copy.deepcopy(a).deposit(1), type(copy.copy(a)) is Account") == (18, True)
    capsys.readouterr()
    # Run again unchanged: the same class, nothing to say.
    run(shell, ACCOUNT.replace("self.balance += amount", "self.balance += 2 * amount"))
    assert capsys.readouterr().out == ""
    assert run(shell, "Account is old_class") is True


def test_old_objects_pickle_and_copy_in_this_process(shell: InteractiveShell) -> None:
    run(shell, ACCOUNT)
    run(shell, "a = Account(1)")
    run(shell, ACCOUNT.replace("rate = 1", "rate = 2"))
    a = shell.user_ns["a"]
    assert pickle.loads(pickle.dumps(a)).balance == 1
    assert copy.copy(a).rate == 2


def test_subclasses_in_other_cells_follow_the_base(shell: InteractiveShell) -> None:
    run(shell, ACCOUNT)
    run(
        shell,
        """
        class Savings(Account):
            def deposit(self, amount):
                return super().deposit(amount) + 1000
        s = Savings(0)
        """,
    )
    run(shell, ACCOUNT.replace("self.balance += amount", "self.balance += 3 * amount"))
    assert run(shell, "s.deposit(1), isinstance(s, Account), Savings.__bases__ == (Account,)") == (
        1003,
        True,
        True,
    )


def test_class_state_is_what_the_body_says_and_instances_keep_theirs(
    shell: InteractiveShell,
) -> None:
    run(shell, ACCOUNT)
    run(shell, "a = Account(5)\nAccount.rate = 99\nAccount.extra = 'set later'")
    run(shell, ACCOUNT)
    # What the class body binds takes the body's value; what another cell set stays (that
    # cell would run again too in "Restart & Run All").
    assert run(shell, "Account.rate, Account.extra, a.balance") == (1, "set later", 5)


def test_registration_decorators_register_once(shell: InteractiveShell) -> None:
    run(
        shell,
        """
        HANDLERS = []
        PLUGINS = {}
        def register(f):
            HANDLERS.append(f)
            return f
        def plugin(cls):
            PLUGINS[cls.__name__] = cls
            return cls
        """,
    )
    cell = """
        @register
        def on_event(x):
            return x + 1

        @plugin
        class Exporter:
            def export(self):
                return "v1"
        """
    run(shell, cell)
    run(shell, "old_handler = on_event\nexporter = Exporter()")
    run(shell, cell.replace("x + 1", "x + 2").replace('"v1"', '"v2"'))
    # A fresh replay registers each once: one entry, the old objects updated.
    assert run(shell, "len(HANDLERS), HANDLERS[0] is on_event is old_handler") == (1, True)
    assert run(shell, "HANDLERS[0](1), old_handler(1)") == (3, 3)
    assert run(shell, "list(PLUGINS), PLUGINS['Exporter'] is Exporter") == (["Exporter"], True)
    assert run(shell, "exporter.export()") == "v2"


def test_a_failing_cell_keeps_what_ran_before_the_error(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    run(shell, ACCOUNT + "\ndef fee():\n    return 1\n")
    run(shell, "a = Account(0)\nold_fee = fee")
    capsys.readouterr()
    failing = (
        ACCOUNT.replace("self.balance += amount", "self.balance += 10 * amount")
        + "\nraise RuntimeError('stop here')\n"
        + "\ndef fee():\n    return 2\n"
    )
    with pytest.raises(RuntimeError, match="stop here"):
        run(shell, failing)
    assert "hotreload: updated cell class Account: deposit" in capsys.readouterr().out
    assert run(shell, "a.deposit(1), fee(), fee is old_fee") == (10, 1, True)


def test_an_error_in_the_new_class_body_leaves_the_old_class(shell: InteractiveShell) -> None:
    run(shell, ACCOUNT)
    run(shell, "a = Account(0)")
    broken = ACCOUNT.replace("rate = 1", "rate = 1 / 0").replace("+= amount", "+= 5 * amount")
    with pytest.raises(ZeroDivisionError):
        run(shell, broken)
    assert run(shell, "a.deposit(1), Account.rate") == (1, 1)


def test_a_function_redefined_updates_old_references(shell: InteractiveShell) -> None:
    run(shell, "def area(r):\n    return 3 * r * r\nold = area\ncallbacks = {'area': area}")
    run(shell, "def area(r, scale=1):\n    return 3.14 * r * r * scale\n")
    assert run(shell, "old(1), callbacks['area'](1, 2), area is old") == (3.14, 6.28, True)


def test_unrelated_rebinding_is_just_rebinding(shell: InteractiveShell) -> None:
    run(shell, ACCOUNT)
    run(shell, "a = Account(0)")
    run(shell, "def Account():\n    return 'a function now'\n")
    assert run(shell, "Account(), type(a).__name__, callable(type(a).deposit)") == (
        "a function now",
        "Account",
        True,
    )
    run(shell, "old_class = type(a)\nAccount = 3")
    run(shell, ACCOUNT)
    assert run(shell, "Account is old_class, isinstance(a, Account)") == (False, False)


def test_imported_objects_are_never_touched(
    shell: InteractiveShell, files: ModuleFiles, tmp_path: Path
) -> None:
    name = files.name("bank")
    files.write(name, ACCOUNT)
    run(shell, f"import {name} as bank\nfrom {name} import Account\nb = Account(0)")
    run(shell, ACCOUNT.replace("+= amount", "+= 7 * amount"))
    assert run(shell, "Account is bank.Account, b.deposit(1), Account(0).deposit(1)") == (
        False,
        1,
        7,
    )


def test_what_cannot_be_updated_is_said_in_one_line(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    run(shell, "class Point:\n    __slots__ = ('x',)\n\np, q = Point(), Point()")
    run(shell, "from typing import NamedTuple\nclass Pair(NamedTuple):\n    a: int\n\nr = Pair(1)")
    capsys.readouterr()
    run(shell, "class Point:\n    __slots__ = ('x', 'y')\n")
    run(shell, "class Pair(NamedTuple):\n    a: int\n    b: int = 0\n")
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "hotreload: cell class Point could not be updated in place (its __slots__ changed); "
        "2 old objects keep the old class: recreate them",
        "hotreload: cell class Pair could not be updated in place (its fields changed (a "
        "tuple's length is fixed when it is made)); 1 old object keeps the old class: "
        "recreate it",
    ]
    assert run(shell, "type(p) is Point, Point.__slots__, r.a") == (False, ("x", "y"), 1)


def test_a_class_whose_bases_changed_takes_its_old_objects_along(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    run(shell, "class Mixin:\n    def tag(self):\n        return 'mixed'\n")
    run(shell, ACCOUNT)
    run(shell, "a = Account(0)")
    capsys.readouterr()
    run(shell, ACCOUNT.replace("class Account:", "class Account(Mixin):"))
    assert capsys.readouterr().out == (
        "hotreload: cell class Account replaced (its base classes changed); 1 old object moved"
        " to it\n"
    )
    assert run(shell, "isinstance(a, Account), a.tag(), a.deposit(2)") == (True, "mixed", 2)


def test_dataclass_method_and_field_edits(shell: InteractiveShell) -> None:
    cell = """
        from dataclasses import dataclass

        @dataclass
        class Trade:
            qty: int

            def value(self):
                return self.qty
        """
    run(shell, cell)
    run(shell, "t = Trade(3)\nold = Trade")
    run(shell, cell.replace("return self.qty", "return self.qty * 10"))
    assert run(shell, "t.value(), Trade is old") == (30, True)
    run(shell, cell.replace("qty: int\n", "qty: int\n            price: int = 2\n"))
    assert run(shell, "Trade is old, isinstance(t, Trade), Trade(1).price, t.value()") == (
        True,
        True,
        2,
        3,
    )


def test_cells_off_is_pythons_meaning(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    extension = get_extension(shell)
    assert extension is not None
    assert extension.settings.cells is True
    run(shell, ACCOUNT)
    run(shell, "a = Account(0)")
    shell.run_line_magic("hotreload", "cells off")
    assert extension.settings.cells is False
    shell.run_line_magic("hotreload", "status")
    assert "cells off" in capsys.readouterr().out
    run(shell, ACCOUNT.replace("+= amount", "+= 2 * amount"))
    assert run(shell, "isinstance(a, Account), a.deposit(1)") == (False, 1)
    shell.run_line_magic("hotreload", "cells on")
    assert "cells on" in capsys.readouterr().out
    run(shell, "b = Account(0)")
    run(shell, ACCOUNT.replace("+= amount", "+= 3 * amount"))
    assert run(shell, "isinstance(b, Account), b.deposit(1)") == (True, 3)


def test_run_i_script_updates_what_it_defined_before(
    shell: InteractiveShell, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "analysis.py"
    script.write_text(ACCOUNT + "\ndef summary():\n    return 'v1'\n")
    run(shell, f"%run -i {script}")
    run(shell, "a = Account(0)\nold_summary = summary")
    script.write_text(
        ACCOUNT.replace("+= amount", "+= 4 * amount") + "\ndef summary():\n    return 'v2'\n"
    )
    capsys.readouterr()
    run(shell, f"%run -i {script}")
    out = capsys.readouterr().out
    assert "hotreload: updated cell class Account (from %run -i analysis.py)" in out
    assert run(shell, "isinstance(a, Account), a.deposit(1), old_summary()") == (True, 4, "v2")
    # A cell that defines it again afterwards updates it too.
    run(shell, ACCOUNT.replace("+= amount", "+= 5 * amount"))
    assert run(shell, "isinstance(a, Account), a.deposit(1)") == (True, 9)


def test_verbose_says_the_class_was_updated_in_place(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    run(shell, ACCOUNT)
    shell.run_line_magic("hotreload", "verbosity verbose")
    capsys.readouterr()
    run(shell, ACCOUNT.replace("+= amount", "+= 2 * amount"))
    out = capsys.readouterr().out
    # In place: the class statement did not run, so no heap pass re-pointed a draft.
    assert "hotreload: updated cell class Account: deposit (in place:" in out


def test_a_traceback_from_an_updated_method_shows_the_new_cell(shell: InteractiveShell) -> None:
    run(shell, ACCOUNT)
    run(shell, "a = Account(0)")
    run(shell, ACCOUNT.replace("self.balance += amount", "raise KeyError('new body')"))
    with pytest.raises(KeyError) as caught:
        run(shell, "a.deposit(1)")
    last = caught.traceback[-1]
    assert "raise KeyError('new body')" in str(last.statement)


def test_a_cell_that_runs_a_cell_still_updates_its_own_definitions(
    shell: InteractiveShell,
) -> None:
    run(shell, ACCOUNT)
    run(shell, "a = Account(0)")
    inner = "get_ipython().run_cell('class Inner:\\n    pass\\n', store_history=False)\n"
    run(shell, inner + ACCOUNT.replace("+= amount", "+= 6 * amount"))
    assert run(shell, "a.deposit(1), isinstance(a, Account), Inner.__name__") == (6, True, "Inner")
