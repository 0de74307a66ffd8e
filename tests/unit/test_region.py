"""The fast path for big files: only the edited region is parsed, with the same result.

Each test checks both that the fast path was (or was not) taken, through the report's
``parsed`` lines, and that the module then behaves like a fresh import would.
"""

from __future__ import annotations

import inspect
import traceback

import pytest

from hotreload_ext import ModuleReport, Reloader
from tests.conftest import ModuleFiles

FILLER = 200


def big_source(middle: str = "def target(x):\n    return x + 1\n") -> str:
    head = "".join(f"def before_{i}(x):\n    return x + {i}\n\n" for i in range(FILLER))
    tail = "".join(f"def after_{i}(x):\n    return x - {i}\n\n" for i in range(FILLER))
    return head + middle + "\n" + tail + "def boom():\n    raise ValueError('boom')\n"


def _report(reloader: Reloader) -> ModuleReport:
    report = reloader.check()
    assert not report.failed, report.failed
    return report.reloaded[0]


def test_one_function_edit_parses_only_its_region(files: ModuleFiles, reloader: Reloader) -> None:
    name = files.name("big")
    m = files.load(name, big_source())
    reloader.discover()
    target = m.target
    files.write(name, big_source("def target(x):\n    return x + 2\n"), dedent=False)
    report = _report(reloader)
    assert report.parsed is not None
    first, last = report.parsed
    assert last - first < 10
    assert target(1) == 3
    assert m.target is target


def test_lines_inserted_in_the_region_move_everything_after_it(
    files: ModuleFiles, reloader: Reloader
) -> None:
    name = files.name("shift")
    m = files.load(name, big_source())
    reloader.discover()
    boom, after = m.boom, m.after_7
    middle = "def target(x):\n    # one\n    # two\n    # three\n    return x + 1\n"
    path = files.write(name, big_source(middle), dedent=False)
    report = _report(reloader)
    assert report.parsed is not None
    lines = path.read_text().splitlines()
    assert lines[boom.__code__.co_firstlineno - 1] == "def boom():"
    assert inspect.getsource(after).startswith("def after_7(x):")
    with pytest.raises(ValueError, match="boom") as info:
        boom()
    frame = traceback.extract_tb(info.value.__traceback__)[-1]
    assert frame.line == "raise ValueError('boom')"
    assert frame.lineno is not None
    assert lines[frame.lineno - 1].strip() == "raise ValueError('boom')"


def test_an_edit_that_opens_a_string_is_a_syntax_error_at_the_right_line(
    files: ModuleFiles, reloader: Reloader
) -> None:
    name = files.name("open")
    m = files.load(name, big_source())
    reloader.discover()
    files.write(name, big_source('def target(x):\n    return """\n'), dedent=False)
    report = reloader.check()
    assert report.failed
    assert "SyntaxError" in str(report.failed[0])
    # Three lines per filler function, then `def target` and the line that opens the string.
    assert report.failed[0].lineno == 3 * FILLER + 2
    assert m.target(1) == 2


def test_def_lines_inside_a_module_string_are_not_statement_boundaries(
    files: ModuleFiles, reloader: Reloader
) -> None:
    name = files.name("text")
    middle = 'TEMPLATE = """\ndef fake(x):\n    return 1\n"""\n'
    m = files.load(name, big_source(middle))
    reloader.discover()
    files.write(name, big_source(middle.replace("return 1", "return 2")), dedent=False)
    _report(reloader)
    assert "return 2" in m.TEMPLATE
    assert not hasattr(m, "fake")


def test_a_name_used_outside_the_region_takes_the_whole_file_path(
    files: ModuleFiles, reloader: Reloader
) -> None:
    name = files.name("used")
    source = big_source() + "RESULT = target(1)\n"
    m = files.load(name, source)
    reloader.discover()
    files.write(name, source.replace("return x + 1", "return x + 5"), dedent=False)
    report = _report(reloader)
    assert report.parsed is None
    assert m.RESULT == 6


def test_deleting_a_function_in_a_big_file_removes_it(
    files: ModuleFiles, reloader: Reloader
) -> None:
    name = files.name("delete")
    m = files.load(name, big_source())
    reloader.discover()
    files.write(name, big_source(""), dedent=False)
    report = _report(reloader)
    assert report.parsed is not None
    assert not hasattr(m, "target")
    assert m.after_3(3) == 0
