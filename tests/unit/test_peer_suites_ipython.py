"""IPython's autoreload test suites, translated: what user code sees after an edit.

IPython tests ``%autoreload`` in two files: ``test_autoreload.py`` (now
``tests/test_zzz_autoreload.py``) and ``IPython/extensions/tests/test_deduperreload.py``. Every
case of theirs about what user code sees after an edit is restated here in this project's terms:
a real module on disk, references kept to its old objects, an edit written with ``files.write``,
one check, and assertions that the old and new references behave as a fresh import of the
edited file would.

Where autoreload's expectation differs from hotreload's on purpose (autoreload runs the whole module
again whenever anything but a function body changed; hotreload runs only what the edit affects, see
``docs/state.md``), the test asserts hotreload's documented behaviour and says how it differs. The
cases about the user namespace (``%autoreload 3``, names bound by cells) are in
``tests/integration/test_peer_suites_shell.py``.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import pickle
import sys
import traceback
import types

import pytest

from hotreload_ext import Reloader
from tests.conftest import ModuleFiles, edit, watch
from tests.conftest import fresh_import as fresh

# ---------------------------------------------------------------------------------------------
# test_autoreload.py (the legacy "superreload" suite)
# ---------------------------------------------------------------------------------------------

ENUM_V1 = """
from enum import Enum

class MyEnum(Enum):
    A = "A"
    B = "B"
"""

ENUM_V2 = ENUM_V1 + '    C = "C"\n'


def test_enum_gains_a_member_and_keeps_its_old_members(
    files: ModuleFiles, reloader: Reloader
) -> None:
    # from IPython test_autoreload: test_reload_enums
    # from IPython test_deduperreload: test_reload_enums
    # Both only ask that the reload does not fail and that the new member exists; hotreload also
    # keeps the class and its old members identical (autoreload makes new ones).
    m = watch(files, reloader, "enum", ENUM_V1)
    MyEnum, a = m.MyEnum, m.MyEnum.A

    edit(files, reloader, m, ENUM_V2)
    assert m.MyEnum is MyEnum
    assert MyEnum.C.value == "C"
    assert m.MyEnum.A is a
    assert [e.value for e in MyEnum] == [e.value for e in fresh(files, ENUM_V2).MyEnum]

    edit(files, reloader, m, ENUM_V1)
    assert [e.value for e in MyEnum] == ["A", "B"]
    assert not hasattr(MyEnum, "C")


CLASS_TYPE = """
class Test:
    def meth(self):
        return "old"
"""


def test_an_old_instance_is_an_instance_of_the_current_class_and_pickles(
    files: ModuleFiles, reloader: Reloader
) -> None:
    # from IPython test_autoreload: test_reload_class_type
    m = watch(files, reloader, "ctype", CLASS_TYPE)
    Test = m.Test
    test = Test()

    edit(files, reloader, m, CLASS_TYPE.replace('"old"', '"new"'))
    current = getattr(sys.modules[type(test).__module__], type(test).__qualname__)
    assert current is Test
    assert isinstance(test, current)
    assert test.meth() == "new"
    assert pickle.loads(pickle.dumps(test)).meth() == "new"


ATTRS_V1 = """
class MyClass:
    def __init__(self, a=10):
        self.a = a
        self.b = 22

    def square(self):
        return self.a * self.a
"""

ATTRS_V2 = """
class MyClass:
    def __init__(self, a=10):
        self.a = a
        self.b = 11

    def power(self, p):
        return self.a**p
"""


def test_a_removed_method_goes_and_an_added_one_comes_on_old_and_new_instances(
    files: ModuleFiles, reloader: Reloader
) -> None:
    # from IPython test_autoreload: test_reload_class_attributes
    m = watch(files, reloader, "attrs", ATTRS_V1)
    first = m.MyClass(5)
    assert first.square() == 25
    for missing in ("cube", "power", "toto"):
        assert not hasattr(first, missing)

    edit(files, reloader, m, ATTRS_V2)
    second = m.MyClass(5)
    for instance in (first, second):
        assert instance.power(5) == 3125
        assert instance.a == 5
        for missing in ("cube", "square", "toto"):
            assert not hasattr(instance, missing)
    # __init__ ran for `first` before the edit: it keeps the value it set then.
    assert first.b == 22
    assert second.b == fresh(files, ATTRS_V2).MyClass(5).b == 11


NUMPY_ATTR = """
import numpy as np

class MyClass:
    a = (np.array((0.1, 0.2)), np.array((0.2, 0.3)))
"""


def test_a_class_attribute_holding_numpy_arrays_changes_without_error(
    files: ModuleFiles, reloader: Reloader
) -> None:
    # from IPython test_autoreload: test_comparing_numpy_structures
    # (autoreload once compared old and new attributes with `==`, which numpy arrays refuse.)
    pytest.importorskip("numpy")
    m = watch(files, reloader, "nparr", NUMPY_ATTR)
    first = m.MyClass()

    edited = NUMPY_ATTR.replace("(0.1, 0.2)", "(0.3, 0.4)").replace("(0.2, 0.3)", "(0.5, 0.6)")
    edit(files, reloader, m, edited)
    expected = [list(x) for x in fresh(files, edited).MyClass.a]
    assert [list(x) for x in m.MyClass.a] == expected == [[0.3, 0.4], [0.5, 0.6]]
    assert [list(x) for x in first.a] == expected


SMOKE_V1 = """
x = 9

z = 123  # this item will be deleted

def foo(y):
    return y + 3

class Baz(object):
    def __init__(self, x):
        self.x = x
    def bar(self, y):
        return self.x + y
    @property
    def quux(self):
        return 42
    def zzz(self):
        '''This method will be deleted below'''
        return 99

class Bar:
    def foo(self):
        return 1
"""

SMOKE_V2 = """
x = 10

def foo(y):
    return y + 4

