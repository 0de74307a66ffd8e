"""Stage 3, the diff (``_diff.py``), called directly on parsed sources.

Statements are matched by their exact text, as a multiset; what is left over is changed (new
side) or removed (old side), and names no new statement binds are deleted.
"""

from __future__ import annotations

import ast
import textwrap

import pytest

from hotreload_ext._diff import ModuleDiff, diff_sources, header_key, match_statements
from hotreload_ext._source import ParsedSource, parse_source


def parse(text: str) -> ParsedSource:
    return parse_source(textwrap.dedent(text), "mod.py")


def diff(old: str, new: str) -> ModuleDiff:
    return diff_sources(parse(old), parse(new))


def changed_texts(result: ModuleDiff) -> list[str]:
    return [result.new.statements[i].text for i in sorted(result.changed)]


def node(text: str) -> ast.stmt:
    return ast.parse(textwrap.dedent(text)).body[0]


# --- match_statements ----------------------------------------------------------------------------
def test_identical_sources_match_completely() -> None:
    source = parse("A = 1\nB = 2\n")
    assert match_statements(source.statements, source.statements) == ([], [], [])


def test_a_changed_statement_is_changed_on_the_new_side_and_removed_on_the_old() -> None:
    old, new = parse("A = 1\nB = 2\n"), parse("A = 1\nB = 3\n")
    changed, moved, removed = match_statements(old.statements, new.statements)
    assert changed == [1]
    assert moved == []
    assert [s.text for s in removed] == ["B = 2"]


def test_lines_inserted_above_move_the_statements_below() -> None:
    old = parse("A = 1\nB = 2\nC = 3\n")
    new = parse("A = 1\n\n\nNEW = 0\nB = 2\nC = 3\n")
    changed, moved, removed = match_statements(old.statements, new.statements)
    assert changed == [1]
    assert moved == [(2, 3), (3, 3)]
    assert removed == []


def test_lines_deleted_above_move_statements_up() -> None:
    old = parse("A = 1\n\n\nB = 2\n")
    new = parse("A = 1\nB = 2\n")
    assert match_statements(old.statements, new.statements) == ([], [(1, -2)], [])


def test_identical_statements_match_one_to_one() -> None:
    old = parse("print()\nprint()\n")
    new = parse("print()\nprint()\nprint()\n")
    changed, moved, removed = match_statements(old.statements, new.statements)
    # Two of the three new calls are the old ones; the third is new.
    assert changed == [2]
    assert moved == []
    assert removed == []


def test_one_of_two_identical_statements_removed() -> None:
    old = parse("print()\nX = 1\nprint()\n")
    new = parse("print()\nX = 1\n")
    changed, moved, removed = match_statements(old.statements, new.statements)
    assert changed == []
    assert moved == []
    assert [s.text for s in removed] == ["print()"]


def test_the_removed_one_of_two_identical_statements_is_the_unmatched_one() -> None:
    old = parse("print()\nX = 1\nprint()\n")
    new = parse("print()\nX = 1\n")
    _, _, removed = match_statements(old.statements, new.statements)
    assert [s.lineno for s in removed] == [3]


def test_identical_statements_pair_in_order_for_the_moved_delta() -> None:
    old = parse("print()\nprint()\n")
    new = parse("X = 1\nprint()\n\nprint()\n")
    changed, moved, _ = match_statements(old.statements, new.statements)
    assert changed == [0]
    assert moved == [(1, 1), (2, 2)]


def test_reformatting_a_statement_is_a_change() -> None:
    old, new = parse("X = [1, 2]\n"), parse("X = [1,2]\n")
    changed, _, removed = match_statements(old.statements, new.statements)
    assert changed == [0]
    assert len(removed) == 1


# --- diff_sources --------------------------------------------------------------------------------
def test_without_an_old_source_every_statement_is_changed() -> None:
    new = parse("A = 1\ndef f():\n    pass\n")
    result = diff_sources(None, new)
    assert result.changed == {0, 1}
    assert result.moved == ()
    assert result.removed == ()
    assert result.deleted_names == frozenset()
    assert result.old is None
    assert not result.is_empty


def test_diff_records_changed_moved_removed_and_deleted_names() -> None:
    result = diff(
        """\
        A = 1
        B = 2
        def gone():
            pass
        """,
        """\
        A = 1

        B = 3
        """,
    )
    assert changed_texts(result) == ["B = 3"]
    assert result.moved == ()
    assert [s.text for s in result.removed] == ["B = 2", "def gone():\n    pass"]
    assert result.deleted_names == {"gone"}
    assert not result.is_empty


