"""Stage 9 (report): the records' text, HTML and paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hotreload_ext._report import ModuleFailure, ModuleReport, module_failure, short_path


def test_html_report_is_compact_with_the_names_collapsed_and_escaped() -> None:
    report = ModuleReport(
        "pkg.mod",
        "/x/mod.py",
        updated=("f", "C.<lambda>"),
        added=("g",),
        removed=("C.gone",),
        stale=("a <b> c",),
    )
    assert str(report) == (
        "hotreload: reloaded pkg.mod: updated f, C.<lambda>; added g; removed C.gone\n"
        "hotreload: stale: a <b> c"
    )
    html = report.html()
    assert html.startswith(
        "<details><summary>hotreload: reloaded <code>pkg.mod</code>: "
        "2 updated, 1 added, 1 removed</summary>"
    )
    assert "<code>C.&lt;lambda&gt;</code>" in html
    # What could not be made right is not hidden in the collapsed part.
    assert html.endswith("hotreload: stale: a &lt;b&gt; c</div>")


def test_html_report_without_definitions_is_one_line() -> None:
    html = ModuleReport("m", "/x/m.py").html()
    assert html == "<div>hotreload: reloaded <code>m</code>: no definitions changed</div>"


def test_failure_text_says_the_error_once() -> None:
    try:
        raise RuntimeError("cannot load the table")
    except RuntimeError as exc:
        failure = module_failure("m", "/x/m.py", exc)
    text = str(failure)
    assert text.count("RuntimeError: cannot load the table") == 1
    assert text.splitlines()[0].endswith("RuntimeError: cannot load the table")
    assert failure.exception is not None
    assert failure.headline().endswith(
        "it keeps its previous code: save a fix and run a cell to retry."
    )


def test_short_path_is_relative_to_the_working_directory_or_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inside = tmp_path / "work" / "pkg" / "mod.py"
    inside.parent.mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "work")
    assert short_path(str(inside)) == os.path.join("pkg", "mod.py")
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    assert short_path(str(home / "lib" / "m.py")) == os.path.join("~", "lib", "m.py")
    assert short_path("/elsewhere/m.py") == "/elsewhere/m.py"


def test_failure_headline_uses_the_short_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir("/")
    failure = ModuleFailure("m", "/srv/app/m.py", 3, "ValueError: x")
    assert failure.headline().startswith("hotreload: could not reload m (srv/app/m.py, line 3); ")
