"""Stage 2, the source model (``_source.py``), called directly.

Each test parses a small source string and checks the records the later stages rely on: the
statements and their text and lines, the names each binds, reads and uses, whether it defeats
static analysis, the ``from __future__`` flags, and the imports.
"""

from __future__ import annotations
import __future__

import ast
import textwrap

import pytest

from hotreload_ext._source import (
    STAR,
    ParsedSource,
    Statement,
    decode_source,
    from_imports,
    future_flags,
    imported_modules,
    parse_region,
    parse_source,
    resolve_import,
)

ANNOTATIONS = __future__.annotations.compiler_flag


def parse(text: str) -> ParsedSource:
    return parse_source(textwrap.dedent(text), "mod.py")


def only(text: str) -> Statement:
    """The one top-level statement of ``text``."""
    (statement,) = parse(text).statements
    return statement


# --- parse_source: statements --------------------------------------------------------------------
def test_each_top_level_statement_has_its_text_and_lines() -> None:
    source = parse(
        """\
        import os

        @decorate
        def f():
            return 1
        a = 1; b = 2
        """
    )
    assert [(s.text, s.lineno, s.end_lineno) for s in source.statements] == [
        ("import os", 1, 1),
        ("@decorate\ndef f():\n    return 1", 3, 5),
        ("a = 1", 6, 6),
        ("b = 2", 6, 6),
    ]
    assert [s.kind for s in source.statements] == ["statement", "def", "statement", "statement"]


def test_parsed_source_keeps_text_filename_and_whole_file_region() -> None:
    text = '"""Doc."""\nX = 1\n'
    source = parse_source(text, "pkg/mod.py")
    assert source.text == text
    assert source.filename == "pkg/mod.py"
    assert source.region is None
    assert source.docstring == "Doc."
    assert source.docstring_known
    assert source.bound_names() == {"X"}
    assert source.compile_flags == 0


def test_the_same_text_has_the_same_digest() -> None:
    assert parse("X = 1\n").digest == parse("X = 1\n").digest
    assert parse("X = 1\n").digest != parse("X = 2\n").digest


def test_a_source_that_does_not_parse_raises_a_syntax_error_naming_file_and_line() -> None:
    with pytest.raises(SyntaxError) as info:
        parse_source("X = 1\ndef f(:\n", "broken.py")
    assert info.value.filename == "broken.py"
    assert info.value.lineno == 2


def test_comments_inside_a_statement_belong_to_its_text_and_those_between_do_not() -> None:
    source = parse(
        """\
        # leading comment
        X = [
            1,  # inner comment
        ]
        # trailing comment
        """
    )
    (statement,) = source.statements
    assert statement.text == "X = [\n    1,  # inner comment\n]"


def test_text_of_a_statement_after_non_ascii_text_on_its_line() -> None:
    source = parse_source("s = 'é'; t = 'ü'\n", "mod.py")
    assert [s.text for s in source.statements] == ["s = 'é'", "t = 'ü'"]


def test_a_form_feed_line_does_not_shift_the_text_of_later_statements() -> None:
    source = parse_source("x = 1\n\x0c\ny = 2\nz = 3\n", "mod.py")
    assert [s.text for s in source.statements] == ["x = 1", "y = 2", "z = 3"]


# --- parse_source: binds, reads, uses ------------------------------------------------------------
def test_assignment_binds_its_targets_and_reads_its_value() -> None:
    statement = only("A, (B, C) = X + Y\n")
    assert statement.binds == {"A", "B", "C"}
    assert statement.reads == {"X", "Y"}
    assert not statement.is_dynamic


def test_augmented_assignment_to_a_name_reads_and_binds_it() -> None:
    statement = only("N += STEP\n")
    assert statement.binds == {"N"}
    assert statement.reads == {"N", "STEP"}
    assert not statement.is_dynamic


