"""Several definitions bound to one name: each is matched by its place among its same-named
siblings (and its header), never by name alone, so an edit affects exactly the one edited.

Every test keeps old references, edits, and compares the live module with a fresh import of the
edited file.
"""

from __future__ import annotations

import atexit
import logging
import textwrap
from collections.abc import Callable

from hotreload_ext import Reloader
from tests.conftest import ModuleFiles, check
from tests.conftest import fresh_import as fresh

SINGLEDISPATCH = """
from functools import singledispatch

@singledispatch
def show(x):
    return "object"

@show.register(int)
def _(x):
    return "int"
"""

STR_HANDLER = """
@show.register(str)
def _(x):
    return "str"
"""


def kinds(show: Callable[[object], str]) -> list[str]:
    return [show(1), show("a"), show(1.5)]


def test_adding_a_second_handler_leaves_the_first_alone(
    files: ModuleFiles, reloader: Reloader
) -> None:
    name = files.name("sd")
    m = files.load(name, SINGLEDISPATCH)
    reloader.discover()
    show, int_handler = m.show, m._

    files.write(name, SINGLEDISPATCH + STR_HANDLER)
    report = reloader.check()
    assert not report.failed
    assert kinds(m.show) == kinds(fresh(files, SINGLEDISPATCH + STR_HANDLER).show)
    assert kinds(show) == ["int", "str", "object"]
    assert int_handler(1) == "int", "the int handler must not take the str handler's code"
    assert report.reloaded[0].added == ("_",)
    assert report.reloaded[0].updated == ()


def test_editing_the_first_of_two_handlers_changes_only_it(
    files: ModuleFiles, reloader: Reloader
) -> None:
    name = files.name("sd2")
    m = files.load(name, SINGLEDISPATCH + STR_HANDLER)
    reloader.discover()
    show, str_handler = m.show, m._
    edited = SINGLEDISPATCH.replace('return "int"', 'return "INT"') + STR_HANDLER

    files.write(name, edited)
    check(reloader)
    assert kinds(show) == kinds(fresh(files, edited).show) == ["INT", "str", "object"]
    assert m._ is str_handler
    assert len(show.registry) == 3


REGISTRY = """
HANDLERS = []

def register(function):
    HANDLERS.append(function)
    return function

@register
def _():
    return "a"

@register
def _():
    return "b"

@register
def _():
    return "c"
"""


def test_a_list_registry_holds_what_a_fresh_import_registers(
    files: ModuleFiles, reloader: Reloader
) -> None:
    name = files.name("reg")
    m = files.load(name, REGISTRY)
    reloader.discover()
    handlers = m.HANDLERS
    middle = handlers[1]

    edited = REGISTRY.replace('return "b"', 'return "B"')
    files.write(name, edited)
    check(reloader)
    expected = [h() for h in fresh(files, edited).HANDLERS]
    assert [h() for h in m.HANDLERS] == expected == ["a", "B", "c"]
    assert m.HANDLERS is handlers, "nothing re-ran that would rebuild the registry"
    assert middle() == "B", "an old reference to the edited handler runs the new body"

    # The last handler edited too: still one registration each.
    edited = edited.replace('return "c"', 'return "C"')
    files.write(name, edited)
    check(reloader)
    assert [h() for h in m.HANDLERS] == [h() for h in fresh(files, edited).HANDLERS]


def test_removing_a_handler_rebuilds_the_registry_as_a_fresh_import_would(
    files: ModuleFiles, reloader: Reloader
) -> None:
    name = files.name("reg2")
    m = files.load(name, REGISTRY)
    reloader.discover()
    edited = REGISTRY.replace('@register\ndef _():\n    return "b"\n\n', "")
    files.write(name, edited)
    check(reloader)
    assert [h() for h in m.HANDLERS] == [h() for h in fresh(files, edited).HANDLERS] == ["a", "c"]


def test_a_new_handler_in_the_middle_registers_once(files: ModuleFiles, reloader: Reloader) -> None:
    name = files.name("reg3")
    m = files.load(name, REGISTRY)
    reloader.discover()
    edited = REGISTRY.replace(
        '@register\ndef _():\n    return "c"',
        '@register\ndef _():\n    return "x"\n\n@register\ndef _():\n    return "c"',
    )
    files.write(name, edited)
    check(reloader)
    assert [h() for h in m.HANDLERS] == [h() for h in fresh(files, edited).HANDLERS]
    assert [h() for h in m.HANDLERS] == ["a", "b", "x", "c"]


def test_reordering_two_handlers_reorders_the_registry(
    files: ModuleFiles, reloader: Reloader
) -> None:
    name = files.name("reg4")
    m = files.load(name, REGISTRY)
    reloader.discover()
    b = '@register\ndef _():\n    return "b"\n\n'
    c = '@register\ndef _():\n    return "c"\n'
    edited = REGISTRY.replace(b + c, c + "\n" + b)
    assert edited != REGISTRY
    files.write(name, edited)
    check(reloader)
    assert [h() for h in m.HANDLERS] == [h() for h in fresh(files, edited).HANDLERS]
    assert [h() for h in m.HANDLERS] == ["a", "c", "b"]


