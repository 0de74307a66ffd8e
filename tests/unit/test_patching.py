"""Old references run new code: functions, methods, instances, from-imports (jurigged's pattern).

Each test imports version 1 of a real module, keeps references to its old objects, writes
version 2, runs one check, and asserts the old references now behave like version 2; most then
go back to version 1.
"""

from __future__ import annotations

import copy
import functools
import inspect
import pickle
import sys
import traceback

import pytest

from hotreload_ext import Reloader
from tests.conftest import ModuleFiles, check

V1 = """
CACHE = {}

def area(r):
    return 3 * r * r

class Circle:
    unit = "cm"

    def __init__(self, r):
        self.r = r

    def describe(self):
        return f"circle {self.r}"

    @property
    def size(self):
        return self.r

    @classmethod
    def unit_circle(cls):
        return cls(1)

    @staticmethod
    def kind():
        return "round"
"""

V2 = """
CACHE = {}

def area(r):
    \"\"\"The area.\"\"\"
    return 3.14 * r * r

class Circle:
    unit = "mm"

    def __init__(self, r):
        self.r = r

    def describe(self):
        return f"Circle(r={self.r})"

    def scale(self, k):
        return Circle(self.r * k)

    @property
    def size(self):
        return self.r * 2

    @classmethod
    def unit_circle(cls):
        return cls(10)

    @staticmethod
    def kind():
        return "ROUND"

def perimeter(r):
    return 2 * 3.14 * r
"""


def test_old_references_run_new_code_and_back(files: ModuleFiles, reloader: Reloader) -> None:
    name = files.name("shapes")
    m = files.load(name, V1)
    reloader.discover()
    from_imported_area = m.area
    Circle = m.Circle
    c = m.Circle(2)
    bound = c.describe
    callbacks = [m.area]
    partial = functools.partial(m.area, 2)
    m.CACHE["kept"] = 1

    files.write(name, V2)
    check(reloader)

    assert m.area is from_imported_area
    assert m.Circle is Circle
    assert from_imported_area(1) == pytest.approx(3.14)
    assert callbacks[0](1) == pytest.approx(3.14)
    assert partial() == pytest.approx(12.56)
    assert from_imported_area.__doc__ == "The area."
    assert bound() == "Circle(r=2)"
    assert c.describe() == "Circle(r=2)"
    assert c.scale(3).r == 6
    assert isinstance(c.scale(3), Circle)
    assert c.size == 4
    assert Circle.unit == "mm"
    assert Circle.unit_circle().r == 10
    assert Circle.kind() == "ROUND"
    assert m.perimeter(1) == pytest.approx(6.28)
    assert m.CACHE == {"kept": 1}, "unchanged statements must not run again"

    files.write(name, V1)
    check(reloader)

    assert from_imported_area(1) == 3
    assert from_imported_area.__doc__ is None
    assert bound() == "circle 2"
    assert not hasattr(c, "scale")
    assert not hasattr(m, "perimeter")
    assert c.size == 2
    assert Circle.unit == "cm"


def test_instances_keep_class_identity(files: ModuleFiles, reloader: Reloader) -> None:
    name = files.name("ident")
    m = files.load(name, V1)
    reloader.discover()
    c = m.Circle(5)
    files.write(name, V2)
    check(reloader)
    assert type(c) is m.Circle
    assert isinstance(c, m.Circle)
    restored = pickle.loads(pickle.dumps(c))
    assert restored.describe() == "Circle(r=5)"
    assert copy.deepcopy(c).describe() == "Circle(r=5)"


def test_zero_argument_super_gained_and_kept(files: ModuleFiles, reloader: Reloader) -> None:
    name = files.name("sup")
    m = files.load(
        name,
        """
        class Base:
            def hello(self):
                return "base"

        class Child(Base):
            def hello(self):
                return "child"
        """,
    )
    reloader.discover()
    child = m.Child()
    bound = child.hello
    files.write(
        name,
        """
        class Base:
            def hello(self):
                return "BASE"

        class Child(Base):
            def hello(self):
                return "child+" + super().hello()
        """,
    )
    check(reloader)
    assert bound() == "child+BASE"
    assert m.Child().hello() == "child+BASE"
    files.write(
        name,
        """
        class Base:
            def hello(self):
                return "base2"

        class Child(Base):
            def hello(self):
                return "child2+" + super().hello()
        """,
    )
    check(reloader)
    assert bound() == "child2+base2"