class Baz(object):
    def __init__(self, x):
        self.x = x
    def bar(self, y):
        return self.x + y + 1
    @property
    def quux(self):
        return 43

class Bar:
    def foo(self):
        return 2
"""


def test_smoke_failed_save_then_rewrite_then_deleted_file(
    files: ModuleFiles, reloader: Reloader
) -> None:
    # from IPython test_autoreload: test_smoketest_autoreload, test_smoketest_aimport
    # The two differ only in how autoreload is told to watch the module (%autoreload 2 or
    # %aimport). Turning checking off and on again is in
    # tests/integration/test_peer_suites_shell.py.
    m = watch(files, reloader, "smoke", SMOKE_V1)
    old_foo, old_obj, old_obj2 = m.foo, m.Baz(9), m.Bar()

    def behaves_as_v1() -> None:
        assert (m.x, m.z) == (9, 123)
        assert old_foo(0) == m.foo(0) == 3
        obj = m.Baz(9)
        assert old_obj.bar(1) == obj.bar(1) == 10
        assert obj.quux == 42
        assert obj.zzz() == 99
        assert old_obj2.foo() == m.Bar().foo() == 1

    behaves_as_v1()

    # A save with a syntax error: reported exactly once, and nothing changes.
    files.write(m.__name__, "\na syntax error\n")
    report = reloader.check()
    assert [f.module for f in report.failed] == [m.__name__]
    assert "SyntaxError" in report.failed[0].error
    assert not reloader.check(), "a failure is reported once, not on every check"
    behaves_as_v1()

    # A good rewrite: old function objects and old instances run the new code.
    edit(files, reloader, m, SMOKE_V2)

    def behaves_as_v2() -> None:
        assert m.x == 10
        assert not hasattr(m, "z")
        assert old_foo(0) == m.foo(0) == 4
        obj = m.Baz(9)
        assert old_obj.bar(1) == obj.bar(1) == 11
        assert old_obj.quux == obj.quux == 43
        assert not hasattr(old_obj, "zzz")
        assert not hasattr(obj, "zzz")
        assert old_obj2.foo() == m.Bar().foo() == 2

    behaves_as_v2()
    new = fresh(files, SMOKE_V2)
    assert (new.x, new.foo(0), new.Baz(9).bar(1), new.Baz(9).quux) == (10, 4, 11, 43)

    # The file is deleted: nothing is reloaded, the module keeps running the code it has.
    os.unlink(files.path(m.__name__))
    report = reloader.check()
    assert not report.failed
    assert not report.reloaded
    assert [n.module for n in report.notices] == [m.__name__]
    behaves_as_v2()


# ---------------------------------------------------------------------------------------------
# test_deduperreload.py: detection cases, restated as what the edit changes in the live module
# ---------------------------------------------------------------------------------------------

FACTORIAL = """
def factorial(n):
    print(n)
print(1)
x = 1212121
"""

CLASS_AND_FUNCTION = """
class D:
    def foo():
        pass
def foo():
    pass
"""

CLASS_BASIC = """
x = 9
class C:
    def foo():
        return 1
"""

CLASSMETHOD_ALIAS = """
class Foo:
    @classmethod
    def bar(cls):
        return 0

    @classmethod
    def foo(cls):
        return 42 + cls.bar()

foo = Foo.foo
"""


@pytest.mark.parametrize(
    "source",
    [
        # from IPython test_deduperreload: test_autoreload_no_changes
        pytest.param(FACTORIAL, id="test_autoreload_no_changes"),
        # from IPython test_deduperreload: test_autoreload_no_changes_class
        pytest.param(CLASS_AND_FUNCTION, id="test_autoreload_no_changes_class"),
        # from IPython test_deduperreload: test_autoreload_class_basic
        pytest.param(CLASS_BASIC, id="test_autoreload_class_basic"),
        # from IPython test_deduperreload: test_method_decorators_no_changes
        pytest.param(CLASSMETHOD_ALIAS, id="test_method_decorators_no_changes"),
    ],
)
def test_saving_the_same_source_again_changes_nothing(
    files: ModuleFiles, reloader: Reloader, source: str, capsys: pytest.CaptureFixture[str]
) -> None:
    m = watch(files, reloader, "same", source)
    capsys.readouterr()
    before = dict(vars(m))

    files.write(m.__name__, source)
    assert not reloader.check(), "an unchanged file is not reloaded"
    assert capsys.readouterr().out == "", "no statement ran again"
    assert all(vars(m)[k] is v for k, v in before.items())


def test_saving_the_same_source_keeps_a_from_imported_classmethod_working(
    files: ModuleFiles, reloader: Reloader
) -> None:
    # from IPython test_deduperreload: test_method_decorators_no_changes1
    # autoreload's test binds `foo` in the user namespace; another watched module that does
    # `from m import foo` is bound the same way (docs/how-it-works.md, "Rebind").
    name = files.name("cm_same")
    files.write(name, CLASSMETHOD_ALIAS)
    user = files.load(files.name("cm_user"), f"from {name} import foo\n")
    reloader.discover()
    foo = user.foo
    assert foo() == 42

    files.write(name, CLASSMETHOD_ALIAS)
    assert not reloader.check()
    assert user.foo is foo
    assert user.foo() == 42


def test_a_new_module_level_constant_runs_alone(
    files: ModuleFiles, reloader: Reloader, capsys: pytest.CaptureFixture[str]
) -> None:
    # from IPython test_deduperreload: test_autoreload_static_assign_change_outside_function
    v1 = "def factorial(n):\n    print(n)\nprint(1)\n"
    m = watch(files, reloader, "newconst", v1)
    factorial = m.factorial
    capsys.readouterr()

    report = edit(files, reloader, m, v1 + "x = 1212121\n")
    assert m.x == 1212121
    assert m.factorial is factorial
    assert report.added == ("x",)
    assert capsys.readouterr().out == "", "print(1) did not change: it does not run again"


def test_a_function_body_edit_updates_only_that_function(
    files: ModuleFiles, reloader: Reloader, capsys: pytest.CaptureFixture[str]
) -> None:
    # from IPython test_deduperreload: test_autoreload_changes_inside_function
    v1 = "def factorial(n):\n    return n\nprint(1)\n"
    m = watch(files, reloader, "inside", v1)
    factorial = m.factorial
    capsys.readouterr()

    edited = v1.replace("return n", 'return str(n) + "edit!"')
    report = edit(files, reloader, m, edited)
    assert factorial(3) == "3edit!"
    assert report.updated == ("factorial",)
    assert capsys.readouterr().out == ""


def test_a_body_edit_and_a_changed_top_level_call_both_apply(
    files: ModuleFiles, reloader: Reloader, capsys: pytest.CaptureFixture[str]
) -> None:
    # from IPython test_deduperreload: test_autoreload_changes_inside_and_outside_function
    # autoreload falls back to running the whole module here; hotreload runs only the changed
    # call and patches the function in place, as docs/state.md describes.
    v1 = "def factorial(n):\n    return n\nprint(1)\n"
    m = watch(files, reloader, "inout", v1)
    factorial = m.factorial
    capsys.readouterr()

    edit(files, reloader, m, v1.replace("return n", "return n * 2").replace("print(1)", "print(2)"))
    assert capsys.readouterr().out == "2\n"
    assert m.factorial is factorial
    assert factorial(3) == 6


NESTED_FN = """
def factorial(n):
    def foo():
        x = 3
        return x
    return foo
