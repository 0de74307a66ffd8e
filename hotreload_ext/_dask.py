"""Dask: the workers of the session's client follow the kernel's reloads.

The kernel side of the Dask adapter. After a check whose reloads committed, :class:`DaskFollower`
ships the committed modules' source bytes to every worker of the session's client and runs
:func:`~._remote.apply_sources` there (``Client.run``); it also (re)registers a worker plugin
holding every source shipped so far (``_dask_plugin.py``), so a worker that joins later, or
restarts, runs the same code before its first task.

Nothing here imports ``distributed`` unless the session already did: a session that never used
Dask pays one ``sys.modules`` lookup per reload, nothing per cell.

This module must never import IPython.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Mapping
from typing import Any

from ._remote import RemoteResult, apply_sources, running_digests

__all__ = ["DaskFollower", "session_clients"]

PLUGIN_NAME = "hotreload"


def session_clients(namespace: Mapping[str, object] | None = None) -> list[Any]:
    """The session's Dask clients, one per scheduler (``distributed`` is never imported here).

    The default client (``distributed.default_client()``), and the running clients bound to a
    name in ``namespace`` (the user's), such as one made with ``set_as_default=False``.
    """
    if "distributed" not in sys.modules:
        return []
    import distributed

    candidates: list[object] = []
    # ValueError: no default client in this session (or all of them closed).
    with contextlib.suppress(ValueError):
        candidates.append(distributed.default_client())
    candidates += list((namespace or {}).values())
    found: dict[str, Any] = {}
    for value in candidates:
        # type(), not isinstance(): a user's proxy object may compute its `__class__`.
        if (
            issubclass(type(value), distributed.Client)
            and getattr(value, "status", "") == "running"
            # An asynchronous client's calls are coroutines the kernel's hook cannot await.
            and not getattr(value, "asynchronous", False)
        ):
            found.setdefault(_client_label(value), value)
    return list(found.values())


class DaskFollower:
    """Pushes the kernel's committed reloads to the workers of a Dask client."""

    def __init__(self) -> None:
        # Every module source shipped so far: what a worker that joins later must run.
        self.sources: dict[str, bytes] = {}

    def push(self, client: Any, sources: Mapping[str, bytes]) -> tuple[list[str], list[str]]:
        """Apply ``sources`` on every worker of ``client``; the lines to report.

        Returns the failures, one line per worker and module that failed (the worker keeps its
        previous code; the kernel's reload stands), and the other lines: how many workers run
        the new code, and what the reloads there could not make right.
        """
        self.sources.update(sources)
        try:
            answers: dict[str, object] = client.run(apply_sources, dict(sources), on_error="return")
            # After the run: a worker that joined meanwhile is set up by this registration.
            self._register(client)
        except Exception as exc:  # the cluster is gone or unreachable: not hotreload's error
            failure = (
                f"hotreload: Dask: could not reach the workers of {_client_label(client)} "
                f"({_one_line(exc)}); they keep their previous code"
            )
            return [failure], []
        lines: list[str] = []
        failures: list[str] = []
        following = 0
        for worker, answer in sorted(answers.items()):
            if not isinstance(answer, RemoteResult):
                failures.append(
                    f"hotreload: Dask worker {worker}: could not apply the reload "
                    f"({_one_line(answer)}); it keeps its previous code"
                )
                continue
            for failed in answer.failed:
                failures.append(
                    f"hotreload: Dask worker {worker}: could not reload {failed}; "
                    "it keeps its previous code there"
                )
            lines += [f"hotreload: Dask worker {worker}: {notice}" for notice in answer.notices]
            following += answer.ok
        names = ", ".join(sorted(sources))
        if following:
            workers = "worker runs" if following == 1 else "workers run"
            lines.insert(0, f"hotreload: {following} Dask {workers} the new {names}")
        return failures, lines

    def _register(self, client: Any) -> None:
        """(Re)register the plugin that gives late and restarted workers every source so far."""
        from ._dask_plugin import HotReloadPlugin

        client.register_plugin(HotReloadPlugin(dict(self.sources)), name=PLUGIN_NAME)

    def status(self, client: Any, digests: Mapping[str, bytes]) -> list[str]:
        """One line per worker: whether it runs the kernel's version of the watched modules."""
        names = sorted(digests)
        try:
            answers: dict[str, object] = client.run(running_digests, names, on_error="return")
        except Exception as exc:  # the cluster is gone or unreachable
            return [
                f"  Dask: could not ask the workers of {_client_label(client)}: {_one_line(exc)}"
            ]
        lines = [f"  Dask: {len(answers)} worker(s) of {_client_label(client)}"]
        for worker, answer in sorted(answers.items()):
            if not isinstance(answer, dict):
                lines.append(f"    {worker}: could not ask ({_one_line(answer)})")
                continue
            lines.append(f"    {worker}: {_compare(digests, answer)}")
        return lines


def _compare(kernel: Mapping[str, bytes], worker: Mapping[str, str | None]) -> str:
    imported = {name: digest for name, digest in worker.items() if digest is not None}
    differs = sorted(name for name, digest in imported.items() if kernel[name].hex() != digest)
    if differs:
        return f"runs other code than the kernel for {', '.join(differs)}"
    if not imported:
        return "has imported none of the watched modules"
    count = len(imported)
    return f"runs the kernel's version of the {count} watched module(s) it uses"


def _client_label(client: Any) -> str:
    scheduler = getattr(client, "scheduler", None)
    address = getattr(scheduler, "address", None)
    return f"the client of {address}" if isinstance(address, str) else "the session's client"


def _one_line(error: object) -> str:
    if isinstance(error, BaseException):
        text = str(error).splitlines()[0] if str(error) else ""
        return f"{type(error).__name__}: {text}" if text else type(error).__name__
    return repr(error)[:200]