def test_subclass_in_another_module_sees_base_changes(
    files: ModuleFiles, reloader: Reloader
) -> None:
    base = files.name("base")
    sub = files.name("sub")
    files.write(base, "class Base:\n    def f(self):\n        return 1\n")
    m_sub = files.load(sub, f"from {base} import Base\nclass Sub(Base):\n    pass\n")
    reloader.discover()
    obj = m_sub.Sub()
    files.write(
        base,
        "class Base:\n    def f(self):\n        return 2\n    def g(self):\n        return 3\n",
    )
    check(reloader)
    assert obj.f() == 2
    assert obj.g() == 3
    assert m_sub.Base is sys.modules[base].Base


def test_closure_gains_and_loses_free_variables(files: ModuleFiles, reloader: Reloader) -> None:
    name = files.name("clos")
    m = files.load(
        name,
        """
        def make():
            def inner():
                return 1
            return inner

        f = make()
        """,
    )
    reloader.discover()
    old = m.f
    files.write(
        name,
        """
        def make():
            a, b = 10, 20
            def inner():
                return a + b
            return inner

        f = make()
        """,
    )
    check(reloader)
    assert m.f is old
    assert old() == 30
    files.write(
        name,
        """
        def make():
            def inner():
                return 5
            return inner

        f = make()
        """,
    )
    check(reloader)
    assert old() == 5


def test_wraps_decorator_runs_new_inner_body(files: ModuleFiles, reloader: Reloader) -> None:
    name = files.name("deco")
    source = """
        import functools

        def logged(func):
            @functools.wraps(func)
            def wrapper(*args):
                return ("logged", func(*args))
            return wrapper

        @logged
        def work(x):
            return x + {delta}
        """
    m = files.load(name, source.format(delta=1))
    reloader.discover()
    old = m.work
    files.write(name, source.format(delta=100))
    check(reloader)
    assert old(1) == ("logged", 101)
    assert m.work is old


def test_lru_cache_is_cleared_and_identity_kept(files: ModuleFiles, reloader: Reloader) -> None:
    name = files.name("cache")
    source = """
        import functools

        @functools.lru_cache(maxsize=None)
        def value(x):
            return x * {k}
        """
    m = files.load(name, source.format(k=2))
    reloader.discover()
    old = m.value
    assert old(3) == 6
    files.write(name, source.format(k=10))
    check(reloader)
    assert m.value is old
    assert old(3) == 30


def test_class_attribute_added_and_removed(files: ModuleFiles, reloader: Reloader) -> None:
    name = files.name("attrs")
    m = files.load(name, "class K:\n    a = 1\n    b = 2\n")
    reloader.discover()
    K = m.K
    files.write(name, "class K:\n    a = 10\n    c = 3\n")
    check(reloader)
    assert K.a == 10
    assert K.c == 3
    assert not hasattr(K, "b")


def test_property_setter_added(files: ModuleFiles, reloader: Reloader) -> None:
    name = files.name("prop")
    m = files.load(
        name,
        """
        class P:
            def __init__(self):
                self._v = 1
            @property
            def v(self):
                return self._v
        """,
    )
    reloader.discover()
    p = m.P()
    files.write(
        name,
        """
        class P:
            def __init__(self):
                self._v = 1
            @property
            def v(self):
                return self._v * 10
            @v.setter
            def v(self, value):
                self._v = value
        """,
    )
    check(reloader)
    p.v = 7
    assert p.v == 70


def test_dataclass_gains_field_with_default(files: ModuleFiles, reloader: Reloader) -> None:
    name = files.name("dc")
    m = files.load(
        name,
        """
        from dataclasses import dataclass

        @dataclass
        class Point:
            x: int
            y: int
        """,
    )
    reloader.discover()
    Point = m.Point
    old = m.Point(1, 2)
    files.write(
        name,
        """
        from dataclasses import dataclass

        @dataclass
        class Point:
            x: int
            y: int
            z: int = 0
        """,
    )
    check(reloader)
    assert m.Point is Point
    assert Point(1, 2, 3).z == 3
    assert repr(old) == "Point(x=1, y=2, z=0)"
    assert old == Point(1, 2)