def bar():
    return 1
"""


def test_an_edit_inside_a_nested_function_reaches_old_references(
    files: ModuleFiles, reloader: Reloader
) -> None:
    # from IPython test_deduperreload: test_autoreload_changes_inner_function
    # from IPython test_deduperreload: test_autoreload_change_one_function_of_multiple
    m = watch(files, reloader, "inner", NESTED_FN)
    factorial, bar = m.factorial, m.bar
    bar_code = bar.__code__

    report = edit(files, reloader, m, NESTED_FN.replace("x = 3", "x = 4"))
    assert factorial(0)() == 4
    assert report.updated == ("factorial",)
    assert bar.__code__ is bar_code, "the function that did not change is left alone"


def test_two_edited_functions_are_both_updated(files: ModuleFiles, reloader: Reloader) -> None:
    # from IPython test_deduperreload: test_autoreload_changes_multiple_function
    m = watch(files, reloader, "multi", NESTED_FN)
    factorial, bar = m.factorial, m.bar

    edited = NESTED_FN.replace("x = 3", "x = 4").replace("return 1", "return 2")
    report = edit(files, reloader, m, edited)
    assert (factorial(0)(), bar()) == (4, 2)
    assert sorted(report.updated) == ["bar", "factorial"]


@pytest.mark.parametrize(
    ("v1", "v2"),
    [
        pytest.param(
            "def factorial(n):\n    return 1\nx = 1\n",
            "x = 1\ndef factorial(n):\n    return 1\n",
            # from IPython test_deduperreload: test_autoreload_handling_moves
            id="test_autoreload_handling_moves",
        ),
        pytest.param(
            "def factorial(n):\n    return 1\nx = 1\ndef foo():\n    return 23\nx = 2\n",
            "x = 1\nx = 2\ndef foo():\n    return 23\ndef factorial(n):\n    return 1\n",
            # from IPython test_deduperreload: test_autoreload_handling_function_moves_success
            id="test_autoreload_handling_function_moves_success",
        ),
        pytest.param(
            "def factorial(n):\n    return 1\nx = 1\nx = 2\n",
            "x = 1\nx = 2\ndef factorial(n):\n    return 1\n",
            # from IPython test_deduperreload: test_autoreload_handling_function_moves_only
            id="test_autoreload_handling_function_moves_only",
        ),
    ],
)
def test_reordered_definitions_keep_their_objects_and_take_their_new_lines(
    files: ModuleFiles, reloader: Reloader, v1: str, v2: str
) -> None:
    m = watch(files, reloader, "moves", v1)
    functions = {k: v for k, v in vars(m).items() if isinstance(v, types.FunctionType)}

    report = edit(files, reloader, m, v2)
    new = fresh(files, v2)
    assert report.updated == ()
    assert m.x == new.x
    for name, function in functions.items():
        assert getattr(m, name) is function
        assert function.__code__.co_firstlineno == getattr(new, name).__code__.co_firstlineno
        assert inspect.getsource(function) == inspect.getsource(getattr(new, name))


def test_a_new_import_binds_its_module_and_nothing_else_runs(
    files: ModuleFiles, reloader: Reloader
) -> None:
    # from IPython test_deduperreload: test_autoreload_handles_new_imports
    v1 = "def factorial(n):\n    return 1\nx = [1]\n"
    m = watch(files, reloader, "newimp", v1)
    factorial, x = m.factorial, m.x

    report = edit(files, reloader, m, "import ast\n" + v1)
    assert m.ast is sys.modules["ast"]
    assert m.factorial is factorial
    assert m.x is x
    assert report.added == ("ast",)


def test_an_async_function_body_edit_reaches_old_references(
    files: ModuleFiles, reloader: Reloader
) -> None:
    # from IPython test_deduperreload: test_autoreload_async_function
    v1 = "import asyncio\n\nasync def nap():\n    await asyncio.sleep(0)\n    return 1\n"
    m = watch(files, reloader, "asyncfn", v1)
    nap = m.nap

    report = edit(files, reloader, m, v1.replace("return 1", "return 10"))
    assert asyncio.run(nap()) == 10
    assert report.updated == ("nap",)


@pytest.mark.parametrize(
    "body",
    [
        # from IPython test_deduperreload: test_autoreload_add_function
        pytest.param("pass", id="test_autoreload_add_function"),
        # from IPython test_deduperreload: test_autoreload_add_function_ellipsis
        pytest.param("...", id="test_autoreload_add_function_ellipsis"),
    ],
)
def test_a_new_function_is_added_and_the_others_are_left_alone(
    files: ModuleFiles, reloader: Reloader, body: str
) -> None:
    v1 = "async def nap():\n    return 1\n"
    m = watch(files, reloader, "addfn", v1)
    nap = m.nap

    report = edit(files, reloader, m, v1 + f"def add(x, y):\n    {body}\n")
    assert m.add(1, 2) is None
    assert m.nap is nap
    assert report.added == ("add",)
    assert report.updated == ()


# ---------------------------------------------------------------------------------------------
# test_deduperreload.py: patching cases (autoreload patches a bare ModuleType there; here a
# real module file is edited)
# ---------------------------------------------------------------------------------------------


def test_an_old_reference_runs_the_new_body(files: ModuleFiles, reloader: Reloader) -> None:
    # from IPython test_deduperreload: test_patching
    m = watch(files, reloader, "patch", "def foo():\n    return 1\n")
    foo = m.foo
    edit(files, reloader, m, "def foo():\n    return 2\n")
    assert foo() == m.foo() == 2


def test_an_old_reference_takes_the_new_parameters(files: ModuleFiles, reloader: Reloader) -> None:
    # from IPython test_deduperreload: test_patching_parameters
    m = watch(files, reloader, "params", "def foo(n, s):\n    return n + s\n")
    foo = m.foo
    edit(files, reloader, m, "def foo(n):\n    return n\n")
    assert foo(2) == 2
    assert str(inspect.signature(foo)) == "(n)"
    with pytest.raises(TypeError):
        foo(2, 3)


def test_a_function_added_next_to_an_unchanged_one(files: ModuleFiles, reloader: Reloader) -> None:
    # from IPython test_deduperreload: test_add_function
    v1 = "def foo2(n):\n    return n\n"
    m = watch(files, reloader, "add2", v1)
    foo2 = m.foo2
    edit(files, reloader, m, v1 + "def foo(n):\n    return 55\n")
    assert m.foo(2) == 55
    assert foo2(2) == 2
    assert m.foo2 is foo2


def test_two_successive_edits_of_one_function(files: ModuleFiles, reloader: Reloader) -> None:
    # from IPython test_deduperreload: test_two_operations
    m = watch(files, reloader, "twice", "def foo(n):\n    return 1\n")
    foo = m.foo
    assert foo(2) == 1
    edit(files, reloader, m, "def foo(n):\n    return 55\n")
    assert foo(2) == 55
    v3 = (
        "def goo():\n    return -1\n"
        "def foo(n):\n    x = 2\n    return x + n\n"
        "def bar():\n    return 200\n"
    )
    edit(files, reloader, m, v3)
    assert foo(2) == 4
    assert (m.goo(), m.bar()) == (-1, 200)


def test_an_edited_body_reads_an_unchanged_module_global(
    files: ModuleFiles, reloader: Reloader
) -> None:
    # from IPython test_deduperreload: test_using_outside_param
    m = watch(files, reloader, "outside", "x = 1\ndef foo(n):\n    return 1\n")
    foo = m.foo
    edit(files, reloader, m, "x = 1\ndef foo(n):\n    return 55 + x\n")
    assert foo(2) == 56


def test_a_signature_edit_whose_body_uses_a_from_imported_name(
    files: ModuleFiles, reloader: Reloader
) -> None:
    # from IPython test_deduperreload: test_importing_func
    # from IPython test_deduperreload: test_deduperreloader_imported_mod
    m = watch(files, reloader, "environ", "from os import environ\ndef foo(n):\n    pass\n")
    foo = m.foo
    edit(
        files, reloader, m, "from os import environ\ndef foo():\n    environ._data\n    return 1\n"
    )
    assert foo() == m.foo() == 1
    assert m.environ is os.environ


# ---------------------------------------------------------------------------------------------
# test_deduperreload.py: shell cases
# ---------------------------------------------------------------------------------------------

BASIC_V1 = "x = 9\ndef foo(y):\n    return y + 3\n"


@pytest.mark.parametrize("start", ["before_import", "after_import", "after_first_pass"])
def test_an_edit_reloads_whenever_watching_started(
    files: ModuleFiles, reloader: Reloader, start: str
) -> None:
    # from IPython test_deduperreload: test_deduperreloader_basic
    # autoreload is turned on before the import, after it, or after one more cell; hotreload's
    # equivalent is when the engine first looks at sys.modules (a check also picks up new imports).
    name = files.name("basic")
    files.write(name, BASIC_V1)
    if start == "before_import":
        reloader.discover()
    m = files.load(name)
    if start == "after_import":
        reloader.discover()
    assert not reloader.check()
    if start == "after_first_pass":
        reloader.discover()
    assert not reloader.check()
    foo = m.foo

    edit(files, reloader, m, BASIC_V1.replace("y + 3", "y + 5"))
    assert foo(0) == m.foo(0) == 5


SUPER = """
class Foo:
    def foo(self):
        return 1
