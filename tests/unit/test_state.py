"""The user's state survives an edit: only what the edit affects runs again (issue 6).

Every module here reports each top-level statement it runs to a separate tracker module, so a
test can assert exactly how often each statement ran: once at import, and again only if the
rule says it must.
"""

from __future__ import annotations

import inspect
import textwrap
import traceback
from collections import Counter
from typing import Any

import pytest

from hotreload_ext import ModuleReport, Reloader
from tests.conftest import ModuleFiles, check

TRACKER = """
from collections import Counter
RUNS = Counter()
REGISTRY = []

def ran(label, value=None):
    RUNS[label] += 1
    return value

def register(obj):
    REGISTRY.append(obj)
    return obj
"""


def _tracker(files: ModuleFiles) -> tuple[str, Counter[str], list[Any]]:
    name = files.name("tracker")
    module = files.load(name, TRACKER)
    return name, module.RUNS, module.REGISTRY


def _reran(reloader: Reloader) -> list[str]:
    report = reloader.history[-1]
    return list(getattr(report, "reran", ()))


def test_editing_a_function_keeps_a_module_level_cache(
    files: ModuleFiles, reloader: Reloader
) -> None:
    t, runs, _ = _tracker(files)
    name = files.name("cache")
    source = f"""
        import {t} as t
        CACHE = t.ran("CACHE", {{}})

        def lookup(key):
            return CACHE.setdefault(key, key * 2)
        """
    m = files.load(name, source)
    reloader.discover()
    cache = m.CACHE
    m.lookup(3)
    files.write(name, source.replace("key * 2", "key * 3"))
    check(reloader)
    assert m.CACHE is cache
    assert cache == {3: 6}
    assert m.lookup(4) == 12
    assert runs["CACHE"] == 1
    assert _reran(reloader) == ["L5: def lookup(key):"]


def test_threshold_edit_reruns_its_readers_but_not_the_expensive_load(
    files: ModuleFiles, reloader: Reloader
) -> None:
    t, runs, _ = _tracker(files)
    name = files.name("limits")
    source = f"""
        import {t} as t
        DATA = t.ran("DATA", list(range(5)))
        THRESHOLD = 0.5

        def compute(threshold):
            return [x * threshold for x in DATA]

        LIMITS = t.ran("LIMITS", compute(THRESHOLD))
        """
    m = files.load(name, source)
    reloader.discover()
    data = m.DATA
    files.write(name, source.replace("THRESHOLD = 0.5", "THRESHOLD = 2"))
    check(reloader)
    assert m.LIMITS == [0, 2, 4, 6, 8]
    assert m.DATA is data
    assert runs == Counter({"DATA": 1, "LIMITS": 2})
    assert [r.split(":")[0] for r in _reran(reloader)] == ["L4", "L9"]


def test_a_new_statement_runs_alone_and_a_deleted_one_takes_its_name(
    files: ModuleFiles, reloader: Reloader
) -> None:
    t, runs, _ = _tracker(files)
    name = files.name("grow")
    source = f"""
        import {t} as t
        A = t.ran("A", 1)
        B = t.ran("B", 2)
        """
    m = files.load(name, source)
    reloader.discover()
    files.write(name, source + 'C = t.ran("C", 3)\n')
    check(reloader)
    assert (m.A, m.B, m.C) == (1, 2, 3)
    assert runs == Counter({"A": 1, "B": 1, "C": 1})
    files.write(name, source.replace('B = t.ran("B", 2)\n', ""))
    check(reloader)
    assert not hasattr(m, "B")
    assert not hasattr(m, "C")
    assert runs == Counter({"A": 1, "B": 1, "C": 1})


def test_a_statement_that_only_moved_does_not_run_and_keeps_its_lines(
    files: ModuleFiles, reloader: Reloader
) -> None:
    t, runs, _ = _tracker(files)
    name = files.name("moved")
    source = f"""
        import {t} as t
        SETUP = t.ran("SETUP", object())

        def fail():
            raise ValueError("here")
        """
    m = files.load(name, source)
    reloader.discover()
    fail = m.fail
    setup = m.SETUP
    files.write(name, "# two new lines\n# above\n" + textwrap.dedent(source))
    check(reloader)
    assert m.SETUP is setup
    assert runs["SETUP"] == 1
    assert _reran(reloader) == []
    assert fail.__code__.co_firstlineno == 7
    assert inspect.getsource(fail).startswith("def fail():")
    with pytest.raises(ValueError, match="here") as info:
        fail()
    frame = traceback.extract_tb(info.value.__traceback__)[-1]
    assert (frame.lineno, frame.line) == (8, 'raise ValueError("here")')