def test_bases_change_replaces_class_and_moves_instances(
    files: ModuleFiles, reloader: Reloader
) -> None:
    name = files.name("bases")
    m = files.load(
        name,
        """
        class Mixin:
            def extra(self):
                return "mixin"

        class S:
            def who(self):
                return "old"
        """,
    )
    reloader.discover()
    old_cls = m.S
    s = m.S()
    files.write(
        name,
        """
        class Mixin:
            def extra(self):
                return "mixin"

        class S(Mixin):
            def who(self):
                return "new"
        """,
    )
    report = reloader.check()
    assert not report.failed
    assert m.S is not old_cls
    assert "its base classes changed; 1 old object moved to the new class" in str(
        report.reloaded[0]
    )
    assert type(s) is m.S
    assert s.who() == "new"
    assert s.extra() == "mixin"


def test_slots_change_reports_instances_that_cannot_move(
    files: ModuleFiles, reloader: Reloader
) -> None:
    name = files.name("slots")
    m = files.load(name, "class S:\n    def who(self):\n        return 'old'\n")
    reloader.discover()
    s = m.S()
    files.write(
        name, "class S:\n    __slots__ = ('x',)\n    def who(self):\n        return 'new'\n"
    )
    report = reloader.check()
    assert not report.failed
    line = str(report.reloaded[0])
    # Plain words: what happened to the old object, why, and what to do.
    assert (
        "replaced S (its __slots__ changed; 1 old S object keeps the old class: its __slots__ "
        "changed, so Python cannot move it; recreate it)"
    ) in line
    # The old instance keeps working with its old class rather than being corrupted.
    assert s.who() == "old"
    assert m.S().who() == "new"


def test_enum_gains_member(files: ModuleFiles, reloader: Reloader) -> None:
    name = files.name("enum")
    m = files.load(name, "import enum\nclass Color(enum.Enum):\n    RED = 1\n")
    reloader.discover()
    files.write(name, "import enum\nclass Color(enum.Enum):\n    RED = 1\n    BLUE = 2\n")
    check(reloader)
    assert m.Color.BLUE.value == 2


def test_deleted_names_disappear(files: ModuleFiles, reloader: Reloader) -> None:
    name = files.name("dele")
    m = files.load(name, "A = 1\ndef f():\n    return 1\nclass C:\n    pass\n")
    reloader.discover()
    files.write(name, "A = 1\n")
    report = reloader.check()
    assert not hasattr(m, "f")
    assert not hasattr(m, "C")
    assert report.reloaded[0].removed == ("C", "f")


def test_unchanged_side_effects_do_not_repeat(files: ModuleFiles, reloader: Reloader) -> None:
    name = files.name("state")
    tracker = files.name("tracker")
    files.write(tracker, "RUNS = []\n")
    source = """
        from {tracker} import RUNS
        RUNS.append("data")
        DATA = [1, 2, 3]
        THRESHOLD = {threshold}
        RUNS.append("limits")
        LIMITS = [x * THRESHOLD for x in DATA]

        def compute():
            return sum(LIMITS)
        """
    m = files.load(name, source.format(tracker=tracker, threshold=0.5))
    reloader.discover()
    runs = sys.modules[tracker].RUNS
    data = m.DATA
    files.write(name, source.format(tracker=tracker, threshold=2))
    report = reloader.check()
    assert not report.failed
    assert report.reloaded[0].mode == "statements"
    assert report.reloaded[0].reran == (
        "L5: THRESHOLD = 2",
        "L7: LIMITS = [x * THRESHOLD for x in DATA]",
    )
    assert m.compute() == 12
    assert runs == ["data", "limits"]
    assert m.DATA is data


