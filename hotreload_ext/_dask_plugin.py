"""The Dask worker plugin: a worker that joins later, or restarts, runs the kernel's code.

Imported only when the session has a Dask client (it imports ``distributed``). Dask sets a
registered plugin up on every worker, current and future, before the worker runs a task; setting
it up applies every source the kernel shipped so far (:func:`~._remote.apply_sources`), which is
a no-op where a worker already runs them.

This module must never import IPython.
"""

from __future__ import annotations

from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from ._remote import RemoteResult, apply_sources

__all__ = ["HotReloadPlugin"]


class HotReloadPlugin(WorkerPlugin):
    """Gives each worker the sources of the kernel's reloads (pickled with the plugin).

    Args:
        sources: The exact source bytes of every module the kernel reloaded, by name.
    """

    name = "hotreload"

    def __init__(self, sources: dict[str, bytes]) -> None:
        self.sources = sources
        self.result: RemoteResult | None = None

    def setup(self, worker: Any) -> None:
        """Apply the sources on this worker (never raises: a failure leaves the old code)."""
        self.result = apply_sources(self.sources)
