"""Dask workers follow the kernel's reloads: a real LocalCluster with worker processes.

The kernel is a real in-process ``InteractiveShell`` with hotreload loaded; the session's Dask
client talks to two worker processes whose ``sys.path`` leads to a *copy* of the kernel's module
directory (a preload script swaps it in before the worker starts). The copy keeps each module's
first version, so only the source the kernel pushes can make a worker run an edit.

One cluster serves the whole module (starting one costs seconds); each test uses modules of its
own, and asks the scheduler for the workers it has now.
"""

from __future__ import annotations

import itertools
import os
import shutil
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from distributed import Client, LocalCluster
from IPython.core.interactiveshell import InteractiveShell

from hotreload_ext._extension import get_extension
from tests.conftest import bump

pytestmark = pytest.mark.e2e

_names = itertools.count()

PRELOAD = """\
import sys

KERNEL, COPY = {kernel!r}, {copy!r}


def dask_setup(worker):
    # Spawned workers start with the kernel's sys.path: point them at the copy instead.
    sys.path[:] = [COPY] + [entry for entry in sys.path if entry != KERNEL]
"""


class Sources:
    """The kernel's module directory and the workers' copy of it."""

    def __init__(self, kernel: Path, copy: Path) -> None:
        self.kernel = kernel
        self.copy = copy

    def name(self, stem: str) -> str:
        return f"hrdask{next(_names)}_{stem}"

    def create(self, name: str, source: str) -> None:
        """Version 1: in the kernel's directory and in the workers' copy."""
        self.edit(name, source)
        shutil.copy2(self.kernel / f"{name}.py", self.copy / f"{name}.py")

    def edit(self, name: str, source: str) -> None:
        """A new version in the kernel's directory only."""
        path = self.kernel / f"{name}.py"
        previous = path.stat().st_mtime_ns if path.exists() else 0
        path.write_text(textwrap.dedent(source), encoding="utf-8")
        bump(path, after=previous)

    def copied(self, name: str) -> str:
        return (self.copy / f"{name}.py").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sources]:
    kernel = tmp_path_factory.mktemp("kernel_modules")
    copy = tmp_path_factory.mktemp("worker_modules")
    sys.path.insert(0, str(kernel))
    try:
        yield Sources(kernel, copy)
    finally:
        sys.path.remove(str(kernel))
        for name in [n for n in sys.modules if n.startswith("hrdask")]:
            del sys.modules[name]


@pytest.fixture(scope="module")
def client(sources: Sources) -> Iterator[Client]:
    preload = sources.copy.parent / "hrdask_preload.py"
    preload.write_text(PRELOAD.format(kernel=str(sources.kernel), copy=str(sources.copy)))
    with (
        LocalCluster(
            n_workers=2,
            processes=True,
            threads_per_worker=1,
            dashboard_address=":0",
            preload=[str(preload)],
        ) as cluster,
        # Not the default client: the session names it (as `client = Client(...)` does); the
        # default-client path is taken in test_an_edit_reaches_every_worker.
        Client(cluster, set_as_default=False) as made,
    ):
        yield made


@pytest.fixture(scope="module")
def ipython(tmp_path_factory: pytest.TempPathFactory) -> InteractiveShell:
    os.environ.setdefault("IPYTHONDIR", str(tmp_path_factory.mktemp("ipythondir")))
    shell = InteractiveShell.instance()
    assert shell.history_manager is not None
    shell.history_manager.enabled = False
    return shell


@pytest.fixture
def shell(ipython: InteractiveShell, client: Client) -> Iterator[InteractiveShell]:
    """The kernel: hotreload loaded (strict), the cluster's client in the user's namespace."""
    ipython.run_line_magic("load_ext", "hotreload")
    ipython.run_line_magic("config", "HotReload.strict = True")
    ipython.user_ns["client"] = client
    yield ipython
    ipython.user_ns.pop("client", None)
    extension = get_extension(ipython)
    errors = list(extension.internal_errors) if extension else []
    ipython.run_line_magic("unload_ext", "hotreload")
    assert ipython.extension_manager is not None
    ipython.extension_manager.loaded.discard("hotreload_ext")
    ipython.config.pop("HotReload", None)
    assert errors == [], "internal errors must not hide"


def run(shell: InteractiveShell, cell: str) -> Any:
    result = shell.run_cell(cell, store_history=False)
    if result.error_in_exec is not None:
        raise result.error_in_exec
    if result.error_before_exec is not None:
        raise result.error_before_exec
    return result.result


def workers(client: Client) -> list[str]:
    return sorted(client.scheduler_info()["workers"])


def on_each(client: Client, function: Callable[[], object]) -> dict[str, object]:
    """``function()`` run as a task on each worker (not an ad-hoc ``client.run``)."""
    futures = {
        address: client.submit(function, workers=[address], allow_other_workers=False, pure=False)
        for address in workers(client)
    }
    return {address: future.result(timeout=60) for address, future in futures.items()}


def worker_line(status: str, address: str) -> str:
    """What ``%hotreload status`` says about one worker."""
    (line,) = [line for line in status.splitlines() if line.startswith(f"    {address}: ")]
    return line.split(": ", 1)[1]


VALUE = """\
def value():
    return {n}
"""


def test_an_edit_reaches_every_worker(
    shell: InteractiveShell, client: Client, sources: Sources, capsys: pytest.CaptureFixture[str]
) -> None:
    # Here the client is the session's default one, and no name in the namespace holds it.
    shell.user_ns.pop("client")
    with client.as_current():
        follow_edits_and_status(shell, client, sources, capsys)


