"""The idle check's C loop (``hotreload_ext._speedups``) against its Python reference.

Both loops stat every watched file and compare its packed stamp with the one recorded; the C one
only skips building a ``stat_result`` per file. Whatever the state of the files (unchanged,
touched, rewritten, replaced, deleted, a directory, too recent to trust, out of range, behind a
directory handle or not, relative, not ASCII), they must pick the same suspects, and a whole
check must come out the same. The rest of the suite runs with the C loop where it is built, and
once (a CI cell with ``HOTRELOAD_SPEEDUPS=0``) with the Python loop.
"""

from __future__ import annotations

import importlib
import os
import shutil
import struct
import sys
import time
import types
from pathlib import Path

import pytest

from hotreload_ext import Reloader
from hotreload_ext._polling import _unverified
from hotreload_ext._tracking import TrackedModule
from hotreload_ext._watcher import Watcher
from tests.conftest import ModuleFiles, check

needs_speedups = pytest.mark.skipif(
    _unverified is None, reason="hotreload_ext._speedups was not built (no C compiler at install)"
)

_HOUR_AGO = time.time_ns() - 3600 * 1_000_000_000


def _age(path: Path) -> None:
    """Date ``path`` an hour back, so that its stamp is trusted (not racily clean)."""
    os.utime(path, ns=(_HOUR_AGO, _HOUR_AGO))


def _suspects(watcher: Watcher, *, speedups: bool) -> set[str]:
    watcher.speedups = speedups
    return {tracked.name for tracked, _ in watcher._stat_all(set())}


def _change_every_way(tmp_path: Path) -> set[str]:
    """Every kind of change a file can see between two cells; the modules that must be suspects."""
    busy, accented, relative = tmp_path / "busy", tmp_path / "dïr_ü", tmp_path / "rel"
    recent = tmp_path / "quiet" / "spd_quiet_2.py"
    os.utime(busy / "spd_busy_1.py", ns=(_HOUR_AGO, _HOUR_AGO + 1_000_000_000))  # touched
    (busy / "spd_busy_70.py").write_text("VALUE = 'longer'\n")  # rewritten (size, mtime)
    _age(busy / "spd_busy_70.py")
    (busy / "spd_busy_140.py").unlink()  # deleted
    shutil.copy2(busy / "spd_busy_141.py", tmp_path / "copy.py")  # replaced, same mtime and size
    os.replace(tmp_path / "copy.py", busy / "spd_busy_141.py")
    (busy / "spd_busy_142.py").unlink()
    (busy / "spd_busy_142.py").mkdir()  # a directory now
    (accented / "spd_accent_é.py").write_text("VALUE = 'ë'\n")
    _age(accented / "spd_accent_é.py")
    os.utime(relative / "spd_relative.py", ns=(_HOUR_AGO, _HOUR_AGO + 5))
    _age(recent)  # old enough now, but its record still says "never trusted"
    return {
        "spd_busy_1",
        "spd_busy_70",
        "spd_busy_140",
        "spd_busy_141",
        "spd_busy_142",
        "spd_accent_é",
        "spd_relative",
        "spd_quiet_2",
    }


@needs_speedups
def test_both_loops_pick_the_same_suspects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_imports: None
) -> None:
    monkeypatch.delenv("HOTRELOAD_SPEEDUPS", raising=False)
    busy, quiet, accented = tmp_path / "busy", tmp_path / "quiet", tmp_path / "dïr_ü"
    for directory in (busy, quiet, accented):
        directory.mkdir()
        sys.path.insert(0, str(directory))
    # 150 files in one directory: a handle, and more than two of the C loop's chunks.
    for i in range(150):
        (busy / f"spd_busy_{i}.py").write_text(f"VALUE = {i}\n")
    for i in range(3):
        (quiet / f"spd_quiet_{i}.py").write_text(f"VALUE = {i}\n")
    (accented / "spd_accent_é.py").write_text("VALUE = 'é'\n")
    relative = tmp_path / "rel"
    relative.mkdir()
    (relative / "spd_relative.py").write_text("VALUE = 'relative'\n")
    for path in tmp_path.rglob("*.py"):
        _age(path)
    importlib.invalidate_caches()
    modules: dict[str, object] = {}
    for path in sorted(tmp_path.rglob("spd_*.py")):
        if path.parent != relative:
            modules[path.stem] = importlib.import_module(path.stem)
    # A module whose file is known by a relative path, resolved against the working directory.
    monkeypatch.chdir(tmp_path)
    module = types.ModuleType("spd_relative")
    module.__file__ = os.path.join("rel", "spd_relative.py")
    modules["spd_relative"] = module
    (quiet / "spd_quiet_2.py").write_text("VALUE = 'recent'\n")  # racily clean
    importlib.reload(sys.modules["spd_quiet_2"])

    watcher = Watcher(modules)
    watcher.discover()
    assert watcher.speedups, "the C loop is on by default where it was built"
    assert watcher.tracked["spd_busy_0"].dir_handle is None  # handles are made by the first poll
    assert (
        _suspects(watcher, speedups=True) == _suspects(watcher, speedups=False) == {"spd_quiet_2"}
    )
    assert watcher.tracked["spd_busy_0"].dir_handle is not None
    assert watcher.tracked["spd_quiet_0"].dir_handle is None

    expected = _change_every_way(tmp_path)
    assert _suspects(watcher, speedups=True) == _suspects(watcher, speedups=False) == expected