class Bar(Foo):
    def bar(self):
        return super().foo() + 1
"""


def test_zero_argument_super_in_an_edited_method_of_an_old_instance(
    files: ModuleFiles, reloader: Reloader
) -> None:
    # from IPython test_deduperreload: test_super
    m = watch(files, reloader, "super", SUPER)
    bar = m.Bar()
    edit(files, reloader, m, SUPER.replace("foo() + 1", "foo() + 2"))
    assert bar.bar() == 3


def test_a_constant_and_a_body_edited_together(files: ModuleFiles, reloader: Reloader) -> None:
    # from IPython test_deduperreload: test_deduperreloader_need_to_default_back
    # autoreload's deduper cannot apply this alone and runs the whole module; hotreload runs
    # `x = 200` and patches foo, and the result is the same as a fresh import.
    m = watch(files, reloader, "defaultback", BASIC_V1)
    foo = m.foo
    edited = "x = 200\ndef foo(y):\n    return y + 5\n"
    report = edit(files, reloader, m, edited)
    assert (m.x, foo(0)) == (fresh(files, edited).x, 5) == (200, 5)
    assert m.foo is foo
    assert report.mode == "statements"


TRACEBACK = '''
"""
This docstring is on lines 2-4; a traceback that loses
the line numbers points here.
"""
def func():
    assert False, "v1"
'''


def test_a_traceback_after_a_body_edit_points_at_the_real_line(
    files: ModuleFiles, reloader: Reloader
) -> None:
    # from IPython test_deduperreload: test_deduperreloader_preserves_traceback_lines
    m = watch(files, reloader, "tb", TRACEBACK)
    func = m.func
    edit(files, reloader, m, TRACEBACK.replace('"v1"', '"v2"'))
    with pytest.raises(AssertionError, match="v2") as info:
        func()
    frame = traceback.extract_tb(info.value.__traceback__)[-1]
    assert (frame.filename, frame.lineno, frame.name) == (str(files.path(m.__name__)), 7, "func")


def test_a_broken_file_keeps_the_old_code(files: ModuleFiles, reloader: Reloader) -> None:
    # from IPython test_deduperreload: test_deduperreloader_failure
    m = watch(files, reloader, "broken", BASIC_V1)
    foo = m.foo
    files.write(m.__name__, "broken broken broken\n")
    report = reloader.check()
    assert [f.module for f in report.failed] == [m.__name__]
    assert foo(0) == m.foo(0) == 3
    assert m.x == 9


# ---------------------------------------------------------------------------------------------
# test_deduperreload.py: class cases
# ---------------------------------------------------------------------------------------------


def test_a_method_body_edit_patches_the_class_in_place(
    files: ModuleFiles, reloader: Reloader
) -> None:
    # from IPython test_deduperreload: test_autoreload_method
    m = watch(files, reloader, "method", "class C:\n    def foo():\n        pass\n")
    C, foo = m.C, m.C.foo
    report = edit(files, reloader, m, "class C:\n    def foo():\n        x = 1\n        return x\n")
    assert m.C is C
    assert foo() == C.foo() == 1
    assert report.updated == ("C.foo",)


def test_a_method_edited_and_one_added(files: ModuleFiles, reloader: Reloader) -> None:
    # from IPython test_deduperreload: test_autoreload_add_function_class
    v1 = "class C:\n    def foo():\n        pass\ndef foo():\n    pass\n"
    m = watch(files, reloader, "addmethod", v1)
    C, foo = m.C, m.foo
    v2 = (
        "class C:\n    def foo():\n        x = 1\n        return x\n"
        "    def bar():\n        return -1\n"
        "def foo():\n    pass\n"
    )
    report = edit(files, reloader, m, v2)
    assert (C.foo(), C.bar()) == (1, -1)
    assert m.foo is foo
    assert report.updated == ("C.foo",)
    assert report.added == ("C.bar",)


def test_a_removed_method_disappears_from_the_class(files: ModuleFiles, reloader: Reloader) -> None:
    # from IPython test_deduperreload: test_autoreload_remove_method
    m = watch(files, reloader, "rmmethod", "class C:\n    def foo():\n        pass\n")
    C = m.C
    edit(files, reloader, m, "class C:\n    pass\n")
    assert m.C is C
    assert not hasattr(C, "foo")
    assert "foo" not in vars(fresh(files, "class C:\n    pass\n").C)


def test_a_removed_class_disappears_from_the_module(files: ModuleFiles, reloader: Reloader) -> None:
    # from IPython test_deduperreload: test_autoreload_remove_class
    # autoreload's deduper leaves a removed class behind as a stale module attribute; hotreload
    # removes it, as a fresh import would not have it.
    v1 = "class C:\n    def foo():\n        pass\ndef foo():\n    pass\n"
    m = watch(files, reloader, "rmclass", v1)
    report = edit(files, reloader, m, "def foo():\n    pass\n")
    assert not hasattr(m, "C")
    assert report.removed == ("C",)


def test_a_nested_class_is_added(files: ModuleFiles, reloader: Reloader) -> None:
    # from IPython test_deduperreload: test_autoreload_add_class_in_class
    m = watch(files, reloader, "addnested", "class C:\n    pass\ndef foo():\n    pass\n")
    C = m.C
    edit(files, reloader, m, "class C:\n    class D:\n        pass\ndef foo():\n    pass\n")
    assert m.C is C
    assert isinstance(C.D, type)
    assert C.D.__qualname__ == "C.D"


@pytest.mark.parametrize(
    ("v1", "v2", "c_bar", "d_attrs"),
    [
        pytest.param(
            "class C:\n    class D:\n        x = 1\n",
            "class C:\n    class D:\n        x = 1\n        def foo():\n            return 1\n",
            False,
            {"x": 1},
            # from IPython test_deduperreload: test_autoreload_add_method_in_class_in_class
            id="test_autoreload_add_method_in_class_in_class",
        ),
        pytest.param(
            "class C:\n    class D:\n        pass\n",
            "class C:\n    class D:\n        x = 1\n        def foo():\n            return 1\n",
            False,
            {"x": 1},
            # from IPython test_deduperreload: test_autoreload_add_var_and_method_in_class_in_class
            id="test_autoreload_add_var_and_method_in_class_in_class",
        ),
        pytest.param(
            "class C:\n    class D:\n        pass\n",
            "class C:\n    class D:\n        def foo():\n            return 1\n",
            False,
            {},
            # from IPython test_deduperreload: test_autoreload_add_method_in_class_in_class_pass
            id="test_autoreload_add_method_in_class_in_class_pass",
        ),
        pytest.param(
            "class C:\n    class D:\n        pass\n",
            "class C:\n    def bar():\n        return -1\n"
            "    class D:\n        def foo():\n            return 1\n",
            True,
            {},
            # from IPython test_deduperreload: test_autoreload_add_method_in_class_in_class_more
            id="test_autoreload_add_method_in_class_in_class_more",
        ),
        pytest.param(
            "class C:\n    class D:\n        pass\n",
            "class C:\n    def bar():\n        return -1\n"
            "    class D:\n        s = 2\n        def foo():\n            return 1\n",
            True,
            {"s": 2},
            # from IPython test_deduperreload:
            #   test_autoreload_add_method_in_class_in_class_with_members
            id="test_autoreload_add_method_in_class_in_class_with_members",
        ),
    ],
)
def test_members_added_to_a_nested_class_appear_on_the_old_classes(
    files: ModuleFiles,
    reloader: Reloader,
    v1: str,
    v2: str,
    c_bar: bool,
    d_attrs: dict[str, int],
) -> None:
    suffix = "def foo():\n    pass\n"
    m = watch(files, reloader, "nestedadd", v1 + suffix)
    C, D = m.C, m.C.D
    edit(files, reloader, m, v2 + suffix)
    assert m.C is C
    assert C.D is D
    assert D.foo() == 1
    for attr, value in d_attrs.items():
        assert getattr(D, attr) == value
    assert hasattr(C, "bar") == c_bar
    if c_bar:
        assert C.bar() == -1


# ---------------------------------------------------------------------------------------------
# test_deduperreload.py: "reliability" cases
# ---------------------------------------------------------------------------------------------


def test_removing_an_override_falls_back_to_the_base_method(
    files: ModuleFiles, reloader: Reloader
) -> None:
    # from IPython test_deduperreload: test_remove_overridden_method
    v1 = (
        "class A:\n    def foo(self):\n        return 1\n"
        "class B(A):\n    def foo(self):\n        return 42\n"
    )
    m = watch(files, reloader, "override", v1)
    b = m.B()
    assert b.foo() == 42
    edit(files, reloader, m, v1.replace("    def foo(self):\n        return 42\n", "    pass\n"))
    assert b.foo() == 1


def test_a_method_reads_an_unchanged_module_global(files: ModuleFiles, reloader: Reloader) -> None:
    # from IPython test_deduperreload: test_autoreload_class_use_outside_func
    m = watch(files, reloader, "useglobal", CLASS_BASIC)
    C = m.C
    edit(files, reloader, m, CLASS_BASIC.replace("return 1", "return 1 + x"))
    assert C.foo() == 10


def test_a_constant_moved_from_the_module_into_the_class(
    files: ModuleFiles, reloader: Reloader
) -> None:
    # from IPython test_deduperreload: test_autoreload_class_use_class_member
    m = watch(files, reloader, "intoclass", CLASS_BASIC)
    C = m.C
    edit(files, reloader, m, "class C:\n    x = 9\n    def foo():\n        return 1 + C.x\n")
    assert not hasattr(m, "x")
    assert m.C is C
    assert (C.x, C.foo()) == (9, 10)


@pytest.mark.parametrize(
    "empty",
    [
        # from IPython test_deduperreload: test_autoreload_class_pass
        pytest.param("pass", id="test_autoreload_class_pass"),
        # from IPython test_deduperreload: test_autoreload_class_ellipsis
        pytest.param("...", id="test_autoreload_class_ellipsis"),
    ],
)
def test_an_empty_class_gains_an_attribute_and_a_method(
    files: ModuleFiles, reloader: Reloader, empty: str
) -> None:
    m = watch(files, reloader, "empty", f"x = 9\nclass C:\n    {empty}\n")
    C = m.C
    edit(files, reloader, m, "class C:\n    x = 9\n    def foo():\n        return 1 + C.x\n")
    assert m.C is C
    assert C.foo() == 10
    assert not hasattr(m, "x")


def test_a_class_attribute_edit_is_seen_by_its_method(
    files: ModuleFiles, reloader: Reloader
) -> None:
    # from IPython test_deduperreload: test_autoreload_class_default_autoreload
    v1 = "class C:\n    x = 9\n    def foo():\n        return 1 + C.x\n"
    m = watch(files, reloader, "classattr", v1)
    C, foo = m.C, m.C.foo
    edit(files, reloader, m, v1.replace("x = 9", "x = 20"))
    assert C.foo() == foo() == 21


NESTED_V1 = """
class C:
    x = 9
    def c():
        return 1
    class D:
        def foo():
            pass
