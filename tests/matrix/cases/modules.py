"""Cases for module layouts: packages, relative and circular imports, new and deleted files."""

from __future__ import annotations

from tests.matrix.case import case
from tests.matrix.cases import rows

CASES = (
    case(
        "package-reexport",
        rows.PACKAGES,
        [
            {
                "mx_pkg.__init__": """
                from .core import VERSION, compute

                __all__ = ["VERSION", "compute"]
                """,
                "mx_pkg.core": "VERSION = 1\n\ndef compute(x):\n    return x + 1\n",
            },
            {"mx_pkg.core": "VERSION = 2\n\ndef compute(x):\n    return x + 2\n"},
        ],
        hold="""
            import mx_pkg
            from mx_pkg import compute, VERSION
            old_compute = mx_pkg.compute
        """,
        checks=[
            """
            assert compute(1) == 2 and VERSION == 1
            assert mx_pkg.VERSION == 1
            """,
            """
            assert mx_pkg.core.compute(1) == 3
            assert mx_pkg.compute(1) == 3
            assert compute(1) == 3
            assert old_compute(1) == 3
            assert mx_pkg.core.VERSION == 2
            assert mx_pkg.VERSION == 2
            assert VERSION == 2
            """,
        ],
    ),
    case(
        "relative-imports",
        rows.RELATIVE,
        [
            {
                "mx_pkg.__init__": "",
                "mx_pkg.a": """
                from . import b
                from .b import helper

                def run():
                    return helper() + b.helper()
                """,
                "mx_pkg.b": "def helper():\n    return 1\n",
            },
            {
                "mx_pkg.a": """
                from . import b
                from .b import helper

                def run():
                    return helper() * 10 + b.helper()
                """,
                "mx_pkg.b": "def helper():\n    return 2\n",
            },
        ],
        hold="""
            import mx_pkg.a
            from mx_pkg.a import run
        """,
        checks=[
            """
            assert run() == 2
            """,
            """
            assert run() == 22
            assert mx_pkg.a.run() == 22
            assert mx_pkg.a.helper is mx_pkg.b.helper
            """,
        ],
    ),
    case(
        "namespace-package",
        rows.NAMESPACE,
        [
            {"mx_ns.mod": "def f():\n    return 1\n"},
            {"mx_ns.mod": "def f():\n    return 2\n\ndef g():\n    return 'g'\n"},
        ],
        hold="""
            import mx_ns.mod
            from mx_ns.mod import f
        """,
        checks=[
            """
            assert f() == 1
            assert not hasattr(mx_ns, "__file__") or mx_ns.__file__ is None
            """,
            """
            assert f() == 2
            assert mx_ns.mod.g() == "g"
            """,
        ],
    ),
    case(
        "circular-imports",
        rows.CIRCULAR,
        [
            {
                "mx_a": """
                import mx_b

                def a():
                    return "a1"

                def use_b():
                    return mx_b.b()
                """,
                "mx_b": """
                import mx_a

                def b():
                    return "b1"

                def use_a():
                    return mx_a.a()
                """,
            },
            {
                "mx_a": """
                import mx_b

                def a():
                    return "a2"

                def use_b():
                    return "via a: " + mx_b.b()
                """,
                "mx_b": """
                import mx_a

                def b():
                    return "b2"

                def use_a():
                    return "via b: " + mx_a.a()
                """,
            },
        ],
        hold="""
            import mx_a, mx_b
            from mx_a import use_b
            from mx_b import use_a
        """,
        checks=[
            """
            assert use_b() == "b1"
            assert use_a() == "a1"
            """,
            """
            assert use_b() == "via a: b2"
            assert use_a() == "via b: a2"
            assert mx_a.mx_b is mx_b and mx_b.mx_a is mx_a
            """,
        ],
    ),
    case(
        "new-sibling-module",
        rows.NEW_SIBLING,
        [
            {
                "mx_pkg.__init__": "",
                "mx_pkg.main": 'def run():\n    return "no helper"\n',
            },
            {
                "mx_pkg.helper": 'def assist():\n    return "helped"\n',
                "mx_pkg.main": """
                from .helper import assist

                def run():
                    return assist()
                """,
            },
            {"mx_pkg.helper": 'def assist():\n    return "helped v3"\n'},
        ],
        hold="""
            import mx_pkg.main
            from mx_pkg.main import run
        """,
        checks=[
            """
            assert run() == "no helper"
            """,
            """
            assert run() == "helped"
            assert mx_pkg.main.run() == "helped"
            """,
            """
            assert run() == "helped v3"
            assert mx_pkg.helper.assist() == "helped v3"
            """,
        ],
        steps=(1, 2, 0),
        note="v2 creates `helper.py` and imports it; v3 edits the new module; v1 deletes it.",
    ),
    case(
        "module-created-after-load",
        rows.NEW_MODULE,
        [
            {"mx": "def f():\n    return 1\n"},
            {"mx_late": 'def g():\n    return "late v2"\n'},
            {"mx_late": 'def g():\n    return "late v3"\n'},
        ],
        hold="""
            import mx
        """,
        checks=[
            """
            assert mx.f() == 1
            """,
            """
            import mx_late
            from mx_late import g
            old_g = mx_late.g
            assert g() == "late v2"
            """,
            """
            assert mx_late.g() == "late v3"
            assert g() == "late v3"
            assert old_g() == "late v3"
            """,
        ],
        steps=(1, 2),
        note="The file is created after the session started; a cell imports it, then it changes.",
    ),
    case(
        "coding-cookie",
        rows.COOKIE,
        [
            {
                "mx": (
                    b"# -*- coding: latin-1 -*-\n"
                    b'GREETING = "caf\xe9"\n\n'
                    b"def greet():\n"
                    b'    return GREETING + " v1"\n'
                )
            },
            {
                "mx": (
                    b"# -*- coding: latin-1 -*-\n"
                    b'GREETING = "na\xefve"\n\n'
                    b"def greet():\n"
                    b'    return GREETING + " v2"  # \xe9dit\xe9\n'
                )
            },
        ],
        hold="""
            import inspect
            import mx
            from mx import greet, GREETING
        """,
        checks=[
            """
            assert greet() == "caf\\u00e9 v1"
            assert GREETING == "caf\\u00e9"
            """,
            """
            assert greet() == "na\\u00efve v2"
            assert mx.GREETING == "na\\u00efve"
            assert GREETING == "na\\u00efve"
            assert "\\u00e9dit\\u00e9" in inspect.getsource(greet)
            """,
        ],
    ),
    case(
        "file-deleted",
        rows.NO_SOURCE,
        [
            {"mx": "def f():\n    return 1\n"},
            {"mx": None},
            {"mx": "def f():\n    return 3\n"},
        ],
        hold="""
            import mx
            from mx import f
        """,
        checks=[
            """
            assert f() == 1
            """,
            """
            assert f() == 1 and mx.f() == 1
            said = [line for line in matrix.out.splitlines() if "mx" in line]
            assert len(said) == 1 and "deleted" in said[0], matrix.out
            assert matrix.out_next == "", matrix.out_next
            """,
            """
            assert f() == 3
            assert mx.f() == 3
            """,
        ],
        steps=(1, 2),
        expect_failure=True,
        note="The old code keeps running; one message when the file goes, none after.",
    ),
    case(
        "module-without-source",
        rows.NO_SOURCE,
        [
            {"mx": "def f():\n    return 1\n", "mx_compiled_src": "def h():\n    return 'h'\n"},
            {"mx": "def f():\n    return 2\n"},
        ],
        hold="""
            import importlib, py_compile
            source = matrix.path("mx_compiled_src")
            compiled = source.with_name("mx_compiled.pyc")
            py_compile.compile(str(source), cfile=str(compiled), doraise=True)
            importlib.invalidate_caches()
            import mx, mx_compiled
            assert type(mx_compiled.__loader__).__name__ == "SourcelessFileLoader"
        """,
        checks=[
            """
            assert mx_compiled.h() == "h" and mx.f() == 1
            said = [line for line in matrix.out.splitlines() if "mx_compiled" in line]
            assert len(said) == 1, matrix.out
            """,
            """
            assert mx.f() == 2
            assert mx_compiled.h() == "h"
            assert "mx_compiled" not in matrix.out + matrix.out_next
            """,
        ],
        steps=(1,),
        note="A module loaded from a `.pyc` with no `.py` next to it: one message, then silence.",
    ),
)