def test_imports_bind_the_top_name_or_the_alias() -> None:
    assert only("import os.path\n").binds == {"os"}
    assert only("import os.path as osp, sys\n").binds == {"osp", "sys"}
    assert only("from a.b import c as d, e\n").binds == {"d", "e"}


def test_del_binds_and_uses_the_name() -> None:
    statement = only("del X\n")
    assert statement.binds == {"X"}
    assert statement.reads == {"X"}
    assert statement.uses == {"X"}


def test_walrus_binds_its_target_at_module_level() -> None:
    statement = only("if (n := compute()) > 5:\n    pass\n")
    assert statement.binds == {"n"}
    assert statement.reads == {"compute"}


def test_except_and_match_names_are_bound() -> None:
    assert "err" in only("try:\n    pass\nexcept E as err:\n    pass\n").binds
    statement = only(
        """\
        match V:
            case [x, *rest]:
                pass
            case {"k": y, **others}:
                pass
            case Point() as p:
                pass
        """
    )
    assert statement.binds == {"x", "rest", "y", "others", "p"}
    assert statement.reads == {"V", "Point"}


def test_a_name_only_passed_along_is_read_but_not_used() -> None:
    register = only("register(handler)\n")
    assert register.reads == {"register", "handler"}
    assert register.uses == {"register"}
    stored = only("HANDLERS = [handler, {key: value}]\n")
    assert stored.reads == {"handler", "key", "value"}
    assert stored.uses == set()
    alias = only("f = foo\n")
    assert alias.reads == {"foo"}
    assert alias.uses == set()


def test_a_name_called_inspected_or_computed_with_is_used() -> None:
    assert only("X = make()\n").uses == {"make"}
    assert only("X = obj.attr\n").uses == {"obj"}
    assert only("X = table[0]\n").uses == {"table"}
    assert only("X = N + 1\n").uses == {"N"}
    assert only("for item in ITEMS:\n    pass\n").uses == {"ITEMS"}


# --- parse_source: definitions -------------------------------------------------------------------
def test_def_reads_decorators_defaults_and_annotations_but_not_its_body() -> None:
    statement = only(
        """\
        @decorate(OPTION)
        def f(a: A = DEFAULT, *args: VA, k: K = KW, **kw: KWA) -> RETURNS:
            return BODY_GLOBAL
        """
    )
    assert statement.binds == {"f"}
    assert statement.reads == {"decorate", "OPTION", "A", "DEFAULT", "VA", "K", "KW", "KWA"} | {
        "RETURNS"
    }
    assert "BODY_GLOBAL" not in statement.reads
    assert statement.decorator_names == {"decorate"}
    assert statement.lineno == 1
    assert not statement.is_dynamic


def test_async_def_is_a_def() -> None:
    statement = only("async def f(x=D):\n    await BODY\n")
    assert statement.kind == "def"
    assert statement.binds == {"f"}
    assert statement.reads == {"D"}


def test_lambda_reads_its_defaults_but_not_its_body() -> None:
    statement = only("f = lambda x=DEFAULT: x + LATER\n")
    assert statement.binds == {"f"}
    assert statement.reads == {"DEFAULT"}


def test_class_reads_bases_keywords_decorators_and_its_body_but_not_method_bodies() -> None:
    statement = only(
        """\
        @dataclass
        class C(Base, metaclass=Meta):
            size = SIZE
            doubled = [v * 2 for v in VALUES]

            def method(self, d=DEFAULT):
                return METHOD_GLOBAL
        """
    )
    assert statement.kind == "class"
    assert statement.binds == {"C"}
    assert {"dataclass", "Base", "Meta", "SIZE", "VALUES", "DEFAULT"} <= statement.reads
    assert "METHOD_GLOBAL" not in statement.reads
    # Names a class body assigns live in the class, not in the module.
    assert not {"size", "doubled", "method", "v"} & statement.binds
    assert not statement.is_dynamic