def test_changed_mutating_statement_reruns_whole_module(
    files: ModuleFiles, reloader: Reloader
) -> None:
    name = files.name("mut")
    tracker = files.name("tracker3")
    files.write(tracker, "RUNS = []\n")
    source = """
        from {tracker} import RUNS
        RUNS.append("{label}")
        TOKEN = object()
        """
    m = files.load(name, source.format(tracker=tracker, label="a"))
    reloader.discover()
    token = m.TOKEN
    files.write(name, source.format(tracker=tracker, label="b"))
    report = reloader.check()
    assert not report.failed
    assert report.reloaded[0].mode.startswith("whole module: line 3")
    assert sys.modules[tracker].RUNS == ["a", "b"]
    assert m.TOKEN is not token


def test_only_affected_statements_rerun(files: ModuleFiles, reloader: Reloader) -> None:
    name = files.name("sel")
    tracker = files.name("track2")
    files.write(tracker, "COUNT = {'data': 0, 'limits': 0}\n")
    source = """
        import {tracker} as t

        def load_big_file():
            t.COUNT["data"] += 1
            return [1, 2, 3]

        def compute(threshold):
            t.COUNT["limits"] += 1
            return [x * threshold for x in DATA]

        DATA = load_big_file()
        THRESHOLD = {threshold}
        LIMITS = compute(THRESHOLD)
        """
    m = files.load(name, source.format(tracker=tracker, threshold=0.5))
    reloader.discover()
    count = sys.modules[tracker].COUNT
    data = m.DATA
    files.write(name, source.format(tracker=tracker, threshold=2))
    report = reloader.check()
    assert not report.failed
    assert report.reloaded[0].mode == "statements"
    assert count == {"data": 1, "limits": 2}
    assert m.DATA is data
    assert m.LIMITS == [2, 4, 6]


def test_tracebacks_and_getsource_follow_moved_function(
    files: ModuleFiles, reloader: Reloader
) -> None:
    name = files.name("lines")
    m = files.load(name, "def boom():\n    raise ValueError('x')\n")
    reloader.discover()
    old = m.boom
    files.write(name, "# one\n# two\n# three\n\ndef boom():\n    raise ValueError('x')\n")
    check(reloader)
    assert old.__code__.co_firstlineno == 5
    with pytest.raises(ValueError, match="x") as info:
        old()
    frames = traceback.extract_tb(info.value.__traceback__)
    assert frames[-1].lineno == 6
    assert frames[-1].line == "raise ValueError('x')"
    assert inspect.getsource(old).startswith("def boom():")


def test_changed_function_reports_new_line(files: ModuleFiles, reloader: Reloader) -> None:
    name = files.name("lines2")
    m = files.load(name, "def boom():\n    raise ValueError('a')\n")
    reloader.discover()
    old = m.boom
    files.write(name, "\n\n\ndef boom():\n    x = 1\n    raise ValueError('b')\n")
    check(reloader)
    with pytest.raises(ValueError, match="b") as info:
        old()
    assert traceback.extract_tb(info.value.__traceback__)[-1].lineno == 6
    assert "raise ValueError('b')" in inspect.getsource(old)


def test_abc_gains_abstract_method(files: ModuleFiles, reloader: Reloader) -> None:
    name = files.name("abcm")
    m = files.load(
        name,
        """
        import abc
        class Shape(abc.ABC):
            @abc.abstractmethod
            def area(self): ...
        class Square(Shape):
            def area(self):
                return 1
        """,
    )
    reloader.discover()
    files.write(
        name,
        """
        import abc
        class Shape(abc.ABC):
            @abc.abstractmethod
            def area(self): ...
            @abc.abstractmethod
            def perimeter(self): ...
        class Square(Shape):
            def area(self):
                return 1
            def perimeter(self):
                return 4
        """,
    )
    check(reloader)
    assert m.Shape.__abstractmethods__ == frozenset({"area", "perimeter"})
    assert m.Square().perimeter() == 4


def test_async_and_generator_functions(files: ModuleFiles, reloader: Reloader) -> None:
    import asyncio

    name = files.name("gen")
    m = files.load(name, "def g():\n    yield 1\nasync def a():\n    return 1\n")
    reloader.discover()
    g, a = m.g, m.a
    files.write(name, "def g():\n    yield 2\n    yield 3\nasync def a():\n    return 2\n")
    check(reloader)
    assert list(g()) == [2, 3]
    assert asyncio.run(a()) == 2


