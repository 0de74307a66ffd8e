"""Hostile inputs: every bad file, bad module body and bad timing keeps the session safe.

The contract, asserted for every row (issue 5): exactly one report that names the module's file
(and line, where there is one); the old code keeps running and the module's namespace is exactly
as before; nothing raises (the engine runs strict, so an internal error would fail the test); the
report is not repeated while the file stays bad; the next good save is picked up.

The same rows run inside a real IPython shell in ``tests/integration/test_hostile_shell.py``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from hotreload_ext import Reloader
from hotreload_ext._digest import digest_bytes
from hotreload_ext._report import CycleReport
from hotreload_ext._tracking import files_in_failure, read_file
from hotreload_ext._watcher import Watcher
from tests.conftest import ModuleFiles, _OnlyPrefix, bump, check

V1 = '''\
"""Version one."""
A = 1
ITEMS = [1, 2]


def f():
    return "f1"


class C:
    def m(self):
        return "m1"


INSTANCE = C()
'''

FIXED = V1.replace('"f1"', '"fixed"').replace('"m1"', '"m-fixed"')


# --- the contract ----------------------------------------------------------------------------
class Snapshot:
    """A module's namespace, its functions' code and its classes' dicts, by identity."""

    def __init__(self, module: types.ModuleType) -> None:
        self.module = module
        self.namespace = dict(vars(module))
        self.codes = {
            k: v.__code__ for k, v in self.namespace.items() if type(v) is types.FunctionType
        }
        self.classes = {
            k: dict(vars(v))
            for k, v in self.namespace.items()
            if type(v) is type and v.__module__ == module.__name__
        }

    def assert_unchanged(self) -> None:
        now = dict(vars(self.module))
        assert now.keys() == self.namespace.keys(), "names added or lost"
        changed = [k for k in now if now[k] is not self.namespace[k]]
        assert changed == [], f"bindings changed: {changed}"
        for key, code in self.codes.items():
            assert now[key].__code__ is code, f"{key} was patched"
        for key, before in self.classes.items():
            after = dict(vars(now[key]))
            assert after.keys() == before.keys(), f"class {key} changed"
            assert all(after[k] is before[k] for k in after), f"class {key} was patched"
        assert sys.modules[self.module.__name__] is self.module


def messages(report: CycleReport) -> list[str]:
    """Every line the user would be shown for one check, failures and notices alike."""
    return [str(item) for item in [*report.failed, *report.notices, *report.reloaded]]


def assert_one_report(
    report: CycleReport, name: str, path: Path, contains: str, lineno: int | None = None
) -> str:
    """Exactly one message; it names the module, its file, the line when known, and the cause."""
    shown = messages(report)
    assert len(shown) == 1, shown
    assert not report.reloaded
    text = shown[0]
    assert name in text
    assert str(path) in text, f"the message must name the file: {text!r}"
    if lineno is not None:
        assert f"line {lineno}" in text, text
    assert contains in text, text
    return text


# --- bad files -------------------------------------------------------------------------------
def _write(path: Path, data: bytes) -> None:
    previous = path.stat().st_mtime_ns if path.exists() else 0
    path.write_bytes(data)
    bump(path, after=previous)


def _good_save(path: Path) -> None:
    """A plain good save over whatever the bad state left at ``path``."""
    if path.is_symlink() or (path.exists() and not path.is_file() and not path.is_dir()):
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.chmod(0o644)
    _write(path, FIXED.encode())


def _rename_on_save(path: Path, data: bytes, *, same_stamp: bool = False) -> None:
    """What many editors do: write a temporary file beside it, then rename it over the file."""
    before = path.stat()
    temporary = path.with_name(path.name + ".swp~")
    temporary.write_bytes(data)
    if same_stamp:
        # Copy tools (`cp -p`, rsync -t) keep the mtime: only the inode tells the files apart.
        os.utime(temporary, ns=(before.st_atime_ns, before.st_mtime_ns))
    else:
        bump(temporary, after=before.st_mtime_ns)
    os.replace(temporary, path)


def _symlink_swap(path: Path, data: bytes, *, same_stamp: bool = False) -> None:
    """Deploy-style atomic swap: the module path is a symlink, re-pointed at a new version."""
    if not path.is_symlink():
        first = path.with_name(path.stem + ".v0.txt")
        os.replace(path, first)
        path.symlink_to(first.name)
    before = path.stat()
    versions = sorted(path.parent.glob(path.stem + ".v*.txt"))
    target = path.with_name(f"{path.stem}.v{len(versions)}.txt")
    target.write_bytes(data)
    if same_stamp:
        os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    else:
        bump(target, after=before.st_mtime_ns)
    link = path.with_name(path.name + ".tmp-link")
    link.symlink_to(target.name)
    os.replace(link, path)