def test_bases_of_a_class_are_read_but_not_used() -> None:
    statement = only("class C(Base, metaclass=Meta):\n    pass\n")
    assert {"Base", "Meta"} <= statement.reads
    assert not {"Base", "Meta"} & statement.uses


def test_comprehension_variables_do_not_leak() -> None:
    for text in [
        "X = [i * i for i in range(N)]\n",
        "X = {i for i in range(N)}\n",
        "X = {k: v for k, v in zip(range(N), range(N))}\n",
        "X = list(i for i in range(N))\n",
    ]:
        statement = only(text)
        assert statement.binds == {"X"}, text
        assert statement.reads & {"i", "k", "v"} == set(), text
        assert {"range", "N"} <= statement.reads, text


def test_walrus_inside_a_comprehension_binds_at_module_level() -> None:
    statement = only("X = [last := i for i in ITEMS]\n")
    assert statement.binds == {"X", "last"}
    assert statement.reads == {"ITEMS"}


def test_the_outermost_iterable_of_a_comprehension_is_read_in_the_module_scope() -> None:
    assert "items" in only("X = [items for items in items]\n").reads


# --- parse_source: statements that defeat static analysis ----------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        'CONFIG["debug"] = True\n',
        "obj.x = 1\n",
        "obj.n += 1\n",
        "CONFIG['n'] += 1\n",
        "obj.x: int = 1\n",
        "del CONFIG['k']\n",
        "REGISTRY.append(f)\n",
        'logger.setLevel("INFO")\n',
        "global g\n",
        "from m import *\n",
        'exec("X = 1")\n',
        'X = eval("1")\n',
        "X = globals()\n",
        "X = vars()\n",
        "X = locals()\n",
        'm = __import__("os")\n',
        'setattr(obj, "x", 1)\n',
        "class C:\n    global g\n",
    ],
)
def test_statement_is_dynamic(text: str) -> None:
    assert only(text).is_dynamic


@pytest.mark.parametrize(
    "text",
    [
        "X = 1\n",
        "N += 1\n",
        "print(X)\n",
        "register(handler)\n",
        "X = obj.method()\n",
        "def f():\n    CONFIG['k'] = 1\n    global g\n    exec('x')\n",
        "import os\n",
        "from m import a\n",
    ],
)
def test_statement_is_not_dynamic(text: str) -> None:
    assert not only(text).is_dynamic


@pytest.mark.parametrize(
    "text",
    [
        "for h in HANDLERS:\n    REGISTRY.append(h)\n",
        "if DEBUG:\n    CONFIG['k'] = 1\n",
        "with lock:\n    obj.x = 1\n",
    ],
)
def test_mutation_nested_in_a_compound_statement_is_dynamic(text: str) -> None:
    assert only(text).is_dynamic


# --- parse_region --------------------------------------------------------------------------------
REGION_FILE = textwrap.dedent(
    """\
    A = 1


    def f():
        return A


    def g():
        return 2
    """
)


def test_region_statements_carry_their_real_line_numbers() -> None:
    source = parse_region(REGION_FILE, "mod.py", 4, 9)
    assert source is not None
    assert source.region == (4, 9)
    assert [(s.text, s.lineno, s.end_lineno) for s in source.statements] == [
        ("def f():\n    return A", 4, 5),
        ("def g():\n    return 2", 8, 9),
    ]
    assert source.statements[0].node.lineno == 4
    # The whole text is kept; only the region was parsed.
    assert source.text == REGION_FILE


def test_a_region_that_does_not_start_at_line_one_does_not_know_the_docstring() -> None:
    text = '"""Doc."""\n' + REGION_FILE
    inner = parse_region(text, "mod.py", 5, 10)
    head = parse_region(text, "mod.py", 1, 2)
    assert inner is not None
    assert head is not None
    assert not inner.docstring_known
    assert head.docstring_known
    assert head.docstring == "Doc."


