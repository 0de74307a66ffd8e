"""Shared fixtures: real temporary modules, edited deterministically.

Files are never edited and then waited on: every write moves the file's mtime forward by a whole
second with ``os.utime``, so change detection never depends on the clock. ``sys.modules`` and
``sys.path`` are restored after every test.
"""

from __future__ import annotations

import importlib
import itertools
import os
import sys
import textwrap
import types
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from hotreload_ext import ModuleReport, Reloader

_counter = itertools.count()


class ModuleFiles:
    """Writes modules into a temporary directory on ``sys.path`` and imports them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.prefix = f"hrmod{next(_counter)}_"

    def name(self, stem: str) -> str:
        """A module name unique to this test."""
        return self.prefix + stem

    def path(self, module: str) -> Path:
        parts = module.split(".")
        return self.root.joinpath(*parts[:-1], parts[-1] + ".py")

    def write(self, module: str, source: str, *, dedent: bool = True) -> Path:
        """Write a module's source (creating packages as needed) and bump its mtime."""
        path = self.path(module)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = textwrap.dedent(source) if dedent else source
        previous = path.stat().st_mtime_ns if path.exists() else 0
        path.write_text(text, encoding="utf-8")
        bump(path, after=previous)
        return path

    def write_bytes(self, module: str, data: bytes) -> Path:
        path = self.path(module)
        previous = path.stat().st_mtime_ns if path.exists() else 0
        path.write_bytes(data)
        bump(path, after=previous)
        return path

    def package(self, package: str) -> Path:
        """Make ``package`` a regular package (an empty ``__init__.py``)."""
        return self.write(package + ".__init__", "")

    def load(self, module: str, source: str | None = None) -> types.ModuleType:
        """Write (optionally) and import a module fresh."""
        if source is not None:
            self.write(module, source)
        importlib.invalidate_caches()
        return importlib.import_module(module)


_fresh_names = itertools.count()


def fresh_import(files: ModuleFiles, source: str) -> types.ModuleType:
    """A fresh import of ``source`` under another name: what a live module must behave like."""
    name = files.name(f"fresh{next(_fresh_names)}")
    files.write(name, source)
    importlib.invalidate_caches()
    return importlib.import_module(name)


def bump(path: Path, *, after: int = 0) -> None:
    """Move ``path``'s mtime at least one second past ``after`` and past its current value."""
    stat = path.stat()
    mtime = max(stat.st_mtime_ns, after) + 1_000_000_000
    os.utime(path, ns=(stat.st_atime_ns, mtime))


@pytest.fixture
def clean_imports() -> Iterator[None]:
    """Restore sys.modules and sys.path after the test."""
    modules = dict(sys.modules)
    path = list(sys.path)
    try:
        yield
    finally:
        restore_modules(modules)
        sys.path[:] = path
        importlib.invalidate_caches()


# Where installed code lives: the standard library and site-packages of this interpreter.
_INSTALLED = tuple(
    {os.path.join(os.path.realpath(p), "") for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
)


def _installed(module: object) -> bool:
    # Read without running the entry's own attribute hooks: tests put hostile objects there.
    if not issubclass(type(module), types.ModuleType):
        return False
    namespace = object.__getattribute__(module, "__dict__")
    where = namespace.get("__file__") or next(iter(namespace.get("__path__") or ()), None)
    return isinstance(where, str) and os.path.realpath(where).startswith(_INSTALLED)


def restore_modules(before: Mapping[str, types.ModuleType]) -> list[str]:
    """Forget the modules a test imported, except installed ones; the names forgotten.

    An installed library's lazily imported submodule must stay: forgetting it while the modules
    that imported it stay loaded leaves two copies of its classes in the process (pydantic then
    fails to recognise its own validator proxies, for the rest of the run).
    """
    forgotten = [
        name
        for name, module in list(sys.modules.items())
        if name not in before
        if not _installed(module)
    ]
    for name in forgotten:
        del sys.modules[name]
    sys.modules.update(before)
    return forgotten


@pytest.fixture
def files(tmp_path: Path, clean_imports: None) -> ModuleFiles:
    """A directory of test modules on sys.path."""
    root = tmp_path / "src"
    root.mkdir()
    sys.path.insert(0, str(root))
    return ModuleFiles(root)


@pytest.fixture
def reloader(files: ModuleFiles) -> Reloader:
    """A strict engine watching only this test's modules."""
    return Reloader(include=(), exclude=(), strict=True, modules=_OnlyPrefix(files.prefix))


class _OnlyPrefix(Mapping[str, object]):
    """A live view of sys.modules restricted to one test's modules.

    Keeps a test's reloader from tracking every module of the test session (and so keeps the
    tests independent and fast); everything else about the engine is real.
    """

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def __getitem__(self, key: str) -> object:
        if not key.startswith(self.prefix):
            raise KeyError(key)
        return sys.modules[key]

    def __iter__(self) -> Iterator[str]:
        return iter([k for k in sys.modules if k.startswith(self.prefix)])

    def __reversed__(self) -> Iterator[str]:
        return reversed([k for k in sys.modules if k.startswith(self.prefix)])

    def __len__(self) -> int:
        return sum(1 for k in sys.modules if k.startswith(self.prefix))


def check(reloader: Reloader, *force: str) -> None:
    """Run one check and fail the test on any failure report."""
    report = reloader.check(force)
    assert not report.failed, "\n".join(str(f) for f in report.failed)


def watch(files: ModuleFiles, reloader: Reloader, stem: str, source: str) -> types.ModuleType:
    """Import version 1 of a module and start watching it."""
    module = files.load(files.name(stem), source)
    reloader.discover()
    return module


def edit(
    files: ModuleFiles, reloader: Reloader, module: types.ModuleType, source: str
) -> ModuleReport:
    """Write the module's next version, run one check, and return its (only) reload report."""
    files.write(module.__name__, source)
    report = reloader.check()
    assert not report.failed, "\n".join(str(f) for f in report.failed)
    assert not report.internal
    (reloaded,) = [r for r in report.reloaded if r.module == module.__name__]
    return reloaded