def _rewrite_in_place(path: Path, data: bytes, *, same_stamp: bool = False) -> None:
    """An in-place save (same inode); with ``same_stamp`` the mtime is set back (`cp -p`)."""
    before = path.stat()
    path.write_bytes(data)
    if same_stamp:
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    else:
        bump(path, after=before.st_mtime_ns)


def _dangling_symlink(path: Path) -> None:
    _symlink_swap(path, V1.encode())
    link = path.with_name(path.name + ".tmp-link")
    link.symlink_to(path.stem + ".missing.txt")
    os.replace(link, path)


def _to_directory(path: Path) -> None:
    path.unlink()
    path.mkdir()
    (path / "README").write_text("not a module\n")


def _to_fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


def _to_device(path: Path) -> None:
    path.unlink()
    path.symlink_to("/dev/zero")


def _truncate(path: Path) -> None:
    before = path.stat().st_mtime_ns
    with open(path, "r+b") as handle:
        handle.truncate(0)
    bump(path, after=before)


@dataclass(frozen=True)
class BadFile:
    """One way a module file can go bad, and what the one report must say."""

    id: str
    apply: Callable[[Path], None]
    contains: str
    lineno: int | None = None


# The line a syntax error appended to V1 is on.
AFTER_V1 = V1.count("\n") + 1

BAD_FILES = [
    BadFile(
        "syntax-error", lambda p: _write(p, V1.encode() + b"def g(:\n"), "SyntaxError", AFTER_V1
    ),
    BadFile(
        "indentation-error",
        lambda p: _write(p, b"def f():\n    return 1\n      x = 2\n"),
        "IndentationError",
        3,
    ),
    BadFile("null-bytes", lambda p: _write(p, V1.encode() + b"X = 1\x00\n"), "null bytes"),
    BadFile(
        "invalid-utf8", lambda p: _write(p, V1.encode() + b"S = '\xff\xfe'\n"), "cannot decode"
    ),
    BadFile(
        "wrong-coding-cookie",
        lambda p: _write(p, b"# -*- coding: ascii -*-\n" + V1.encode() + "S = 'é'\n".encode()),
        "cannot decode",
    ),
    BadFile(
        "unknown-coding-cookie",
        lambda p: _write(p, b"# -*- coding: klingon -*-\n" + V1.encode()),
        "unknown encoding",
    ),
    BadFile("truncated-to-zero", _truncate, "empty"),
    BadFile(
        "binary",
        lambda p: _write(p, b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64),
        "SyntaxError",
    ),
    BadFile("directory", _to_directory, "directory"),
    BadFile("deleted", lambda p: p.unlink(), "deleted"),
    BadFile("named-pipe", _to_fifo, "not a regular file"),
    BadFile("symlink-to-device", _to_device, "not a regular file"),
    BadFile(
        "rename-on-save-syntax-error",
        lambda p: _rename_on_save(p, V1.encode() + b"def g(:\n"),
        "SyntaxError",
        AFTER_V1,
    ),
    BadFile(
        "symlink-swap-syntax-error",
        lambda p: _symlink_swap(p, V1.encode() + b"def g(:\n"),
        "SyntaxError",
        AFTER_V1,
    ),
    BadFile("symlink-swap-dangling", _dangling_symlink, "missing"),
]


def run_bad_file_contract(files: ModuleFiles, reloader: Reloader, case: BadFile) -> None:
    name = files.name("bad")
    m = files.load(name, V1)
    path = files.path(name)
    reloader.discover()
    old_f, old_c, instance = m.f, m.C, m.C()
    snapshot = Snapshot(m)

    case.apply(path)
    report = reloader.check()

    assert_one_report(report, name, path, case.contains, case.lineno)
    snapshot.assert_unchanged()
    assert (old_f(), instance.m(), m.INSTANCE.m()) == ("f1", "m1", "m1")
    # Not repeated while the file stays bad, even when its mtime moves again.
    assert messages(reloader.check()) == []
    if path.is_file() or (path.is_dir() and not path.is_symlink()):
        bump(path)
    assert messages(reloader.check()) == []
    snapshot.assert_unchanged()
    # The next good save is picked up, by the old objects too.
    _good_save(path)
    report = reloader.check()
    assert [r.module for r in report.reloaded] == [name], messages(report)
    assert not report.failed
    assert (old_f(), instance.m(), m.C is old_c) == ("fixed", "m-fixed", True)


