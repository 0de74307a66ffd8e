"""The Dask face in a real in-process shell with no Dask client: it stays out of the way.

The cluster itself is exercised by tests/e2e/test_dask.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from hotreload_ext._dask import session_clients
from hotreload_ext._extension import get_extension
from tests.conftest import ModuleFiles
from tests.integration.test_shell import ipython, run

__all__ = ["ipython"]  # the session's shell fixture, shared with test_shell.py


@pytest.fixture
def shell(ipython: InteractiveShell, files: ModuleFiles) -> Iterator[InteractiveShell]:
    ipython.run_line_magic("load_ext", "hotreload")
    ipython.run_line_magic("config", "HotReload.strict = True")
    yield ipython
    extension = get_extension(ipython)
    errors = list(extension.internal_errors) if extension else []
    ipython.run_line_magic("unload_ext", "hotreload")
    assert ipython.extension_manager is not None
    ipython.extension_manager.loaded.discard("hotreload_ext")
    ipython.config.pop("HotReload", None)
    assert errors == []


def test_without_a_client_reloads_say_nothing_of_dask(
    shell: InteractiveShell, files: ModuleFiles, capsys: pytest.CaptureFixture[str]
) -> None:
    assert session_clients(shell.user_ns) == []
    name = files.name("alone")
    files.write(name, "def f():\n    return 1\n")
    run(shell, f"import {name}")
    files.write(name, "def f():\n    return 2\n")
    assert run(shell, f"{name}.f()") == 2
    run(shell, "%hotreload status")
    captured = capsys.readouterr()
    assert f"hotreload: reloaded {name}: updated f" in captured.out
    assert "Dask" not in captured.out + captured.err
    extension = get_extension(shell)
    assert extension is not None
    assert extension.dask_follower is None


def test_the_dask_command(shell: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    run(shell, "%hotreload dask off")
    assert "Dask workers no longer follow reloads" in capsys.readouterr().out
    extension = get_extension(shell)
    assert extension is not None
    assert extension.settings.dask == "off"
    run(shell, "%hotreload status")
    assert "  Dask: off; workers do not follow reloads" in capsys.readouterr().out
    run(shell, "%hotreload dask AUTO")
    assert extension.settings.dask == "auto"
    assert "the session's Dask workers follow reloads" in capsys.readouterr().out
    with pytest.raises(UsageError, match="give auto or off"):
        shell.run_line_magic("hotreload", "dask sometimes")
