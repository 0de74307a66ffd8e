"""IPython's autoreload tests about the user namespace, translated to a real ``InteractiveShell``.

These cases of IPython's ``test_autoreload.py`` (now ``tests/test_zzz_autoreload.py``) are about
names that cells bound: ``from m import n as foo``, ``from m import *``, ``import m``, and a user
variable called ``In``. autoreload needs ``%autoreload 3`` to move such names; hotreload rebinds
the names a cell imported (``docs/how-it-works.md``, "Rebind") and, where a cell did
``from m import *``, adds the names the module now exports, as running that import again would.
It never adds a module's new names anywhere else. The rest of the two suites is in
``tests/unit/test_peer_suites_ipython.py``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from IPython.core.interactiveshell import InteractiveShell

from hotreload_ext._extension import get_extension
from tests.conftest import ModuleFiles


@pytest.fixture(scope="session")
def ipython(tmp_path_factory: pytest.TempPathFactory) -> InteractiveShell:
    os.environ.setdefault("IPYTHONDIR", str(tmp_path_factory.mktemp("ipythondir")))
    shell = InteractiveShell.instance()
    assert shell.history_manager is not None
    shell.history_manager.enabled = False
    return shell


@pytest.fixture
def shell(ipython: InteractiveShell, files: ModuleFiles) -> Iterator[InteractiveShell]:
    """The shell with hotreload loaded in strict mode; the names the test bound are removed."""
    before = set(ipython.user_ns)
    ipython.run_line_magic("load_ext", "hotreload")
    ipython.run_line_magic("config", "HotReload.strict = True")
    yield ipython
    extension = get_extension(ipython)
    errors = list(extension.internal_errors) if extension else []
    ipython.run_line_magic("unload_ext", "hotreload")
    assert ipython.extension_manager is not None
    ipython.extension_manager.loaded.discard("hotreload_ext")
    for key in set(ipython.user_ns) - before:
        del ipython.user_ns[key]
    ipython.config.pop("HotReload", None)
    assert errors == [], "internal errors must not hide"


def run(shell: InteractiveShell, cell: str) -> object:
    """Run one cell (hotreload checks before it) and return its value; raise what it raised."""
    result = shell.run_cell(cell, store_history=False)
    if result.error_in_exec is not None:
        raise result.error_in_exec
    if result.error_before_exec is not None:
        raise result.error_before_exec
    return result.result


def test_star_imported_names_follow_edits_and_new_exports_appear(
    shell: InteractiveShell, files: ModuleFiles
) -> None:
    # from IPython test_autoreload: test_autoload_newly_added_objects
    # autoreload needs `%autoreload 3` for this; hotreload does what running the star import
    # again would do, whatever the settings: names the module now exports appear where
    # `from m import *` put the others, and the ones it put there follow the edit.
    name = files.name("star")
    files.write(name, "def func1(): pass\n")
    run(shell, f"from {name} import *")
    run(shell, "func1()")
    for missing in ("func2", "Test", "number"):
        assert missing not in shell.user_ns

    files.write(
        name,
        """
        def func1(): pass
        def func2(): pass
        class Test: pass
        number = 0
        from enum import Enum
        class TestEnum(Enum):
            A = 'a'
        """,
    )
    run(shell, "func2(); t = Test(); number; TestEnum.A")
    assert run(shell, f"import sys; sys.modules['{name}'].func2()") is None

    files.write(
        name,
        """
        def func1(): return 'changed'
        def func2(): return 'changed'
        class Test:
            def new_func(self):
                return 'changed'
        number = 1
        from enum import Enum
        class TestEnum(Enum):
            A = 'a'
            B = 'added'
        """,
    )
    assert run(shell, "func1(), func2(), Test().new_func(), t.new_func()") == ("changed",) * 4
    assert run(shell, "number") == 1
    assert run(shell, "TestEnum.B.value") == "added"

    other = files.name("star_other")
    files.write(
        other,
        """
        from enum import Enum
        class Ext(Enum):
            A = 'ext'
        def ext_func():
            return 'ext'
        class ExtTest:
            def meth(self):
                return 'ext'
        ext_int = 2
        """,
    )
    files.write(name, f"from {other} import *\n")
    assert run(shell, "Ext.A.value, ext_func(), ExtTest().meth(), ext_int") == (
        "ext",
        "ext",
        "ext",
        2,
    )


AS_V1 = "def func1(): pass\nn = 1\n"
AS_V2 = "n = 100\ndef func2(): pass\ndef func1(): pass\nm = 5\n"


def test_an_aliased_from_import_follows_the_edit_and_nothing_else_appears(
    shell: InteractiveShell, files: ModuleFiles
) -> None:
    # from IPython test_autoreload: test_autoload3_import_Y_as_Z
    name = files.name("as_z")
    files.write(name, AS_V1)
    run(shell, f"from {name} import n as foo")
    assert run(shell, "foo") == 1
    assert "func1" not in shell.user_ns

    files.write(name, AS_V2)
    assert run(shell, "foo") == 100
    for absent in ("n", "func1", "func2", "m"):
        assert absent not in shell.user_ns


def test_an_alias_keeps_following_its_name_when_the_module_defines_the_alias_too(
    shell: InteractiveShell, files: ModuleFiles
) -> None:
    # from IPython test_autoreload: test_autoload3_import_Y_as_Z_overloading
    name = files.name("as_z_over")
    files.write(name, AS_V1)
    run(shell, f"from {name} import n as foo")
    files.write(name, "n = 100\ndef func2(): pass\ndef func1(): pass\nfoo = 45\n")
    assert run(shell, "foo") == 100
    run(shell, f"from {name} import foo")
    assert run(shell, "foo") == 45


def test_a_plain_import_sees_new_names_on_the_module(
    shell: InteractiveShell, files: ModuleFiles
) -> None:
    # from IPython test_autoreload: test_autoload3_normalimport
    name = files.name("plain")
    files.write(name, AS_V1)
    run(shell, f"import {name}")
    assert run(shell, f"{name}.func1(), {name}.n") == (None, 1)

    files.write(name, AS_V2)
    assert run(shell, f"{name}.func1(), {name}.n, {name}.func2(), {name}.m") == (None, 100, None, 5)
    run(shell, f"from {name} import n")
    assert run(shell, "n") == 100


def test_a_from_import_then_a_plain_import_both_follow_the_edit(
    shell: InteractiveShell, files: ModuleFiles
) -> None:
    # from IPython test_autoreload: test_autoload3_normalimport_2
    name = files.name("plain2")
    files.write(name, AS_V1)
    run(shell, f"from {name} import n")
    assert "func1" not in shell.user_ns
    run(shell, f"import {name}")

    files.write(name, AS_V2)
    assert run(shell, f"{name}.func1(), {name}.n, {name}.func2(), {name}.m") == (None, 100, None, 5)
    assert run(shell, "n") == 100


def test_new_names_are_not_pushed_until_imported(
    shell: InteractiveShell, files: ModuleFiles
) -> None:
    # from IPython test_autoreload: test_autoload_3_does_not_add_all
    name = files.name("notall")
    files.write(name, AS_V1)
    run(shell, f"from {name} import n")
    files.write(name, "n = 1\ndef func2(): pass\ndef func1(): pass\nm = 5\n")
    assert run(shell, "n") == 1
    for absent in ("func1", "func2", "m"):
        assert absent not in shell.user_ns

    run(shell, f"from {name} import m")
    assert run(shell, "n, m") == (1, 5)
    assert "func1" not in shell.user_ns
    run(shell, f"from {name} import func1, func2")
    assert run(shell, "func1(), func2()") == (None, None)


def test_turning_checking_off_and_on_again(shell: InteractiveShell, files: ModuleFiles) -> None:
    # from IPython test_autoreload: test_smoketest_autoreload (its last steps: `%autoreload 0`,
    # an edit that must not load, then `%autoreload` again, which loads it)
    name = files.name("offon")
    files.write(name, "x = 10\n")
    run(shell, f"import {name}")
    shell.run_line_magic("hotreload", "off")
    files.write(name, "x = -99\n")
    run(shell, "pass")
    assert run(shell, f"{name}.x") == 10
    shell.run_line_magic("hotreload", "on")
    assert run(shell, f"{name}.x") == -99


def test_a_user_variable_named_in_does_not_stop_reloads(
    shell: InteractiveShell, files: ModuleFiles
) -> None:
    # from IPython test_autoreload: test_autoreload_with_user_defined_In_variable
    name = files.name("in_var")
    files.write(name, 'def hello():\n    return "Hello"\n')
    run(shell, f"import {name}")
    assert run(shell, f"{name}.hello()") == "Hello"
    saved = shell.user_ns["In"]
    shell.user_ns["In"] = "some_value"
    try:
        files.write(name, 'def hello():\n    return "Changed"\n')
        assert run(shell, f"{name}.hello()") == "Changed"
    finally:
        shell.user_ns["In"] = saved


FOO_BAR_V1 = 'foo = "original_foo"\nbar = "original_bar"\n'
FOO_BAR_V2 = 'foo = "modified_foo"\nbar = "modified_bar"\n'


def test_a_later_from_import_replaces_an_alias_of_the_same_name(
    shell: InteractiveShell, files: ModuleFiles
) -> None:
    # from IPython test_autoreload: test_import_from_tracker_integration
    name = files.name("tracker")
    files.write(name, FOO_BAR_V1)
    run(shell, f"from {name} import foo as bar")
    assert shell.user_ns["bar"] == "original_foo"
    run(shell, f"from {name} import bar")
    assert shell.user_ns["bar"] == "original_bar"

    files.write(name, FOO_BAR_V2)
    run(shell, "x = 1")
    assert shell.user_ns["bar"] == "modified_bar"


def test_one_name_imported_under_two_names_follows_under_both(
    shell: InteractiveShell, files: ModuleFiles
) -> None:
    # from IPython test_autoreload: test_autoreload3_double_import
    name = files.name("double")
    files.write(name, FOO_BAR_V1)
    run(shell, f"from {name} import foo as bar")
    run(shell, f"from {name} import foo")
    assert (shell.user_ns["bar"], shell.user_ns["foo"]) == ("original_foo", "original_foo")

    files.write(name, FOO_BAR_V2)
    run(shell, "pass")
    assert (shell.user_ns["bar"], shell.user_ns["foo"]) == ("modified_foo", "modified_foo")
