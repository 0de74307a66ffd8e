"""Data files read by a module's body: when one changes, what read it runs again.

Real modules and real files in a temporary directory; the reads are seen by the real ``open``
audit hook. Every data file write moves its mtime forward with ``os.utime`` (``bump``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hotreload_ext import Reloader
from hotreload_ext._datafiles import MAX_DATA_FILES, DataFiles
from tests.conftest import ModuleFiles, bump, check


def write_data(path: Path, text: str) -> Path:
    """Write a data file and move its mtime past the previous one."""
    previous = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text, encoding="utf-8")
    bump(path, after=previous)
    return path


CONFIGURED = """
import json
from pathlib import Path

CALLS = []
HERE = Path(__file__).parent
CONFIG = json.loads((HERE / "{data}").read_text())
LIMIT = CONFIG["limit"] * 2
SLOW = CALLS.append("slow") or len(CALLS)


def limit():
    return LIMIT
"""


def test_a_changed_json_file_reruns_the_statement_that_read_it_and_its_dependents(
    files: ModuleFiles, reloader: Reloader
) -> None:
    data = write_data(files.root / "settings.json", json.dumps({"limit": 1}))
    name = files.name("configured")
    module = files.load(name, CONFIGURED.format(data=data.name))
    reloader.discover()
    old_limit = module.limit
    write_data(data, json.dumps({"limit": 5}))
    report = reloader.check()
    assert not report.failed
    (reloaded,) = report.reloaded
    assert (
        str(reloaded)
        == f"hotreload: reloaded {name} (data file settings.json changed): updated CONFIG"
    )
    assert (module.CONFIG, module.LIMIT, old_limit()) == ({"limit": 5}, 10, 10)
    # The unrelated statement did not run again.
    assert module.CALLS == ["slow"]
    assert any("data file changed: " + str(data) in line for line in reloaded.details())
    # Nothing changed since: the next check is silent.
    assert not reloader.check()


def test_importlib_resources_yaml_and_csv_reads_are_followed(
    files: ModuleFiles, reloader: Reloader
) -> None:
    pkg = files.name("respkg")
    files.package(pkg)
    write_data(files.root / pkg / "table.json", '{"a": 1}')
    write_data(files.root / pkg / "conf.yaml", "name: one\n")
    write_data(files.root / pkg / "rows.csv", "x,y\n1,2\n")
    source = f"""
import csv
import importlib.resources
import json

import yaml

TABLE = json.loads(importlib.resources.files("{pkg}").joinpath("table.json").read_text())
with importlib.resources.files("{pkg}").joinpath("conf.yaml").open() as handle:
    CONF = yaml.safe_load(handle)
with open(__file__.rsplit("/", 1)[0] + "/rows.csv", newline="") as handle:
    ROWS = list(csv.reader(handle))
