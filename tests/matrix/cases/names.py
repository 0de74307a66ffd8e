"""Cases for names: ``from m import NAME`` rebinding, reassigned names, new and deleted names."""

from __future__ import annotations

from tests.matrix.case import case
from tests.matrix.cases import rows

CASES = (
    case(
        "from-import-constants",
        rows.FROM_IMPORTS,
        [
            {
                "mx": 'LIMIT = 10\nNAMES = ("a",)\nSETTINGS = {"debug": False}\n',
                "mx_user": """
                from mx import LIMIT, SETTINGS

                def get_limit():
                    return LIMIT
                """,
            },
            {"mx": 'LIMIT = 20\nNAMES = ("a", "b")\nSETTINGS = {"debug": True}\n'},
        ],
        hold="""
            import mx, mx_user
            from mx import LIMIT, NAMES
            from mx import SETTINGS as settings
        """,
        checks=[
            """
            assert LIMIT == 10 and NAMES == ("a",)
            assert settings == {"debug": False}
            assert mx_user.LIMIT == 10 and mx_user.get_limit() == 10
            """,
            """
            assert mx.LIMIT == 20
            assert LIMIT == 20
            assert NAMES == ("a", "b")
            assert settings == {"debug": True}
            assert mx_user.LIMIT == 20
            assert mx_user.get_limit() == 20
            assert mx_user.SETTINGS is mx.SETTINGS
            """,
        ],
    ),
    case(
        "reassigned-name-left-alone",
        rows.REASSIGNED,
        [
            {"mx": "LIMIT = 10\nRATE = 1.5\ndef f():\n    return 1\n"},
            {"mx": "LIMIT = 20\nRATE = 2.5\ndef f():\n    return 2\n"},
        ],
        hold="""
            import mx
            from mx import LIMIT, RATE, f
            LIMIT = 99
            f = len
        """,
        checks=[
            """
            assert LIMIT == 99 and RATE == 1.5
            assert f is len
            """,
            """
            assert LIMIT == 99
            assert f is len
            assert RATE == 2.5
            assert mx.LIMIT == 20
            """,
        ],
    ),
    case(
        "new-and-deleted-names",
        rows.NEW_DELETED,
        [
            {
                "mx": """
                X = 1

                def a():
                    return 1

                def b():
                    return 2

                class C:
                    pass
                """
            },
            {
                "mx": """
                Y = 2

                def a():
                    return 1

                def c():
                    return 3

                class D:
                    pass
                """
            },
        ],
        hold="""
            import mx
        """,
        checks=[
            """
            assert mx.X == 1 and mx.b() == 2 and mx.C
            for name in ("Y", "c", "D"):
                assert not hasattr(mx, name), name
            """,
            """
            assert mx.Y == 2 and mx.c() == 3 and mx.D
            for name in ("X", "b", "C"):
                assert not hasattr(mx, name), name
            from mx import c
            assert c() == 3
            """,
        ],
    ),
)