@pytest.mark.parametrize("case", BAD_FILES, ids=[c.id for c in BAD_FILES])
def test_bad_file(files: ModuleFiles, reloader: Reloader, case: BadFile) -> None:
    run_bad_file_contract(files, reloader, case)


def unreadable_scenario(root: str) -> None:
    """A file whose permissions forbid reading (run by a process that cannot override them)."""
    probe = Path(root, "probe")
    probe.write_text("x")
    probe.chmod(0)
    try:
        probe.read_text()
    except PermissionError:
        pass
    else:
        raise AssertionError("this process can read a mode-000 file: the scenario would be moot")
    files = ModuleFiles(Path(root))
    sys.path.insert(0, root)
    reloader = Reloader(strict=True, modules=_OnlyPrefix(files.prefix))
    case = BadFile("unreadable", lambda p: p.chmod(0), "Permission denied")
    run_bad_file_contract(files, reloader, case)


def run_unprivileged(tmp_path: Path, scenario: Callable[[str], None]) -> None:
    """Run ``scenario(directory)`` where file permissions really apply.

    Root ignores a file's mode, so under root the scenario runs in a child process whose
    capability bounding set lacks CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (setpriv).
    """
    root = tmp_path / "unprivileged"
    root.mkdir()
    if os.geteuid() != 0:
        scenario(str(root))
        return
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: cannot make a file unreadable")
    code = f"import {scenario.__module__} as t; t.{scenario.__qualname__}({str(root)!r})"
    result = subprocess.run(
        [setpriv, "--bounding-set=-dac_override,-dac_read_search", sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[2],
        env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1", IPYTHONDIR=str(root / "ipython")),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    print(result.stdout, result.stderr)
    assert result.returncode == 0, result.stderr


def test_unreadable_file(tmp_path: Path, clean_imports: None) -> None:
    run_unprivileged(tmp_path, unreadable_scenario)


# --- files replaced, but with good content ---------------------------------------------------
@pytest.mark.parametrize(
    "replace",
    [_rename_on_save, _symlink_swap, _rewrite_in_place],
    ids=["rename", "symlink", "in-place"],
)
@pytest.mark.parametrize("same_stamp", [False, True], ids=["new-mtime", "same-mtime-and-size"])
def test_replaced_file_is_picked_up(
    files: ModuleFiles,
    reloader: Reloader,
    replace: Callable[..., None],
    same_stamp: bool,
) -> None:
    name = files.name("swap")
    m = files.load(name, V1)
    path = files.path(name)
    # An old file, as in a real session: its stamp alone decides (no racily-clean re-hash).
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, time.time_ns() - 60_000_000_000))
    reloader.discover()
    old_f = m.f
    # Same length as V1, so with a kept mtime only the file's identity differs.
    v2 = V1.replace('"f1"', '"f2"')
    replace(path, v2.encode(), same_stamp=same_stamp)
    if same_stamp:
        assert path.stat().st_size == len(V1.encode())
    report = reloader.check()
    assert [str(r) for r in report.reloaded] == [f"hotreload: reloaded {name}: updated f"]
    assert old_f() == "f2"
    assert not reloader.check()
    replace(path, V1.encode(), same_stamp=same_stamp)
    check(reloader)
    assert old_f() == "f1"