"""
    module = files.load(f"{pkg}.loader", source)
    reloader.discover()
    write_data(files.root / pkg / "table.json", '{"a": 2}')
    write_data(files.root / pkg / "conf.yaml", "name: two\n")
    write_data(files.root / pkg / "rows.csv", "x,y\n3,4\n")
    report = reloader.check()
    (reloaded,) = report.reloaded
    assert "(data files conf.yaml, rows.csv, table.json changed)" in str(reloaded)
    assert module.TABLE == {"a": 2}
    assert module.CONF == {"name": "two"}
    assert module.ROWS == [["x", "y"], ["3", "4"]]


def test_a_read_in_a_function_the_body_calls_is_the_calling_statements(
    files: ModuleFiles, reloader: Reloader
) -> None:
    data = write_data(files.root / "words.txt", "a b")
    helper, user = files.name("helper"), files.name("user")
    files.write(
        helper, "def load(path):\n    with open(path) as f:\n        return f.read().split()\n"
    )
    module = files.load(
        user,
        f"import os\nfrom {helper} import load\n\n"
        f"WORDS = load(os.path.join(os.path.dirname(__file__), {data.name!r}))\n"
        "COUNT = len(WORDS)\n",
    )
    reloader.discover()
    assert reloader.data.lines(user, [str(data)]) == {4}
    assert helper not in reloader.data.reads
    write_data(data, "a b c")
    check(reloader)
    assert (module.WORDS, module.COUNT) == (["a", "b", "c"], 3)


def test_reads_outside_a_module_body_writes_and_library_files_are_not_followed(
    files: ModuleFiles, reloader: Reloader
) -> None:
    data = write_data(files.root / "later.txt", "1")
    written = files.root / "out.txt"
    module = files.load(
        files.name("quiet"),
        "from pathlib import Path\n"
        f"Path({str(written)!r}).write_text('x')\n"
        "def read_later(path):\n    return Path(path).read_text()\n",
    )
    reloader.discover()
    assert module.read_later(str(data)) == "1"  # called later, not by the body
    reloader.discover()
    assert reloader.data.stamps == {}
    write_data(data, "2")
    assert not reloader.check()


def test_a_deleted_data_file_is_said_once_and_its_values_stay_until_it_is_back(
    files: ModuleFiles, reloader: Reloader
) -> None:
    data = write_data(files.root / "gone.json", '{"limit": 1}')
    name = files.name("deleted")
    module = files.load(name, CONFIGURED.format(data=data.name))
    reloader.discover()
    data.unlink()
    report = reloader.check()
    assert [str(n) for n in report.notices] == [
        f"hotreload: {name}: its data file {data} was deleted; keeping the values read from it"
    ]
    assert not report.reloaded
    assert module.LIMIT == 2
    assert not reloader.check()
    write_data(data, '{"limit": 4}')
    check(reloader)
    assert module.LIMIT == 8


def test_a_failing_rerun_rolls_back_is_said_once_and_a_fix_to_the_data_or_code_applies(
    files: ModuleFiles, reloader: Reloader
) -> None:
    data = write_data(files.root / "fragile.json", '{"limit": 1}')
    name = files.name("fragile")
    module = files.load(name, CONFIGURED.format(data=data.name))
    reloader.discover()
    write_data(data, '{"other": 1}')  # LIMIT's statement raises KeyError
    report = reloader.check()
    assert [f.module for f in report.failed] == [name]
    assert "KeyError" in str(report.failed[0])
    assert (module.CONFIG, module.LIMIT) == ({"limit": 1}, 2)
    assert not reloader.check(), "a failure is said once"
    # The code is fixed instead of the data: the data change is applied with it.
    source = CONFIGURED.format(data=data.name).replace('CONFIG["limit"]', 'CONFIG.get("limit", 7)')
    files.write(name, source)
    check(reloader)
    assert (module.CONFIG, module.LIMIT) == ({"other": 1}, 14)


def test_lines_follow_statements_moved_by_a_code_edit(
    files: ModuleFiles, reloader: Reloader
) -> None:
    data = write_data(files.root / "moved.json", '{"limit": 1}')
    name = files.name("moved")
    source = CONFIGURED.format(data=data.name)
    module = files.load(name, source)
    reloader.discover()
    files.write(name, "# a comment\n\n\n" + source.replace("return LIMIT", "return LIMIT + 1"))
    check(reloader)
    assert reloader.data.lines(name, [str(data)]) == {10}
    write_data(data, '{"limit": 3}')
    check(reloader)
    assert (module.LIMIT, module.limit()) == (6, 7)
    assert module.CALLS == ["slow"]


def test_a_statement_that_cannot_rerun_alone_runs_the_whole_module(
    files: ModuleFiles, reloader: Reloader
) -> None:
    data = write_data(files.root / "update.json", '{"a": 1, "b": 2}')
    name = files.name("updater")
    module = files.load(
        name,
        "import json, os\nCONFIG = {}\n"
        f"with open(os.path.join(os.path.dirname(__file__), {data.name!r})) as f:\n"
        "    CONFIG.update(json.load(f))\n",
    )
    reloader.discover()
    write_data(data, '{"a": 3}')
    check(reloader)
    # As a fresh import: "b" is gone, not left over from the old contents.
    assert module.CONFIG == {"a": 3}


def test_two_modules_reading_one_file_both_follow_it(
    files: ModuleFiles, reloader: Reloader
) -> None:
    data = write_data(files.root / "shared.json", '{"limit": 1}')
    first = files.load(files.name("first"), CONFIGURED.format(data=data.name))
    second = files.load(files.name("second"), CONFIGURED.format(data=data.name))
    reloader.discover()
    write_data(data, '{"limit": 2}')
    report = reloader.check()
    assert sorted(r.module for r in report.reloaded) == sorted([first.__name__, second.__name__])
    assert (first.LIMIT, second.LIMIT) == (4, 4)


def test_turned_off_nothing_is_recorded_and_nothing_follows(files: ModuleFiles) -> None:
    from tests.conftest import _OnlyPrefix

    reloader = Reloader(strict=True, data_files=False, modules=_OnlyPrefix(files.prefix))
    data = write_data(files.root / "off.json", '{"limit": 1}')
    module = files.load(files.name("off"), CONFIGURED.format(data=data.name))
    reloader.discover()
    assert not reloader.data.enabled
    assert reloader.data.stamps == {}
    write_data(data, '{"limit": 9}')
    assert not reloader.check()
    assert module.LIMIT == 2
    reloader.use_data_files(True)
    assert reloader.data.enabled


def test_the_audit_hook_never_raises_into_the_users_open(tmp_path: Path) -> None:
    """Odd arguments (a descriptor, bytes, a directory, a missing file) pass through."""
    data = DataFiles()
    data.enable(True)
    try:
        target = tmp_path / "x.txt"
        target.write_text("x")
        with open(target, "rb") as handle, open(handle.fileno(), closefd=False) as again:
            assert again.read() == "x"
        os.close(os.open(os.fsencode(target), os.O_RDONLY))
        with pytest.raises(FileNotFoundError), open(tmp_path / "missing.txt"):
            pass
        with pytest.raises(IsADirectoryError), open(tmp_path):
            pass
        sys.audit("open", object(), object(), object())
    finally:
        data.close()
    assert not data.enabled
    assert data.pending == []


def test_a_body_loading_a_directory_of_files_is_followed_up_to_a_limit_and_says_so(
    files: ModuleFiles, reloader: Reloader
) -> None:
    folder = files.root / "many"
    folder.mkdir()
    for index in range(MAX_DATA_FILES + 5):
        (folder / f"{index:05}.txt").write_text(str(index))
    name = files.name("bulk")
    module = files.load(
        name,
        "from pathlib import Path\n"
        "FOLDER = Path(__file__).parent / 'many'\n"
        "TOTAL = sum(int(p.read_text()) for p in sorted(FOLDER.iterdir()))\n",
    )
    reloader.discover()
    assert len(reloader.data.stamps) == MAX_DATA_FILES
    report = reloader.check()
    assert [str(n) for n in report.notices] == [
        f"hotreload: {name}: read more than {MAX_DATA_FILES} data files at import; the others "
        "are not followed (HotReload.data_files)"
    ]
    assert not reloader.check(), "said once"
    write_data(folder / "00000.txt", "100")
    check(reloader)
    expected = sum(range(MAX_DATA_FILES + 5)) + 100
    total = module.TOTAL
    assert total == expected


def test_a_watched_installed_package_s_own_data_files_are_followed(
    files: ModuleFiles, tmp_path: Path
) -> None:
    from tests.conftest import _OnlyPrefix

    site = tmp_path / "lib" / "site-packages"
    site.mkdir(parents=True)
    sys.path.insert(0, str(site))
    pkg = files.name("installed")
    (site / pkg).mkdir()
    (site / pkg / "__init__.py").write_text(
        "import json, pathlib\n"
        "CONF = json.loads((pathlib.Path(__file__).parent / 'conf.json').read_text())\n"
    )
    data = write_data(site / pkg / "conf.json", '{"a": 1}')
    reloader = Reloader(strict=True, include=[pkg], modules=_OnlyPrefix(files.prefix))
    module = files.load(pkg)
    reloader.discover()
    write_data(data, '{"a": 2}')
    check(reloader)
    assert module.CONF == {"a": 2}


_BOTH_HOOKS = """
import json, os, sys
sys.path.insert(0, sys.argv[1])
from hotreload_ext import Reloader
from hotreload_ext import _datafiles
reloader = Reloader(include=["hookmod"], strict=True)
import hookmod
reloader.discover()
print(json.dumps({
    "c_hook": _datafiles._listen is not None,
    "lines": sorted(reloader.data.lines("hookmod", [os.path.join(sys.argv[1], "hook.json")])),
}))
"""


@pytest.mark.parametrize("speedups", ["1", "0"])
def test_the_c_hook_and_the_python_hook_record_the_same_reads(
    tmp_path: Path, speedups: str
) -> None:
    """A fresh process each: the hook is installed once per process, in C unless ruled out."""
    from hotreload_ext._polling import _unverified

    if speedups == "1" and _unverified is None:
        pytest.skip("the C speedups are not built")
    write_data(tmp_path / "hook.json", "{}")
    (tmp_path / "hookmod.py").write_text(
        "import json, pathlib\n\nDATA = json.loads((pathlib.Path(__file__).parent / 'hook.json')"
        ".read_text())\n"
    )
    env = {**os.environ, "HOTRELOAD_SPEEDUPS": speedups, "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run(
        [sys.executable, "-c", _BOTH_HOOKS, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert json.loads(result.stdout) == {"c_hook": speedups == "1", "lines": [3]}


def test_the_c_hook_is_installed_once() -> None:
    from hotreload_ext import _datafiles

    speedups = pytest.importorskip("hotreload_ext._speedups")
    DataFiles().enable(True)  # installs the hook in this process, if nothing did before
    if _datafiles._listen is None:
        pytest.skip("the hook in Python is in use (HOTRELOAD_SPEEDUPS=0)")
    with pytest.raises(RuntimeError, match="installed already"):
        speedups.install_open_hook(print)


def test_a_statement_reading_another_file_after_an_edit_drops_the_old_one(
    files: ModuleFiles, reloader: Reloader
) -> None:
    first = write_data(files.root / "first.json", '{"limit": 1}')
    second = write_data(files.root / "second.json", '{"limit": 2}')
    name = files.name("switches")
    module = files.load(name, CONFIGURED.format(data=first.name))
    reloader.discover()
    files.write(name, CONFIGURED.format(data=second.name))
    check(reloader)
    assert module.LIMIT == 4
    assert set(reloader.data.stamps) == {str(second)}
    write_data(first, '{"limit": 9}')
    assert not reloader.check(), "the file it no longer reads"
    write_data(second, '{"limit": 3}')
    check(reloader)
    assert module.LIMIT == 6


def test_a_module_imported_afresh_has_only_its_new_reads(
    files: ModuleFiles, reloader: Reloader
) -> None:
    first = write_data(files.root / "again1.json", '{"limit": 1}')
    second = write_data(files.root / "again2.json", '{"limit": 2}')
    name = files.name("again")
    files.load(name, CONFIGURED.format(data=first.name))
    reloader.discover()
    del sys.modules[name]
    module = files.load(name, CONFIGURED.format(data=second.name))
    reloader.discover()
    assert set(reloader.data.stamps) == {str(second)}
    write_data(second, '{"limit": 5}')
    check(reloader)
    assert module.LIMIT == 10


def test_installed_packages_files_read_at_import_are_not_followed(
    files: ModuleFiles, reloader: Reloader
) -> None:
    files.load(
        files.name("metadata"),
        "import importlib.metadata\nVERSION = importlib.metadata.version('pyyaml')\n",
    )
    # The read was seen (its module body ran it), and is dropped when filed.
    assert any("site-packages" in read[3] for read in reloader.data.pending)
    reloader.discover()
    assert reloader.data.stamps == {}