def test_decorator_registration_happens_once_per_session(
    files: ModuleFiles, reloader: Reloader
) -> None:
    t, _runs, registry = _tracker(files)
    name = files.name("plugins")
    source = f"""
        from {t} import register, ran

        @register
        def handler():
            return "v1"
        """
    m = files.load(name, source)
    reloader.discover()
    old = m.handler
    files.write(name, source.replace('"v1"', '"v2"'))
    check(reloader)
    assert registry == [old]
    assert m.handler is old
    assert old() == "v2"
    assert _reran(reloader) == ["L4: @register (body patched in place; decorators not re-run)"]


def test_wrapping_decorator_with_a_side_effect_keeps_its_wrapper(
    files: ModuleFiles, reloader: Reloader
) -> None:
    t, runs, registry = _tracker(files)
    name = files.name("routes")
    source = f"""
        import functools
        from {t} import register, ran

        class App:
            def route(self, path):
                def decorator(func):
                    ran("route " + path)

                    @functools.wraps(func)
                    def view(*args):
                        return "<" + func(*args) + ">"

                    register(view)
                    return view
                return decorator

        app = App()

        @app.route("/")
        def index(who):
            return "hello " + who
        """
    m = files.load(name, source)
    reloader.discover()
    view = m.index
    files.write(name, source.replace('"hello "', '"bye "'))
    check(reloader)
    assert m.index is view
    assert registry == [view]
    assert view("you") == "<bye you>"
    assert runs["route /"] == 1
    files.write(name, source)
    check(reloader)
    assert view("you") == "<hello you>"
    assert runs["route /"] == 1


def test_lru_cache_keeps_its_wrapper_and_drops_stale_results(
    files: ModuleFiles, reloader: Reloader
) -> None:
    name = files.name("cached")
    source = """
        import functools

        @functools.lru_cache(maxsize=None)
        def square(x):
            return x * x
        """
    m = files.load(name, source)
    reloader.discover()
    square = m.square
    assert square(3) == 9
    files.write(name, source.replace("x * x", "x * x + 1"))
    check(reloader)
    assert m.square is square
    assert square(3) == 10
    assert "decorators not re-run" in _reran(reloader)[0]


def test_changed_decorator_or_signature_runs_the_decorators_and_says_why(
    files: ModuleFiles, reloader: Reloader
) -> None:
    t, runs, _registry = _tracker(files)
    name = files.name("redecorate")
    source = f"""
        from {t} import register, ran

        def tag(label):
            def decorator(func):
                ran("tag " + label)
                return func
            return decorator

        @tag("a")
        def job(x):
            return x
        """
    m = files.load(name, source)
    reloader.discover()
    job = m.job
    files.write(name, source.replace('@tag("a")', '@tag("b")'))
    check(reloader)
    assert runs["tag b"] == 1
    assert "decorators re-ran: its decorators or signature changed" in _reran(reloader)[0]
    files.write(name, source.replace('@tag("a")', '@tag("b")').replace("job(x)", "job(x, y=1)"))
    check(reloader)
    assert runs["tag b"] == 2
    assert m.job is job
    assert job(1) == 1


def test_a_registration_statement_does_not_run_again_for_a_body_edit(
    files: ModuleFiles, reloader: Reloader
) -> None:
    t, _runs, registry = _tracker(files)
    name = files.name("explicit")
    source = f"""
        import logging
        from {t} import register

        def handler():
            return 1

        register(handler)
        HANDLERS = [handler]
        log = logging.getLogger("{name}")
        log.addHandler(logging.NullHandler())
        """
    m = files.load(name, source)
    reloader.discover()
    handlers = m.HANDLERS
    files.write(name, source.replace("return 1", "return 2"))
    check(reloader)
    assert registry == [m.handler]
    assert registry[0]() == 2
    assert m.HANDLERS is handlers
    assert len(m.log.handlers) == 1
    assert _reran(reloader) == ["L5: def handler():"]


def test_a_statement_calling_a_patched_function_runs_again(
    files: ModuleFiles, reloader: Reloader
) -> None:
    name = files.name("calls")
    source = """
        def make():
            return [1]

        X = make()
        """
    m = files.load(name, source)
    reloader.discover()
    files.write(name, source.replace("[1]", "[2]"))
    check(reloader)
    assert m.X == [2]