"""


@pytest.mark.parametrize(
    ("v1", "v2", "c_result"),
    [
        pytest.param(
            "class C:\n    x = 9\n    class D:\n        def foo():\n            pass\n",
            "class C:\n    x = 9\n    class D:\n        def foo():\n            return 10\n",
            None,
            # from IPython test_deduperreload: test_autoreload_class_nested
            id="test_autoreload_class_nested",
        ),
        pytest.param(
            NESTED_V1,
            NESTED_V1.replace("pass", "return 10"),
            1,
            # from IPython test_deduperreload: test_autoreload_class_nested2
            id="test_autoreload_class_nested2",
        ),
        pytest.param(
            NESTED_V1,
            NESTED_V1.replace("pass", "return 10").replace("return 1\n", "return 13\n"),
            13,
            # from IPython test_deduperreload: test_autoreload_class_nested3
            id="test_autoreload_class_nested3",
        ),
    ],
)
def test_a_nested_class_method_edit_reaches_the_old_nested_class(
    files: ModuleFiles, reloader: Reloader, v1: str, v2: str, c_result: int | None
) -> None:
    m = watch(files, reloader, "nested", v1)
    C, D, foo = m.C, m.C.D, m.C.D.foo
    edit(files, reloader, m, v2)
    assert m.C is C
    assert C.D is D
    assert D.foo() == foo() == 10
    if c_result is not None:
        assert C.c() == c_result


def test_a_method_edit_and_a_new_class(files: ModuleFiles, reloader: Reloader) -> None:
    # from IPython test_deduperreload: test_autoreload_new_class_added
    v1 = "class C:\n    x = 9\n    def c():\n        return 1\n"
    m = watch(files, reloader, "newclass", v1)
    C = m.C
    edit(
        files,
        reloader,
        m,
        v1.replace("return 1", "return 13") + "class D:\n    def c():\n        return 1\n",
    )
    assert m.C is C
    assert (C.c(), m.D.c()) == (13, 1)


def test_an_empty_class_gains_a_nested_class(files: ModuleFiles, reloader: Reloader) -> None:
    # from IPython test_deduperreload: test_autoreload_class_nested_default
    m = watch(files, reloader, "nesteddefault", "class C:\n    pass\n")
    C = m.C
    edit(
        files,
        reloader,
        m,
        NESTED_V1.replace("pass", "return 10").replace("return 1\n", "return 13\n"),
    )
    assert m.C is C
    assert (C.D.foo(), C.c(), C.x) == (10, 13, 9)


@pytest.mark.parametrize(
    "old_body",
    [
        # from IPython test_deduperreload: test_autoreload_class_nested_using_members
        pytest.param("return 10", id="test_autoreload_class_nested_using_members"),
        # from IPython test_deduperreload: test_autoreload_class_nested_using_members_ellipsis
        pytest.param("...", id="test_autoreload_class_nested_using_members_ellipsis"),
    ],
)
def test_a_nested_class_method_reads_the_outer_class(
    files: ModuleFiles, reloader: Reloader, old_body: str
) -> None:
    v1 = NESTED_V1.replace("return 1\n", "return 13\n")
    m = watch(files, reloader, "nestedmembers", v1.replace("pass", old_body))
    C, foo = m.C, m.C.D.foo
    edit(files, reloader, m, v1.replace("pass", "return 10 + C.x"))
    assert C.D.foo() == foo() == 19
    assert C.c() == 13


def test_a_classmethod_edit_reaches_a_module_alias_of_another_classmethod(
    files: ModuleFiles, reloader: Reloader
) -> None:
    # from IPython test_deduperreload: test_method_classmethod_one_change
    # from IPython test_deduperreload: test_method_decorators_again
    m = watch(files, reloader, "cmchange", CLASSMETHOD_ALIAS)
    foo = m.foo
    assert foo() == 42
    edit(files, reloader, m, CLASSMETHOD_ALIAS.replace("return 0", "return 1"))
    assert m.Foo.foo() == m.foo() == foo() == 43


STATICMETHOD_ALIAS = """
class Foo:
    @staticmethod
    def bar():
        return 0

    @staticmethod
    def func():
        return 42 + Foo.bar()