def test_a_handler_registered_under_another_key_leaves_no_stale_entry(
    files: ModuleFiles, reloader: Reloader
) -> None:
    name = files.name("sd3")
    m = files.load(name, SINGLEDISPATCH + STR_HANDLER)
    reloader.discover()
    show = m.show
    edited = SINGLEDISPATCH.replace("register(int)", "register(float)") + STR_HANDLER
    files.write(name, edited)
    check(reloader)
    assert kinds(show) == kinds(fresh(files, edited).show) == ["object", "str", "int"]
    assert int not in show.registry


def test_rebinding_an_alias_never_changes_the_original(
    files: ModuleFiles, reloader: Reloader
) -> None:
    name = files.name("alias")
    m = files.load(name, "a = lambda: 1\nb = a\n")
    reloader.discover()
    a = m.a
    files.write(name, "a = lambda: 1\nb = lambda: 2\n")
    check(reloader)
    assert (m.a(), m.b(), a()) == (1, 2, 1)


def test_rebinding_an_alias_to_another_closure_of_the_same_factory(
    files: ModuleFiles, reloader: Reloader
) -> None:
    source = "def make(k):\n    return lambda: k\n\ndouble = make(2)\ntriple = double\n"
    name = files.name("factory")
    m = files.load(name, source)
    reloader.discover()
    double = m.double
    files.write(name, source.replace("triple = double", "triple = make(3)"))
    check(reloader)
    assert (m.double(), m.triple(), double()) == (2, 3, 2)


def test_the_remaining_definition_of_a_duplicated_name_continues_the_live_one(
    files: ModuleFiles, reloader: Reloader
) -> None:
    name = files.name("dup")
    m = files.load(name, "def f():\n    return 1\n\ndef f():\n    return 2\n")
    reloader.discover()
    f = m.f
    files.write(name, "def f():\n    return 3\n")
    check(reloader)
    assert m.f is f
    assert f() == 3


def test_overload_stubs_and_the_implementation(files: ModuleFiles, reloader: Reloader) -> None:
    source = textwrap.dedent(
        """
        from typing import overload

        @overload
        def parse(x: int) -> int: ...
        @overload
        def parse(x: str) -> str: ...
        def parse(x):
            return x
        """
    )
    name = files.name("over")
    m = files.load(name, source)
    reloader.discover()
    parse = m.parse
    edited = source.replace("return x", "return x * 2")
    files.write(name, edited)
    check(reloader)
    assert m.parse is parse
    assert parse(2) == fresh(files, edited).parse(2) == 4


SIDE_EFFECTS = """
import atexit
import logging

class Upper(logging.Filter):
    def filter(self, record):
        record.msg = str(record.msg).upper()
        return True

def goodbye():
    return "bye"

LOGGER = logging.getLogger(__name__)
LOGGER.addFilter(Upper())
atexit.register(goodbye)
"""


def test_side_effects_of_unchanged_statements_happen_once(
    files: ModuleFiles, reloader: Reloader
) -> None:
    name = files.name("effects")
    m = files.load(name, SIDE_EFFECTS)
    reloader.discover()
    logger = m.LOGGER
    try:
        edited = SIDE_EFFECTS.replace(".upper()", ".lower()").replace('"bye"', '"ciao"')
        files.write(name, edited)
        check(reloader)
        assert len(logger.filters) == 1, "a fresh process adds the filter once"
        record = logging.LogRecord(name, logging.INFO, __file__, 1, "MiXeD", None, None)
        assert logger.filter(record)
        assert record.msg == "mixed", "the one filter runs the new code"
        assert m.goodbye() == "ciao"
    finally:
        atexit.unregister(m.goodbye)
        logger.filters.clear()


def test_editing_the_registering_decorator_registers_each_definition_once(
    files: ModuleFiles, reloader: Reloader
) -> None:
    name = files.name("reg5")
    m = files.load(name, REGISTRY)
    reloader.discover()
    edited = REGISTRY.replace(
        "    HANDLERS.append(function)\n",
        "    function.tagged = True\n    HANDLERS.append(function)\n",
    )
    files.write(name, edited)
    check(reloader)
    assert [h() for h in m.HANDLERS] == [h() for h in fresh(files, edited).HANDLERS]
    assert all(getattr(h, "tagged", False) for h in m.HANDLERS)


def test_editing_the_dispatcher_and_removing_a_handler_leaves_no_stale_entry(
    files: ModuleFiles, reloader: Reloader
) -> None:
    name = files.name("sd4")
    m = files.load(name, SINGLEDISPATCH + STR_HANDLER)
    reloader.discover()
    show = m.show
    edited = SINGLEDISPATCH.replace('return "object"', 'return "thing"')
    files.write(name, edited)
    check(reloader)
    assert kinds(show) == kinds(fresh(files, edited).show) == ["int", "thing", "thing"]


def test_a_renamed_class_kept_under_its_old_name_takes_its_instances(
    files: ModuleFiles, reloader: Reloader
) -> None:
    name = files.name("renamed")
    m = files.load(name, "class OldName:\n    def hello(self):\n        return 'old'\n")
    reloader.discover()
    instance, old_class = m.OldName(), m.OldName
    edited = "class NewName:\n    def hello(self):\n        return 'new'\n\nOldName = NewName\n"
    files.write(name, edited)
    report = reloader.check()
    assert not report.failed
    assert m.OldName is m.NewName
    assert isinstance(instance, m.NewName)
    assert instance.hello() == "new"
    assert "renamed to NewName" in str(report.reloaded[0])
    assert old_class is not m.NewName