def test_forced_reload_reruns_whole_module(files: ModuleFiles, reloader: Reloader) -> None:
    name = files.name("force")
    m = files.load(name, "import random\nTOKEN = object()\n")
    reloader.discover()
    token = m.TOKEN
    report = reloader.check([name])
    assert not report.failed
    assert m.TOKEN is not token
    with pytest.raises(KeyError):
        reloader.check(["not_a_watched_module"])


def test_from_imported_constants_follow_the_reload(files: ModuleFiles, reloader: Reloader) -> None:
    config, user = files.name("config"), files.name("consumer")
    pkg = files.name("rel")
    files.write(config, "THRESHOLD = 0.5\nNAME = 'a'\n")
    files.package(pkg)
    files.write(f"{pkg}.settings", "LIMIT = 10\n")
    m_rel = files.load(f"{pkg}.use", "from .settings import LIMIT as L\n")
    m_user = files.load(
        user,
        f"from {config} import THRESHOLD, NAME as ALIAS\n"
        "OTHER = 0.5\n"
        "def get():\n    return THRESHOLD\n",
    )
    reloader.discover()
    # A name the importing module has since reassigned is left alone.
    m_user.ALIAS = "mine"  # type: ignore[attr-defined]  # typeshed's ModuleType is read-only
    files.write(config, "THRESHOLD = 0.75\nNAME = 'b'\n")
    files.write(f"{pkg}.settings", "LIMIT = 20\n")
    report = reloader.check()
    assert not report.failed
    assert m_user.THRESHOLD == 0.75
    assert m_user.get() == 0.75
    assert m_user.ALIAS == "mine"
    assert m_rel.L == 20
    by_module = {r.module: r for r in report.reloaded}
    assert by_module[config].rebound == (f"THRESHOLD in {user}",)
    assert by_module[f"{pkg}.settings"].rebound == (f"L in {pkg}.use",)


def test_identity_alone_does_not_rebind(files: ModuleFiles, reloader: Reloader) -> None:
    # Small ints are shared by the interpreter: `N = 5` elsewhere is the same object as m.N.
    source, other = files.name("src5"), files.name("other5")
    files.write(source, "N = 5\n")
    m_other = files.load(other, "N = 5\n")
    files.load(source)
    reloader.discover()
    files.write(source, "N = 6\n")
    check(reloader)
    assert m_other.N == 5


def test_rebinding_an_alias_never_corrupts_the_original(
    files: ModuleFiles, reloader: Reloader
) -> None:
    # IPython's autoreload patches foo with bar's code here (ipython/ipython#14944).
    name = files.name("alias")
    source = """
        def foo():
            return "foo"

        def bar():
            return "bar"

        class A:
            pass

        class B:
            pass

        f = {f}
        Default = {cls}
        """
    m = files.load(name, source.format(f="foo", cls="A"))
    reloader.discover()
    foo, a = m.foo, m.A
    files.write(name, source.format(f="bar", cls="B"))
    check(reloader)
    assert foo() == "foo"
    assert m.foo() == "foo"
    assert m.f is m.bar
    assert m.A is a
    assert m.Default is m.B
    assert m.A.__name__ == "A"


def test_decorator_from_another_module_keeps_identity(
    files: ModuleFiles, reloader: Reloader
) -> None:
    deco, user = files.name("decos"), files.name("decorated")
    files.write(
        deco,
        """
        import functools

        def logged(func):
            @functools.wraps(func)
            def wrapper(*args):
                return ("logged", func(*args))
            return wrapper
        """,
    )
    source = """
        from {deco} import logged

        @logged
        def work(x):
            return x + {delta}
        """
    m = files.load(user, source.format(deco=deco, delta=1))
    reloader.discover()
    old = m.work
    callbacks = [m.work]
    files.write(user, source.format(deco=deco, delta=100))
    check(reloader)
    assert m.work is old
    assert callbacks[0](1) == ("logged", 101)


def test_singledispatch_registrations_follow_the_edit(
    files: ModuleFiles, reloader: Reloader
) -> None:
    name = files.name("dispatch")
    source = """
        import functools

        @functools.singledispatch
        def show(x):
            return "default"

        @show.register
        def _(x: int):
            return "{label}"
        """
    m = files.load(name, source.format(label="int v1"))
    reloader.discover()
    old = m.show
    files.write(name, source.format(label="int v2"))
    check(reloader)
    assert m.show is old
    assert old(1) == "int v2"
    assert old("s") == "default"