def test_rebinding_a_decorated_name_wraps_once(files: ModuleFiles, reloader: Reloader) -> None:
    name = files.name("rewrap")
    source = """
        import functools

        def loud(func):
            @functools.wraps(func)
            def wrapper():
                return func().upper()
            return wrapper

        @functools.lru_cache
        def word():
            return "one"

        word = loud(word)
        """
    m = files.load(name, source)
    reloader.discover()
    files.write(name, source.replace('"one"', '"two"'))
    check(reloader)
    assert m.word() == "TWO"
    raw = m.word.__wrapped__.__wrapped__
    assert raw.__code__.co_name == "word"
    assert not hasattr(raw, "__wrapped__")


def test_singledispatch_registrations_sharing_a_name_follow_their_edit(
    files: ModuleFiles, reloader: Reloader
) -> None:
    name = files.name("dispatch")
    source = """
        import functools

        @functools.singledispatch
        def show(x):
            return "object"

        @show.register
        def _(x: int):
            return "int"

        @show.register
        def _(x: str):
            return "str"
        """
    m = files.load(name, source)
    reloader.discover()
    show = m.show
    files.write(name, source.replace('return "int"', 'return "INT"'))
    check(reloader)
    assert (show(1), show("a"), show(1.0)) == ("INT", "str", "object")
    files.write(name, source.replace('return "object"', 'return "OBJECT"'))
    check(reloader)
    assert (show(1), show("a"), show(1.0)) == ("int", "str", "OBJECT")
    assert m.show is show


CLASSES = """
from {t} import ran, register

class Meta(type):
    def __new__(mcls, name, bases, ns):
        ran("Meta " + name)
        return super().__new__(mcls, name, bases, ns)

class Base:
    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        ran("subclass " + cls.__name__)

    def greet(self):
        return "base"

class Plugin(Base, metaclass=Meta):
    count = 0

    def greet(self):
        return "plugin " + super().greet()

    def __secret(self):
        return "s1"

    def reveal(self):
        return self.__secret()

@register
class Tagged:
    label = "one"

    def kind(self):
        return "tagged"
"""


def test_class_body_edit_runs_no_metaclass_hook_or_decorator_again(
    files: ModuleFiles, reloader: Reloader
) -> None:
    t, runs, registry = _tracker(files)
    name = files.name("classes")
    source = CLASSES.format(t=t)
    m = files.load(name, source)
    reloader.discover()
    plugin, tagged = m.Plugin(), m.Tagged()
    m.Plugin.count = 5
    greet = plugin.greet
    before = Counter(runs)
    edited = (
        source.replace('"plugin "', '"PLUGIN "')
        .replace('"s1"', '"s2"')
        .replace('return "tagged"', 'return "TAGGED"')
    )
    files.write(name, edited)
    check(reloader)
    assert runs == before
    assert greet() == "PLUGIN base"
    assert plugin.reveal() == "s2"
    assert tagged.kind() == "TAGGED"
    assert registry == [m.Tagged]
    assert m.Plugin.count == 5
    assert type(plugin) is m.Plugin


def test_data_member_of_a_decorated_class_runs_the_decorator_and_says_so(
    files: ModuleFiles, reloader: Reloader
) -> None:
    t, _runs, registry = _tracker(files)
    name = files.name("tagged")
    source = CLASSES.format(t=t)
    m = files.load(name, source)
    reloader.discover()
    tagged = m.Tagged()
    files.write(name, source.replace('label = "one"', 'label = "two"'))
    check(reloader)
    assert tagged.label == "two"
    assert isinstance(tagged, m.Tagged)
    # The decorator ran again, with the draft class; the live class took its place in the
    # registry, which holds it once, as after a fresh import.
    assert registry == [m.Tagged]
    line = next(r for r in _reran(reloader) if "re-ran" in r)
    assert line.startswith("L29: @register (the class statement re-ran:")
    assert "label" in line


def test_plain_class_attribute_edit_runs_only_that_member(
    files: ModuleFiles, reloader: Reloader
) -> None:
    t, runs, _ = _tracker(files)
    name = files.name("plain")
    source = f"""
        from {t} import ran

        class Shape:
            unit = "cm"
            created = ran("created", 0)
            scale = ran("scale", 2)
            doubled = scale * 2

            def describe(self):
                return self.unit
        """
    m = files.load(name, source)
    reloader.discover()
    shape = m.Shape()
    m.Shape.created = 7
    files.write(name, source.replace('"cm"', '"mm"').replace('"scale", 2', '"scale", 3'))
    check(reloader)
    assert shape.describe() == "mm"
    assert (m.Shape.created, m.Shape.scale, m.Shape.doubled) == (7, 3, 6)
    assert runs == Counter({"created": 1, "scale": 2})
    assert "ran Shape.unit" in _reran(reloader)[0]