def follow_edits_and_status(
    shell: InteractiveShell, client: Client, sources: Sources, capsys: pytest.CaptureFixture[str]
) -> None:
    name = sources.name("work")
    sources.create(name, VALUE.format(n=1))
    module = run(shell, f"import {name}\n{name}")
    assert set(on_each(client, module.value).values()) == {1}
    sources.edit(name, VALUE.format(n=2))
    assert run(shell, f"{name}.value()") == 2
    assert f"hotreload: 2 Dask workers run the new {name}" in capsys.readouterr().out
    assert set(on_each(client, module.value).values()) == {2}
    # Only the pushed source did it: the workers' copy still holds version 1.
    assert sources.copied(name) == VALUE.format(n=1)
    run(shell, "%hotreload status")
    status = capsys.readouterr().out
    # (Other tests' modules may differ: the kernel's record of a failed one starts anew.)
    for address in workers(client):
        line = worker_line(status, address)
        assert line.startswith(("runs the kernel's version", "runs other code")), line
        assert name not in line

    # `%hotreload dask off`: the kernel reloads alone, and status can tell.
    run(shell, "%hotreload dask off")
    assert "Dask workers no longer follow reloads" in capsys.readouterr().out
    sources.edit(name, VALUE.format(n=3))
    assert run(shell, f"{name}.value()") == 3
    assert "Dask" not in capsys.readouterr().out
    assert set(on_each(client, module.value).values()) == {2}
    run(shell, "%hotreload dask auto")
    run(shell, "%hotreload status")
    status = capsys.readouterr().out
    for address in workers(client):
        line = worker_line(status, address)
        assert line.startswith("runs other code than the kernel for "), line
        assert name in line.split(" for ", 1)[1].split(", ")


COUNTER = """\
class Counter:
    def __init__(self):
        self.n = 0

    def step(self):
        self.n += {n}
        return self.n
"""


def test_an_actor_is_updated_in_place(
    shell: InteractiveShell, client: Client, sources: Sources
) -> None:
    name = sources.name("actor")
    sources.create(name, COUNTER.format(n=1))
    module = run(shell, f"import {name}\n{name}")
    # An Actor's proxy in the kernel needs its client to be the current one.
    with client.as_current():
        actor = client.submit(module.Counter, actor=True, workers=workers(client)[:1]).result()
        assert actor.step().result() == 1
        sources.edit(name, COUNTER.format(n=10))
        run(shell, "pass")
        # The same instance, its state kept, runs the new method.
        assert actor.step().result() == 11


def test_a_worker_started_after_the_edit_runs_the_new_code(
    shell: InteractiveShell, client: Client, sources: Sources
) -> None:
    name = sources.name("late")
    sources.create(name, VALUE.format(n=1))
    module = run(shell, f"import {name}\n{name}")
    sources.edit(name, VALUE.format(n=2))
    run(shell, "pass")
    cluster = client.cluster
    assert isinstance(cluster, LocalCluster)
    before = set(workers(client))
    cluster.scale(len(before) + 1)
    try:
        client.wait_for_workers(len(before) + 1, timeout=60)
        (late,) = set(workers(client)) - before
        future = client.submit(module.value, workers=[late], allow_other_workers=False)
        assert future.result(timeout=60) == 2
    finally:
        cluster.scale(len(before))
        client.wait_for_workers(len(before), timeout=60)


def test_a_broken_edit_leaves_the_workers_alone(
    shell: InteractiveShell, client: Client, sources: Sources, capsys: pytest.CaptureFixture[str]
) -> None:
    name = sources.name("broken")
    sources.create(name, VALUE.format(n=1))
    module = run(shell, f"import {name}\n{name}")
    capsys.readouterr()
    sources.edit(name, VALUE.format(n=2) + "1 / 0\n")
    run(shell, "pass")
    captured = capsys.readouterr()
    # One report: the kernel's own failure; nothing was pushed.
    assert captured.err.count("could not reload") == 1
    assert "Dask" not in captured.out + captured.err
    assert module.value() == 1
    assert set(on_each(client, module.value).values()) == {1}


def test_a_failure_on_the_workers_only_is_reported_per_worker(
    shell: InteractiveShell, client: Client, sources: Sources, capsys: pytest.CaptureFixture[str]
) -> None:
    name = sources.name("needs")
    helper = sources.name("kernel_only")
    # The helper exists in the kernel's directory only: importing it fails on the workers.
    sources.edit(helper, "HELPED = 5\n")
    sources.create(name, VALUE.format(n=1))
    module = run(shell, f"import {name}\n{name}")
    # The workers import it (version 1) for a first task.
    assert set(on_each(client, module.value).values()) == {1}
    capsys.readouterr()
    sources.edit(name, f"from {helper} import HELPED\n\ndef value():\n    return HELPED\n")
    run(shell, "pass")
    captured = capsys.readouterr()
    # The kernel's reload stands; each worker says, in one line, that it kept the old code.
    assert module.value() == 5
    lines = [line for line in captured.err.splitlines() if "Dask worker" in line]
    assert sorted(lines) == [
        f"hotreload: Dask worker {address}: could not reload {name}: ModuleNotFoundError: "
        f"No module named '{helper}'; it keeps its previous code there"
        for address in workers(client)
    ]
    assert set(on_each(client, module.value).values()) == {1}
