"""Bugs the stage tests (tests/unit/stages/) found, each pinned end to end through check().

After every edit the live module must look as a fresh import of the edited file would: the fresh
copy is the same text imported under another name next to it (:func:`fresh_copy`).
"""

from __future__ import annotations

import inspect
import sys
import types

import pytest

from hotreload_ext import Reloader
from tests.conftest import ModuleFiles, check


def fresh_copy(files: ModuleFiles, name: str) -> types.ModuleType:
    """Import the current text of module ``name`` afresh, as a sibling module."""
    return files.load(name + "_fresh", files.path(name).read_text(encoding="utf-8"))


def values(module: types.ModuleType) -> dict[str, object]:
    """The module's own names, functions and modules left out (their behaviour is tested)."""
    return {
        k: v
        for k, v in vars(module).items()
        if not k.startswith("__") and not isinstance(v, (types.FunctionType, types.ModuleType))
    }


# --- 1. line separators that str.splitlines splits at but the tokenizer does not ---------------
@pytest.mark.parametrize("padding", [0, 150], ids=["small-file", "big-file-region-path"])
@pytest.mark.parametrize(
    "separator",
    ["\x0c\n", "'a\x85b'\n", "# section\u2028end\n", "# \x1c\x1d\x1e\u2029\n"],
    ids=["form-feed-line", "nel-in-a-string", "u2028-in-a-comment", "others-in-a-comment"],
)
def test_an_edit_after_a_line_separator_is_reloaded(
    files: ModuleFiles, reloader: Reloader, separator: str, padding: int
) -> None:
    # Statement texts, the region's anchors and linecache's lines used to come from
    # str.splitlines, which also splits at \f, \x1c-\x1e, \x85, \u2028 and \u2029: every
    # statement after one got another line's text, so `Y = 2` -> `Y = 3` was not seen.
    name = files.name("sections")
    pad = "".join(f"def pad{i}():\n    return {i}\n\n" for i in range(padding))
    source = f'X = 1\n{pad}{separator}\ndef f():\n    return "f1"\n\n{separator}Y = 2\n'
    files.write(name, source, dedent=False)
    m = files.load(name)
    reloader.discover()
    assert (m.Y, m.f()) == (2, "f1")

    files.write(name, source.replace("Y = 2", "Y = 3").replace('"f1"', '"f2"'), dedent=False)
    check(reloader)

    fresh = fresh_copy(files, name)
    assert (m.Y, m.f()) == (fresh.Y, fresh.f()) == (3, "f2")
    assert values(m) == values(fresh)
    assert inspect.getsource(m.f) == inspect.getsource(fresh.f) == 'def f():\n    return "f2"\n'


# --- 2. a compound statement that mutates module state ------------------------------------------
def test_a_changed_loop_that_appends_to_a_module_list_does_not_append_twice(
    files: ModuleFiles, reloader: Reloader
) -> None:
    # `for ...: REG.append(x)` was not marked dynamic (only a top-level `REG.append(x)` was), so
    # the changed loop re-ran alone and appended to the list the unchanged `REG = []` made.
    name = files.name("registry")
    source = """
        REG = []
        for x in (1, 2):
            REG.append(x)
        """
    m = files.load(name, source)
    reloader.discover()
    files.write(name, source.replace("(1, 2)", "(1, 2, 3)"))
    check(reloader)
    assert m.REG == [1, 2, 3]
    assert values(m) == values(fresh_copy(files, name))


# --- 3. the outermost iterable of a comprehension -----------------------------------------------
def test_a_comprehension_over_a_module_name_reruns_when_that_name_changes(
    files: ModuleFiles, reloader: Reloader
) -> None:
    # The outermost iterable runs in the module scope: `[x * 10 for x in x]` reads the module's
    # `x`, but the analysis dropped every comprehension variable from the reads.
    name = files.name("comprehension")
    source = """
        x = [1, 2]
        X = [x * 10 for x in x]
        """
    m = files.load(name, source)
    reloader.discover()
    files.write(name, source.replace("x = [1, 2]", "x = [1, 2, 3]"))
    check(reloader)
    assert m.X == [10, 20, 30]
    assert values(m) == values(fresh_copy(files, name))


# --- 4. a relative import beyond the top-level package ------------------------------------------
@pytest.mark.parametrize(
    ("module", "dots"),
    [("tool", "."), ("pkg.tool", "..")],
    ids=["top-level-module", "beyond-the-top-level-package"],
)
def test_a_failed_relative_import_is_not_rebound_to_a_top_level_module(
    files: ModuleFiles, reloader: Reloader, module: str, dots: str
) -> None:
    # `from .settings import LEVEL` in a top-level module, or `from ..settings import LEVEL` in
    # the top-level package `pkg`, raise ImportError; resolve_import read both as `settings`, so
    # the fallback `LEVEL = 10` (the very object `settings.LEVEL` holds) counted as imported from
    # `settings` and was rebound when `settings` changed.
    settings = files.name("settings")
    name = files.name(module)
    if "." in module:
        files.package(name.rpartition(".")[0])
    files.load(settings, "LEVEL = 10\n")
    tool = files.load(
        name,
        f"""
        try:
            from {dots}{settings} import LEVEL
        except ImportError:
            LEVEL = 10
        """,
    )
    reloader.discover()
    assert tool.LEVEL is sys.modules[settings].LEVEL, "the same object, or nothing is tested"
    files.write(settings, "LEVEL = 20\n")
    check(reloader)
    assert sys.modules[settings].LEVEL == 20
    assert tool.LEVEL == fresh_copy(files, name).LEVEL == 10


# --- 5. a long chain of imports -----------------------------------------------------------------
def test_a_branch_switch_reversing_a_long_import_chain_reloads_in_order(
    files: ModuleFiles, reloader: Reloader
) -> None:
    # order_modules ran Tarjan's algorithm recursively: a chain of changed modules longer than
    # the recursion limit raised RecursionError. Here every module is imported after the one it
    # imports; the edit reverses every import, so the first module imported must reload last.
    # Each module records its depth in a tracker (no module-level name changes identity, so no
    # rebinding scan of every other module runs and the test stays fast).
    count = sys.getrecursionlimit() + 100
    tracker = files.name("depths")
    depths = files.load(tracker, "DEPTHS = {}\n").DEPTHS
    names = [files.name(f"chain{i}") for i in range(count)]

    def chain_module(name: str, imported: str | None) -> str:
        if imported is None:
            return f"import {tracker} as t\nt.DEPTHS[__name__] = 0\n"
        return (
            f"import {tracker} as t\nimport {imported}\n"
            f"t.DEPTHS[__name__] = t.DEPTHS[{imported!r}] + 1\n"
        )

    for i, name in enumerate(names):
        files.load(name, chain_module(name, names[i - 1] if i else None))
    reloader.discover()
    assert depths[names[-1]] == count - 1

    for i, name in enumerate(names):
        files.write(name, chain_module(name, names[i + 1] if i + 1 < count else None))
    check(reloader)
    # A fresh import of the new files, from the last (which imports nothing) to the first.
    assert [depths[name] for name in names] == [count - 1 - i for i in range(count)]