def test_a_name_still_bound_by_another_statement_is_not_deleted() -> None:
    result = diff("X = 1\nY = 2\n", "X = 1\nY = X\n")
    assert result.deleted_names == frozenset()
    result = diff("def f():\n    pass\n", "f = print\n")
    assert result.deleted_names == frozenset()


def test_only_moved_statements_are_not_empty() -> None:
    result = diff("A = 1\n", "\n\nA = 1\n")
    assert result.changed == frozenset()
    assert result.moved == ((0, 2),)
    assert not result.is_empty


def test_an_unchanged_source_is_empty() -> None:
    result = diff("A = 1\n# comment\n", "A = 1\n# other comment\n")
    assert result.is_empty


def test_an_edit_after_a_form_feed_line_is_a_change() -> None:
    old = parse_source("x = 1\n\x0c\ny = 2\n", "mod.py")
    new = parse_source("x = 1\n\x0c\ny = 3\n", "mod.py")
    assert diff_sources(old, new).changed == {1}


# --- ModuleDiff.describe -------------------------------------------------------------------------
OLD_MODULE = """\
X = 1

class C:
    a = 1

    def m(self):
        return 1

    def gone(self):
        pass

def f():
    return 1

def g():
    pass
"""


def test_describe_names_class_members_as_class_dot_member() -> None:
    result = diff(
        OLD_MODULE,
        """\
        X = 1

        class C:
            a = 2

            def m(self):
                return 2

            def added(self):
                pass

        def f():
            return 2

        Y = 3
        """,
    )
    updated, added, removed = result.describe()
    assert updated == ["C.a", "C.m", "f"]
    assert added == ["C.added", "Y"]
    # A removed member reads like a removed module name.
    assert removed == ["g", "C.gone"]


def test_describe_a_class_whose_header_changed_by_its_name() -> None:
    result = diff(OLD_MODULE, OLD_MODULE.replace("class C:", "class C(Base):"))
    assert result.describe() == (["C"], [], [])


def test_describe_a_decorator_added_to_a_class_by_its_name() -> None:
    result = diff(OLD_MODULE, OLD_MODULE.replace("class C:", "@decorate\nclass C:"))
    assert result.describe() == (["C"], [], [])


def test_describe_a_class_that_only_lost_a_docstring_by_its_name() -> None:
    # Not "C.<body>": a member that binds nothing is no name the user knows.
    old = 'class C:\n    """Doc."""\n    a = 1\n'
    result = diff(old, "class C:\n    a = 1\n")
    assert result.describe() == (["C"], [], [])


def test_describe_a_class_whose_members_only_moved_by_its_name() -> None:
    result = diff("class C:\n    a = 1\n    b = 2\n", "class C:\n    a = 1\n\n    b = 2\n")
    assert result.describe() == (["C"], [], [])


def test_describe_a_new_class_as_added() -> None:
    result = diff("X = 1\n", "X = 1\nclass D:\n    a = 1\n")
    assert result.describe() == ([], ["D"], [])


def test_describe_without_an_old_source_adds_everything() -> None:
    result = diff_sources(None, parse("X = 1\nclass C:\n    pass\n"))
    assert result.describe() == ([], ["X", "C"], [])


def test_describe_lists_each_name_once() -> None:
    result = diff("X = 1\n", "X = 2\nX = 3\n")
    assert result.describe() == (["X"], [], [])


# --- deleted_definitions and counterpart ---------------------------------------------------------
def test_deleted_definitions_are_removed_defs_without_a_new_version() -> None:
    new = OLD_MODULE.replace("def g():\n    pass\n", "").replace("return 1\n\n", "return 2\n\n")
    result = diff(OLD_MODULE, new)
    # `f` and `C` changed (their new versions exist); only `g` is gone.
    assert len(result.removed) == 3
    assert [s.text for s in result.deleted_definitions()] == ["def g():\n    pass"]


def test_a_changed_definition_is_not_deleted() -> None:
    result = diff("def f():\n    return 1\n", "def f():\n    return 2\n")
    assert result.deleted_definitions() == []


def test_a_removed_plain_statement_is_not_a_deleted_definition() -> None:
    result = diff("X = 1\ndef f():\n    pass\n", "def f():\n    pass\n")
    assert result.deleted_definitions() == []


def test_of_two_old_definitions_of_one_name_the_one_not_continued_is_deleted() -> None:
    # The remaining definition continues the last one (the one the module bound).
    old = "def f():\n    return 1\n\ndef f():\n    return 2\n"
    result = diff(old, "def f():\n    return 3\n")
    assert [s.lineno for s in result.deleted_definitions()] == [1]