def test_report_names_members_and_reasons(files: ModuleFiles, reloader: Reloader) -> None:
    name = files.name("rep")
    files.load(name, "class C:\n    def a(self):\n        return 1\n")
    reloader.discover()
    files.write(
        name, "class C:\n    def a(self):\n        return 1\n    def b(self):\n        return 2\n"
    )
    report = reloader.check()
    assert str(report.reloaded[0]) == f"hotreload: reloaded {name}: added C.b"
    report = reloader.check([name])
    assert report.reloaded[0].mode == (
        "whole module: a reload of the whole module was requested (%hotreload now MODULE)"
    )
    files.write(name, "__hotreload_full__ = True\nclass C:\n    pass\n")
    report = reloader.check()
    assert report.reloaded[0].mode == "whole module: the module sets __hotreload_full__ = True"


def test_from_imports_of_names_sharing_one_old_object(
    files: ModuleFiles, reloader: Reloader
) -> None:
    # X and Y start as the same (cached small int) object; each import must follow its own name.
    config, user = files.name("shared"), files.name("sharer")
    files.write(config, "X = 0\nY = 0\n")
    m_user = files.load(user, f"from {config} import X\nfrom {config} import Y as WHY\n")
    reloader.discover()
    files.write(config, "X = 1\nY = 2\n")
    check(reloader)
    assert m_user.X == 1
    assert m_user.WHY == 2


def test_class_header_keeps_decorators_bases_and_keywords_apart() -> None:
    # `@d class C(B)` and `class C(d, B)` list the same expressions in different roles.
    import ast

    from hotreload_ext._diff import _header

    def header(source: str) -> tuple[object, ...]:
        node = ast.parse(source).body[0]
        assert isinstance(node, ast.ClassDef)
        return _header(node)

    assert header("@d\nclass C(B): pass") != header("class C(d, B): pass")
    assert header("class C(B, metaclass=M): pass") != header("@M\nclass C(B): pass")
    assert header("@d\nclass C(B): x = 1") == header("@d\nclass C(B): y = 2")


def test_subclass_in_another_module_follows_a_replaced_base(
    files: ModuleFiles, reloader: Reloader
) -> None:
    base_name, user_name = files.name("rbase"), files.name("ruser")
    base = files.load(base_name, "class Base:\n    def hello(self):\n        return 'v1'\n")
    user = files.load(
        user_name,
        f"from {base_name} import Base\n\nclass Remote(Base):\n    pass\n",
    )
    reloader.discover()
    remote = user.Remote()
    files.write(
        base_name,
        """
        class Mixin:
            def mixed(self):
                return "mixin"

        class Base(Mixin):
            def hello(self):
                return "v2"
        """,
    )
    report = reloader.check()
    assert not report.failed
    assert user.Remote.__bases__ == (base.Base,)
    assert remote.hello() == "v2"
    assert remote.mixed() == "mixin"
    assert isinstance(remote, base.Base)
    assert "subclasses now based on the new class: Remote" in str(report.reloaded[0])


def test_parenthesized_from_imports_follow_every_edit(
    files: ModuleFiles, reloader: Reloader
) -> None:
    # The import statement spans lines; the name is not on the line that says `import`.
    config, user = files.name("wide"), files.name("widener")
    files.write(config, "PAIR = (1, 2)\nOTHER = 'x'\n")
    m_user = files.load(user, f"from {config} import (\n    OTHER,\n    PAIR as P,\n)\n")
    reloader.discover()
    for version in range(3, 6):
        # Later edits find the importer's import table again (cached by its source's hash).
        files.write(config, f"PAIR = (1, {version})\nOTHER = 'x'\n")
        check(reloader)
        expected = (1, version)
        assert expected == m_user.P
    # The importer itself changes: its imports are read again from the new source.
    files.write(user, f"from {config} import PAIR as Q\n")
    check(reloader)
    files.write(config, "PAIR = (1, 9)\nOTHER = 'x'\n")
    check(reloader)
    assert m_user.Q == (1, 9)