func = Foo.func
"""


def test_a_staticmethod_edit_reaches_a_from_imported_alias(
    files: ModuleFiles, reloader: Reloader
) -> None:
    # from IPython test_deduperreload: test_method_staticmethod_one_change
    # autoreload's test binds `func` in the user namespace; a watched module's
    # `from m import func` is bound the same way.
    name = files.name("smchange")
    m = files.load(name, STATICMETHOD_ALIAS)
    user = files.load(files.name("sm_user"), f"from {name} import func\n")
    reloader.discover()
    func = user.func
    assert func() == 42
    edit(files, reloader, m, STATICMETHOD_ALIAS.replace("return 0", "return 1"))
    assert user.func() == func() == 43


def test_a_method_gains_a_default_read_from_a_module_constant(
    files: ModuleFiles, reloader: Reloader
) -> None:
    # from IPython test_deduperreload: test_autoreload_class_default_args
    v1 = "x = 42\nclass Foo:\n    def foo(self, y):\n        return y\n"
    m = watch(files, reloader, "defaults", v1)
    obj = m.Foo()
    edit(files, reloader, m, v1.replace("def foo(self, y)", "def foo(self, y=x)"))
    assert obj.foo(2) == 2
    assert obj.foo() == 42


def test_a_changed_constant_is_the_new_default(files: ModuleFiles, reloader: Reloader) -> None:
    # from IPython test_deduperreload: test_autoreload_class_change_default_args
    v1 = "x = 42\nclass Foo:\n    def foo(y):\n        return y\n"
    m = watch(files, reloader, "chdefaults", v1)
    Foo = m.Foo
    edited = "x = 44\nclass Foo:\n    def foo(y=x):\n        return y\n"
    edit(files, reloader, m, edited)
    assert Foo.foo() == fresh(files, edited).Foo.foo() == 44


def test_a_new_class_leaves_the_existing_one_untouched(
    files: ModuleFiles, reloader: Reloader
) -> None:
    # from IPython test_deduperreload: test_autoreload_class_new_class
    v1 = "x = 42\nclass Foo:\n    def foo(y=x):\n        return y\n"
    m = watch(files, reloader, "addclass", v1)
    previous = m.Foo.foo
    edit(files, reloader, m, v1 + "class C:\n    def foo():\n        return 200\n")
    assert m.Foo.foo is previous
    assert (m.Foo.foo(), m.C.foo()) == (42, 200)


def test_a_local_variable_shadows_the_global_in_a_new_method(
    files: ModuleFiles, reloader: Reloader
) -> None:
    # from IPython test_deduperreload: test_autoreload_overloaded_vars
    m = watch(files, reloader, "shadow", "x = 42\nclass Foo:\n    pass\n")
    Foo = m.Foo
    edit(
        files, reloader, m, "x = 44\nclass Foo:\n    def foo():\n        x = 2\n        return x\n"
    )
    assert Foo.foo() == 2
    assert m.x == 44


def test_a_local_variable_shadows_the_global_in_an_edited_function(
    files: ModuleFiles, reloader: Reloader
) -> None:
    # from IPython test_deduperreload: test_autoreload_overloaded_vars2
    m = watch(files, reloader, "shadow2", "x = 42\ndef foo():\n    return x\n")
    foo = m.foo
    assert foo() == 42
    edit(files, reloader, m, "x = 44\ndef foo():\n    x = 2\n    return x\n")
    assert foo() == 2
    assert m.x == 44


# ---------------------------------------------------------------------------------------------
# test_deduperreload.py: decorator cases
# ---------------------------------------------------------------------------------------------


def test_a_property_getter_edit_reaches_an_old_instance(
    files: ModuleFiles, reloader: Reloader
) -> None:
    # from IPython test_deduperreload: test_modify_property
    v1 = "class Foo:\n    @property\n    def foo(self):\n        return 42\n"
    m = watch(files, reloader, "prop", v1)
    foo = m.Foo()
    assert foo.foo == 42
    edit(files, reloader, m, v1.replace("42", "43"))
    assert foo.foo == 43


INCREMENTED_CLASSMETHOD = """
def incremented(f):
    return lambda *args: f(*args) + 1

