"""An in-process IPython shell for the matrix cases (the same singleton the shell tests use)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from IPython.core.interactiveshell import InteractiveShell

from hotreload_ext._extension import get_extension


@pytest.fixture(scope="session")
def matrix_ipython(tmp_path_factory: pytest.TempPathFactory) -> InteractiveShell:
    os.environ.setdefault("IPYTHONDIR", str(tmp_path_factory.mktemp("ipythondir")))
    shell = InteractiveShell.instance()
    assert shell.history_manager is not None
    shell.history_manager.enabled = False
    return shell


@pytest.fixture
def matrix_shell(
    matrix_ipython: InteractiveShell, clean_imports: None
) -> Iterator[InteractiveShell]:
    """The shell, with every name a case adds to the user namespace removed afterwards.

    The case loads hotreload itself (as a user would); it is unloaded here.
    """
    shell = matrix_ipython
    names = set(shell.user_ns)
    try:
        yield shell
    finally:
        extension = get_extension(shell)
        errors = list(extension.internal_errors) if extension else []
        shell.run_line_magic("unload_ext", "hotreload")
        assert shell.extension_manager is not None
        shell.extension_manager.loaded.discard("hotreload_ext")
        shell.config.pop("HotReload", None)
        for name in set(shell.user_ns) - names:
            del shell.user_ns[name]
        assert errors == [], "internal errors must not hide"
