"""Looking at user objects without running their code (a foundation of stage 6).

Patching inspects arbitrary user objects: classes with a metaclass ``__eq__`` or
``__getattr__``, proxies whose ``__getattribute__`` does work, objects whose ``__class__`` lies.
Asking them anything through the normal protocols could run user code in the middle of a
reload, so these helpers read type slots and ``__dict__`` directly.

This module must never import IPython.
"""

from __future__ import annotations

from typing import Any

from ._journal import MISSING

__all__ = ["class_attribute", "is_lru_wrapper", "own_attributes"]


def is_lru_wrapper(value: object) -> bool:
    # Static lookups only: no user `__getattr__`/`__getattribute__`/`__eq__` (of the object or
    # of its metaclass) may run while we merely ask whether this is a cache wrapper.
    if class_attribute(type(value), "cache_clear") is MISSING:
        return False
    own = own_attributes(value)
    return "__wrapped__" in own or class_attribute(type(value), "__wrapped__") is not MISSING


def class_attribute(cls: type, name: str) -> Any:
    """``name`` looked up in ``cls``'s MRO dicts, running no user code; MISSING if absent.

    ``inspect.getattr_static`` is not enough: on Python 3.13 it compares classes with ``in``,
    which calls a metaclass ``__eq__``.
    """
    for klass in type.__getattribute__(cls, "__mro__"):
        namespace = type.__getattribute__(klass, "__dict__")
        if name in namespace:
            return namespace[name]
    return MISSING


def own_attributes(value: object) -> dict[str, Any]:
    """``value``'s own ``__dict__``, read without running a user ``__getattribute__``."""
    try:
        attributes = object.__getattribute__(value, "__dict__")
    except AttributeError:
        return {}
    return attributes if type(attributes) is dict else {}