def test_a_region_that_does_not_parse_gives_none() -> None:
    text = "X = (\n    1,\n    2,\n)\nY = 3\n"
    assert parse_region(text, "mod.py", 2, 5) is None


def test_region_future_flags_come_from_the_head_of_the_file() -> None:
    text = "from __future__ import annotations\n\n\ndef f(x: Later) -> Later:\n    return x\n"
    source = parse_region(text, "mod.py", 4, 5)
    assert source is not None
    assert source.compile_flags & ANNOTATIONS
    assert [s.lineno for s in source.statements] == [4]


def test_region_future_flags_when_a_docstring_comes_before_the_future_import() -> None:
    text = '"""Doc."""\nfrom __future__ import annotations\nX = 1\n'
    source = parse_region(text, "mod.py", 3, 3)
    assert source is not None
    assert source.compile_flags == ANNOTATIONS


def test_region_of_a_file_without_future_imports_has_no_flags() -> None:
    source = parse_region(REGION_FILE, "mod.py", 8, 9)
    assert source is not None
    assert source.compile_flags == 0


def test_future_import_words_inside_a_string_are_not_flags() -> None:
    text = 'X = """\nfrom __future__ import annotations"""\nY = 1\n'
    source = parse_region(text, "mod.py", 3, 3)
    assert source is not None
    assert source.compile_flags == 0


def test_region_gives_none_when_the_head_with_future_words_does_not_parse() -> None:
    # The future words sit inside a string whose end is past the line they are on.
    text = 'X = """\nfrom __future__ import annotations\n"""\nY = 1\n'
    assert parse_region(text, "mod.py", 4, 4) is None


def test_a_region_from_line_one_reads_its_own_future_imports() -> None:
    text = "from __future__ import annotations\nX = 1\n"
    source = parse_region(text, "mod.py", 1, 2)
    assert source is not None
    assert source.compile_flags == ANNOTATIONS


# --- future_flags --------------------------------------------------------------------------------
def test_future_flags_combine_every_future_import() -> None:
    tree = ast.parse("from __future__ import annotations, generator_stop\nX = 1\n")
    expected = ANNOTATIONS | __future__.generator_stop.compiler_flag
    assert future_flags(tree) == expected


def test_future_flags_of_a_module_without_future_imports_is_zero() -> None:
    assert future_flags(ast.parse("import os\nfrom collections import deque\n")) == 0


def test_whole_file_parse_records_future_flags() -> None:
    assert parse("from __future__ import annotations\n").compile_flags == ANNOTATIONS


# --- decode_source -------------------------------------------------------------------------------
def test_decode_utf8_and_translate_newlines() -> None:
    assert decode_source("x = 'é'\r\ny = 1\r\n".encode()) == "x = 'é'\ny = 1\n"


def test_decode_strips_a_utf8_bom() -> None:
    assert decode_source(b"\xef\xbb\xbfX = 1\n") == "X = 1\n"


def test_decode_honours_a_coding_cookie() -> None:
    data = "# -*- coding: latin-1 -*-\nX = 'é'\n".encode("latin-1")
    assert decode_source(data) == "# -*- coding: latin-1 -*-\nX = 'é'\n"


def test_decode_refuses_nul_bytes() -> None:
    with pytest.raises(SyntaxError, match="null bytes"):
        decode_source(b"X = 1\0\n")


def test_decode_refuses_bytes_that_are_not_utf8() -> None:
    with pytest.raises(SyntaxError, match="cannot decode"):
        decode_source(b"X = '\xe9'\n")


def test_decode_refuses_an_unknown_encoding() -> None:
    with pytest.raises(SyntaxError, match="cannot decode"):
        decode_source(b"# coding: no-such-codec\nX = 1\n")


def test_decode_refuses_bytes_invalid_in_the_declared_encoding() -> None:
    with pytest.raises(SyntaxError, match="cannot decode"):
        decode_source(b"# coding: ascii\nX = '\xc3\xa9'\n")