def test_dataclass_gaining_a_field_runs_the_decorator_and_says_why(
    files: ModuleFiles, reloader: Reloader
) -> None:
    name = files.name("point")
    source = """
        import dataclasses

        @dataclasses.dataclass
        class Point:
            x: int = 0

            def norm(self):
                return abs(self.x)
        """
    m = files.load(name, source)
    reloader.discover()
    old = m.Point(3)
    files.write(name, source.replace("x: int = 0", "x: int = 0\n            y: int = 5"))
    check(reloader)
    assert m.Point(1).y == 5
    assert "the class statement re-ran" in _reran(reloader)[0]
    assert isinstance(old, m.Point)
    files.write(name, source.replace("abs(self.x)", "-abs(self.x)"))
    check(reloader)
    assert old.norm() == -3
    assert "the class statement re-ran" in _reran(reloader)[0]


def test_a_method_edit_in_a_dataclass_is_patched_in_place(
    files: ModuleFiles, reloader: Reloader
) -> None:
    name = files.name("point2")
    source = """
        import dataclasses

        @dataclasses.dataclass(frozen=True)
        class Point:
            x: int = 0

            def norm(self):
                return abs(self.x)
        """
    m = files.load(name, source)
    reloader.discover()
    old = m.Point(3)
    cls = m.Point
    files.write(name, source.replace("abs(self.x)", "-abs(self.x)"))
    check(reloader)
    assert m.Point is cls
    assert old.norm() == -3
    assert "header not re-run" in _reran(reloader)[0]
    assert old == m.Point(3)
    assert hash(old) == hash(m.Point(3))


def test_a_failing_class_body_member_rolls_everything_back(
    files: ModuleFiles, reloader: Reloader
) -> None:
    name = files.name("broken")
    source = """
        class Box:
            size = 1

            def get(self):
                return self.size
        """
    m = files.load(name, source)
    reloader.discover()
    box = m.Box()
    files.write(name, source.replace("size = 1", "size = 1 / 0").replace("self.size", "-1"))
    report = reloader.check()
    assert report.failed
    assert "ZeroDivisionError" in str(report.failed[0])
    assert box.get() == 1
    assert m.Box.size == 1


def test_a_failing_default_in_a_decorated_def_rolls_back(
    files: ModuleFiles, reloader: Reloader
) -> None:
    name = files.name("default")
    source = """
        import functools

        @functools.lru_cache
        def f(x=1):
            return x
        """
    m = files.load(name, source)
    reloader.discover()
    f = m.f
    files.write(name, source.replace("return x", "return x + 1").replace("x=1", "x=1 // 0"))
    report = reloader.check()
    assert report.failed
    assert f() == 1
    assert m.f is f


def test_full_rerun_marker_runs_everything_and_still_keeps_identities(
    files: ModuleFiles, reloader: Reloader
) -> None:
    t, runs, registry = _tracker(files)
    name = files.name("full")
    source = f"""
        # hotreload: full
        from {t} import ran, register
        COUNT = ran("COUNT", 0)

        @register
        def f():
            return 1
        """
    m = files.load(name, source)
    reloader.discover()
    f = m.f
    files.write(name, source.replace("return 1", "return 2"))
    check(reloader)
    assert runs["COUNT"] == 2
    assert len(registry) == 2
    assert m.f is f
    assert f() == 2
    assert isinstance(reloader.history[-1], ModuleReport)
    assert reloader.history[-1].mode.startswith("whole module")


def test_class_patched_in_place_after_inserted_lines_keeps_its_source_position(
    files: ModuleFiles, reloader: Reloader
) -> None:
    name = files.name("position")
    source = """
        import functools

        @functools.total_ordering
        class Version:
            def __init__(self, n):
                self.n = n

            def __eq__(self, other):
                return self.n == other.n

            def __lt__(self, other):
                return self.n < other.n
        """
    m = files.load(name, source)
    reloader.discover()
    cls = m.Version
    edited = "# a new first line\n" + textwrap.dedent(source).replace(
        "self.n < other.n", "self.n > other.n"
    )
    files.write(name, edited, dedent=False)
    check(reloader)
    assert m.Version is cls
    assert m.Version(2) < m.Version(1)
    assert inspect.getsource(cls).startswith("@functools.total_ordering\nclass Version:")
    assert "header not re-run" in _reran(reloader)[0]
