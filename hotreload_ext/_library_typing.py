"""Stage 6 (patch), ``typing``: Protocols record their members, generic aliases are cached.

- A ``Protocol``'s members are what its ``isinstance`` checks look for. Python 3.12+ records
  them when the class is made (``__protocol_attrs__``), so a member added to or removed from a
  Protocol makes the class again, through ``typing``'s own machinery (:func:`processes_member`).
- ``Box[int]`` is memoised by ``typing`` in caches keyed by the class and the arguments. When
  ``Box``'s parameters change while the class keeps its identity, those caches would still hand
  out aliases checked against the old parameters; ``typing``'s own cleanup hooks (the ones its
  test suite uses between tests) empty them (:func:`clear_caches`).

``typing`` is part of every Python process; it is only read from ``sys.modules`` here anyway.

This module must never import IPython.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

__all__ = ["clear_caches", "processes_member"]


def processes_member(cls: type, name: str) -> str | None:
    """Why adding or removing the member ``name`` must make ``cls`` again, or None."""
    if cls.__dict__.get("_is_protocol") is True:
        return f"typing.Protocol records its members when the class is made ({name})"
    return None


def clear_caches(changed: list[type]) -> None:
    """Empty ``typing``'s alias caches if a generic class among ``changed`` was changed."""
    if not any("__parameters__" in cls.__dict__ for cls in changed):
        return
    cleanups: list[Callable[[], None]] = getattr(sys.modules.get("typing"), "_cleanups", [])
    for cleanup in cleanups:
        cleanup()
