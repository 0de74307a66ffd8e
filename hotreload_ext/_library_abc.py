"""Stage 6 (patch), ``abc`` and ``typing.Protocol``: ``isinstance`` answers are cached.

``ABCMeta`` caches every ``issubclass``/``isinstance`` answer on the ABC: positive answers for
ever, negative ones until the next ``register()``. A class patched in place keeps its identity,
so those answers survive the edit: an ABC whose ``__subclasshook__`` changed, a
``runtime_checkable`` Protocol that gained a member, or a class that lost the method a
Protocol or a ``collections.abc`` ABC looks for, would be answered from the cache.

:func:`refresh` recomputes the abstract methods of the changed ABCs and their subclasses
(parents first) and clears their caches. When a class's set of members changed, the caches of
every ABC that may hold an answer about it are cleared as well.

This module must never import IPython.
"""

from __future__ import annotations

import abc
import weakref

from ._adopt import live_subclasses

__all__ = ["refresh"]


def refresh(changed: list[type], members_changed: list[type]) -> None:
    """Bring the ABCs' abstract methods and caches up to date after ``changed`` changed.

    Args:
        changed: Classes whose definition changed in this reload.
        members_changed: Those among them that gained or lost members.
    """
    for cls in _with_subclasses(changed):
        # Subclasses are not made again when their base changes in place, so what they
        # still lack must be worked out anew (parents first).
        abc.update_abstractmethods(cls)
        abc.ABCMeta._abc_caches_clear(cls)  # type: ignore[attr-defined]
    if any(_may_be_cached(cls) for cls in members_changed):
        for cls in _all_abcs():
            abc.ABCMeta._abc_caches_clear(cls)  # type: ignore[attr-defined]


def _may_be_cached(cls: type) -> bool:
    """Whether some ABC may hold an answer about ``cls`` in its caches.

    The caches hold weak references to the classes they answered for, and otherwise a class
    is weakly referenced only by its bases' ``__subclasses__()`` registry (one per base), so
    a class nobody asked about costs no walk over every class.
    """
    return len(weakref.getweakrefs(cls)) > len(cls.__bases__)


def _with_subclasses(classes: list[type]) -> list[type]:
    """The ABCs among ``classes`` and their subclasses, each once, parents first."""
    ordered: dict[int, type] = {}
    for cls in classes:
        for klass in [cls, *live_subclasses(cls)]:
            if id(klass) not in ordered and issubclass(type(klass), abc.ABCMeta):
                ordered[id(klass)] = klass
    return list(ordered.values())


def _all_abcs() -> list[type]:
    return [cls for cls in live_subclasses(object) if issubclass(type(cls), abc.ABCMeta)]
