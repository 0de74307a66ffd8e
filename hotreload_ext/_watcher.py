"""Stage 1 (detect): the watcher, discovery and polling on one set of tracked modules.

:class:`Watcher` is the detect stage's one face to the engine. It holds nothing of its own: it is
a :class:`~._discovery.Discoverer` (which modules to watch) and a :class:`~._polling.Poller`
(which of their files changed), both views of the one :class:`~._tracking.Watchlist` they share.
One object, not three: the records, the source store and the test seams (``_stat``, ``_read``,
which tests replace on the instance) are the same for both parts, and the idle check's loop reads
them with no hop through another object.

This module must never import IPython.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from ._discovery import Discoverer, ModuleFilter
from ._polling import Poller
from ._tracking import ReadFunction, StatFunction, read_file

__all__ = ["Watcher"]


class Watcher(Discoverer, Poller):
    """Tracks the user's modules and finds the ones whose source changed.

    Args:
        modules: The module registry to watch (``sys.modules``).
        module_filter: Which modules are the user's.
        stat: Seam for tests; ``os.stat`` by default.
        read: Seam for tests (a read racing with a save); :func:`read_file` by default.
    """

    def __init__(
        self,
        modules: Mapping[str, object] | None = None,
        module_filter: ModuleFilter | None = None,
        *,
        stat: StatFunction = os.stat,
        read: ReadFunction = read_file,
    ) -> None:
        super().__init__(
            sys.modules if modules is None else modules,
            module_filter or ModuleFilter(),
            stat=stat,
            read=read,
        )