def test_a_def_replaced_by_a_class_of_the_same_name_is_deleted() -> None:
    result = diff("def f():\n    pass\n", "class f:\n    pass\n")
    assert [s.kind for s in result.deleted_definitions()] == ["def"]


def test_counterpart_is_the_old_version_of_a_changed_definition() -> None:
    result = diff(OLD_MODULE, OLD_MODULE.replace("return 1\n\ndef g", "return 2\n\ndef g"))
    (index,) = result.changed
    counterpart = result.counterpart(index)
    assert counterpart is not None
    assert counterpart.text == "def f():\n    return 1"


def test_counterpart_of_a_new_definition_or_a_plain_statement_is_none() -> None:
    result = diff("X = 1\n", "X = 2\ndef h():\n    pass\n")
    assert result.counterpart(0) is None
    assert result.counterpart(1) is None


def test_the_last_definition_of_a_name_continues_the_old_last_one() -> None:
    old = "def f():\n    return 1\n\ndef f():\n    return 2\n"
    result = diff(old, "def f():\n    return 3\n")
    counterpart = result.counterpart(0)
    assert counterpart is not None
    assert counterpart.lineno == 4


def test_same_named_handlers_are_matched_by_place_and_header() -> None:
    def handler(kind: str, body: str) -> str:
        return f"@show.register({kind})\ndef _(x):\n    return {body!r}\n\n"

    old = "X = 1\n\n" + handler("int", "i") + handler("str", "s") + handler("list", "l")
    # The int handler's body and the list handler's header change; a float handler is new.
    new = (
        "X = 1\n\n"
        + handler("int", "I")
        + handler("float", "f")
        + handler("str", "s")
        + handler("tuple", "l")
    )
    result = diff(old, new)
    assert sorted(result.changed) == [1, 2, 4]
    assert result.origin(1) == 1, "the int handler continues the int handler"
    assert result.origin(2) is None, "the float handler is new"
    assert result.origin(3) == 2, "the unchanged str handler is itself"
    assert result.origin(4) == 3, "the last handler continues the last one"
    assert result.deleted_definitions() == []


def test_counterpart_needs_the_same_kind() -> None:
    result = diff("def f():\n    pass\n", "class f:\n    pass\n")
    assert result.counterpart(0) is None


# --- header_key ----------------------------------------------------------------------------------
def test_header_key_ignores_the_body_and_docstring_of_a_function() -> None:
    before = node("@d\ndef f(a, b=1) -> int:\n    return a\n")
    after = node('@d\ndef f(a, b=1) -> int:\n    """Doc."""\n    return b\n')
    assert header_key(before) is not None
    assert header_key(before) == header_key(after)


@pytest.mark.parametrize(
    "edited",
    [
        "@e\ndef f(a, b=1) -> int:\n    return a\n",
        "def f(a, b=1) -> int:\n    return a\n",
        "@d\ndef f(a, b=2) -> int:\n    return a\n",
        "@d\ndef f(a, c=1) -> int:\n    return a\n",
        "@d\ndef f(a, b=1) -> str:\n    return a\n",
        "@d\ndef g(a, b=1) -> int:\n    return a\n",
        "@d\nasync def f(a, b=1) -> int:\n    return a\n",
    ],
)
def test_header_key_of_a_function_changes_with_its_header(edited: str) -> None:
    original = node("@d\ndef f(a, b=1) -> int:\n    return a\n")
    assert header_key(node(edited)) != header_key(original)


def test_header_key_ignores_the_body_of_a_class() -> None:
    before = node("@d\nclass C(B, metaclass=M):\n    a = 1\n")
    after = node("@d\nclass C(B, metaclass=M):\n    a = 2\n    def m(self):\n        pass\n")
    assert header_key(before) == header_key(after)


@pytest.mark.parametrize(
    "edited",
    [
        "class C(B, metaclass=M):\n    a = 1\n",
        "@d\nclass C(B):\n    a = 1\n",
        "@d\nclass C(B, A, metaclass=M):\n    a = 1\n",
        "@d\nclass D(B, metaclass=M):\n    a = 1\n",
        "@B\nclass C(d, metaclass=M):\n    a = 1\n",
    ],
)
def test_header_key_of_a_class_changes_with_its_header(edited: str) -> None:
    original = node("@d\nclass C(B, metaclass=M):\n    a = 1\n")
    assert header_key(node(edited)) != header_key(original)


def test_header_key_of_other_statements_is_none() -> None:
    assert header_key(node("X = 1\n")) is None
    assert header_key(node("import os\n")) is None