@needs_speedups
def test_a_time_out_of_the_packed_range_is_left_to_python(
    tmp_path: Path, clean_imports: None
) -> None:
    path = tmp_path / "spd_future.py"
    path.write_text("VALUE = 1\n")
    far = 2**63 + 10**18  # past 2262: st_mtime_ns does not fit the stamp's 64 bits
    try:
        os.utime(path, ns=(far, far))
    except (OSError, OverflowError, ValueError):
        pytest.skip("this filesystem cannot date a file past 2262")
    if path.stat().st_mtime_ns < 2**63:
        pytest.skip("this filesystem clamped the date")
    # Imported after the date was set: a .pyc (where bytecode is written) records that date,
    # so the file is what the module runs, with or without PYTHONDONTWRITEBYTECODE.
    sys.path.insert(0, str(tmp_path))
    module = importlib.import_module("spd_future")
    watcher = Watcher({"spd_future": module})
    watcher.discover()
    # Both loops hand it to the slow path, which compares clamped stamps: no change is found.
    assert _suspects(watcher, speedups=True) == _suspects(watcher, speedups=False)
    for speedups in (True, False):
        watcher.speedups = speedups
        assert watcher.poll() == ([], [])


@needs_speedups
def test_bad_input_raises_instead_of_crashing() -> None:
    assert _unverified is not None
    with pytest.raises(TypeError, match="list"):
        _unverified((1, 2))  # type: ignore[arg-type]
    with pytest.raises(AttributeError):
        _unverified([object()])  # type: ignore[list-item]
    assert _unverified([]) == []


@pytest.mark.parametrize("speedups", [True, False], ids=["c-loop", "python-loop"])
def test_reloads_through_either_loop(
    files: ModuleFiles, reloader: Reloader, speedups: bool
) -> None:
    if speedups and _unverified is None:
        pytest.skip("hotreload_ext._speedups was not built")
    names = [files.name(f"m{i}") for i in range(12)]
    modules = [files.load(name, f"VALUE = {i}\n") for i, name in enumerate(names)]
    reloader.watcher.speedups = speedups
    reloader.discover()
    check(reloader)
    files.write(names[5], "VALUE = 'five'\n")
    os.utime(files.path(names[6]))  # touched only
    check(reloader)
    assert modules[5].VALUE == "five"
    assert [m.VALUE for i, m in enumerate(modules) if i != 5] == [i for i in range(12) if i != 5]
    files.path(names[7]).unlink()
    report = reloader.check()
    assert [notice.module for notice in report.notices] == [names[7]]
    assert modules[7].VALUE == 7


def test_the_environment_turns_the_c_loop_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTRELOAD_SPEEDUPS", "0")
    assert not Watcher({}).speedups
    monkeypatch.delenv("HOTRELOAD_SPEEDUPS", raising=False)
    assert Watcher({}).speedups == (_unverified is not None)


def test_tracked_module_keeps_the_contract_the_c_loop_reads(tmp_path: Path) -> None:
    # _speedups.c reads these by name, and the start of _record as a packed stamp (the contract
    # in TrackedModule's docstring); breaking it must fail here, not in a user's kernel.
    assert {"path", "name_start", "dir_handle", "_record"} <= set(TrackedModule.__slots__)
    path = tmp_path / "spd_contract.py"
    path.write_text("VALUE = 1\n")
    _age(path)
    module = types.ModuleType("spd_contract")
    module.__file__ = str(path)
    watcher = Watcher({"spd_contract": module})
    (tracked,) = watcher.discover()
    assert (tracked.path, tracked.name_start, tracked.dir_handle) == (str(path), 0, None)
    result = os.stat(path)
    stamp = (result.st_mtime_ns, result.st_size, result.st_ino, result.st_ctime_ns)
    # Bytes 0-31: the stamp, "<qqQq" little-endian; bytes 32-39: the store's key, "<q".
    assert tracked._record == struct.pack("<qqQq", *stamp) + struct.pack("<q", tracked.key)
    tracked.forget_source()
    assert tracked._record[:32] == b"\xff" * 32, "no stat packs to a source-unknown record"
    if _unverified is not None:
        from hotreload_ext import _speedups

        assert _speedups.STAMP_SIZE == 32
        assert _unverified([tracked]) == [0]
        tracked.restamp(stamp)
        assert _unverified([tracked]) == []


def test_the_status_says_when_the_python_loop_polls(reloader: Reloader) -> None:
    reloader.watcher.speedups = False
    assert reloader.detection == "polling before each cell with the Python stat loop"
    if _unverified is not None:
        reloader.watcher.speedups = True
        assert reloader.detection == "polling before each cell"