def test_fifty_megabyte_file(files: ModuleFiles, reloader: Reloader) -> None:
    name = files.name("huge")
    line = "0123456789abcdef" * 6 + "\\\n"
    blob = 'BLOB = """' + line * (50_000_000 // len(line)) + '"""\n'
    numbers = "NUMBERS = [" + ", ".join(map(str, range(100_000))) + "]\n"
    source = V1 + "\n" + numbers + blob
    started = time.perf_counter()
    m = files.load(name, source)
    reloader.discover()
    imported = time.perf_counter()
    path = files.path(name)
    assert path.stat().st_size > 50_000_000
    blob_value = m.BLOB

    files.write(name, source.replace('"f1"', '"f2"'), dedent=False)
    report = reloader.check()
    reloaded = time.perf_counter()
    assert [str(r) for r in report.reloaded] == [f"hotreload: reloaded {name}: updated f"]
    assert m.f() == "f2"
    assert m.BLOB is blob_value, "an unchanged 50 MB statement must not run again"

    broken = source.replace('"f1"', '"f2"') + "def broken(:\n"
    files.write(name, broken, dedent=False)
    report = reloader.check()
    failed = time.perf_counter()
    last_line = broken.count("\n")
    assert_one_report(report, name, path, "SyntaxError", last_line)
    assert m.f() == "f2"
    assert not reloader.check()
    files.write(name, source.replace('"f1"', '"f3"'), dedent=False)
    check(reloader)
    assert m.f() == "f3"
    print(
        f"50 MB module: import+watch {imported - started:.2f} s, statement reload "
        f"{reloaded - imported:.2f} s, syntax error reported in {failed - reloaded:.2f} s, "
        f"{reloader.watcher.memory() / 1e6:.1f} MB kept for it"
    )


# --- bad module bodies -----------------------------------------------------------------------
@dataclass(frozen=True)
class BadBody:
    """A new module body that fails while it runs."""

    id: str
    tail: str
    contains: str
    line_offset: int | None  # the failing line, counted from the first line of ``tail``


BAD_BODIES = [
    BadBody("raises", "NEW = 1\nraise RuntimeError('boom')\n", "RuntimeError: boom", 1),
    BadBody("sys-exit", "import sys\nNEW = 1\nsys.exit(3)\n", "SystemExit: 3", 2),
    BadBody("keyboard-interrupt", "NEW = 1\nraise KeyboardInterrupt\n", "KeyboardInterrupt", 1),
    BadBody(
        "deletes-itself-then-raises",
        "import sys\ndel sys.modules[__name__]\nraise ValueError('gone')\n",
        "ValueError: gone",
        2,
    ),
    BadBody(
        "name-error-after-definitions",
        "def g():\n    return 1\n\nclass D:\n    pass\n\nB = undefined_name\n",
        "NameError",
        6,
    ),
]


def run_bad_body_contract(
    files: ModuleFiles, reloader: Reloader, tail: str, contains: str, line_offset: int | None
) -> None:
    name = files.name("body")
    m = files.load(name, V1)
    path = files.path(name)
    reloader.discover()
    old_f, instance = m.f, m.C()
    snapshot = Snapshot(m)

    # The definitions change too, so a half-applied reload would show.
    new = FIXED.replace("return", "return 'x' +") + tail
    files.write(name, new, dedent=False)
    report = reloader.check()

    lineno = None if line_offset is None else FIXED.count("\n") + 1 + line_offset
    text = assert_one_report(report, name, path, contains, lineno)
    assert "hotreload_ext" not in report.failed[0].traceback
    assert "keeps its previous code" in text
    snapshot.assert_unchanged()
    assert (old_f(), instance.m()) == ("f1", "m1")
    assert messages(reloader.check()) == []
    files.write(name, FIXED, dedent=False)
    check(reloader)
    assert (old_f(), instance.m()) == ("fixed", "m-fixed")


@pytest.mark.parametrize("case", BAD_BODIES, ids=[c.id for c in BAD_BODIES])
def test_bad_body(files: ModuleFiles, reloader: Reloader, case: BadBody) -> None:
    run_bad_body_contract(files, reloader, case.tail, case.contains, case.line_offset)


def test_body_that_deletes_itself_from_sys_modules_stays_registered(
    files: ModuleFiles, reloader: Reloader
) -> None:
    name = files.name("selfdel")
    m = files.load(name, V1)
    reloader.discover()
    files.write(name, FIXED + "import sys\ndel sys.modules[__name__]\n", dedent=False)
    report = reloader.check()
    assert [r.module for r in report.reloaded] == [name]
    assert sys.modules[name] is m
    assert m.f() == "fixed"
    # Still watched: the next save is picked up.
    files.write(name, V1, dedent=False)
    check(reloader)
    assert m.f() == "f1"


def test_import_of_a_failing_module(files: ModuleFiles, reloader: Reloader) -> None:
    bad = files.name("dep")
    files.write(bad, "X = 1\nraise RuntimeError('dependency is broken')\n")
    name = files.name("importer")
    m = files.load(name, V1)
    path = files.path(name)
    reloader.discover()
    snapshot = Snapshot(m)
    files.write(name, FIXED + f"import {bad}\n", dedent=False)
    report = reloader.check()
    text = assert_one_report(
        report, name, path, "RuntimeError: dependency is broken", FIXED.count("\n") + 1
    )
    assert str(files.path(bad)) in text, "the traceback shows where the dependency failed"
    assert bad not in sys.modules
    snapshot.assert_unchanged()
    assert messages(reloader.check()) == []
    files.write(name, FIXED, dedent=False)
    check(reloader)
    assert m.f() == "fixed"
    assert bad not in sys.modules


def test_fixing_the_failing_dependency_retries_the_importer(
    files: ModuleFiles, reloader: Reloader
) -> None:
    # The importer's file did not change again; the file that broke its reload did.
    bad = files.name("dep")
    files.write(bad, "X = 1\nraise RuntimeError('dependency is broken')\n")
    name = files.name("importer")
    m = files.load(name, V1)
    reloader.discover()
    files.write(name, FIXED + f"import {bad}\nFROM_DEP = {bad}.X\n", dedent=False)
    assert len(reloader.check().failed) == 1
    files.write(bad, "X = 42\n")
    report = reloader.check()
    assert [r.module for r in report.reloaded] == [name], messages(report)
    assert (m.f(), m.FROM_DEP) == ("fixed", 42)


def test_failed_version_is_retried_when_a_file_its_failure_went_through_changes(
    files: ModuleFiles,
) -> None:
    # The detection half of the retry above, on its own: the engine names the files.
    dep = files.write(files.name("dep2"), "X = 1\n")
    name = files.name("importer2")
    files.load(name, V1)
    watcher = Watcher(_OnlyPrefix(files.prefix))
    watcher.discover()
    files.write(name, FIXED, dedent=False)
    (change,), _ = watcher.poll()
    change.tracked.reject(change.digest, change.stamp, [str(dep)])
    assert watcher.poll() == ([], [])
    bump(dep)
    (again,), _ = watcher.poll()
    assert again.data == FIXED.encode()
    assert again.tracked.failed_because == ()


def test_files_in_failure_names_the_other_files_of_the_error(files: ModuleFiles) -> None:
    dep = files.write(files.name("faildep"), "def boom():\n    raise KeyError('x')\n")
    broken = files.write(files.name("syntaxdep"), "def (:\n")
    name = files.name("failing")
    own = files.write(name, f"import {files.name('faildep')} as d\n\ndef run():\n    d.boom()\n")
    module = files.load(name)
    with pytest.raises(KeyError) as caught:
        module.run()
    found = files_in_failure(caught.value, str(own))
    assert str(dep) in found
    assert str(own) not in found, "the module's own file is watched anyway"
    assert not any("hotreload_ext" in path for path in found)
    with pytest.raises(SyntaxError) as syntax:
        files.load(files.name("syntaxdep"))
    assert str(broken) in files_in_failure(syntax.value, str(own))

    def chained() -> None:
        try:
            module.run()
        except KeyError as inner:
            raise RuntimeError("while handling") from inner

    with pytest.raises(RuntimeError) as outer:
        chained()
    assert str(dep) in files_in_failure(outer.value, str(own)), "chained causes count"


def test_edit_that_introduces_a_failing_circular_import(
    files: ModuleFiles, reloader: Reloader
) -> None:
    name, other = files.name("cyc_a"), files.name("cyc_b")
    # b needs a name that a only defines after importing b: a fresh import fails the same way.
    files.write(other, f"from {name} import NEW\n\ndef helper():\n    return NEW\n")
    m = files.load(name, V1)
    path = files.path(name)
    reloader.discover()
    snapshot = Snapshot(m)
    files.write(name, FIXED + f"from {other} import helper\nNEW = 2\n", dedent=False)
    report = reloader.check()
    assert_one_report(report, name, path, "ImportError", FIXED.count("\n") + 1)
    assert "cannot import name 'NEW'" in messages(report)[0]
    assert other not in sys.modules
    snapshot.assert_unchanged()
    assert messages(reloader.check()) == []
    # The next good save of the module breaks the cycle (the import moves below NEW).
    files.write(name, FIXED + f"NEW = 2\nfrom {other} import helper\n", dedent=False)
    check(reloader)
    assert (m.f(), m.helper()) == ("fixed", 2)


def test_circular_import_between_two_watched_modules(
    files: ModuleFiles, reloader: Reloader
) -> None:
    a, b = files.name("ring_a"), files.name("ring_b")
    files.write(b, "def g():\n    return 'g1'\n")
    m_a = files.load(a, V1 + f"from {b} import g\n")
    m_b = sys.modules[b]
    reloader.discover()
    snap_a, snap_b = Snapshot(m_a), Snapshot(m_b)
    # Each now needs a name the other defines only after its own import: no order can work.
    files.write(a, FIXED + f"from {b} import g, B_NEW\nA_NEW = 1\n", dedent=False)
    files.write(b, f"from {a} import A_NEW\n\ndef g():\n    return 'g2'\n\nB_NEW = 1\n")
    report = reloader.check()
    assert not report.reloaded
    assert sorted(f.module for f in report.failed) == sorted([a, b]), messages(report)
    for failure in report.failed:
        assert "ImportError" in failure.error
        assert str(files.path(failure.module)) in str(failure)
    snap_a.assert_unchanged()
    snap_b.assert_unchanged()
    assert messages(reloader.check()) == []
    # Good saves of both (that a is retried when only b is fixed is another test's subject).
    files.write(b, "def g():\n    return 'g2'\n\nB_NEW = 1\n")
    files.write(a, FIXED + f"from {b} import g, B_NEW\nA_NEW = 2\n", dedent=False)
    report = reloader.check()
    assert sorted(r.module for r in report.reloaded) == sorted([a, b]), messages(report)
    assert (m_a.g(), m_a.B_NEW, m_a.f()) == ("g2", 1, "fixed")


# --- objects whose dunder methods misbehave ---------------------------------------------------
TRAPS = """\
from {log} import CALLS


class Meta(type):
    def __eq__(cls, other):
        CALLS.append(("Meta.__eq__", cls.__name__))
        raise AssertionError("metaclass __eq__ called")

    def __ne__(cls, other):
        CALLS.append(("Meta.__ne__", cls.__name__))
        raise AssertionError("metaclass __ne__ called")

    def __hash__(cls):
        CALLS.append(("Meta.__hash__", cls.__name__))
        raise AssertionError("metaclass __hash__ called")

    def __getattr__(cls, name):
        CALLS.append(("Meta.__getattr__", name))
        raise AttributeError(name)


class Trap(metaclass=Meta):
    def __eq__(self, other):
        CALLS.append(("__eq__",))
        raise AssertionError("__eq__ called")

    def __ne__(self, other):
        CALLS.append(("__ne__",))
        raise AssertionError("__ne__ called")

    def __hash__(self):
        CALLS.append(("__hash__",))
        raise AssertionError("__hash__ called")

    def __getattr__(self, name):
        CALLS.append(("__getattr__", name))
        raise AttributeError(name)

    def __getattribute__(self, name):
        CALLS.append(("__getattribute__", name))
        return object.__getattribute__(self, name)

    def __bool__(self):
        CALLS.append(("__bool__",))
        raise AssertionError("__bool__ called")

    def __repr__(self):
        CALLS.append(("__repr__",))
        raise AssertionError("__repr__ called")


def __getattr__(name):
    CALLS.append(("module __getattr__", name))
    raise AttributeError(name)


OBJ = Trap()
TABLE = {{1: OBJ}}


class Holder:
    attr = Trap()

    def m(self):
        return "h1"


def f():
    return "f1"
"""


def test_reloader_never_calls_user_dunders(files: ModuleFiles, reloader: Reloader) -> None:
    log = files.name("traplog")
    files.write(log, "CALLS = []\n")
    # A package: the misbehaving objects live in its `__init__`.
    name = files.name("traps")
    init = f"{name}.__init__"
    source = TRAPS.format(log=log)
    files.write(init, source, dedent=False)
    m = files.load(name)
    # Another watched module holds `from traps import OBJ`: rebinding looks at it too.
    files.load(files.name("trapuser"), f"from {name} import OBJ, Trap, Holder\n")
    calls = sys.modules[log].CALLS
    # `from traps import ...` itself asks the module for `__path__` (importlib's fromlist).
    calls.clear()
    reloader.discover()
    assert calls == [], "watching must not touch the objects"
    holder, instance = m.Holder(), m.Trap()
    calls.clear()
    method = "    def __bool__"
    edits = [
        ("a function body changed", source.replace('"f1"', '"f2"')),
        ("lines inserted above everything", "\n\n" + source),
        ("the trap instance re-made", source.replace("OBJ = Trap()", "OBJ = Trap()  # again")),
        ("a class holding a trap changed", source.replace('"h1"', '"h2"')),
        (
            "the trapped class gained a method",
            source.replace(method, "    def ping(self):\n        return 1\n\n" + method),
        ),
        (
            "the metaclass changed (the class is replaced)",
            source.replace("class Meta(type):", "class Meta(type):\n    VERSION = 2\n"),
        ),
        ("a failing edit (rolled back)", source.replace('"f1"', '"f9"') + "\nraise ValueError\n"),
        ("the original source again", source),
    ]
    for label, text in edits:
        files.write(init, text, dedent=False)
        report = reloader.check()
        expected = (0, 1) if "failing" in label else (1, 0)
        assert (len(report.reloaded), len(report.failed)) == expected, (label, messages(report))
        assert calls == [], f"{label}: the reloader called {calls}"
    assert (m.f(), holder.m(), type(instance) is m.Trap) == ("f1", "h1", True)


def test_sys_modules_entry_that_is_not_a_module(files: ModuleFiles, reloader: Reloader) -> None:
    # `sys.modules[__name__] = Wrapper()`: an object, not a module, with hostile attribute hooks.
    log = files.name("plog")
    files.write(log, "CALLS = []\n")
    name = files.name("proxy")
    files.load(
        name,
        f"import sys\nfrom {log} import CALLS\n\n"
        "class Proxy:\n"
        "    def __getattribute__(self, name):\n"
        "        CALLS.append(name)\n"
        "        raise AssertionError(name)\n\n"
        "    def __eq__(self, other):\n"
        "        CALLS.append('__eq__')\n"
        "        raise AssertionError('eq')\n\n"
        "    __hash__ = None\n\n"
        "sys.modules[__name__] = Proxy()\n",
    )
    calls = sys.modules[log].CALLS
    reloader.discover()
    assert not reloader.check()
    assert calls == []
    assert name not in reloader.watched


# --- timing: several edits, edits during a reload, torn reads ---------------------------------
def test_two_edits_between_cells_only_the_last_counts(
    files: ModuleFiles, reloader: Reloader
) -> None:
    name = files.name("twice")
    m = files.load(name, V1)
    reloader.discover()
    # A broken intermediate save is never reported: only the final content matters.
    files.write(name, V1 + "def broken(:\n", dedent=False)
    files.write(name, FIXED, dedent=False)
    report = reloader.check()
    assert [str(r) for r in report.reloaded] == [f"hotreload: reloaded {name}: updated f, C.m"]
    assert not report.failed
    # A good intermediate save followed by a broken one: one failure, the old code stays.
    snapshot = Snapshot(m)
    files.write(name, V1, dedent=False)
    files.write(name, V1 + "def broken(:\n", dedent=False)
    report = reloader.check()
    assert_one_report(report, name, files.path(name), "SyntaxError", V1.count("\n") + 1)
    snapshot.assert_unchanged()
    assert m.f() == "fixed"


def test_module_that_rewrites_its_own_file_while_reloading(
    files: ModuleFiles, reloader: Reloader
) -> None:
    name = files.name("selfedit")
    m = files.load(name, V1)
    path = files.path(name)
    reloader.discover()
    v3 = FIXED.replace('"fixed"', '"v3"')
    # The new body saves v3 over its own file while it runs: the edit lands mid-reload.
    v2 = FIXED + textwrap.dedent(
        f"""
        import os
        _stat = os.stat({str(path)!r})
        with open({str(path)!r}, "w", encoding="utf-8") as _handle:
            _handle.write({v3!r})
        os.utime({str(path)!r}, ns=(_stat.st_atime_ns, _stat.st_mtime_ns + 1_000_000_000))
        """
    )
    files.write(name, v2, dedent=False)
    report = reloader.check()
    assert [r.module for r in report.reloaded] == [name]
    assert m.f() == "fixed"
    tracked = reloader.watched[name]
    # What is recorded as running is what ran (v2), not what the file holds now (v3)...
    assert tracked.source == v2.encode()
    assert tracked.digest == digest_bytes(v2.encode())
    # ...so the next check sees v3 as a change and runs it.
    report = reloader.check()
    assert [r.module for r in report.reloaded] == [name], messages(report)
    assert m.f() == "v3"
    assert tracked.source == v3.encode()
    assert not reloader.check()


class TornReader:
    """Once armed, the next read of ``path`` is interrupted halfway by an in-place save."""

    def __init__(self, path: Path, rewrite: Callable[[], None]) -> None:
        self.path = path
        self.rewrite = rewrite
        self.armed = False
        self.reads = 0

    def arm(self) -> None:
        """Tear the next read of the file; count reads from now on."""
        self.armed = True
        self.reads = 0

    def __call__(self, name: str) -> bytes:
        self.reads += 1
        if name != str(self.path) or not self.armed:
            return read_file(name)
        self.armed = False
        with open(name, "rb") as handle:
            head = handle.read(self.path.stat().st_size // 2)
            self.rewrite()  # an editor writing the file in place while it is being read
            return head + handle.read()


def test_file_changing_while_it_is_read_is_read_again(files: ModuleFiles) -> None:
    name = files.name("torn")
    m = files.load(name, V1)
    path = files.path(name)
    v2 = V1.replace('"f1"', '"f2"')
    v3 = "# saved again\n" + V1.replace('"f1"', '"f3"').replace("ITEMS", "STUFF")

    reader = TornReader(path, lambda: _write(path, v3.encode()))
    watcher = Watcher(_OnlyPrefix(files.prefix), read=reader)
    watcher.discover()
    _write(path, v2.encode())
    reader.arm()
    changes, problems = watcher.poll()
    assert problems == []
    assert [c.tracked.module for c in changes] == [m]
    assert reader.reads == 2, "the torn read must have been detected and read again"
    change = changes[0]
    # Never the torn mix of v2's first half and v3's second half: the whole of v3.
    assert change.data == v3.encode()
    assert change.digest == digest_bytes(v3.encode())
    assert change.stamp[:2] == (path.stat().st_mtime_ns, path.stat().st_size)


def test_torn_read_through_the_engine(files: ModuleFiles, reloader: Reloader) -> None:
    name = files.name("torn2")
    m = files.load(name, V1)
    path = files.path(name)
    reloader.discover()
    v3 = FIXED.replace('"fixed"', '"v3"') + "\n# a longer, different tail\nEXTRA = 3\n"
    reader = TornReader(path, lambda: _write(path, v3.encode()))
    reloader.watcher._read = reader
    files.write(name, FIXED, dedent=False)
    reader.arm()
    report = reloader.check()
    assert [r.module for r in report.reloaded] == [name], messages(report)
    assert (m.f(), m.EXTRA) == ("v3", 3)
    assert reloader.watched[name].source == v3.encode()
    assert not reloader.check()


def test_file_changing_while_it_starts_being_watched(
    files: ModuleFiles, reloader: Reloader
) -> None:
    # Saved while hotreload reads it for the first time: the file no longer holds the source
    # the module was imported from, so the next check runs the whole module from the file.
    name = files.name("torn3")
    m = files.load(name, V1)
    path = files.path(name)
    reader = TornReader(path, lambda: _write(path, FIXED.encode()))
    reader.arm()
    reloader.watcher._read = reader
    reloader.discover()
    report = reloader.check()
    assert [r.mode for r in report.reloaded] == [
        "whole module: the source it was imported from is unknown "
        "(the file changed before it was watched, or hotreload's stored copy of it could not "
        "be read)"
    ]
    assert m.f() == "fixed"
    assert reloader.watched[name].source == FIXED.encode()
    assert not reloader.check()


def test_file_that_never_stops_changing_is_deferred(files: ModuleFiles) -> None:
    name = files.name("busy")
    files.load(name, V1)
    path = files.path(name)
    saves = iter(range(1000))

    def always_changing(name_: str) -> bytes:
        data = read_file(name_)
        _write(path, V1.replace('"f1"', f'"busy{next(saves)}"').encode())
        return data

    watcher = Watcher(_OnlyPrefix(files.prefix), read=always_changing)
    watcher.discover()
    _write(path, FIXED.encode())
    assert watcher.poll() == ([], [])
    # Once the writer is done, the next check reads the final content.
    watcher._read = read_file
    changes, _ = watcher.poll()
    assert [c.data for c in changes] == [path.read_bytes()]


# --- threads ---------------------------------------------------------------------------------
_THREADED = textwrap.dedent(
    """\
    import threading

    inside = threading.Event()
    release = threading.Event()


    class Base:
        def tag(self):
            return "base"


    class Worker(Base):
        def step(self):
            return "old"


    def blocking():
        inside.set()
        release.wait(30)
        return "old-frame"
    """
)


def test_thread_running_old_code_keeps_running_then_calls_new_code(
    files: ModuleFiles, reloader: Reloader
) -> None:
    name = files.name("threaded")
    source = _THREADED
    m = files.load(name, source)
    reloader.discover()
    step, blocking = m.Worker().step, m.blocking
    seen: list[str] = []
    errors: list[BaseException] = []
    finished: list[str] = []
    stop, old_seen, new_seen = threading.Event(), threading.Event(), threading.Event()

    def hammer() -> None:
        # Calls the old bound method in a tight loop, through the reload.
        try:
            while not stop.is_set():
                value = step()
                seen.append(value)
                (new_seen if value.startswith("new") else old_seen).set()
        except BaseException as exc:
            errors.append(exc)

    def hold() -> None:
        # Is inside the old function while the reload happens, then calls it again.
        try:
            finished.append(blocking())
            finished.append(blocking())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=hammer), threading.Thread(target=hold)]
    for thread in threads:
        thread.start()
    try:
        assert old_seen.wait(30)
        assert m.inside.wait(30)
        # The new `step` uses zero-argument super(): its closure changes, swapped in place.
        new = (
            source.replace('return "old"', 'return "new " + super().tag()')
            .replace("release.wait(30)", "pass")
            .replace('return "old-frame"', 'return "new-frame"')
        )
        files.write(name, new, dedent=False)
        check(reloader)
        m.release.set()
        assert new_seen.wait(30), "the running thread never called the new code"
    finally:
        stop.set()
        m.release.set()
        for thread in threads:
            thread.join(30)
    assert errors == []
    assert not any(thread.is_alive() for thread in threads)
    first_new = seen.index("new base")
    assert set(seen[:first_new]) == {"old"}
    assert set(seen[first_new:]) == {"new base"}, "once switched, never back to the old code"
    # The frame that was running kept running the old body; the next call ran the new one.
    assert finished == ["old-frame", "new-frame"]