class Foo:
    @classmethod
    @incremented
    def foo(cls):
        return 42

foo = Foo.foo
"""


def test_removing_a_decorator_from_a_classmethod_reaches_a_from_imported_alias(
    files: ModuleFiles, reloader: Reloader
) -> None:
    # from IPython test_deduperreload: test_method_decorator
    name = files.name("deco_removed")
    m = files.load(name, INCREMENTED_CLASSMETHOD)
    user = files.load(files.name("deco_user"), f"from {name} import foo\n")
    reloader.discover()
    assert user.foo() == 43
    edited = INCREMENTED_CLASSMETHOD.replace("    @incremented\n", "")
    edit(files, reloader, m, edited)
    assert user.foo() == m.foo() == fresh(files, edited).foo() == 42


def test_editing_the_decorator_of_a_classmethod_reaches_a_from_imported_alias(
    files: ModuleFiles, reloader: Reloader
) -> None:
    # from IPython test_deduperreload: test_method_modified_decorator
    name = files.name("deco_edited")
    m = files.load(name, INCREMENTED_CLASSMETHOD)
    user = files.load(files.name("deco_user2"), f"from {name} import foo\n")
    reloader.discover()
    foo = user.foo
    assert foo() == 43
    edit(files, reloader, m, INCREMENTED_CLASSMETHOD.replace("+ 1", "+ 0"))
    assert user.foo() == m.foo() == foo() == 42


FUNCTION_DECORATED = """
def incremented(f):
    return lambda *args: f(*args) + 1

