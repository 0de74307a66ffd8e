"""The transport-neutral side of following the kernel: a process applies source it was given.

Here the "worker" is this test process: its modules were imported from files that keep their
first version, and only the source handed to :class:`SourceFollower` may change what runs.
"""

from __future__ import annotations

import importlib
import linecache
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hotreload_ext import _remote
from hotreload_ext._dask import _compare, _one_line
from hotreload_ext._digest import digest_bytes
from hotreload_ext._remote import RemoteResult, SourceFollower, apply_sources, running_digests
from tests.conftest import ModuleFiles, _OnlyPrefix

V1 = """\
def value():
    return 1

class Counter:
    def step(self):
        return 1
"""
V2 = V1.replace("return 1\n\nclass", "return 2\n\nclass").replace(
    "def step(self):\n        return 1", "def step(self):\n        return 10"
)


@pytest.fixture
def follower(files: ModuleFiles) -> Iterator[SourceFollower]:
    made = SourceFollower(modules=_OnlyPrefix(files.prefix))
    made.install()
    yield made
    made.uninstall()


def test_a_module_runs_the_given_source_not_its_file(
    files: ModuleFiles, follower: SourceFollower
) -> None:
    name = files.name("work")
    module = files.load(name, V1)
    value, counter = module.value, module.Counter()
    result = follower.apply({name: V2.encode()})
    assert result == RemoteResult(reloaded=(name,))
    # Old references and live instances run the given code; the file still holds version 1.
    assert (value(), counter.step()) == (2, 10)
    assert files.path(name).read_text() == V1
    digests = follower.digests([name, files.name("absent")])
    assert digests == {name: digest_bytes(V2.encode()).hex(), files.name("absent"): None}
    # The same source again changes nothing.
    assert follower.apply({name: V2}).reloaded == ()
    # A module the follower does not watch counts as its file; one without a file as unknown.
    import json

    json_digest = digest_bytes(Path(json.__file__).read_bytes()).hex()
    assert follower.digests(["json", "sys"]) == {"json": json_digest, "sys": None}


def test_a_failing_source_leaves_the_previous_code(
    files: ModuleFiles, follower: SourceFollower
) -> None:
    name = files.name("broken")
    module = files.load(name, V1)
    result = follower.apply({name: V1 + "import hrmod_not_there_anywhere\n"})
    assert result.reloaded == ()
    assert result.failed == (
        f"{name}: ModuleNotFoundError: No module named 'hrmod_not_there_anywhere'",
    )
    assert not result.ok
    assert module.value() == 1
    # A fixed version then applies against what runs (version 1).
    assert follower.apply({name: V2}).reloaded == (name,)
    assert module.value() == 2


def test_a_module_not_imported_yet_loads_the_given_source(
    files: ModuleFiles, follower: SourceFollower
) -> None:
    name = files.name("later")
    path = files.write(name, V1)
    result = follower.apply({name: V2})
    assert result == RemoteResult(pending=(name,))
    # Only a module with a file here can load given source (the file's place is the module's).
    nowhere = files.name("nowhere")
    assert follower.apply({nowhere: V1}).pending == (nowhere,)
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(nowhere)
    importlib.invalidate_caches()
    module = importlib.import_module(name)
    assert module.value() == 2
    # Tracebacks show the lines that run, not the file's.
    assert linecache.getline(str(path), 2) == "    return 2\n"
    # It is known to run version 2: the next version is a reload from there.
    counter = module.Counter()
    result = follower.apply({name: V2.replace("return 10", "return 20")})
    assert result.reloaded == (name,)
    assert counter.step() == 20
    assert (
        follower.digests([name])[name]
        == digest_bytes(V2.replace("return 10", "return 20").encode()).hex()
    )


@pytest.fixture
def process_follower() -> Iterator[None]:
    """The process-wide follower is made afresh, and removed after the test."""
    assert _remote._follower is None
    yield
    made = _remote._follower
    _remote._follower = None
    if made is not None:
        made.uninstall()


def test_the_process_entry_point_never_raises(files: ModuleFiles, process_follower: None) -> None:
    name = files.name("bad")
    files.load(name, V1)
    result = apply_sources({name: 12})  # type: ignore[dict-item]  # not a source at all
    assert result.failed
    assert result.failed == (
        "internal error in hotreload: TypeError: a module's source must be bytes or str, not int",
    )
    assert _remote.follower().finder in sys.meta_path


def test_the_worker_side_imports_neither_ipython_nor_dask() -> None:
    code = (
        "import sys, hotreload_ext._remote, hotreload_ext._dask\n"
        "print(hotreload_ext._dask.session_clients({'client': 1}))\n"
        "print(sorted(m for m in ('IPython', 'traitlets', 'distributed') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert out.split() == ["[]", "[]"]


def test_a_package_not_imported_yet_loads_the_given_source(
    files: ModuleFiles, process_follower: None
) -> None:
    package = files.name("pkg")
    files.write(package + ".__init__", "LEVEL = 1\n")
    files.write(package + ".leaf", "from . import LEVEL\n\ndef level():\n    return LEVEL\n")
    given = {package: b"LEVEL = 2\n"}
    assert apply_sources(given).pending == (package,)
    importlib.invalidate_caches()
    leaf = importlib.import_module(package + ".leaf")
    assert leaf.level() == 2
    digests = running_digests([package, package + ".leaf"])
    assert digests[package] == digest_bytes(b"LEVEL = 2\n").hex()
    assert (
        digests[package + ".leaf"] == digest_bytes(files.path(package + ".leaf").read_bytes()).hex()
    )


def test_what_the_kernel_says_of_a_worker() -> None:
    kernel = {"a": b"\x01", "b": b"\x02"}
    assert _compare(kernel, {"a": "01", "b": None}) == (
        "runs the kernel's version of the 1 watched module(s) it uses"
    )
    assert _compare(kernel, {"a": "01", "b": "03"}) == "runs other code than the kernel for b"
    assert _compare(kernel, {"a": None, "b": None}) == "has imported none of the watched modules"
    assert _one_line(OSError("closed\nmore")) == "OSError: closed"
    assert _one_line(KeyError()) == "KeyError"
    assert _one_line("odd") == "'odd'"
