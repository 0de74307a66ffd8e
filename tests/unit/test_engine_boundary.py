"""The engine is its own never-break-the-host boundary, and needs no IPython."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hotreload_ext import Reloader
from tests.conftest import ModuleFiles, _OnlyPrefix

ROOT = Path(__file__).resolve().parents[2]


def test_a_full_reload_runs_in_a_plain_process_without_importing_ipython(tmp_path: Path) -> None:
    (tmp_path / "plainmod.py").write_text("def f():\n    return 1\n\nclass C:\n    x = 1\n")
    script = textwrap.dedent(
        """
        import os, sys
        sys.path.insert(0, sys.argv[1])
        from hotreload_ext import Reloader
        import plainmod
        old_f, instance = plainmod.f, plainmod.C()
        reloader = Reloader(strict=True)
        reloader.discover()
        path = os.path.join(sys.argv[1], "plainmod.py")
        with open(path, "w") as handle:
            handle.write("def f():\\n    return 2\\n\\nclass C:\\n    x = 2\\n")
        stat = os.stat(path)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
        report = reloader.check()
        assert [r.module for r in report.reloaded] == ["plainmod"], report
        assert old_f() == 2 and instance.x == 2
        print("IPython" in sys.modules, sorted(m for m in sys.modules if m.startswith("IPython")))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False []"


class _BrokenStat:
    def __call__(self, path: str) -> os.stat_result:
        raise RuntimeError("simulated bug in hotreload")


def test_check_reports_an_internal_error_instead_of_raising(files: ModuleFiles) -> None:
    name = files.name("guarded")
    m = files.load(name, "X = 1\n")
    reloader = Reloader(modules=_OnlyPrefix(files.prefix))
    reloader.discover()
    reloader.watcher._stat = _BrokenStat()
    files.write(name, "X = 2\n")
    report = reloader.check()
    assert report, "an internal error is something to report"
    assert len(report.internal) == 1
    line = str(report.internal[0])
    assert "hotreload: internal error (RuntimeError: simulated bug in hotreload)" in line
    assert "Traceback" in line
    assert m.X == 1
    # Strict mode (the test suite's) re-raises the same error.
    reloader.strict = True
    with pytest.raises(RuntimeError, match="simulated bug"):
        reloader.check()


def test_check_still_raises_for_a_module_that_is_not_watched(files: ModuleFiles) -> None:
    reloader = Reloader(modules=_OnlyPrefix(files.prefix))
    with pytest.raises(KeyError, match="no_such_module"):
        reloader.check(["no_such_module"])


def test_an_internal_error_inside_one_reload_fails_that_module_only(
    files: ModuleFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = files.name("a"), files.name("b")
    ma = files.load(a, "class C:\n    def m(self):\n        return 1\n")
    mb = files.load(b, "Y = 1\n")
    reloader = Reloader(modules=_OnlyPrefix(files.prefix))
    reloader.discover()
    instance = ma.C()
    # A patching step that raises stands in for a bug while `a` reloads (no user code can
    # make the patcher fail): `a` is rolled back and reported, `b` still reloads.
    files.write(a, "class C:\n    def m(self):\n        return 2\n")
    files.write(b, "Y = 2\n")

    def broken_merge(*args: object) -> None:
        raise RuntimeError("simulated patching bug")

    from hotreload_ext import _patch

    monkeypatch.setattr(_patch.Patcher, "merge_members", broken_merge)
    report = reloader.check()
    monkeypatch.undo()
    assert [f.module for f in report.failed] == [a]
    assert "internal error in hotreload" in report.failed[0].error
    assert [r.module for r in report.reloaded] == [b]
    assert instance.m() == 1, "the failed module keeps its old code"
    assert mb.Y == 2