@incremented
def foo():
    return 42
"""

FUNCTION_UNDECORATED = """
def incremented(f):
    return lambda *args: f(*args) + 1

def foo():
    return 42
"""

FUNCTION_DECORATOR_FACTORY = """
def incremented(v):
    def deco(f):
        return lambda *args: f(*args) + v
    return deco

@incremented(2)
def foo():
    return 43
"""


def test_a_decorator_removed_then_a_decorator_factory_added(
    files: ModuleFiles, reloader: Reloader
) -> None:
    # from IPython test_deduperreload: test_function_decorators
    m = watch(files, reloader, "fdeco", FUNCTION_DECORATED)
    assert m.foo() == 43
    edit(files, reloader, m, FUNCTION_UNDECORATED)
    assert m.foo() == 42
    edit(files, reloader, m, FUNCTION_DECORATOR_FACTORY)
    assert m.foo() == fresh(files, FUNCTION_DECORATOR_FACTORY).foo() == 45


def test_an_old_reference_follows_the_removal_of_a_plain_closure_decorator(
    files: ModuleFiles, reloader: Reloader
) -> None:
    # from IPython test_deduperreload: test_function_decorators (autoreload's test reads only
    # `mod.foo`; this is the same step seen through a reference taken before the edit)
    m = watch(files, reloader, "fdeco_old", FUNCTION_DECORATED)
    foo = m.foo
    edit(files, reloader, m, FUNCTION_UNDECORATED)
    assert m.foo() == 42
    assert foo() == fresh(files, FUNCTION_UNDECORATED).foo() == 42


def test_a_wraps_decorator_from_another_module_keeps_the_module_globals(
    files: ModuleFiles, reloader: Reloader
) -> None:
    # from IPython test_deduperreload: test_function_decorator_from_other_module
    deco = files.name("wraps_deco")
    files.write(
        deco,
        """
        import functools

        def incremented(f):
            @functools.wraps(f)
            def wrapper(*args, **kwargs):
                return f(*args, **kwargs) + 1
            return wrapper
        """,
    )
    name = files.name("wraps_user")
    v1 = f"from {deco} import incremented as deco\n\n@deco\ndef foo():\n    return 42\n"
    m = files.load(name, v1)
    user = files.load(files.name("wraps_cell"), f"from {name} import foo\n")
    reloader.discover()
    foo = user.foo
    assert foo() == 43
    edit(files, reloader, m, v1.replace("return 42", "return 43"))
    assert user.foo is foo
    assert foo() == 44
    assert foo.__wrapped__.__globals__ is vars(m)


FREEVARS = """
def decorate(func):
    free_var_x = "x"
    free_var_y = "y"
    def wrapper(*args, **kwargs):
        return func(*args, **kwargs), free_var_x, free_var_y
    return wrapper

@decorate
def f():
    return "v1"
"""


def test_a_decorator_whose_free_variables_change(files: ModuleFiles, reloader: Reloader) -> None:
    # from IPython test_deduperreload: test_decorators_with_freevars
    m = watch(files, reloader, "freevars", FREEVARS)
    f = m.f
    assert f() == ("v1", "x", "y")
    edited = (
        FREEVARS.replace("free_var_x", "free_var_ax")
        .replace("free_var_y", "free_var_by")
        .replace('"x"', '"ax"')
        .replace('"y"', '"by"')
        .replace('"v1"', '"v2"')
    )
    edit(files, reloader, m, edited)
    assert m.f() == f() == fresh(files, edited).f() == ("v2", "ax", "by")
