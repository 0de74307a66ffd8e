"""hotreload: edit a module, run the next cell, and your session uses the new code.

Load it in IPython or Jupyter with ``%load_ext hotreload``. Before every cell it reloads the
user modules whose source changed, in dependency order and all or nothing, and patches the
functions, classes and instances you already hold so they run the new code.

The engine (:class:`Reloader`) does not need IPython and can be driven directly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._engine import Reloader
from ._report import CycleReport, InternalError, ModuleFailure, ModuleNotice, ModuleReport

if TYPE_CHECKING:
    from ._config import HotReload

__all__ = [
    "CycleReport",
    "HotReload",
    "InternalError",
    "ModuleFailure",
    "ModuleNotice",
    "ModuleReport",
    "Reloader",
    "__version__",
    "load_ipython_extension",
    "unload_ipython_extension",
]


def load_ipython_extension(ipython: Any) -> None:
    """Called by ``%load_ext hotreload``: watch and reload edited modules before every cell."""
    from ._extension import load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """Called by ``%unload_ext hotreload``: remove every hook, magic and setting it added."""
    from ._extension import unload

    unload(ipython)


def __getattr__(name: str) -> Any:
    # The settings class imports traitlets: only the IPython face needs it, not a process that
    # runs the engine alone (a Dask worker following the kernel's reloads, hotreload_ext._remote).
    if name == "HotReload":
        from ._config import HotReload

        return HotReload
    # Computed lazily: importlib.metadata is slow to import and rarely needed.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("ipython-hotreload")
        except PackageNotFoundError:  # pragma: no cover - running from a source tree
            return "0+unknown"
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