# --- resolve_import ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("module", "level", "package", "expected"),
    [
        ("os.path", 0, "pkg", "os.path"),
        ("sibling", 1, "pkg.sub", "pkg.sub.sibling"),
        (None, 1, "pkg.sub", "pkg.sub"),
        ("other", 2, "pkg.sub", "pkg.other"),
        (None, 2, "pkg.sub", "pkg"),
        ("x", 4, "pkg.sub", None),
    ],
)
def test_resolve_import(module: str | None, level: int, package: str, expected: str | None) -> None:
    assert resolve_import(module, level, package) == expected


@pytest.mark.parametrize(("module", "level", "package"), [("x", 2, "pkg"), ("x", 1, "")])
def test_a_relative_import_beyond_the_top_level_package_does_not_resolve(
    module: str, level: int, package: str
) -> None:
    assert resolve_import(module, level, package) is None


# --- imported_modules ----------------------------------------------------------------------------
def test_imported_modules_include_parents_and_from_imported_submodules() -> None:
    source = parse("import a.b.c\nfrom pkg import sub\n")
    assert imported_modules(source, "mod", is_package=False) == {
        "a",
        "a.b",
        "a.b.c",
        "pkg",
        "pkg.sub",
    }


def test_imported_modules_resolve_relative_imports_in_a_module() -> None:
    source = parse("from . import sibling\nfrom .helpers import tool\nfrom .. import top\n")
    assert imported_modules(source, "pkg.sub.mod", is_package=False) == {
        "pkg",
        "pkg.sub",
        "pkg.sub.sibling",
        "pkg.sub.helpers",
        "pkg.sub.helpers.tool",
        "pkg.top",
    }


def test_imported_modules_resolve_relative_imports_in_a_package() -> None:
    source = parse("from . import sub\nfrom .core import thing\n")
    # The package itself is not its own dependency.
    assert imported_modules(source, "pkg", is_package=True) == {
        "pkg.sub",
        "pkg.core",
        "pkg.core.thing",
    }


def test_imported_modules_ignore_function_bodies_and_count_if_try_and_class() -> None:
    source = parse(
        """\
        if FLAG:
            import in_if
        try:
            import in_try
        except ImportError:
            import in_except
        class C:
            import in_class
        def f():
            import in_function
        async def g():
            import in_async
        h = lambda: __import__("in_lambda")
        """
    )
    assert imported_modules(source, "mod", is_package=False) == {
        "in_if",
        "in_try",
        "in_except",
        "in_class",
    }


def test_star_import_depends_on_the_module_only() -> None:
    assert imported_modules(parse("from pkg import *\n"), "mod", is_package=False) == {"pkg"}


# --- from_imports --------------------------------------------------------------------------------
def test_from_imports_map_aliases_to_module_and_name() -> None:
    tree = ast.parse("from pkg.core import thing as alias, other\nimport os\n")
    assert from_imports(tree) == {
        "alias": ("pkg.core", "thing"),
        "other": ("pkg.core", "other"),
    }


def test_from_imports_resolve_relative_imports() -> None:
    tree = ast.parse("from .core import thing\nfrom . import sub\n")
    assert from_imports(tree, "pkg.mod") == {
        "thing": ("pkg.core", "thing"),
        "sub": ("pkg", "sub"),
    }
    assert from_imports(tree, "pkg", is_package=True) == {
        "thing": ("pkg.core", "thing"),
        "sub": ("pkg", "sub"),
    }


def test_from_imports_skip_class_and_function_bodies_and_record_a_star() -> None:
    tree = ast.parse(
        textwrap.dedent(
            """\
            from m import *
            from m import kept
            if FLAG:
                from m import conditional
            class C:
                from m import in_class
            def f():
                from m import in_function
            """
        )
    )
    assert from_imports(tree) == {
        STAR + "m": ("m", "*"),
        "kept": ("m", "kept"),
        "conditional": ("m", "conditional"),
    }
